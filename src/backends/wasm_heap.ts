/**
 * What the wasm kernel families (wasm_conv.ts, wasm_copies.ts, wasm_reductions.ts, wasm_elementwise.ts,
 * wasm_batchnorm.ts) share: the backend's name, the switch for fer-cbam's native kernels (set by
 * `registerWasmTrainingKernels`), and access to tensors in place on the wasm heap.
 * @module
 * @internal
 */

import type * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type NativeKernels, nativeKernels } from './wasm_native';

/** The backend the kernels are registered for. @internal */
export const WASM = 'wasm';

/** Whether the registered kernels may use the native module (set by {@link registerWasmTrainingKernels}). */
let nativeEnabled = true;

/** Whether {@link registerWasmTrainingKernels} last switched the native kernels on. @internal */
export function nativeKernelsEnabled(): boolean {
  return nativeEnabled;
}

/** The native kernels on `backend`, or null when they are switched off or cannot load there. @internal */
export function native(backend: object): NativeKernels | null {
  return nativeEnabled ? nativeKernels(backend) : null;
}

/** Switches the native kernels on or off (by {@link registerWasmTrainingKernels}). @internal */
export function setNativeKernelsEnabled(on: boolean): void {
  nativeEnabled = on;
}

/** The parts of tfjs-backend-wasm's BackendWasm that the heap kernels use. @internal */
export interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
}

/** Byte offset of a tensor's data on the wasm heap. @internal */
export function heapOffset(backend: WasmHeapBackend, t: TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}
