/**
 * The signatures of fer-cbam's native wasm kernels (native/*.c): as the kernels' callers see them
 * ({@link NativeKernels}, whole calls that wasm_native.ts splits across helper threads) and as the
 * module exports them ({@link NativeExports}, each call a part of its output), with the geometry
 * tuples both take.
 * @module
 * @internal
 */

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

/**
 * The Winograd kernels' geometry: as {@link NativeConvGeometry} without the 3x3 and strides, and tiles per block.
 * @internal
 */
export type WinogradGeometry = [
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

/**
 * The planar rearrangement's geometry: input height, width and channels, padded height and width, padding before.
 * @internal
 */
export type PlanarLayout = [h: number, w: number, ci: number, hp: number, wp: number, pt: number, pl: number];

/** The channel-planar convolution's geometry (hp = oh + kh - 1, wp = ow + kw - 1). @internal */
export type PlanarConvGeometry = [
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

/** The module's raw exports: the convolutions take the part of their output to compute. @internal */
export interface NativeExports
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
