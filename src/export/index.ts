/**
 * `fer-cbam/export`: ONNX export of the networks fer-cbam builds ({@link exportOnnx}, {@link saveOnnx}),
 * reading an exported file's metadata back ({@link readOnnxInfo}), and emitters for layers of your own
 * ({@link registerOnnxEmitter}). A subpath of its own so that the protobuf code loads only where export
 * is used. See docs/export.md.
 * @module
 */
export { type EmitChild, listOnnxLayers, type OnnxEmitter, registerOnnxEmitter } from './emitter_registry';
export {
  exportOnnx,
  ONNX_METADATA_KEYS,
  type OnnxExportOptions,
  type OnnxInputLayout,
  saveOnnx,
} from './export_onnx';
export { OnnxExportError } from './graph_walk';
export {
  ONNX_OPSET,
  type OnnxAttribute,
  OnnxGraph,
  type OnnxInitializer,
  type OnnxNode,
  type OnnxValue,
  type OnnxValueInfo,
  onnxAttr,
} from './onnx_graph';
export { ONNX_ACTIVATIONS } from './op_patterns';
export { ONNX_IR_VERSION, type OnnxModelInfo, readOnnxInfo } from './protobuf';
