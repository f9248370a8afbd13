/**
 * Which function turns a layer of which class into ONNX nodes: the built-in emitters (tfjs's layers
 * that fer-cbam's networks use, and every fer-cbam layer) and those registered by users for their own
 * layers.
 * @module
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { expected } from '../errors';
import { FER_CBAM_EMITTERS } from './fer_cbam_emitters';
import type { OnnxGraph, OnnxValue } from './onnx_graph';
import { TFJS_EMITTERS } from './tfjs_emitters';

/**
 * Exports a child layer of a composite (scoped under the child's name, dispatched on its class, as
 * the graph walk does for the model's own layers) and returns its outputs.
 * @category Export
 */
export type EmitChild = (layer: tfl.layers.Layer, inputs: OnnxValue[]) => OnnxValue[];

/**
 * Turns one layer into ONNX nodes: given the graph, the (built) layer and its input values, it adds
 * nodes and initializers and returns the output values, with their tfjs (channels-last) shapes. Rank-4
 * values are NCHW in the graph (see {@link OnnxValue}). Read weights with `g.requireWeight(layer, 'kernel')`.
 * @category Export
 */
export type OnnxEmitter = (
  g: OnnxGraph,
  layer: tfl.layers.Layer,
  inputs: OnnxValue[],
  emitChild: EmitChild,
) => OnnxValue | OnnxValue[];

const emitters = new Map<string, OnnxEmitter>(Object.entries({ ...TFJS_EMITTERS, ...FER_CBAM_EMITTERS }));

/**
 * Registers how layers of class `className` (their `getClassName()`, i.e. their `static className`)
 * become ONNX nodes, so that {@link exportOnnx} can export models using your own layer; replaces any
 * emitter of that class.
 * @param className The layer's serialization class name.
 * @param emitter See {@link OnnxEmitter}.
 * @example
 * ```ts
 * // A layer computing x * sigmoid(x), registered with tfjs as 'Swish':
 * registerOnnxEmitter('Swish', (g, layer, [x]) => ({
 *   name: g.op('Mul', [x.name, g.op('Sigmoid', [x.name])]),
 *   shape: x.shape,
 * }));
 * ```
 * @throws TypeError if `className` is not a non-empty string or `emitter` is not a function.
 * @category Export
 */
export function registerOnnxEmitter(className: string, emitter: OnnxEmitter): void {
  if (typeof className !== 'string' || className.length === 0) {
    throw new TypeError(expected('registerOnnxEmitter', 'className', 'a non-empty string', className));
  }
  if (typeof emitter !== 'function') {
    throw new TypeError(expected('registerOnnxEmitter', 'emitter', 'a function', typeof emitter));
  }
  emitters.set(className, emitter);
}

/**
 * The layer classes {@link exportOnnx} can export, built-in ones first.
 * @example
 * ```ts
 * listOnnxLayers().includes('CBAM'); // true
 * ```
 * @category Export
 */
export function listOnnxLayers(): string[] {
  return [...emitters.keys()];
}

/** The emitter of `className`, or `undefined`. @internal */
export function findEmitter(className: string): OnnxEmitter | undefined {
  return emitters.get(className);
}
