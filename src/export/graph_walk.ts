/**
 * The graph walk: from a tfjs `LayersModel`'s outputs back to its inputs through the layers' inbound
 * nodes, emitting each layer once its inputs are emitted, so any functional graph (branches, merges,
 * models nested as layers) is exported in a valid order.
 * @module
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { findEmitter } from './emitter_registry';
import type { OnnxGraph, OnnxValue } from './onnx_graph';

/**
 * The error {@link exportOnnx} throws for a layer it cannot export (no emitter for its class, or an
 * option the ONNX form does not cover). `layerPath` names the layer, `className` its class.
 * @example
 * ```ts
 * try { await exportOnnx(model); } catch (e) { if (e instanceof OnnxExportError) console.log(e.layerPath); }
 * ```
 * @category Export
 */
export class OnnxExportError extends Error {
  /** `'OnnxExportError'`. */
  override name = 'OnnxExportError';
  /** The path of the layer, e.g. `stage2_block1/attention`. */
  readonly layerPath: string;
  /** The layer's class name, e.g. `MyGate`. */
  readonly className: string;

  /**
   * @param message The whole message (it names the layer and the fix).
   * @param layerPath See {@link OnnxExportError.layerPath}.
   * @param className See {@link OnnxExportError.className}.
   */
  constructor(message: string, layerPath: string, className: string) {
    super(message);
    this.layerPath = layerPath;
    this.className = className;
  }
}

function isModel(layer: tfl.layers.Layer): layer is tfl.LayersModel {
  const m = layer as Partial<tfl.LayersModel>;
  return Array.isArray(m.layers) && Array.isArray(m.inputs) && Array.isArray(m.outputs);
}

/**
 * Emits `layer` (scoped under its name) on `inputs` and returns its outputs: a nested model by walking
 * its graph, any other layer by the emitter registered for its class.
 * @throws OnnxExportError naming the layer if no emitter is registered for its class or the emitter fails.
 * @internal
 */
export function emitLayer(g: OnnxGraph, layer: tfl.layers.Layer, inputs: OnnxValue[]): OnnxValue[] {
  return g.within(layer.name, () => {
    if (isModel(layer)) return emitModel(g, layer, inputs);
    const className = layer.getClassName();
    const emitter = findEmitter(className);
    if (emitter === undefined) {
      throw new OnnxExportError(
        `exportOnnx: cannot export layer "${g.path}": no ONNX emitter is registered for its class ${className}. ` +
          `Register one with registerOnnxEmitter('${className}', ...) from fer-cbam/export, or build the model without this layer.`,
        g.path,
        className,
      );
    }
    try {
      const out = emitter(g, layer, inputs, (child, childInputs) => emitLayer(g, child, childInputs));
      return Array.isArray(out) ? out : [out];
    } catch (error) {
      if (error instanceof OnnxExportError) throw error;
      const message = (error as Error).message ?? String(error);
      throw new OnnxExportError(
        message.startsWith('exportOnnx:')
          ? message
          : `exportOnnx: cannot export layer "${g.path}" (${className}): ${message}`,
        g.path,
        className,
      );
    }
  });
}

/**
 * Emits the graph of `model` with its inputs bound to `inputs` and returns the values of its outputs.
 * @internal
 */
export function emitModel(g: OnnxGraph, model: tfl.LayersModel, inputs: OnnxValue[]): OnnxValue[] {
  const values = new Map<number, OnnxValue>();
  model.inputs.forEach((t, i) => {
    values.set(t.id, inputs[i]!);
  });
  const visit = (t: tfl.SymbolicTensor): OnnxValue => {
    const known = values.get(t.id);
    if (known !== undefined) return known;
    const layer = t.sourceLayer;
    const node = layer.inboundNodes[t.nodeIndex];
    if (node === undefined) {
      throw new Error(
        `exportOnnx: the tensor ${t.name} of layer "${layer.name}" is not connected to the model's inputs.`,
      );
    }
    const outputs = emitLayer(g, layer, node.inputTensors.map(visit));
    node.outputTensors.forEach((o, i) => {
      if (outputs[i] !== undefined) values.set(o.id, outputs[i]!);
    });
    const value = values.get(t.id);
    if (value === undefined) {
      throw new Error(
        `exportOnnx: layer "${layer.name}" gave ${outputs.length} outputs; its tensor ${t.name} has none.`,
      );
    }
    return value;
  };
  return model.outputs.map(visit);
}
