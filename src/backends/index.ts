/**
 * Backends: choosing one (`useBackend`), WebAssembly training kernels and threads, WebGPU through Dawn in
 * Node, and native TensorFlow when installed.
 * @module
 */

export { BackendMemoryError } from './memory';
export * from './select';
export * from './tensorflow';
export * from './wasm';
export * from './wasm_kernels';
export * from './webgpu';
export * from './webgpu_kernels';
