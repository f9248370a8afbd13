import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { checkRank4 } from '../errors';
import { configEntries } from './attention_base';
import type { AttentionLayer, AttentionMaps } from './attention_maps';
import {
  CHANNEL_ATTENTION_DEFAULTS,
  ChannelAttention,
  type ChannelAttentionConfig,
  type ChannelAttentionOptions,
  resolveChannelOptions,
} from './channel_attention';
import { CompositeLayer, type Shape, type TensorLike } from './composite';
import { ensureBuilt, type Kwargs, type LayerArgs, oneShape } from './layer_utils';
import {
  resolveSpatialOptions,
  SPATIAL_ATTENTION_DEFAULTS,
  SpatialAttention,
  type SpatialAttentionConfig,
  type SpatialAttentionOptions,
} from './spatial_attention';

/** Constructor arguments of {@link CBAM}: the options of both gates plus tfjs layer args. @category Layers */
export interface CBAMArgs extends ChannelAttentionOptions, SpatialAttentionOptions, LayerArgs {}

/** Defaults of {@link CBAM}: those of its two gates. @category Layers */
export const CBAM_DEFAULTS: Readonly<ChannelAttentionConfig & SpatialAttentionConfig> = Object.freeze({
  ...CHANNEL_ATTENTION_DEFAULTS,
  ...SPATIAL_ATTENTION_DEFAULTS,
});

/**
 * Convolutional Block Attention Module: channel, then spatial attention, `spatial(channel(x))`
 * (Woo et al., ECCV 2018, https://arxiv.org/abs/1807.06521). Input: `[batch, height, width,
 * channels]`; output: the same shape.
 *
 * A composite of two child layers with fixed names, a {@link ChannelAttention} named `channel` and a
 * {@link SpatialAttention} named `spatial`, so its weights are named `<name>/channel/fc1/kernel`,
 * ..., `<name>/spatial/bn/moving_variance`. `getWeights()` / `setWeights()` order is the channel
 * gate's, then the spatial gate's: `[fc1/kernel [C, h], fc1/bias [h], fc2/kernel [h, C],
 * fc2/bias [C], conv/kernel [k, k, 2, 1], bn/gamma, bn/beta, bn/moving_mean, bn/moving_variance]`
 * (fewer without biases or BatchNorm). `training` reaches the spatial BatchNorm.
 *
 * With the defaults it matches the CBAM of the PyTorch reference network; with
 * `poolOrder: 'maxMean'` and `momentum: 0.99` it matches the official
 * Jongchan/attention-module `MODELS/cbam.py` (see docs/attention-layers.md for weight porting).
 *
 * Attention maps (see {@link AttentionMaps}): `channel` `[batch, 1, 1, C]` and `spatial`
 * `[batch, height, width, 1]`, the latter computed on the channel-refined input.
 *
 * Defaults: {@link CBAM_DEFAULTS}.
 * @example
 * ```ts
 * const input = tf.input({ shape: [48, 48, 64] });
 * const refined = new CBAM({ reductionRatio: 16 }).apply(input) as tf.SymbolicTensor;
 * ```
 * @throws RangeError / TypeError for invalid options (as {@link ChannelAttention} and
 *   {@link SpatialAttention}, reported as `CBAM: ...`); RangeError in `build` for non-4D input.
 * @category Layers
 */
export class CBAM extends CompositeLayer implements AttentionLayer {
  /** The tfjs serialization name. */
  static className = 'CBAM';
  /** The channel gate (child `channel`). */
  readonly channel: ChannelAttention;
  /** The spatial gate (child `spatial`). */
  readonly spatial: SpatialAttention;
  private readonly options: ChannelAttentionConfig & SpatialAttentionConfig;

  constructor(args: CBAMArgs = {}) {
    super(args);
    const channelOptions = resolveChannelOptions(args, 'CBAM');
    const spatialOptions = resolveSpatialOptions(args, 'CBAM');
    this.options = { ...channelOptions, ...spatialOptions };
    this.channel = this.track(new ChannelAttention({ ...channelOptions, name: 'channel' }));
    this.spatial = this.track(new SpatialAttention({ ...spatialOptions, name: 'spatial' }));
  }

  override build(inputShape: Shape | Shape[]): void {
    checkRank4(oneShape(inputShape, 'CBAM'), 'CBAM');
    super.build(inputShape);
  }

  protected forward(x: TensorLike | TensorLike[], kwargs: Kwargs): TensorLike {
    return this.spatial.apply(this.channel.apply(x as TensorLike, kwargs), kwargs) as TensorLike;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  /**
   * All weights in the documented order, the channel gate's then the spatial gate's, whatever is
   * frozen. (The tfjs default, trainable then non-trainable, would move the channel gate's weights
   * behind the spatial ones when only the channel gate is frozen.) `getWeights()` and
   * `setWeights()` use this order.
   */
  override get weights(): tfl.LayerVariable[] {
    return [...this.channel.weights, ...this.spatial.weights];
  }

  /**
   * The maps for `x`: `channel` `[batch, 1, 1, C]` and `spatial` `[batch, H, W, 1]` (computed on
   * `x * channel`). See {@link AttentionLayer}.
   */
  computeAttention(x: Tensor, kwargs: Kwargs = { training: false }): AttentionMaps {
    ensureBuilt(this, x);
    return tf.tidy(() => {
      const channel = this.channel.computeAttention(x, kwargs).channel!;
      const spatial = this.spatial.computeAttention(tf.mul(x, channel), kwargs).spatial!;
      return { channel, spatial };
    });
  }

  /** See {@link AttentionLayer.captureMaps}; applies to both gates. */
  get captureMaps(): boolean {
    return this.channel.captureMaps && this.spatial.captureMaps;
  }

  set captureMaps(on: boolean) {
    this.channel.captureMaps = on;
    this.spatial.captureMaps = on;
  }

  /** The `channel` and `spatial` maps of the last captured call. See {@link AttentionLayer}. */
  takeCapturedMaps(): AttentionMaps | null {
    const channel = this.channel.takeCapturedMaps();
    const spatial = this.spatial.takeCapturedMaps();
    if (!channel && !spatial) return null;
    return { ...channel, ...spatial };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...configEntries(this.options) };
  }
}
tf.serialization.registerClass(CBAM);

/**
 * Creates a {@link CBAM} layer (channel then spatial attention).
 * @param args Options of both gates (defaults in {@link CBAM_DEFAULTS}) and tfjs layer args.
 * @example
 * ```ts
 * const y = cbam({ reductionRatio: 16 }).apply(tf.input({ shape: [48, 48, 64] }));
 * ```
 * @throws RangeError / TypeError for invalid options, as {@link CBAM}.
 * @category Layers
 */
export function cbam(args?: CBAMArgs): CBAM {
  return new CBAM(args);
}
