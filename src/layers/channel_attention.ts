import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { checkBoolean, checkPositiveInteger, expected } from '../errors';
import { type AddVariable, AttentionLayerBase } from './attention_base';
import type { AttentionLayer, AttentionMaps } from './attention_maps';

/** A global pooling applied before the shared MLP of {@link ChannelAttention}. @category Layers */
export type PoolType = 'avg' | 'max';

/** The pool types {@link ChannelAttention} accepts. @category Layers */
export const POOL_TYPES: readonly PoolType[] = Object.freeze(['avg', 'max'] as PoolType[]);

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

/** Resolves and validates channel-gate options; `where` names the caller in errors. @internal */
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

/** The options that set the hidden width of a reduction MLP (see {@link hiddenWidth}). @internal */
export interface ReductionOptions {
  reductionRatio: number;
  hiddenUnits: number | null;
  minUnits: number;
}

/** Resolves and validates `reductionRatio`, `hiddenUnits` and `minUnits` (`d`: defaults). @internal */
export function resolveReduction(
  args: Partial<ReductionOptions>,
  d: Readonly<ReductionOptions>,
  where: string,
): ReductionOptions {
  return {
    reductionRatio: checkPositiveInteger(args.reductionRatio ?? d.reductionRatio, 'reductionRatio', where),
    hiddenUnits:
      args.hiddenUnits == null ? null : checkPositiveInteger(args.hiddenUnits, 'hiddenUnits', where),
    minUnits: checkPositiveInteger(args.minUnits ?? d.minUnits, 'minUnits', where),
  };
}

/** The hidden width of a reduction MLP: `hiddenUnits`, else `max(minUnits, floor(channels / r))`. @internal */
export function hiddenWidth(channels: number, o: ReductionOptions): number {
  return o.hiddenUnits ?? Math.max(o.minUnits, Math.floor(channels / o.reductionRatio));
}

/** The weights of a `C -> h -> C` MLP. @internal */
export interface MlpWeights {
  kernel1: tfl.LayerVariable;
  bias1: tfl.LayerVariable | null;
  kernel2: tfl.LayerVariable;
  bias2: tfl.LayerVariable | null;
}

/**
 * `sigmoid(sum over pools of MLP(pool(x)))` reshaped to `[batch, 1, 1, C]`: the gate shared by
 * ChannelAttention and SqueezeExcitation. All pooled vectors go through the MLP as one batch.
 * @internal
 */
export function mlpGate(x: Tensor, pools: readonly PoolType[], w: MlpWeights): Tensor {
  const [batch, , , channels] = x.shape as [number, number, number, number];
  const pooled = pools.map((p) => (p === 'avg' ? tf.mean(x, [1, 2]) : tf.max(x, [1, 2])));
  const stacked = pooled.length === 1 ? pooled[0]! : tf.concat(pooled, 0);
  let hidden = tf.matMul(stacked, w.kernel1.read());
  if (w.bias1) hidden = tf.add(hidden, w.bias1.read());
  hidden = tf.relu(hidden);
  let out = tf.matMul(hidden, w.kernel2.read());
  if (w.bias2) out = tf.add(out, w.bias2.read());
  const summed = pools.length === 1 ? out : tf.sum(tf.reshape(out, [pools.length, batch, channels]), 0);
  return tf.reshape(tf.sigmoid(summed), [batch, 1, 1, channels]);
}

/** Adds the MLP weights `fc1/kernel [C, h]`, `fc1/bias [h]`, `fc2/kernel [h, C]`, `fc2/bias [C]`. @internal */
export function addMlpWeights(
  add: AddVariable,
  channels: number,
  hidden: number,
  useBias: boolean,
): MlpWeights {
  const kernel1 = add('fc1/kernel', [channels, hidden], 'glorotUniform');
  const bias1 = useBias ? add('fc1/bias', [hidden], 'zeros') : null;
  const kernel2 = add('fc2/kernel', [hidden, channels], 'glorotUniform');
  const bias2 = useBias ? add('fc2/bias', [channels], 'zeros') : null;
  return { kernel1, bias1, kernel2, bias2 };
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
