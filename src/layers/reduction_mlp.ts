/**
 * The reduction MLP `C -> h -> C` shared by the channel gates: its hidden width (also used by
 * CoordinateAttention's `C -> h` convolution), its weights and the pooled sigmoid gate computed
 * with it. It lives in its own file so that no gate borrows it from another gate.
 * @module
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { checkPositiveInteger } from '../errors';
import type { AddVariable } from './layer_utils';

/** A global pooling applied before the shared MLP of {@link ChannelAttention}. @category Layers */
export type PoolType = 'avg' | 'max';

/** The pool types {@link ChannelAttention} accepts. @category Layers */
export const POOL_TYPES: readonly PoolType[] = Object.freeze(['avg', 'max'] as PoolType[]);

/** The options that set the hidden width of a reduction MLP (see {@link hiddenWidth}). @internal */
export interface ReductionOptions {
  reductionRatio: number;
  hiddenUnits: number | null;
  minUnits: number;
}

/**
 * Resolves and validates `reductionRatio`, `hiddenUnits` and `minUnits`.
 * @param args The caller's options; a missing `reductionRatio` or `minUnits` takes its default,
 *   a missing or `null` `hiddenUnits` stays `null`.
 * @param d The caller's defaults.
 * @param where The caller named in errors, e.g. `'SqueezeExcitation'`.
 * @throws RangeError if a given value is not a positive integer.
 * @example
 * ```ts
 * resolveReduction({ reductionRatio: 8 }, SQUEEZE_EXCITATION_DEFAULTS, 'SqueezeExcitation');
 * // { reductionRatio: 8, hiddenUnits: null, minUnits: 1 }
 * ```
 * @internal
 */
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

/**
 * The hidden width of a reduction MLP: `hiddenUnits`, else `max(minUnits, floor(channels / r))`.
 * @param channels The input channel count `C`.
 * @param o Resolved options (see {@link resolveReduction}).
 * @example
 * ```ts
 * hiddenWidth(64, { reductionRatio: 16, hiddenUnits: null, minUnits: 1 }); // 4
 * ```
 * @internal
 */
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
 * @param x The input, `[batch, height, width, C]`.
 * @param pools The global poolings whose MLP outputs are summed, in order.
 * @param w The MLP's weights (see {@link addMlpWeights}).
 * @example
 * ```ts
 * const gate = mlpGate(x, ['avg', 'max'], this.mlp); // [batch, 1, 1, C]
 * ```
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

/**
 * Adds the MLP weights `fc1/kernel [C, h]`, `fc1/bias [h]`, `fc2/kernel [h, C]`, `fc2/bias [C]`, in
 * that order (these names are the saved weight format).
 * @param add The layer's variable factory.
 * @param channels `C`.
 * @param hidden `h` (see {@link hiddenWidth}).
 * @param useBias Whether to add the two biases.
 * @example
 * ```ts
 * this.mlp = addMlpWeights(this.addVariable, channels, hiddenWidth(channels, this), this.useBias);
 * ```
 * @internal
 */
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
