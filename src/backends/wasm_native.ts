/**
 * fer-cbam's own wasm SIMD kernels (native/*.c, built by scripts/build-native.ts), instantiated on the
 * memory of a tfjs-backend-wasm backend so that they read and write its tensors in place: the plain
 * build for its SIMD module, the shared-memory build for its threaded SIMD module. They run on the
 * calling thread.
 * @module
 * @internal
 */
import { NATIVE_WASM_PLAIN, NATIVE_WASM_SHARED } from './wasm_native_binary';

/**
 * A convolution's geometry in the native kernels' argument order: batch, input height, width and
 * channels, output height, width and channels, filter height and width, strides, padding before
 * the first row and column. @internal
 */
export type NativeConvGeometry = [
  batch: number,
  h: number,
  w: number,
  ci: number,
  oh: number,
  ow: number,
  co: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  pt: number,
  pl: number,
];

/** Sizes `d0, d1, d2` of three merged axes and each operand's element strides along them. @internal */
export type Strided3 = [
  d0: number,
  d1: number,
  d2: number,
  sa0: number,
  sa1: number,
  sa2: number,
  sb0: number,
  sb1: number,
  sb2: number,
];

/** The exported functions; pointers are byte offsets into the backend's memory. @internal */
export interface NativeKernels {
  /**
   * `out[i0, i1, i2] = a[i0*sa0 + i1*sa1 + i2*sa2] (op) b[...]` over float32, `out` contiguous;
   * op 0 multiply, 1 add, 2 subtract, 3 divide.
   */
  binary3(a: number, b: number, out: number, ...inner: [...Strided3, op: number]): void;
  /** The same with `out` bytes `a == b` (1 or 0). */
  equal3(a: number, b: number, out: number, ...inner: Strided3): void;
  /** `x` `[outer, mid, inner]` to `out` `[outer, inner]`: the maximum over `mid` (NaN if any is). */
  max_middle(x: number, out: number, outer: number, mid: number, inner: number): void;
  /** BatchNorm's batch mean and biased variance per channel of `x` `[n, c]`; `scratch`: `c` floats. */
  channel_moments(x: number, mean: number, variance: number, scratch: number, n: number, c: number): void;
  /** BatchNorm's closed-form gradient (src/ops/batch_norm.ts); `scratch`: `4c` floats. */
  batch_norm_grad(
    x: number,
    dy: number,
    mean: number,
    variance: number,
    gamma: number,
    epsilon: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    scratch: number,
    n: number,
    c: number,
  ): void;
  /**
   * `out[b, y, x, o] = sum_{i, j, c} x[b, y*sh + i - pt, x*sw + j - pl, c] * f[i, j, c, o]`, NHWC,
   * float32, `co % 4 == 0`; `out` is overwritten.
   */
  conv2d_nhwc(x: number, f: number, out: number, ...geometry: NativeConvGeometry): void;
  /**
   * `dw[kh, kw, ci, co] = sum_{b, y, x} x[b, y*sh + i - pt, x*sw + j - pl, c] * dy[b, y, x, o]`, NHWC,
   * float32, `co % 4 == 0`; `dw` is overwritten.
   */
  conv2d_filter_grad_nhwc(x: number, dy: number, dw: number, ...geometry: NativeConvGeometry): void;
}

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

const instances = new WeakMap<object, NativeKernels | null>();

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * The native kernels on `backend`'s memory (a tfjs-backend-wasm backend), instantiated once per
 * backend; null when the backend's memory cannot be found or the module does not instantiate (then the
 * callers use their XNNPACK compositions). Synchronous: the modules are 17 KB, well under the size
 * browsers allow to compile on the main thread.
 * @internal
 */
export function nativeKernels(backend: object): NativeKernels | null {
  const known = instances.get(backend);
  if (known !== undefined) return known;
  let kernels: NativeKernels | null = null;
  try {
    const module = (backend as { wasm?: EmscriptenModule }).wasm;
    const memory = module?.wasmMemory ?? module?.asm?.memory;
    if (memory instanceof WebAssembly.Memory) {
      const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      const bytes = decode(shared ? NATIVE_WASM_SHARED : NATIVE_WASM_PLAIN);
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      kernels = instance.exports as unknown as NativeKernels;
    }
  } catch {
    kernels = null; // an engine without wasm SIMD, or a memory of another shape: the fallback runs
  }
  instances.set(backend, kernels);
  return kernels;
}
