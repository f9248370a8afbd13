/**
 * How each call of fer-cbam's native kernels is split across the helper threads: the splitting
 * machinery (chunks of a range, claimed by the calling thread and the helpers), the scratch sizes the
 * splits need, and {@link wrap}, which gives each kernel of the module its named splitting step.
 * @module
 * @internal
 */
import type { HelperFunction, NativeHelpers } from './wasm_native_threads';
import type {
  NativeConvGeometry,
  NativeExports,
  NativeKernels,
  PlanarConvGeometry,
  PlanarLayout,
  Strided3,
  WinogradGeometry,
} from './wasm_native_types';

/**
 * The most parts a call is split into: the calling thread and up to 8 helpers (tfjs's thread cap).
 * @internal
 */
export const MAX_PARTS = 9;
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

/** The native kernels of one backend. @internal */
export interface NativeState {
  kernels: NativeKernels;
  exports: NativeExports;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  shared: boolean;
  helpers: NativeHelpers | null;
}

// Below this many multiply-adds a convolution stays on the calling thread: waking a parked helper
// takes tens of microseconds, about what the call itself then takes.
const MIN_SPLIT_MACS = 2_000_000;
// The same for the element-wise kernels, in elements (each a few nanoseconds).
const MIN_SPLIT_ELEMENTS = 100_000;

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

/**
 * The kernels of `exports`, split across `state().helpers` when there are any and the call is large:
 * each entry hands its arguments to the named step below that splits that kernel.
 * @internal
 */
export function wrap(exports: NativeExports, state: () => NativeState): NativeKernels {
  return {
    binary3: (a, b, out, ...args) => splitBinary3(state(), a, b, out, args),
    equal3: exports.equal3,
    copy_blocks: (dst, src, count, bytes, dstStride, srcStride) =>
      splitCopyBlocks(state(), dst, src, count, bytes, dstStride, srcStride),
    max_middle: (x, out, outer, mid, inner) => splitMaxMiddle(state(), x, out, outer, mid, inner),
    channel_moments: (x, mean, variance, scratch, n, c) =>
      splitChannelMoments(state(), x, mean, variance, scratch, n, c),
    batch_norm_grad: (x, dy, mean, variance, gamma, epsilon, dx, dgamma, dbeta, scratch, n, c) =>
      splitBatchNormGrad(state(), x, dy, mean, variance, gamma, epsilon, dx, dgamma, dbeta, scratch, n, c),
    conv2d_nhwc: (x, f, out, bias, relu, ...g) => splitConv2d(state(), x, f, out, bias, relu, g),
    to_planar_padded: (x, p, batch, ...geometry) => splitToPlanarPadded(state(), x, p, batch, geometry),
    conv2d_planar: (p, f, out, batch, ...geometry) => splitConv2dPlanar(state(), p, f, out, batch, geometry),
    winograd_filter_3x3: (f, u, ci, co) => splitWinogradFilter(state(), f, u, ci, co),
    winogradScratchFloats: (ci, co, filterGrad = false) => winogradScratchFloats(state(), ci, co, filterGrad),
    conv2d_winograd_nhwc: (x, u, out, bias, relu, scratch, ...g) =>
      splitWinogradConv(state(), x, u, out, bias, relu, scratch, g),
    conv2d_winograd_filter_grad_nhwc: (x, dy, dw, scratch, ...g) =>
      splitWinogradFilterGrad(state(), x, dy, dw, scratch, g),
    conv2d_filter_grad_nhwc: (x, dy, dw, ...g) => splitFilterGrad(state(), x, dy, dw, g),
  };
}

/** `binary3` split by ranges of its outermost axis, so each part is one call on contiguous output. */
function splitBinary3(
  s: NativeState,
  a: number,
  b: number,
  out: number,
  args: [...Strided3, op: number],
): void {
  const [d0, d1, d2, sa0, , , sb0, , , op] = args;
  // Ranges of the outermost axis: the operands start further on, the output is contiguous.
  const inner = args.slice(1, 9);
  splitOrRun(s, 'binary3', d0, d0 * d1 * d2 >= MIN_SPLIT_ELEMENTS, (lo, hi) => [
    a + 4 * lo * sa0,
    b + 4 * lo * sb0,
    out + 4 * lo * d1 * d2,
    hi - lo,
    ...inner,
    op,
  ]);
}

/** `copy_blocks` split by ranges of blocks, which are independent copies. */
function splitCopyBlocks(
  s: NativeState,
  dst: number,
  src: number,
  count: number,
  bytes: number,
  dstStride: number,
  srcStride: number,
): void {
  splitOrRun(s, 'copy_blocks', count, count * bytes >= 4 * MIN_SPLIT_ELEMENTS, (lo, hi) => [
    dst + lo * dstStride,
    src + lo * srcStride,
    hi - lo,
    bytes,
    dstStride,
    srcStride,
  ]);
}

/** `max_middle` split by ranges of its outer axis, whose maxima are independent. */
function splitMaxMiddle(
  s: NativeState,
  x: number,
  out: number,
  outer: number,
  mid: number,
  inner: number,
): void {
  splitOrRun(s, 'max_middle', outer, outer * mid * inner >= MIN_SPLIT_ELEMENTS, (lo, hi) => [
    x + 4 * lo * mid * inner,
    out + 4 * lo * inner,
    hi - lo,
    mid,
    inner,
  ]);
}

/** `channel_moments` as two split passes of per-part channel sums (the mean, then the variance). */
function splitChannelMoments(
  s: NativeState,
  x: number,
  mean: number,
  variance: number,
  scratch: number,
  n: number,
  c: number,
): void {
  if (s.helpers === null || n < 2 * BN_BLOCK || n * c < MIN_SPLIT_ELEMENTS) {
    s.exports.channel_moments(x, mean, variance, scratch, n, c);
    return;
  }
  // Each part sums its positions into its own slice of scratch (partial, total); the totals are
  // then added up here, a few channels' worth.
  const bounds = chunks(s, n, BN_BLOCK);
  channelMeansOver(s, bounds, x, x, 0, mean, scratch, n, c);
  channelMeansOver(s, bounds, x, mean, 1, variance, scratch, n, c);
}

/**
 * One pass of {@link splitChannelMoments}: the parts' sums of `x` (kind 0) or `(x - centre)^2`
 * (kind 1) over `bounds`, each into its own slice of `scratch`, then added up into `into` over `n`.
 */
function channelMeansOver(
  s: NativeState,
  bounds: number[],
  x: number,
  centre: number,
  kind: number,
  into: number,
  scratch: number,
  n: number,
  c: number,
): void {
  const partial = (k: number) => scratch + 8 * k * c;
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
}

/**
 * `batch_norm_grad` in three steps: the parts' split sums of `dy` and `dy * (x - mean)`, their
 * totals and the coefficients here ({@link batchNormGradCoefficients}), then the split `dx`.
 */
function splitBatchNormGrad(
  s: NativeState,
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
): void {
  if (s.helpers === null || n < 2 * BN_BLOCK || n * c < MIN_SPLIT_ELEMENTS) {
    s.exports.batch_norm_grad(x, dy, mean, variance, gamma, epsilon, dx, dgamma, dbeta, scratch, n, c);
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
  batchNormGradCoefficients(s, bounds, part, variance, gamma, epsilon, dgamma, dbeta, scratch, n, c);
  splitAcross(s, 'batch_norm_dx', chunks(s, n), (lo, hi) => [x, dy, mean, scratch, dx, lo, hi, c]);
}

/**
 * The middle step of {@link splitBatchNormGrad}, a few channels' worth on this thread: `dbeta` and
 * `dgamma` from the parts' sums, and `dx`'s coefficients a, b, d into the head of `scratch`.
 */
function batchNormGradCoefficients(
  s: NativeState,
  bounds: number[],
  part: (k: number) => number,
  variance: number,
  gamma: number,
  epsilon: number,
  dgamma: number,
  dbeta: number,
  scratch: number,
  n: number,
  c: number,
): void {
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
}

/** `conv2d_nhwc` split by output rows `b * oh + y`, which are independent. */
function splitConv2d(
  s: NativeState,
  x: number,
  f: number,
  out: number,
  bias: number,
  relu: number,
  g: NativeConvGeometry,
): void {
  const [batch, , , ci, oh, ow, co, kh, kw] = g;
  const rows = batch * oh;
  const large = rows * ow * co * kh * kw * ci >= MIN_SPLIT_MACS;
  splitOrRun(s, 'conv2d_nhwc', rows, large, (lo, hi) => [x, f, out, bias, relu, ...g, lo, hi]);
}

/** `to_planar_padded` split by images. */
function splitToPlanarPadded(
  s: NativeState,
  x: number,
  p: number,
  batch: number,
  geometry: PlanarLayout,
): void {
  const [, , ci, hp, wp] = geometry;
  const large = batch * ci * hp * wp >= MIN_SPLIT_ELEMENTS;
  splitOrRun(s, 'to_planar_padded', batch, large, (lo, hi) => [x, p, ...geometry, lo, hi]);
}

/** `conv2d_planar` split by output rows `b * oh + y`. */
function splitConv2dPlanar(
  s: NativeState,
  p: number,
  f: number,
  out: number,
  batch: number,
  geometry: PlanarConvGeometry,
): void {
  const [ci, , , oh, ow, co, kh, kw] = geometry;
  const rows = batch * oh;
  const large = rows * ow * co * kh * kw * ci >= MIN_SPLIT_MACS;
  splitOrRun(s, 'conv2d_planar', rows, large, (lo, hi) => [p, f, out, ...geometry, lo, hi]);
}

/** `winograd_filter_3x3` split by input channels. */
function splitWinogradFilter(s: NativeState, f: number, u: number, ci: number, co: number): void {
  const large = ci * co * 16 >= MIN_SPLIT_ELEMENTS;
  splitOrRun(s, 'winograd_filter_3x3', ci, large, (lo, hi) => [f, u, ci, co, lo, hi]);
}

/** Scratch floats of the Winograd kernels: one part's worth per thread that may run. */
function winogradScratchFloats(s: NativeState, ci: number, co: number, filterGrad: boolean): number {
  const parts = (s.helpers?.count ?? 0) + 1;
  return parts * winogradPartFloats(ci, co, winogradBlock(ci, co), filterGrad);
}

/** `conv2d_winograd_nhwc` split by tile rows, each thread on its own slice of scratch. */
function splitWinogradConv(
  s: NativeState,
  x: number,
  u: number,
  out: number,
  bias: number,
  relu: number,
  scratch: number,
  g: NativeConvGeometry,
): void {
  const [batch, h, w, ci, oh, ow, co, , , , , pt, pl] = g;
  const nt = winogradBlock(ci, co);
  const rows = batch * Math.ceil(oh / 2);
  const geometry: WinogradGeometry = [batch, h, w, ci, oh, ow, co, pt, pl, nt];
  // Each thread has its own slice of scratch.
  const perThread = 4 * winogradPartFloats(ci, co, nt, false);
  const large = batch * oh * ow * co * 9 * ci >= MIN_SPLIT_MACS;
  splitOrRun(s, 'conv2d_winograd_nhwc', rows, large, (lo, hi, _chunk, t) => [
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
}

/**
 * `conv2d_winograd_filter_grad_nhwc` split by tiles into per-thread sums dU, then their total
 * transformed back into `dw`, split by input channels.
 */
function splitWinogradFilterGrad(
  s: NativeState,
  x: number,
  dy: number,
  dw: number,
  scratch: number,
  g: NativeConvGeometry,
): void {
  const [batch, h, w, ci, oh, ow, co, , , , , pt, pl] = g;
  const nt = winogradBlock(ci, co);
  const tiles = batch * Math.ceil(oh / 2) * Math.ceil(ow / 2);
  const geometry: WinogradGeometry = [batch, h, w, ci, oh, ow, co, pt, pl, nt];
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
}

/** `conv2d_filter_grad_nhwc` split by pairs of input channels when there are enough, else by taps. */
function splitFilterGrad(s: NativeState, x: number, dy: number, dw: number, g: NativeConvGeometry): void {
  const [batch, , , ci, oh, ow, co, kh, kw] = g;
  const taps = kh * kw;
  const large = batch * oh * ow * co * taps * ci >= MIN_SPLIT_MACS;
  // Input channels in pairs (the kernel's register tile) when there are enough, else taps.
  if (ci >= 2 * ((s.helpers?.count ?? 0) + 1)) {
    splitOrRun(s, 'conv2d_filter_grad_nhwc', ci, large, (lo, hi) => [x, dy, dw, ...g, 0, taps, lo, hi], 2);
  } else {
    splitOrRun(s, 'conv2d_filter_grad_nhwc', taps, large, (lo, hi) => [x, dy, dw, ...g, lo, hi, 0, ci]);
  }
}
