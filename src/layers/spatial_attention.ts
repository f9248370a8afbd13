import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { checkBoolean, checkOneOf } from '../errors';
import { AttentionLayerBase } from './attention_base';
import type { AttentionLayer, AttentionMaps } from './attention_maps';
import {
  addBatchNormWeights,
  BATCH_NORM_DEFAULTS,
  type BatchNormWeights,
  batchNormLastAxis,
  resolveBatchNormOptions,
} from './batch_norm';
import { checkOddKernel, type LayerArgs } from './layer_utils';

/**
 * The order of the two channel-pooled maps fed to the spatial convolution: `'meanMax'` as in the
 * CBAM paper's equation and the PyTorch reference network, `'maxMean'` as in the official code
 * (Jongchan/attention-module `ChannelPool`). It decides which input slice of the kernel sees which map.
 * @category Layers
 */
export type PoolOrder = 'meanMax' | 'maxMean';

/** Options of {@link SpatialAttention} (also accepted by {@link CBAM}). @category Layers */
export interface SpatialAttentionOptions {
  /** Side of the square convolution kernel; odd. Defaults to `7`. */
  kernelSize?: number;
  /** Whether a BatchNormalization follows the convolution (the official code has one). Defaults to `true`. */
  useBatchNorm?: boolean;
  /** Order of the pooled maps, see {@link PoolOrder}. Defaults to `'meanMax'`. */
  poolOrder?: PoolOrder;
  /**
   * BatchNorm momentum in tfjs terms (`moving = momentum * moving + (1 - momentum) * batch`); PyTorch's
   * `momentum` is `1 -` this. Defaults to `0.9` (PyTorch's default 0.1; the official CBAM code uses 0.99).
   */
  momentum?: number;
  /** BatchNorm epsilon. Defaults to `1e-5` (PyTorch's default). */
  epsilon?: number;
  /**
   * Initialise the BatchNorm scale `gamma` to 0 instead of 1, as the official ResNet code does for
   * every spatial gate (the gate then starts as a constant 0.5). Defaults to `false`.
   */
  zeroInitGamma?: boolean;
}

/** Constructor arguments of {@link SpatialAttention}. @category Layers */
export interface SpatialAttentionArgs extends SpatialAttentionOptions, LayerArgs {}

/** The resolved options of a spatial gate, as returned by `getConfig()`. @category Layers */
export interface SpatialAttentionConfig {
  /** Side of the convolution kernel. */
  kernelSize: number;
  /** Whether a BatchNorm follows the convolution. */
  useBatchNorm: boolean;
  /** Order of the pooled maps (`meanMax` as in the paper, `maxMean` as in the official code). */
  poolOrder: PoolOrder;
  /** BatchNorm momentum (tfjs sense). */
  momentum: number;
  /** BatchNorm epsilon. */
  epsilon: number;
  /** Whether the BatchNorm scale starts at zero. */
  zeroInitGamma: boolean;
}

/** Defaults of {@link SpatialAttention}. @category Layers */
export const SPATIAL_ATTENTION_DEFAULTS: Readonly<SpatialAttentionConfig> = Object.freeze({
  kernelSize: 7,
  useBatchNorm: true,
  poolOrder: 'meanMax' as PoolOrder,
  momentum: BATCH_NORM_DEFAULTS.momentum,
  epsilon: BATCH_NORM_DEFAULTS.epsilon,
  zeroInitGamma: false,
});

/**
 * Resolves and validates spatial-gate options, filling in {@link SPATIAL_ATTENTION_DEFAULTS}.
 * @param args The options given to the layer.
 * @param where The caller named in errors (`'SpatialAttention'`, or `'CBAM'` for its spatial gate).
 * @throws RangeError / TypeError as {@link SpatialAttention}.
 * @example
 * ```ts
 * resolveSpatialOptions({ kernelSize: 3 }, 'CBAM').kernelSize; // 3
 * ```
 * @internal
 */
export function resolveSpatialOptions(args: SpatialAttentionOptions, where: string): SpatialAttentionConfig {
  const d = SPATIAL_ATTENTION_DEFAULTS;
  return {
    kernelSize: checkOddKernel(args.kernelSize ?? d.kernelSize, where),
    useBatchNorm: checkBoolean(args.useBatchNorm ?? d.useBatchNorm, 'useBatchNorm', where),
    poolOrder: checkOneOf(args.poolOrder ?? d.poolOrder, ['meanMax', 'maxMean'] as const, 'poolOrder', where),
    ...resolveBatchNormOptions(args, where),
    zeroInitGamma: checkBoolean(args.zeroInitGamma ?? d.zeroInitGamma, 'zeroInitGamma', where),
  };
}

/**
 * Spatial attention, the second gate of CBAM (Woo et al., ECCV 2018, https://arxiv.org/abs/1807.06521):
 * the mean and the max over channels (order: `poolOrder`) are stacked into a `[batch, H, W, 2]`
 * map, convolved by a `kernelSize` x `kernelSize` kernel (same padding, one filter, no bias),
 * optionally batch-normalised, and `y = x * sigmoid(...)`.
 *
 * Input: `[batch, height, width, channels]`; output: the same shape.
 *
 * Weights, in `getWeights()` / `setWeights()` order: `conv/kernel [k, k, 2, 1]`, then with
 * BatchNorm `bn/gamma [1]`, `bn/beta [1]`, `bn/moving_mean [1]`, `bn/moving_variance [1]`
 * (the last two non-trainable). A PyTorch conv weight `[1, 2, k, k]` becomes the kernel by
 * `permute(2, 3, 1, 0)`. The BatchNorm uses batch statistics when called with `training: true`
 * (updating the moving statistics, PyTorch-style with the unbiased batch variance) and the moving
 * statistics otherwise.
 *
 * Attention map (see {@link AttentionMaps}): `spatial`, `[batch, height, width, 1]`.
 *
 * Defaults: {@link SPATIAL_ATTENTION_DEFAULTS}.
 * @example
 * ```ts
 * const layer = new SpatialAttention({ kernelSize: 7 });
 * const y = layer.apply(tf.randomNormal([2, 14, 14, 32])) as tf.Tensor; // [2, 14, 14, 32]
 * const { spatial } = layer.computeAttention(tf.randomNormal([2, 14, 14, 32])); // [2, 14, 14, 1]
 * ```
 * @throws RangeError if `kernelSize` is not an odd positive integer, `poolOrder` is unknown,
 *   `momentum` is outside [0, 1] or `epsilon` is not positive; TypeError for non-boolean flags;
 *   RangeError in `build` if the input is not 4D with known channels.
 * @category Layers
 */
export class SpatialAttention extends AttentionLayerBase implements AttentionLayer {
  /** The tfjs serialization name. */
  static className = 'SpatialAttention';
  /** See {@link SpatialAttentionOptions.kernelSize}. */
  readonly kernelSize: number;
  /** See {@link SpatialAttentionOptions.useBatchNorm}. */
  readonly useBatchNorm: boolean;
  /** See {@link SpatialAttentionOptions.poolOrder}. */
  readonly poolOrder: PoolOrder;
  /** See {@link SpatialAttentionOptions.momentum}. */
  readonly momentum: number;
  /** See {@link SpatialAttentionOptions.epsilon}. */
  readonly epsilon: number;
  /** See {@link SpatialAttentionOptions.zeroInitGamma}. */
  readonly zeroInitGamma: boolean;
  private kernel: tfl.LayerVariable | null = null;
  private bn: BatchNormWeights | null = null;

  constructor(args: SpatialAttentionArgs = {}) {
    const o = resolveSpatialOptions(args, 'SpatialAttention');
    super(args, o);
    this.kernelSize = o.kernelSize;
    this.useBatchNorm = o.useBatchNorm;
    this.poolOrder = o.poolOrder;
    this.momentum = o.momentum;
    this.epsilon = o.epsilon;
    this.zeroInitGamma = o.zeroInitGamma;
  }

  /** @internal */
  protected override buildWeights(): void {
    const k = this.kernelSize;
    this.kernel = this.addVariable('conv/kernel', [k, k, 2, 1], 'glorotUniform');
    if (this.useBatchNorm) this.bn = addBatchNormWeights(this.addVariable, 'bn/', 1, this.zeroInitGamma);
  }

  /** The gate `sigmoid(bn(conv(pool(x))))`, `[batch, H, W, 1]`, under the key `spatial`. @internal */
  protected override gates(x: Tensor, training: boolean): AttentionMaps {
    const mean = tf.mean(x, 3, true);
    const max = tf.max(x, 3, true);
    const pooled = tf.concat(this.poolOrder === 'meanMax' ? [mean, max] : [max, mean], 3) as tf.Tensor4D;
    let logits: Tensor = tf.conv2d(pooled, this.kernel!.read() as tf.Tensor4D, 1, 'same');
    if (this.bn) logits = batchNormLastAxis(logits, this.bn, training, this.momentum, this.epsilon);
    return { spatial: tf.sigmoid(logits) };
  }
}
tf.serialization.registerClass(SpatialAttention);

/**
 * Creates a {@link SpatialAttention} layer: `x * sigmoid(BN(conv_k([mean_c(x), max_c(x)])))`.
 * @param args Options (defaults in {@link SPATIAL_ATTENTION_DEFAULTS}) and tfjs layer args.
 * @example
 * ```ts
 * const y = spatialAttention({ kernelSize: 3, poolOrder: 'maxMean' }).apply(tf.input({ shape: [12, 12, 64] }));
 * ```
 * @throws RangeError / TypeError for invalid options, as {@link SpatialAttention}.
 * @category Layers
 */
export function spatialAttention(args?: SpatialAttentionArgs): SpatialAttention {
  return new SpatialAttention(args);
}
