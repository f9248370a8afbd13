import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { AttentionLayerBase } from './attention_base';
import type { AttentionLayer, AttentionMaps } from './attention_maps';
import {
  addBatchNormWeights,
  BATCH_NORM_DEFAULTS,
  type BatchNormWeights,
  batchNormLastAxis,
  resolveBatchNormOptions,
} from './batch_norm';
import type { LayerArgs } from './layer_utils';
import { hiddenWidth, resolveReduction } from './reduction_mlp';

/** Options of {@link CoordinateAttention}. @category Layers */
export interface CoordinateAttentionOptions {
  /** The divisor `r` of the hidden width `max(minUnits, floor(C / r))`. Defaults to `32`. */
  reductionRatio?: number;
  /** A fixed hidden width that overrides `reductionRatio` and `minUnits`. Defaults to `null` (unset). */
  hiddenUnits?: number | null;
  /** The smallest hidden width (`mip` in the official code). Defaults to `8`. */
  minUnits?: number;
  /** BatchNorm momentum in tfjs terms (PyTorch's is `1 -` this). Defaults to `0.9`. */
  momentum?: number;
  /** BatchNorm epsilon. Defaults to `1e-5`. */
  epsilon?: number;
}

/** Constructor arguments of {@link CoordinateAttention}. @category Layers */
export interface CoordinateAttentionArgs extends CoordinateAttentionOptions, LayerArgs {}

/** Defaults of {@link CoordinateAttention} (the official code's). @category Layers */
export const COORDINATE_ATTENTION_DEFAULTS: Readonly<Required<CoordinateAttentionOptions>> = Object.freeze({
  reductionRatio: 32,
  hiddenUnits: null,
  minUnits: 8,
  momentum: BATCH_NORM_DEFAULTS.momentum,
  epsilon: BATCH_NORM_DEFAULTS.epsilon,
});

interface Conv1x1 {
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable;
}

/**
 * Coordinate Attention (Hou et al., CVPR 2021, https://arxiv.org/abs/2103.02907): average-pool
 * along the width (giving a `[H]` profile per channel) and along the height (a `[W]` profile),
 * concatenate the two profiles, apply a shared 1x1 convolution `C -> h` with bias,
 * BatchNormalization and h-swish (`v * relu6(v + 3) / 6`), split back, and map each part with its
 * own 1x1 convolution `h -> C` (with bias) and a sigmoid: `y = x * a_h * a_w`.
 * `h = max(minUnits, floor(C / reductionRatio))` (`mip` in the official code).
 *
 * Input: `[batch, height, width, channels]`; output: the same shape. Height and width may be
 * unknown when building.
 *
 * Weights, in `getWeights()` / `setWeights()` order (trainable first, as for any tfjs layer):
 * `conv1/kernel [1, 1, C, h]`, `conv1/bias [h]`, `bn/gamma [h]`, `bn/beta [h]`,
 * `conv_h/kernel [1, 1, h, C]`, `conv_h/bias [C]`, `conv_w/kernel [1, 1, h, C]`, `conv_w/bias [C]`,
 * `bn/moving_mean [h]`, `bn/moving_variance [h]`. PyTorch conv weights `[out, in, 1, 1]` become
 * kernels by `permute(2, 3, 1, 0)`. The BatchNorm statistics run over the batch and all `H + W`
 * positions, as in the official code; batch statistics when `training`, moving ones otherwise.
 *
 * Attention maps (see {@link AttentionMaps}): `height` `[batch, H, 1, C]` and `width` `[batch, 1, W, C]`.
 *
 * Defaults: {@link COORDINATE_ATTENTION_DEFAULTS}.
 * @example
 * ```ts
 * const y = new CoordinateAttention({ reductionRatio: 32 }).apply(tf.randomNormal([2, 7, 9, 64])) as tf.Tensor;
 * ```
 * @throws RangeError if `reductionRatio`, `minUnits` or `hiddenUnits` is not a positive integer,
 *   `momentum` is outside [0, 1] or `epsilon` is not positive; RangeError in `build` for non-4D input.
 * @category Layers
 */
export class CoordinateAttention extends AttentionLayerBase implements AttentionLayer {
  /** The tfjs serialization name. */
  static className = 'CoordinateAttention';
  /** See {@link CoordinateAttentionOptions.reductionRatio}. */
  readonly reductionRatio: number;
  /** See {@link CoordinateAttentionOptions.hiddenUnits}. */
  readonly hiddenUnits: number | null;
  /** See {@link CoordinateAttentionOptions.minUnits}. */
  readonly minUnits: number;
  /** See {@link CoordinateAttentionOptions.momentum}. */
  readonly momentum: number;
  /** See {@link CoordinateAttentionOptions.epsilon}. */
  readonly epsilon: number;
  /** The hidden width, known once built (`null` before). */
  units: number | null = null;
  private w: { conv1: Conv1x1; bn: BatchNormWeights; convH: Conv1x1; convW: Conv1x1 } | null = null;

  constructor(args: CoordinateAttentionArgs = {}) {
    const where = 'CoordinateAttention';
    const r = resolveReduction(args, COORDINATE_ATTENTION_DEFAULTS, where);
    const bn = resolveBatchNormOptions(args, where);
    super(args, { ...r, momentum: bn.momentum, epsilon: bn.epsilon });
    this.reductionRatio = r.reductionRatio;
    this.hiddenUnits = r.hiddenUnits;
    this.minUnits = r.minUnits;
    this.momentum = bn.momentum;
    this.epsilon = bn.epsilon;
  }

  /** @internal */
  protected override buildWeights(c: number): void {
    const h = hiddenWidth(c, this);
    this.units = h;
    const add = this.addVariable;
    const conv1 = {
      kernel: add('conv1/kernel', [1, 1, c, h], 'glorotUniform'),
      bias: add('conv1/bias', [h], 'zeros'),
    };
    const bn = addBatchNormWeights(add, 'bn/', h);
    const convH = {
      kernel: add('conv_h/kernel', [1, 1, h, c], 'glorotUniform'),
      bias: add('conv_h/bias', [c], 'zeros'),
    };
    const convW = {
      kernel: add('conv_w/kernel', [1, 1, h, c], 'glorotUniform'),
      bias: add('conv_w/bias', [c], 'zeros'),
    };
    this.w = { conv1, bn, convH, convW };
  }

  /** `a_h` `[b, H, 1, C]` and `a_w` `[b, 1, W, C]`. @internal */
  protected override gates(x: Tensor, training: boolean): { height: Tensor; width: Tensor } {
    const w = this.w!;
    const [b, height, width, c] = x.shape as [number, number, number, number];
    const h = this.units!;
    const conv = (v: Tensor, p: Conv1x1, cin: number, cout: number) =>
      tf.add(tf.matMul(v, tf.reshape(p.kernel.read(), [cin, cout])), p.bias.read());
    const alongH = tf.mean(x, 2); // [b, H, C]
    const alongW = tf.mean(x, 1); // [b, W, C]
    const joined = tf.reshape(tf.concat([alongH, alongW], 1), [b * (height + width), c]);
    let y = conv(joined, w.conv1, c, h);
    y = batchNormLastAxis(y, w.bn, training, this.momentum, this.epsilon);
    y = tf.div(tf.mul(y, tf.relu6(tf.add(y, 3))), 6);
    const [yh, yw] = tf.split(tf.reshape(y, [b, height + width, h]), [height, width], 1);
    const aH = tf.sigmoid(conv(tf.reshape(yh!, [b * height, h]), w.convH, h, c));
    const aW = tf.sigmoid(conv(tf.reshape(yw!, [b * width, h]), w.convW, h, c));
    return { height: tf.reshape(aH, [b, height, 1, c]), width: tf.reshape(aW, [b, 1, width, c]) };
  }

  /** `x * a_w * a_h`. @internal */
  protected override applyMaps(x: Tensor, maps: AttentionMaps): Tensor {
    return tf.mul(tf.mul(x, maps.width!), maps.height!);
  }
}
tf.serialization.registerClass(CoordinateAttention);

/**
 * Creates a {@link CoordinateAttention} layer (direction-aware attention along height and width).
 * @param args Options (defaults in {@link COORDINATE_ATTENTION_DEFAULTS}) and tfjs layer args.
 * @example
 * ```ts
 * const y = coordinateAttention({ reductionRatio: 32 }).apply(tf.input({ shape: [12, 12, 64] }));
 * ```
 * @throws RangeError for invalid options, as {@link CoordinateAttention}.
 * @category Layers
 */
export function coordinateAttention(args?: CoordinateAttentionArgs): CoordinateAttention {
  return new CoordinateAttention(args);
}
