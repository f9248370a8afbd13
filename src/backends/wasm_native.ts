/**
 * fer-cbam's own wasm SIMD kernels (native/*.c, built by scripts/build-native.ts), instantiated on the
 * memory of a tfjs-backend-wasm backend so that they read and write its tensors in place: the plain
 * build for its SIMD module, the shared-memory build for its threaded SIMD module. They run on the
 * calling thread, and large calls also on helper threads when {@link startNativeHelpers} has
 * started some (src/backends/wasm_native_threads.ts). Their signatures are in wasm_native_types.ts,
 * and how each call is split across the helpers in wasm_native_split.ts.
 * @module
 * @internal
 */
import { NATIVE_WASM_PLAIN, NATIVE_WASM_SHARED } from './wasm_native_binary';
import { MAX_PARTS, type NativeState, wrap } from './wasm_native_split';
import { NativeHelpers } from './wasm_native_threads';
import type { NativeExports, NativeKernels } from './wasm_native_types';

/** @internal */
export { batchNormGradScratchFloats, momentsScratchFloats } from './wasm_native_split';
/** @internal */
export type { Epilogue, NativeConvGeometry, NativeKernels, Strided3 } from './wasm_native_types';

/**
 * Whether this engine can compile the native kernels at all (wasm SIMD), before any backend exists:
 * the kernels that have no tfjs fallback of their own are registered only then.
 * @internal
 */
export function nativeKernelsLoadable(): boolean {
  if (loadable === undefined) {
    try {
      loadable = WebAssembly.validate(decode(NATIVE_WASM_PLAIN));
    } catch {
      loadable = false;
    }
  }
  return loadable;
}
let loadable: boolean | undefined;

/** What a tfjs-backend-wasm 4.x Emscripten module exposes of its memory. */
interface EmscriptenModule {
  /** The threaded build's memory (created in JavaScript, shared). */
  wasmMemory?: WebAssembly.Memory;
  /** The instance's exports (the SIMD build exports its memory). */
  asm?: { memory?: WebAssembly.Memory };
}

const states = new WeakMap<object, NativeState | null>();

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function nativeState(backend: object): NativeState | null {
  const known = states.get(backend);
  if (known !== undefined) return known;
  let state: NativeState | null = null;
  try {
    const module = (backend as { wasm?: EmscriptenModule }).wasm;
    const memory = module?.wasmMemory ?? module?.asm?.memory;
    if (memory instanceof WebAssembly.Memory) {
      const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      const compiled = new WebAssembly.Module(decode(shared ? NATIVE_WASM_SHARED : NATIVE_WASM_PLAIN));
      const exports = new WebAssembly.Instance(compiled, { env: { memory } })
        .exports as unknown as NativeExports;
      const s: NativeState = {
        kernels: wrap(exports, () => s),
        exports,
        module: compiled,
        memory,
        shared,
        helpers: null,
      };
      state = s;
    }
  } catch {
    state = null; // an engine without wasm SIMD, or a memory of another shape: the fallback runs
  }
  states.set(backend, state);
  return state;
}

/**
 * The native kernels on `backend`'s memory (a tfjs-backend-wasm backend), instantiated once per
 * backend; null when the backend's memory cannot be found or the module does not instantiate (then the
 * callers use their XNNPACK compositions). Synchronous: the modules are 80 KB, well under the size
 * browsers allow to compile on the main thread.
 * @internal
 */
export function nativeKernels(backend: object): NativeKernels | null {
  return nativeState(backend)?.kernels ?? null;
}

/**
 * Starts `count` helper threads for the native kernels of `backend` (replacing any it had;
 * 0 stops them) and resolves to the number running: 0 where the backend's memory is not shared (tfjs's
 * plain SIMD build), the native kernels do not load, or the engine cannot start workers.
 * `workerThreads`: Node's `node:worker_threads` (browsers use the global `Worker`).
 * @internal
 */
export async function startNativeHelpers(
  backend: object,
  count: number,
  workerThreads?: Parameters<typeof NativeHelpers.start>[3],
): Promise<number> {
  const state = nativeState(backend);
  if (state === null) return 0;
  state.helpers?.close();
  state.helpers = null;
  if (count <= 0 || !state.shared) return 0;
  if (count >= MAX_PARTS)
    throw new RangeError(`startNativeHelpers: at most ${MAX_PARTS - 1} helpers, got ${count}`);
  if (workerThreads === undefined && typeof Worker === 'undefined') return 0;
  state.helpers = await NativeHelpers.start(state.module, state.memory, count, workerThreads);
  return state.helpers.count;
}

/** Helper threads running for `backend`'s native kernels. @internal */
export function nativeHelperCount(backend: object): number {
  return states.get(backend)?.helpers?.count ?? 0;
}
