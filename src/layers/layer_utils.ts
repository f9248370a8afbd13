/**
 * What every fer-cbam layer needs from tfjs-layers beyond its public API, and the small helpers all
 * layers share (attention or not).
 *
 * Why one file: tfjs-layers does not export `LayerArgs`, `Kwargs` or `InitializerIdentifier` from its
 * package root, so they come from `@tensorflow/tfjs-layers/dist/...`, paths that are not part of its
 * public contract and may move in any release. Every such deep import in the project lives here, so a
 * tfjs upgrade touches this file only. Import them from here, never from `dist/` directly.
 * @module
 * @internal
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { checkPositiveInteger, expected } from '../errors';

export type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
export type { InitializerIdentifier } from '@tensorflow/tfjs-layers/dist/initializers';
export type { Kwargs };

/** The name of a weight initializer. @internal */
export type InitializerName = 'glorotUniform' | 'zeros' | 'ones';

/** Creates a float32 variable: `(name, shape, initializer, trainable = true)`. @internal */
export type AddVariable = (
  name: string,
  shape: number[],
  init: InitializerName,
  trainable?: boolean,
) => tfl.LayerVariable;

/**
 * The tfjs initializer called `name`.
 * @param name `'glorotUniform'`, `'zeros'` or `'ones'`.
 * @example
 * ```ts
 * this.addWeight('kernel', [3, 3, 2, 1], 'float32', initializer('glorotUniform'));
 * ```
 * @internal
 */
export function initializer(name: InitializerName) {
  if (name === 'glorotUniform') return tfl.initializers.glorotUniform({});
  return name === 'zeros' ? tfl.initializers.zeros() : tfl.initializers.ones();
}

/**
 * Builds `layer` (by one inference call on `x`, whose output is disposed) if it is not built yet.
 * @param layer Any tfjs layer.
 * @param x A concrete input of the shape the layer will see.
 * @example
 * ```ts
 * ensureBuilt(this, x); // then read this layer's weights
 * ```
 * @internal
 */
export function ensureBuilt(layer: tfl.layers.Layer, x: Tensor): void {
  if (!layer.built) tf.dispose(layer.apply(x, { training: false }) as Tensor);
}

/**
 * The single shape of a layer's input: tfjs types `inputShape` as one shape or a list of shapes
 * (one per input), and fer-cbam layers take one input.
 * @param shape The `inputShape` given to `build` or `computeOutputShape`.
 * @param where The caller named in the error, usually the layer's class name (`this.getClassName()`).
 * @throws RangeError if `shape` is a list of more (or fewer) than one shape.
 * @example
 * ```ts
 * oneShape([[null, 7, 7, 32]], 'CBAM'); // [null, 7, 7, 32]
 * oneShape([null, 7, 7, 32], 'CBAM');   // [null, 7, 7, 32]
 * ```
 * @internal
 */
export function oneShape(shape: (number | null)[] | (number | null)[][], where: string): (number | null)[] {
  if (Array.isArray(shape[0])) {
    const list = shape as (number | null)[][];
    if (list.length !== 1) {
      throw new RangeError(expected(where, 'inputShape', 'a single shape', list));
    }
    return list[0]!;
  }
  return shape as (number | null)[];
}

/**
 * The single tensor of a layer's input (the first one if tfjs passes a list).
 * @param inputs What `call` receives.
 * @example
 * ```ts
 * const x = oneTensor(inputs);
 * ```
 * @internal
 */
export function oneTensor(inputs: Tensor | Tensor[]): Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

/**
 * Whether `kwargs` asks for training behaviour (`training: true`; absent means inference).
 * @param kwargs What `call` receives; may be undefined.
 * @example
 * ```ts
 * isTraining({ training: true }); // true
 * isTraining(undefined);          // false
 * ```
 * @internal
 */
export function isTraining(kwargs: Kwargs | undefined): boolean {
  return kwargs?.training === true;
}

/**
 * Validates a kernel size that must be an odd positive integer (so "same" padding is symmetric).
 * @param value The value to check.
 * @param where The caller named in the error, e.g. `'SpatialAttention'`.
 * @param arg The argument named in the error. Defaults to `'kernelSize'`.
 * @returns `value`.
 * @throws RangeError if `value` is not an odd positive integer.
 * @example
 * ```ts
 * checkOddKernel(7, 'SpatialAttention'); // 7
 * checkOddKernel(4, 'SpatialAttention'); // RangeError: SpatialAttention: expected `kernelSize` to be an odd positive integer, but got 4.
 * ```
 * @internal
 */
export function checkOddKernel(value: unknown, where: string, arg = 'kernelSize'): number {
  checkPositiveInteger(value, arg, where);
  if ((value as number) % 2 !== 1)
    throw new RangeError(expected(where, arg, 'an odd positive integer', value));
  return value as number;
}
