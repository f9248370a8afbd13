import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { checkPositiveInteger, expected } from '../errors';
import { AttentionLayerBase } from './attention_base';
import type { AttentionLayer, AttentionMaps } from './attention_maps';
import { checkOddKernel, type LayerArgs } from './layer_utils';

/** Options of {@link EfficientChannelAttention}. @category Layers */
export interface EfficientChannelAttentionOptions {
  /**
   * Size of the 1D convolution across channels; odd. Defaults to `null`: chosen from the channel
   * count by {@link ecaKernelSize} (gamma 2, b 1, as in the paper).
   */
  kernelSize?: number | null;
}

/** Constructor arguments of {@link EfficientChannelAttention}. @category Layers */
export interface EfficientChannelAttentionArgs extends EfficientChannelAttentionOptions, LayerArgs {}

/** Defaults of {@link EfficientChannelAttention}. @category Layers */
export const EFFICIENT_CHANNEL_ATTENTION_DEFAULTS: Readonly<Required<EfficientChannelAttentionOptions>> =
  Object.freeze({ kernelSize: null });

/**
 * The adaptive kernel size of ECA-Net: `t = floor(|(log2(C) + b) / gamma|)`, then `t` if odd,
 * else `t + 1` (the official code's rule; with gamma 2, b 1: C = 64 -> 3, C = 256 -> 5, C = 512 -> 5).
 * @param channels The channel count `C`.
 * @param gamma Defaults to `2`.
 * @param b Defaults to `1`.
 * @example
 * ```ts
 * ecaKernelSize(256); // 5
 * ```
 * @throws RangeError if `channels` is not a positive integer.
 * @category Layers
 */
export function ecaKernelSize(channels: number, gamma = 2, b = 1): number {
  checkPositiveInteger(channels, 'channels', 'ecaKernelSize');
  if (!(gamma > 0)) throw new RangeError(expected('ecaKernelSize', 'gamma', 'a positive number', gamma));
  const t = Math.trunc(Math.abs((Math.log2(channels) + b) / gamma));
  return t % 2 === 1 ? t : t + 1;
}

/**
 * Efficient Channel Attention (Wang et al., CVPR 2020, https://arxiv.org/abs/1910.03151):
 * `y = x * sigmoid(conv1d_k(avgpool(x)))`, where the 1D convolution (one filter, no bias, zero
 * "same" padding) runs across the channel axis of the pooled vector, so neighbouring channels
 * interact without any dimensionality reduction.
 *
 * Input: `[batch, height, width, channels]`; output: the same shape.
 *
 * Weights: `conv/kernel [k, 1, 1]` (tfjs conv1d layout). A PyTorch `nn.Conv1d(1, 1, k)` weight
 * `[1, 1, k]` becomes it by `permute(2, 1, 0)`.
 *
 * Attention map (see {@link AttentionMaps}): `channel`, `[batch, 1, 1, C]`.
 * @example
 * ```ts
 * const layer = new EfficientChannelAttention(); // k = 3 for 64 channels
 * const y = layer.apply(tf.randomNormal([2, 7, 7, 64])) as tf.Tensor;
 * ```
 * @throws RangeError if `kernelSize` is not an odd positive integer (or `null`); RangeError in
 *   `build` for non-4D input.
 * @category Layers
 */
export class EfficientChannelAttention extends AttentionLayerBase implements AttentionLayer {
  /** The tfjs serialization name. */
  static className = 'EfficientChannelAttention';
  /** The requested kernel size, `null` for adaptive. See {@link EfficientChannelAttentionOptions}. */
  readonly kernelSize: number | null;
  /** The kernel size in use, known once built (`null` before). */
  resolvedKernelSize: number | null = null;
  private kernel: tfl.LayerVariable | null = null;

  constructor(args: EfficientChannelAttentionArgs = {}) {
    const kernelSize =
      args.kernelSize == null ? null : checkOddKernel(args.kernelSize, 'EfficientChannelAttention');
    super(args, { kernelSize });
    this.kernelSize = kernelSize;
  }

  /** @internal */
  protected override buildWeights(channels: number): void {
    this.resolvedKernelSize = this.kernelSize ?? ecaKernelSize(channels);
    this.kernel = this.addVariable('conv/kernel', [this.resolvedKernelSize, 1, 1], 'glorotUniform');
  }

  /** @internal */
  protected override gates(x: Tensor): AttentionMaps {
    const [batch, , , channels] = x.shape as [number, number, number, number];
    const pooled = tf.reshape(tf.mean(x, [1, 2]), [batch, channels, 1]) as tf.Tensor3D;
    const mixed = tf.conv1d(pooled, this.kernel!.read() as tf.Tensor3D, 1, 'same');
    return { channel: tf.reshape(tf.sigmoid(mixed), [batch, 1, 1, channels]) };
  }
}
tf.serialization.registerClass(EfficientChannelAttention);

/**
 * Creates an {@link EfficientChannelAttention} layer: `x * sigmoid(conv1d(avgpool(x)))`.
 * @param args Options (`kernelSize`, adaptive by default) and tfjs layer args.
 * @example
 * ```ts
 * const y = efficientChannelAttention().apply(tf.input({ shape: [12, 12, 256] })); // k = 5
 * ```
 * @throws RangeError for an even or non-positive `kernelSize`, as {@link EfficientChannelAttention}.
 * @category Layers
 */
export function efficientChannelAttention(args?: EfficientChannelAttentionArgs): EfficientChannelAttention {
  return new EfficientChannelAttention(args);
}
