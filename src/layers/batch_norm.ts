import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { checkBoolean, checkNumberInRange, expected } from '../errors';
import { batchNormGradients, channelMoments } from '../ops/batch_norm';
import { linearCombination } from '../ops/linear_combination';
import type { Shape } from './composite';
import {
  type AddVariable,
  initializer,
  isTraining,
  type Kwargs,
  type LayerArgs,
  oneShape,
  oneTensor,
} from './layer_utils';

/** Output and batch statistics (per channel) of one {@link batchNormInTraining} call. @internal */
export interface NormalizedBatch {
  y: Tensor;
  mean: Tensor;
  variance: Tensor;
}

/**
 * `gamma * (x - mean) / sqrt(variance + epsilon) + beta` over the last axis with the batch's own mean
 * and (biased) variance, as BatchNorm does in training, with a hand-derived gradient.
 *
 * Why: tfjs differentiates the same computation op by op (through `moments` and `batchNorm`), which
 * costs about 40 kernels per BatchNorm in a training step; the closed form ({@link batchNormGradients})
 * needs 6 large ones, or one kernel call on WebGPU. On a GPU every kernel is a dispatch with its own
 * overhead; on WASM each is a pass over memory.
 *
 * Returns the batch mean and variance too (kept out of the forward pass's scope: the caller owns and
 * must dispose them), so moving statistics are updated without computing them twice.
 * @internal
 */
export function batchNormInTraining(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  epsilon: number,
): NormalizedBatch {
  // customGrad returns one tensor; the moments leave its forward pass through this variable.
  let moments: { mean: Tensor; variance: Tensor } | null = null;
  const normalize = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b] = args as [Tensor, Tensor, Tensor];
    const save = args[3] as tf.GradSaveFunc;
    const { mean, variance } = channelMoments(xIn);
    const value = tf.batchNorm(xIn, mean, variance, b, g, epsilon);
    save([xIn, mean, variance, g]);
    moments = { mean: tf.keep(mean), variance: tf.keep(variance) };
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]): Tensor[] => {
        const [xs, m, v, gs] = saved as [Tensor, Tensor, Tensor, Tensor];
        const { dx, dgamma, dbeta } = batchNormGradients(xs, dy, m, v, gs, epsilon);
        return [dx, dgamma, dbeta];
      },
    };
  });
  const y = normalize(x, gamma, beta);
  return { y, ...moments! };
}

/**
 * PyTorch's BatchNorm defaults in tfjs terms (momentum 0.9 = 1 - PyTorch's 0.1, epsilon 1e-5), the
 * one place every layer with a BatchNorm takes them from.
 * @internal
 */
export const BATCH_NORM_DEFAULTS = { momentum: 0.9, epsilon: 1e-5 } as const;

/** Validates BatchNorm momentum and epsilon ({@link BATCH_NORM_DEFAULTS} when absent). @internal */
export function resolveBatchNormOptions(
  args: { momentum?: number; epsilon?: number },
  where: string,
): { momentum: number; epsilon: number } {
  const momentum = checkNumberInRange(args.momentum ?? BATCH_NORM_DEFAULTS.momentum, 'momentum', where, 0, 1);
  const epsilon = args.epsilon ?? BATCH_NORM_DEFAULTS.epsilon;
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon <= 0) {
    throw new RangeError(expected(where, 'epsilon', 'a positive number', epsilon));
  }
  return { momentum, epsilon };
}

/** The four variables of a BatchNormalization over the last axis. @internal */
export interface BatchNormWeights {
  gamma: tfl.LayerVariable;
  beta: tfl.LayerVariable;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

/**
 * Adds `<prefix>gamma`, `<prefix>beta` (trainable), `<prefix>moving_mean` and `<prefix>moving_variance`
 * (not trainable), each `[channels]`, in that order (tfjs's BatchNormalization names and order).
 * @internal
 */
export function addBatchNormWeights(
  add: AddVariable,
  prefix: string,
  channels: number,
  zeroInitGamma = false,
): BatchNormWeights {
  return {
    gamma: add(`${prefix}gamma`, [channels], zeroInitGamma ? 'zeros' : 'ones'),
    beta: add(`${prefix}beta`, [channels], 'zeros'),
    movingMean: add(`${prefix}moving_mean`, [channels], 'zeros', false),
    movingVariance: add(`${prefix}moving_variance`, [channels], 'ones', false),
  };
}

/**
 * BatchNormalization over the last axis with PyTorch semantics: batch statistics (biased variance
 * for normalising, fused gradient of {@link batchNormInTraining}) when `training`, updating the moving
 * mean and the moving **unbiased** variance with `moving = momentum * moving + (1 - momentum) * batch`;
 * moving statistics otherwise.
 * @internal
 */
export function batchNormLastAxis(
  x: Tensor,
  w: BatchNormWeights,
  training: boolean,
  momentum: number,
  epsilon: number,
): Tensor {
  if (!training) {
    return tf.batchNorm(
      x,
      w.movingMean.read(),
      w.movingVariance.read(),
      w.beta.read(),
      w.gamma.read(),
      epsilon,
    );
  }
  const { y, mean, variance } = batchNormInTraining(x, w.gamma.read(), w.beta.read(), epsilon);
  const n = x.size / x.shape[x.shape.length - 1]!;
  const decay = 1 - momentum;
  const unbiased = n / Math.max(n - 1, 1);
  tf.tidy(() => {
    w.movingMean.write(
      linearCombination([
        [w.movingMean.read(), momentum],
        [mean, decay],
      ]),
    );
    w.movingVariance.write(
      linearCombination([
        [w.movingVariance.read(), momentum],
        [variance, decay * unbiased],
      ]),
    );
  });
  tf.dispose([mean, variance]);
  return y;
}

/**
 * Options of {@link FusedBatchNormalization}. Defaults are in {@link FUSED_BATCH_NORMALIZATION_DEFAULTS}.
 * @category Layers
 */
export interface FusedBatchNormalizationArgs extends LayerArgs {
  /**
   * Momentum of the moving statistics in tfjs/Keras terms: `moving = momentum * moving + (1 - momentum)
   * * batch` (PyTorch's `momentum=0.1` is `0.9` here). Defaults to `0.9`.
   */
  momentum?: number;
  /** Added to the variance before the square root. Defaults to `1e-5` (PyTorch's default). */
  epsilon?: number;
  /** Start `gamma` at zero instead of one (a residual branch then starts as the identity). Defaults to `false`. */
  zeroInitGamma?: boolean;
}

/**
 * Defaults of {@link FusedBatchNormalizationArgs}.
 * @category Layers
 */
export const FUSED_BATCH_NORMALIZATION_DEFAULTS = {
  momentum: BATCH_NORM_DEFAULTS.momentum,
  epsilon: BATCH_NORM_DEFAULTS.epsilon,
  zeroInitGamma: false,
} as const;

const WHERE = 'FusedBatchNormalization';

/**
 * Batch normalization over the last (channel) axis, a drop-in for `tf.layers.batchNormalization({ axis: -1 })`
 * that trains faster and follows PyTorch's `BatchNorm2d`:
 *
 * - **Fused gradient.** In training the normalisation has a hand-derived gradient (6 large kernels,
 *   or 4 dispatches on WebGPU, instead of the ~40 small ones tfjs's automatic differentiation records
 *   per BatchNorm), which matters most on WebGPU, where each kernel is a dispatch.
 * - **PyTorch semantics.** Training normalises with the batch mean and biased variance and updates
 *   the moving variance with the **unbiased** batch variance (tfjs's layer uses the biased one), so
 *   moving statistics equal PyTorch's after the same steps.
 *
 * Input: any rank >= 2, channels last; output: the same shape. Weights, in order: `gamma`, `beta`
 * (trainable), `moving_mean`, `moving_variance` (non-trainable) — the same names and order as
 * `tf.layers.batchNormalization`, so weights move between the two with `getWeights`/`setWeights`.
 * Inference (`training` false or absent) uses the moving statistics.
 *
 * @example
 * ```ts
 * const bn = new FusedBatchNormalization({ name: 'bn1' });
 * const y = bn.apply(tf.randomNormal([8, 11, 11, 64]), { training: true }) as tf.Tensor;
 * ```
 * @throws RangeError if `momentum` is outside [0, 1] or `epsilon` is not positive; RangeError in `build`
 *   for a rank-1 input or unknown channels.
 * @category Layers
 */
export class FusedBatchNormalization extends tfl.layers.Layer {
  /** The tfjs serialization name. */
  static className = 'FusedBatchNormalization';
  /** See {@link FusedBatchNormalizationArgs.momentum}. */
  readonly momentum: number;
  /** See {@link FusedBatchNormalizationArgs.epsilon}. */
  readonly epsilon: number;
  /** See {@link FusedBatchNormalizationArgs.zeroInitGamma}. */
  readonly zeroInitGamma: boolean;
  private weightsOf: BatchNormWeights | null = null;

  constructor(args: FusedBatchNormalizationArgs = {}) {
    super(args);
    const { momentum, epsilon } = resolveBatchNormOptions(args, WHERE);
    this.momentum = momentum;
    this.epsilon = epsilon;
    this.zeroInitGamma = checkBoolean(
      args.zeroInitGamma ?? FUSED_BATCH_NORMALIZATION_DEFAULTS.zeroInitGamma,
      'zeroInitGamma',
      WHERE,
    );
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = oneShape(inputShape, WHERE);
    const channels = shape[shape.length - 1];
    if (shape.length < 2 || channels == null) {
      throw new RangeError(
        expected(WHERE, 'input shape', 'of rank >= 2 with known channels (last axis)', shape),
      );
    }
    const add: AddVariable = (name, shape, init, trainable = true) =>
      this.addWeight(name, shape, 'float32', initializer(init), undefined, trainable);
    this.weightsOf = addBatchNormWeights(add, '', channels, this.zeroInitGamma);
    this.inputSpec = [new tfl.InputSpec({ minNDim: 2, axes: { [shape.length - 1]: channels } })];
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    return tf.tidy(() =>
      batchNormLastAxis(oneTensor(inputs), this.weightsOf!, isTraining(kwargs), this.momentum, this.epsilon),
    );
  }

  /**
   * The per-channel affine map this layer applies in inference, `y = x * scale + offset` with
   * `scale = gamma / sqrt(movingVariance + epsilon)` and `offset = beta - movingMean * scale`: what a
   * preceding convolution folds in (src/layers/conv_bn.ts). The caller owns both tensors.
   * @internal
   */
  inferenceAffine(): { scale: Tensor; offset: Tensor } {
    const w = this.weightsOf!;
    return tf.tidy(() => {
      const scale = tf.mul(w.gamma.read(), tf.rsqrt(tf.add(w.movingVariance.read(), this.epsilon)));
      const offset = tf.sub(w.beta.read(), tf.mul(w.movingMean.read(), scale));
      return { scale, offset };
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      momentum: this.momentum,
      epsilon: this.epsilon,
      zeroInitGamma: this.zeroInitGamma,
    };
  }
}
tf.serialization.registerClass(FusedBatchNormalization);

/**
 * Creates a {@link FusedBatchNormalization} layer: BatchNorm over the last axis with a fused gradient
 * and PyTorch's moving-variance update.
 * @param args Options (defaults in {@link FUSED_BATCH_NORMALIZATION_DEFAULTS}) and tfjs layer args.
 * @example
 * ```ts
 * const x = tf.input({ shape: [44, 44, 64] });
 * const y = fusedBatchNormalization({ name: 'stem_bn' }).apply(x);
 * ```
 * @throws RangeError for invalid options, as {@link FusedBatchNormalization}.
 * @category Layers
 */
export function fusedBatchNormalization(args?: FusedBatchNormalizationArgs): FusedBatchNormalization {
  return new FusedBatchNormalization(args);
}
