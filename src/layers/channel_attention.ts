import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { checkBoolean, expected } from '../errors';
import { AttentionLayerBase } from './attention_base';
import type { AttentionLayer, AttentionMaps } from './attention_maps';
import type { LayerArgs } from './layer_utils';
import {
  addMlpWeights,
  hiddenWidth,
  type MlpWeights,
  mlpGate,
  POOL_TYPES,
  type PoolType,
  resolveReduction,
} from './reduction_mlp';

/**
 * Options of {@link ChannelAttention} (also accepted by {@link CBAM}).
 * @category Layers
 */
export interface ChannelAttentionOptions {
  /** The divisor `r` of the MLP's hidden width `max(minUnits, floor(C / r))`. Defaults to `16`. */
  reductionRatio?: number;
  /** A fixed hidden width that overrides `reductionRatio` and `minUnits`. Defaults to `null` (unset). */
  hiddenUnits?: number | null;
  /** The smallest hidden width. Defaults to `1`. */
  minUnits?: number;
  /** Whether both MLP layers have biases (the official CBAM code has them). Defaults to `true`. */
  useBias?: boolean;
  /**
   * The global poolings whose MLP outputs are summed, in order: `'avg'`, `'max'` or both.
   * Defaults to `['avg', 'max']`.
   */
  poolTypes?: PoolType[];
}

/** Constructor arguments of {@link ChannelAttention}: its options plus the usual tfjs layer args. @category Layers */
export interface ChannelAttentionArgs extends ChannelAttentionOptions, LayerArgs {}

/** The resolved options of a channel gate, as stored and returned by `getConfig()`. @category Layers */
export interface ChannelAttentionConfig {
  /** Divisor of the channel count for the hidden width. */
  reductionRatio: number;
  /** Explicit hidden width, or `null` to derive it from `reductionRatio`. */
  hiddenUnits: number | null;
  /** Smallest hidden width. */
  minUnits: number;
  /** Whether the MLP layers have biases. */
  useBias: boolean;
  /** Pooled descriptors fed to the shared MLP. */
  poolTypes: PoolType[];
}

/**
 * Defaults of {@link ChannelAttention} (CBAM paper and official code: r = 16, MLP biases, average
 * and max pooling).
 * @category Layers
 */
export const CHANNEL_ATTENTION_DEFAULTS: Readonly<ChannelAttentionConfig> = Object.freeze({
  reductionRatio: 16,
  hiddenUnits: null,
  minUnits: 1,
  useBias: true,
  poolTypes: ['avg', 'max'] as PoolType[],
});

/**
 * Resolves and validates channel-gate options, filling in {@link CHANNEL_ATTENTION_DEFAULTS}.
 * @param args The options given to the layer.
 * @param where The caller named in errors (`'ChannelAttention'`, or `'CBAM'` for its channel gate).
 * @throws RangeError / TypeError as {@link ChannelAttention}.
 * @example
 * ```ts
 * resolveChannelOptions({ poolTypes: ['avg'] }, 'CBAM').reductionRatio; // 16
 * ```
 * @internal
 */
export function resolveChannelOptions(args: ChannelAttentionOptions, where: string): ChannelAttentionConfig {
  const d = CHANNEL_ATTENTION_DEFAULTS;
  const poolTypes = args.poolTypes ?? d.poolTypes;
  if (
    !Array.isArray(poolTypes) ||
    poolTypes.length === 0 ||
    !poolTypes.every((p) => POOL_TYPES.includes(p)) ||
    new Set(poolTypes).size !== poolTypes.length
  ) {
    throw new RangeError(
      expected(where, 'poolTypes', "a non-empty array of distinct values from 'avg', 'max'", poolTypes),
    );
  }
  return {
    ...resolveReduction(args, d, where),
    useBias: checkBoolean(args.useBias ?? d.useBias, 'useBias', where),
    poolTypes: [...poolTypes],
  };
}

/**
 * Channel attention, the first gate of CBAM (Woo et al., ECCV 2018, https://arxiv.org/abs/1807.06521):
 * `y = x * sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`, where the pools are global over height and
 * width and the MLP `C -> h -> C` (ReLU between, shared by the pools) has
 * `h = max(minUnits, floor(C / reductionRatio))`.
 *
 * Input: `[batch, height, width, channels]`; output: the same shape.
 *
 * Weights, in `getWeights()` / `setWeights()` order: `fc1/kernel [C, h]`, `fc1/bias [h]`,
 * `fc2/kernel [h, C]`, `fc2/bias [C]` (no biases when `useBias` is `false`). A PyTorch
 * `nn.Linear` weight `[out, in]` is the transpose of the kernel here.
 *
 * Attention map (see {@link AttentionMaps}): `channel`, `[batch, 1, 1, C]`.
 *
 * Defaults: {@link CHANNEL_ATTENTION_DEFAULTS}.
 * @example
 * ```ts
 * const layer = new ChannelAttention({ reductionRatio: 8 });
 * const y = layer.apply(tf.randomNormal([2, 7, 7, 32])) as tf.Tensor; // [2, 7, 7, 32]
 * ```
 * @throws RangeError if `reductionRatio`, `minUnits` or `hiddenUnits` is not a positive integer or
 *   `poolTypes` is not a non-empty list of distinct `'avg'` / `'max'`; TypeError if `useBias` is not
 *   a boolean; RangeError in `build` if the input is not 4D with known channels.
 * @category Layers
 */
export class ChannelAttention extends AttentionLayerBase implements AttentionLayer {
  /** The tfjs serialization name. */
  static className = 'ChannelAttention';
  /** See {@link ChannelAttentionOptions.reductionRatio}. */
  readonly reductionRatio: number;
  /** See {@link ChannelAttentionOptions.hiddenUnits}. */
  readonly hiddenUnits: number | null;
  /** See {@link ChannelAttentionOptions.minUnits}. */
  readonly minUnits: number;
  /** See {@link ChannelAttentionOptions.useBias}. */
  readonly useBias: boolean;
  /** See {@link ChannelAttentionOptions.poolTypes}. */
  readonly poolTypes: readonly PoolType[];
  /** The MLP's hidden width, known once built (`null` before). */
  units: number | null = null;
  private mlp: MlpWeights | null = null;

  constructor(args: ChannelAttentionArgs = {}) {
    const o = resolveChannelOptions(args, 'ChannelAttention');
    super(args, o);
    this.reductionRatio = o.reductionRatio;
    this.hiddenUnits = o.hiddenUnits;
    this.minUnits = o.minUnits;
    this.useBias = o.useBias;
    this.poolTypes = Object.freeze(o.poolTypes);
  }

  /** @internal */
  protected override buildWeights(channels: number): void {
    this.units = hiddenWidth(channels, this);
    this.mlp = addMlpWeights(this.addVariable, channels, this.units, this.useBias);
  }

  /** @internal */
  protected override gates(x: Tensor): AttentionMaps {
    return { channel: mlpGate(x, this.poolTypes, this.mlp!) };
  }
}
tf.serialization.registerClass(ChannelAttention);

/**
 * Creates a {@link ChannelAttention} layer: `x * sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`.
 * @param args Options (defaults in {@link CHANNEL_ATTENTION_DEFAULTS}) and tfjs layer args.
 * @example
 * ```ts
 * const y = channelAttention({ reductionRatio: 16 }).apply(tf.input({ shape: [12, 12, 64] }));
 * ```
 * @throws RangeError / TypeError for invalid options, as {@link ChannelAttention}.
 * @category Layers
 */
export function channelAttention(args?: ChannelAttentionArgs): ChannelAttention {
  return new ChannelAttention(args);
}
