/**
 * fer-cbam's own wasm SIMD kernels (native/*.c, built by scripts/build-native.ts), instantiated on the
 * memory of a tfjs-backend-wasm backend so that they read and write its tensors in place: the plain
 * build for its SIMD module, the shared-memory build for its threaded SIMD module. They run on the
 * calling thread, and large calls also on helper threads when {@link startNativeHelpers} has
 * started some (src/backends/wasm_native_threads.ts).
 * @module
 * @internal
 */
import { NATIVE_WASM_PLAIN, NATIVE_WASM_SHARED } from './wasm_native_binary';
import { type HelperFunction, NativeHelpers } from './wasm_native_threads';

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

/**
 * FusedConv2D's epilogue in the forward convolutions: the bias's byte offset (0 for none), and 1 for a
 * ReLU after it. @internal
 */
export type Epilogue = [bias: number, relu: number];

/** The Winograd kernels' geometry: as {@link NativeConvGeometry} without the 3x3 and strides, and tiles per block. */
type WinogradGeometry = [
  batch: number,
  h: number,
  w: number,
  ci: number,
  oh: number,
  ow: number,
  co: number,
  pt: number,
  pl: number,
  nt: number,
];

/** The planar rearrangement's geometry: input height, width and channels, padded height and width, padding before. */
type PlanarLayout = [h: number, w: number, ci: number, hp: number, wp: number, pt: number, pl: number];

/** The channel-planar convolution's geometry (hp = oh + kh - 1, wp = ow + kw - 1). */
type PlanarConvGeometry = [
  ci: number,
  hp: number,
  wp: number,
  oh: number,
  ow: number,
  co: number,
  kh: number,
  kw: number,
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
   * op 0 multiply, 1 add, 2 subtract, 3 divide, 4 `b` alone (a broadcast; pass `a = b`).
   */
  binary3(a: number, b: number, out: number, ...inner: [...Strided3, op: number]): void;
  /** The same with `out` bytes `a == b` (1 or 0). */
  equal3(a: number, b: number, out: number, ...inner: Strided3): void;
  /**
   * Copies `count` blocks of `bytes` bytes, block k from `src + k * srcStride` to
   * `dst + k * dstStride` (byte offsets and strides; no overlap).
   */
  copy_blocks(
    dst: number,
    src: number,
    count: number,
    bytes: number,
    dstStride: number,
    srcStride: number,
  ): void;
  /** `x` `[outer, mid, inner]` to `out` `[outer, inner]`: the maximum over `mid` (NaN if any is). */
  max_middle(x: number, out: number, outer: number, mid: number, inner: number): void;
  /**
   * BatchNorm's batch mean and biased variance per channel of `x` `[n, c]`; `scratch`:
   * {@link momentsScratchFloats}`(c)` floats.
   */
  channel_moments(x: number, mean: number, variance: number, scratch: number, n: number, c: number): void;
  /**
   * BatchNorm's closed-form gradient (src/ops/batch_norm.ts); `scratch`:
   * {@link batchNormGradScratchFloats}`(c)` floats.
   */
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
   * `out[b, y, x, o] = act(sum_{i, j, c} x[b, y*sh + i - pt, x*sw + j - pl, c] * f[i, j, c, o] + bias[o])`,
   * NHWC, float32, `co % 4 == 0`; `out` is overwritten; `bias` 0 for none, `act` ReLU when `relu` is 1.
   */
  conv2d_nhwc(x: number, f: number, out: number, ...geometry: [...Epilogue, ...NativeConvGeometry]): void;
  /**
   * `dw[kh, kw, ci, co] = sum_{b, y, x} x[b, y*sh + i - pt, x*sw + j - pl, c] * dy[b, y, x, o]`, NHWC,
   * float32, `co % 4 == 0`; `dw` is overwritten.
   */
  conv2d_filter_grad_nhwc(x: number, dy: number, dw: number, ...geometry: NativeConvGeometry): void;
  /**
   * Winograd F(2x2, 3x3)'s filter transform `u[16, ci, co] = G f G^T` of `f` `[3, 3, ci, co]`,
   * `co % 4 == 0`, for {@link NativeKernels.conv2d_winograd_nhwc}.
   */
  winograd_filter_3x3(f: number, u: number, ci: number, co: number): void;
  /**
   * The 3x3 stride-1 convolution of `x` by Winograd F(2x2, 3x3) from the transformed filter `u`, the
   * same as {@link NativeKernels.conv2d_nhwc} (epilogue included) within float32 rounding; `ci % 4 == 0`, `co % 4 == 0`;
   * `scratch`: {@link NativeKernels.winogradScratchFloats}`(ci, co)` floats. The geometry's kh, kw
   * must be 3 and its strides 1.
   */
  conv2d_winograd_nhwc(
    x: number,
    u: number,
    out: number,
    ...geometry: [...Epilogue, scratch: number, ...NativeConvGeometry]
  ): void;
  /**
   * The filter gradient of a 3x3 stride-1 convolution by Winograd F(2x2, 3x3), the same as
   * {@link NativeKernels.conv2d_filter_grad_nhwc} within float32 rounding; `ci % 4 == 0`,
   * `co % 4 == 0`; `scratch`: {@link NativeKernels.winogradScratchFloats}`(ci, co, true)` floats.
   */
  conv2d_winograd_filter_grad_nhwc(
    x: number,
    dy: number,
    dw: number,
    scratch: number,
    ...geometry: NativeConvGeometry
  ): void;
  /**
   * Floats of scratch the Winograd kernels need, for the threads running: the forward convolution's,
   * or with `filterGrad` the filter gradient's (which also holds each thread's sums).
   */
  winogradScratchFloats(ci: number, co: number, filterGrad?: boolean): number;
  /**
   * `p[b, c, y, x]` = `x[b, y - pt, x - pl, c]`, zeros outside the image: `x` `[batch, h, w, ci]` to
   * channel-planar `p` `[batch, ci, hp, wp]` with its padding, for {@link NativeKernels.conv2d_planar}.
   */
  to_planar_padded(x: number, p: number, batch: number, ...geometry: PlanarLayout): void;
  /**
   * The stride-1 convolution of planar padded `p` (`hp = oh + kh - 1`, `wp = ow + kw - 1`) by `f`
   * `[kh, kw, ci, co]` into `out` `[batch, oh, ow, co]`, for few channels (CBAM's 7x7 spatial gate).
   */
  conv2d_planar(p: number, f: number, out: number, batch: number, ...geometry: PlanarConvGeometry): void;
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

/** The module's raw exports: the convolutions take the part of their output to compute. */
interface NativeExports
  extends Omit<
    NativeKernels,
    | 'conv2d_nhwc'
    | 'conv2d_filter_grad_nhwc'
    | 'winograd_filter_3x3'
    | 'conv2d_winograd_nhwc'
    | 'conv2d_winograd_filter_grad_nhwc'
    | 'winogradScratchFloats'
    | 'to_planar_padded'
    | 'conv2d_planar'
  > {
  /** Output rows `b * oh + y` in `[q0, q1)`. */
  conv2d_nhwc(
    x: number,
    f: number,
    out: number,
    ...g: [...Epilogue, ...NativeConvGeometry, q0: number, q1: number]
  ): void;
  /** Taps `i * kw + j` in `[t0, t1)` x input channels in `[c0, c1)`. */
  conv2d_filter_grad_nhwc(
    x: number,
    dy: number,
    dw: number,
    ...g: [...NativeConvGeometry, t0: number, t1: number, c0: number, c1: number]
  ): void;
  /** Images `[b0, b1)`. */
  to_planar_padded(x: number, p: number, ...g: [...PlanarLayout, b0: number, b1: number]): void;
  /** Output rows `b * oh + y` in `[q0, q1)`. */
  conv2d_planar(
    p: number,
    f: number,
    out: number,
    ...g: [...PlanarConvGeometry, q0: number, q1: number]
  ): void;
  /** Input channels in `[c0, c1)`. */
  winograd_filter_3x3(f: number, u: number, ci: number, co: number, c0: number, c1: number): void;
  /** Tile rows `b * ceil(oh / 2) + ty` in `[q0, q1)`, in blocks of `nt` tiles. */
  conv2d_winograd_nhwc(
    x: number,
    u: number,
    out: number,
    ...g: [...Epilogue, scratch: number, ...WinogradGeometry, q0: number, q1: number]
  ): void;
  /** The sums `du` (16 x ci x co) over tiles `[t0, t1)`. */
  conv2d_winograd_filter_grad_nhwc(
    x: number,
    dy: number,
    du: number,
    scratch: number,
    ...g: [...WinogradGeometry, t0: number, t1: number]
  ): void;
  /** `dw` (input channels `[c0, c1)`) from the `parts` sums `du`, `stride` floats apart. */
  winograd_filter_grad_finish(
    du: number,
    stride: number,
    parts: number,
    dw: number,
    ci: number,
    co: number,
    c0: number,
    c1: number,
  ): void;
  /** `total[k]` = the sum over positions `[p0, p1)` of `x` (kind 0) or `(x - mean)^2` (kind 1). */
  channel_sums(
    x: number,
    mean: number,
    partial: number,
    total: number,
    p0: number,
    p1: number,
    c: number,
    kind: number,
  ): void;
  /** BatchNorm's gradient sums over `[p0, p1)`: `dbeta = sum dy`, `dgamma = sum dy * (x - mean)`. */
  batch_norm_grad_sums(
    x: number,
    dy: number,
    mean: number,
    partial: number,
    dbeta: number,
    dgamma: number,
    p0: number,
    p1: number,
    c: number,
  ): void;
  /** BatchNorm's `dx = a * (dy - b - (x - mean) * d)` over `[p0, p1)`; `coef`: a, b, d. */
  batch_norm_dx(
    x: number,
    dy: number,
    mean: number,
    coef: number,
    dx: number,
    p0: number,
    p1: number,
    c: number,
  ): void;
}

/** The most parts a call is split into: the calling thread and up to 8 helpers (tfjs's thread cap). */
const MAX_PARTS = 9;
/** Chunks per thread a split call is cut into (see `NativeHelpers.run`). */
const CHUNKS_PER_THREAD = 4;
/** The most chunks of one call (BatchNorm's scratch holds one set of sums per chunk). */
const MAX_SPLIT_CHUNKS = CHUNKS_PER_THREAD * MAX_PARTS;
/** Positions per block of BatchNorm's sums (BLOCK in native/batch_norm.c). */
const BN_BLOCK = 256;

/** Floats of scratch {@link NativeKernels.channel_moments} needs for `c` channels. @internal */
export function momentsScratchFloats(c: number): number {
  return 2 * c * MAX_SPLIT_CHUNKS;
}

/** Floats of scratch {@link NativeKernels.batch_norm_grad} needs for `c` channels. @internal */
export function batchNormGradScratchFloats(c: number): number {
  return 3 * c + 3 * c * MAX_SPLIT_CHUNKS;
}

/**
 * Tiles per block of the Winograd convolution: the block's transformed input and products
 * (16 x nt x (ci + co) floats) stay in the core's cache.
 */
function winogradBlock(ci: number, co: number): number {
  return Math.max(2, Math.min(WINOGRAD_MAX_BLOCK, Math.floor(WINOGRAD_BLOCK_FLOATS / 16 / (ci + co))));
}
/**
 * Floats of scratch one part of the Winograd convolution needs (native/winograd.c); for the filter
 * gradient, followed by the part's sums dU (16 x ci x co).
 */
function winogradPartFloats(ci: number, co: number, nt: number, filterGrad: boolean): number {
  return ci + 16 * (nt * (ci + co) + 32) + (filterGrad ? 16 * ci * co : 0);
}
// Block sizes from 4 to 256 tiles measured within noise of each other on the ResNet layers.
const WINOGRAD_BLOCK_FLOATS = 65536;
const WINOGRAD_MAX_BLOCK = 64;

/** The native kernels of one backend. */
interface NativeState {
  kernels: NativeKernels;
  exports: NativeExports;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  shared: boolean;
  helpers: NativeHelpers | null;
}

const states = new WeakMap<object, NativeState | null>();

// Below this many multiply-adds a convolution stays on the calling thread: waking a parked helper
// takes tens of microseconds, about what the call itself then takes.
const MIN_SPLIT_MACS = 2_000_000;
// The same for the element-wise kernels, in elements (each a few nanoseconds).
const MIN_SPLIT_ELEMENTS = 100_000;

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** `n` split into `parts` near-equal ranges, boundaries multiples of `step` (except the end). */
function splitRange(n: number, parts: number, step = 1): number[] {
  const bounds = [0];
  for (let k = 1; k < parts; k++) bounds.push(Math.min(n, Math.round((n * k) / parts / step) * step));
  bounds.push(n);
  return bounds;
}

/**
 * `[0, n)` cut into chunks for the threads of `state` (about {@link CHUNKS_PER_THREAD} each, never
 * more than `n / step`), boundaries multiples of `step` (except the end).
 */
function chunks(state: NativeState, n: number, step = 1): number[] {
  const threads = state.helpers!.count + 1;
  return splitRange(n, Math.max(1, Math.min(CHUNKS_PER_THREAD * threads, Math.floor(n / step))), step);
}

/**
 * Runs the job `name(...args(lo, hi, chunk, thread))` over the chunks `[lo, hi)` of `bounds` on the
 * calling thread (thread 0) and the helpers, each claiming the next chunk until none is left; returns
 * when all are done. `args` must be affine in each of its inputs (the helpers compute them).
 */
function splitAcross(
  state: NativeState,
  name: HelperFunction,
  bounds: number[],
  args: (lo: number, hi: number, chunk: number, thread: number) => number[],
): void {
  state.helpers!.run(name, state.exports[name] as (...a: number[]) => void, bounds, args);
}

/**
 * `name` over `[0, n)`: one call on this thread when there are no helpers, `n < 2` or the call is not
 * `large`, else split into {@link chunks} of multiples of `step`. `args` as in {@link splitAcross}.
 */
function splitOrRun(
  state: NativeState,
  name: HelperFunction,
  n: number,
  large: boolean,
  args: (lo: number, hi: number, chunk: number, thread: number) => number[],
  step = 1,
): void {
  if (state.helpers === null || n < 2 || !large) {
    (state.exports[name] as (...a: number[]) => void)(...args(0, n, 0, 0));
    return;
  }
  splitAcross(state, name, chunks(state, n, step), args);
}

/** The kernels of `exports`, split across `state().helpers` when there are any and the call is large. */
function wrap(exports: NativeExports, state: () => NativeState): NativeKernels {
  return {
    binary3(a, b, out, ...args) {
      const [d0, d1, d2, sa0, , , sb0, , , op] = args;
      // Ranges of the outermost axis: the operands start further on, the output is contiguous.
      const inner = args.slice(1, 9);
      splitOrRun(state(), 'binary3', d0, d0 * d1 * d2 >= MIN_SPLIT_ELEMENTS, (lo, hi) => [
        a + 4 * lo * sa0,
        b + 4 * lo * sb0,
        out + 4 * lo * d1 * d2,
        hi - lo,
        ...inner,
        op,
      ]);
    },
    equal3: exports.equal3,
    copy_blocks(dst, src, count, bytes, dstStride, srcStride) {
      splitOrRun(state(), 'copy_blocks', count, count * bytes >= 4 * MIN_SPLIT_ELEMENTS, (lo, hi) => [
        dst + lo * dstStride,
        src + lo * srcStride,
        hi - lo,
        bytes,
        dstStride,
        srcStride,
      ]);
    },
    max_middle(x, out, outer, mid, inner) {
      splitOrRun(state(), 'max_middle', outer, outer * mid * inner >= MIN_SPLIT_ELEMENTS, (lo, hi) => [
        x + 4 * lo * mid * inner,
        out + 4 * lo * inner,
        hi - lo,
        mid,
        inner,
      ]);
    },
    channel_moments(x, mean, variance, scratch, n, c) {
      const s = state();
      if (s.helpers === null || n < 2 * BN_BLOCK || n * c < MIN_SPLIT_ELEMENTS) {
        exports.channel_moments(x, mean, variance, scratch, n, c);
        return;
      }
      // Each part sums its positions into its own slice of scratch (partial, total); the totals are
      // then added up here, a few channels' worth.
      const bounds = chunks(s, n, BN_BLOCK);
      const partial = (k: number) => scratch + 8 * k * c;
      const sumsOver = (centre: number, kind: number, into: number) => {
        splitAcross(s, 'channel_sums', bounds, (lo, hi, k) => [
          x,
          centre,
          partial(k),
          partial(k) + 4 * c,
          lo,
          hi,
          c,
          kind,
        ]);
        const heap = new Float32Array(s.memory.buffer);
        for (let ch = 0; ch < c; ch++) {
          let total = 0;
          for (let k = 0; k + 1 < bounds.length; k++) {
            if (bounds[k]! < bounds[k + 1]!) total += heap[(partial(k) >>> 2) + c + ch]!;
          }
          heap[(into >>> 2) + ch] = total / n;
        }
      };
      sumsOver(x, 0, mean);
      sumsOver(mean, 1, variance);
    },
    batch_norm_grad(x, dy, mean, variance, gamma, epsilon, dx, dgamma, dbeta, scratch, n, c) {
      const s = state();
      if (s.helpers === null || n < 2 * BN_BLOCK || n * c < MIN_SPLIT_ELEMENTS) {
        exports.batch_norm_grad(x, dy, mean, variance, gamma, epsilon, dx, dgamma, dbeta, scratch, n, c);
        return;
      }
      // scratch: the coefficients a, b, d (3c floats), then per part its partial, dbeta and dgamma.
      const bounds = chunks(s, n, BN_BLOCK);
      const part = (k: number) => scratch + 12 * c * (k + 1);
      splitAcross(s, 'batch_norm_grad_sums', bounds, (lo, hi, k) => [
        x,
        dy,
        mean,
        part(k),
        part(k) + 4 * c,
        part(k) + 8 * c,
        lo,
        hi,
        c,
      ]);
      const heap = new Float32Array(s.memory.buffer);
      const coef = scratch >>> 2;
      for (let ch = 0; ch < c; ch++) {
        let db = 0;
        let dg = 0;
        for (let k = 0; k + 1 < bounds.length; k++) {
          if (bounds[k]! < bounds[k + 1]!) {
            db += heap[(part(k) >>> 2) + c + ch]!;
            dg += heap[(part(k) >>> 2) + 2 * c + ch]!;
          }
        }
        const invstd = 1 / Math.sqrt(heap[(variance >>> 2) + ch]! + epsilon);
        dg *= invstd;
        heap[(dbeta >>> 2) + ch] = db;
        heap[(dgamma >>> 2) + ch] = dg;
        heap[coef + ch] = heap[(gamma >>> 2) + ch]! * invstd;
        heap[coef + c + ch] = db / n;
        heap[coef + 2 * c + ch] = (invstd * dg) / n;
      }
      splitAcross(s, 'batch_norm_dx', chunks(s, n), (lo, hi) => [x, dy, mean, scratch, dx, lo, hi, c]);
    },
    conv2d_nhwc(x, f, out, bias, relu, ...g) {
      const [batch, , , ci, oh, ow, co, kh, kw] = g;
      const rows = batch * oh;
      const large = rows * ow * co * kh * kw * ci >= MIN_SPLIT_MACS;
      splitOrRun(state(), 'conv2d_nhwc', rows, large, (lo, hi) => [x, f, out, bias, relu, ...g, lo, hi]);
    },
    to_planar_padded(x, p, batch, ...geometry) {
      const [, , ci, hp, wp] = geometry;
      const large = batch * ci * hp * wp >= MIN_SPLIT_ELEMENTS;
      splitOrRun(state(), 'to_planar_padded', batch, large, (lo, hi) => [x, p, ...geometry, lo, hi]);
    },
    conv2d_planar(p, f, out, batch, ...geometry) {
      const [ci, , , oh, ow, co, kh, kw] = geometry;
      const rows = batch * oh;
      const large = rows * ow * co * kh * kw * ci >= MIN_SPLIT_MACS;
      splitOrRun(state(), 'conv2d_planar', rows, large, (lo, hi) => [p, f, out, ...geometry, lo, hi]);
    },
    winograd_filter_3x3(f, u, ci, co) {
      const large = ci * co * 16 >= MIN_SPLIT_ELEMENTS;
      splitOrRun(state(), 'winograd_filter_3x3', ci, large, (lo, hi) => [f, u, ci, co, lo, hi]);
    },
    winogradScratchFloats(ci, co, filterGrad = false) {
      const parts = (state().helpers?.count ?? 0) + 1;
      return parts * winogradPartFloats(ci, co, winogradBlock(ci, co), filterGrad);
    },
    conv2d_winograd_nhwc(x, u, out, bias, relu, scratch, ...g) {
      const [batch, h, w, ci, oh, ow, co, , , , , pt, pl] = g;
      const nt = winogradBlock(ci, co);
      const rows = batch * Math.ceil(oh / 2);
      const geometry: WinogradGeometry = [batch, h, w, ci, oh, ow, co, pt, pl, nt];
      // Each thread has its own slice of scratch.
      const perThread = 4 * winogradPartFloats(ci, co, nt, false);
      const large = batch * oh * ow * co * 9 * ci >= MIN_SPLIT_MACS;
      splitOrRun(state(), 'conv2d_winograd_nhwc', rows, large, (lo, hi, _chunk, t) => [
        x,
        u,
        out,
        bias,
        relu,
        scratch + t * perThread,
        ...geometry,
        lo,
        hi,
      ]);
    },
    conv2d_winograd_filter_grad_nhwc(x, dy, dw, scratch, ...g) {
      const [batch, h, w, ci, oh, ow, co, , , , , pt, pl] = g;
      const nt = winogradBlock(ci, co);
      const tiles = batch * Math.ceil(oh / 2) * Math.ceil(ow / 2);
      const geometry: WinogradGeometry = [batch, h, w, ci, oh, ow, co, pt, pl, nt];
      const s = state();
      const large = batch * oh * ow * co * 9 * ci >= MIN_SPLIT_MACS;
      // Each thread adds its tiles into the dU at the end of its own slice of scratch (zeroed here);
      // the sums of all threads are then added and transformed back (split by input channels).
      const threads = (s.helpers?.count ?? 0) + 1;
      const perThread = winogradPartFloats(ci, co, nt, true);
      const sums = winogradPartFloats(ci, co, nt, false);
      const du = (t: number) => scratch + 4 * (t * perThread + sums);
      const heap = new Float32Array(s.memory.buffer);
      for (let t = 0; t < threads; t++) heap.fill(0, du(t) >>> 2, (du(t) >>> 2) + 16 * ci * co);
      splitOrRun(s, 'conv2d_winograd_filter_grad_nhwc', tiles, large, (lo, hi, _chunk, t) => [
        x,
        dy,
        du(t),
        scratch + 4 * t * perThread,
        ...geometry,
        lo,
        hi,
      ]);
      splitOrRun(s, 'winograd_filter_grad_finish', ci, large, (lo, hi) => [
        du(0),
        perThread,
        threads,
        dw,
        ci,
        co,
        lo,
        hi,
      ]);
    },
    conv2d_filter_grad_nhwc(x, dy, dw, ...g) {
      const [batch, , , ci, oh, ow, co, kh, kw] = g;
      const taps = kh * kw;
      const s = state();
      const large = batch * oh * ow * co * taps * ci >= MIN_SPLIT_MACS;
      // Input channels in pairs (the kernel's register tile) when there are enough, else taps.
      if (ci >= 2 * ((s.helpers?.count ?? 0) + 1)) {
        splitOrRun(
          s,
          'conv2d_filter_grad_nhwc',
          ci,
          large,
          (lo, hi) => [x, dy, dw, ...g, 0, taps, lo, hi],
          2,
        );
      } else {
        splitOrRun(s, 'conv2d_filter_grad_nhwc', taps, large, (lo, hi) => [x, dy, dw, ...g, lo, hi, 0, ci]);
      }
    },
  };
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
