/**
 * Convolution gradient kernels composed of fast kernels a backend already has (matrix products,
 * forward convolutions, slices, transposes). Shared by the `wasm` and `webgpu` training kernels.
 *
 * - Conv2DBackpropFilter: `dW[kh, kw] = X_(kh,kw)^T @ dY`, one matrix product per filter tap, where
 *   `X_(kh,kw)` is the window of the padded input that tap sees, taken channels-first from the input's
 *   stride phases (`perTap`); or one product with the stacked windows (`im2col`); or one forward
 *   convolution with batch and channels swapped (`conv`).
 * - Conv2DBackpropInput: one stride-1 forward convolution of `dY` per stride phase, with that phase's
 *   filter taps rotated by 180 degrees and the channel axes swapped; the phases are interleaved.
 * - Depthwise gradients: per-tap products and reductions, and a depthwise convolution of the
 *   zero-dilated `dY`.
 * @module
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type ConvGeometry, convGeometry, type KernelScope } from './kernel_utils';

/** How a backend's BatchMatMul likes its operands. @internal */
export interface MatMulTraits {
  /**
   * True when BatchMatMul is fast with `transposeA`/`transposeB` (webgpu). False when only the plain
   * `[1, m, k] @ [1, k, n]` form is fast (wasm: XNNPACK is used only then, otherwise a scalar loop),
   * so operands are transposed explicitly first.
   */
  fastTransposes: boolean;
}

/**
 * Which formulation Conv2DBackpropFilter uses: `'direct'` (wasm only: fer-cbam's own SIMD kernels,
 * native/conv_filter_grad.c and, for 3x3 stride-1 filters, Winograd in native/winograd.c; output
 * channels that are not a multiple of 4 are zero-padded; `'perTap'` where the native kernels do not
 * load and on other backends), `'perTap'` (a matrix product per filter tap), `'im2col'` (one product
 * with the stacked windows), `'conv'` (a forward convolution with batch and channels swapped), or
 * `'auto'`: `'direct'` where fer-cbam's native kernels run, else `'conv'` for filters with at most
 * {@link AUTO_CONV_MAX_OUT_CHANNELS} output channels and `'perTap'` for the rest. The type of
 * `WasmTrainingKernelOptions.filterGradMethod`.
 * @category Backends
 */
export type FilterGradMethod = 'auto' | 'direct' | 'perTap' | 'im2col' | 'conv';

/**
 * Largest number of output channels for which `'auto'` takes the `'conv'` formulation when fer-cbam's
 * native kernels are not running. Why: with one output channel (CBAM's 7x7 spatial gate, 2 -> 1
 * channels) the per-tap products are 49 products with one column, and `'conv'` is 3.6x faster at 44x44
 * (batch 64, one wasm thread: 13 ms against 47 ms) and 17x at 6x6. With the native kernels `'direct'`
 * is faster still there (zero-padded to 4 channels: 7.2 against 9.6 ms) and 2-4x faster than the others
 * from 16 output channels (docs/backends.md).
 * @category Backends
 */
export const AUTO_CONV_MAX_OUT_CHANNELS = 4;

/** Pads an NHWC tensor spatially so every tap's strided window is in bounds. */
function padForTaps(
  s: KernelScope,
  x: TensorInfo,
  g: ConvGeometry,
  spatialAxes: [number, number],
): TensorInfo {
  const needH = g.filterHeight + (g.outHeight - 1) * g.strideHeight;
  const needW = g.filterWidth + (g.outWidth - 1) * g.strideWidth;
  const padBottom = Math.max(0, needH - g.padTop - g.inHeight);
  const padRight = Math.max(0, needW - g.padLeft - g.inWidth);
  const paddings: [number, number][] = x.shape.map(() => [0, 0] as [number, number]);
  paddings[spatialAxes[0]] = [g.padTop, padBottom];
  paddings[spatialAxes[1]] = [g.padLeft, padRight];
  return s.pad(x, paddings);
}

/** `a @ b` for 2-D operands given as `[m, k]` and `[k, n]` shaped tensors, honouring the backend's traits. */
function matMul2D(
  s: KernelScope,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  traits: MatMulTraits,
): TensorInfo {
  let a3 = s.reshape(a, [1, a.shape[0]!, a.shape[1]!]);
  let b3 = s.reshape(b, [1, b.shape[0]!, b.shape[1]!]);
  if (!traits.fastTransposes) {
    if (transposeA) a3 = s.transpose(a3, [0, 2, 1]);
    if (transposeB) b3 = s.transpose(b3, [0, 2, 1]);
    const out = s.matMul(a3, b3);
    return s.reshape(out, [out.shape[1]!, out.shape[2]!]);
  }
  const out = s.matMul(a3, b3, transposeA, transposeB);
  return s.reshape(out, [out.shape[1]!, out.shape[2]!]);
}

/**
 * Filter gradient of a 2D convolution (NHWC, dilation 1): returns `[kh, kw, inChannels, outChannels]`.
 * @internal
 */
export function conv2DBackpropFilterNHWC(
  s: KernelScope,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: number[],
  strides: number | [number, number],
  pad: unknown,
  dimRoundingMode: unknown,
  traits: MatMulTraits,
  method: FilterGradMethod,
): TensorInfo {
  const g = convGeometry(x.shape, filterShape, strides, pad, dimRoundingMode, false);
  const { batch: n, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = g;
  const m = n * oh * ow;
  const kh = g.filterHeight;
  const kw = g.filterWidth;
  const chosen =
    method === 'auto'
      ? co <= AUTO_CONV_MAX_OUT_CHANNELS
        ? 'conv'
        : 'perTap'
      : method === 'direct'
        ? 'perTap'
        : method;
  if (chosen === 'conv') return filterGradAsConvolution(s, x, dy, g);
  const dy2 = s.reshape(dy, [m, co]);

  const wins = channelsFirstWindows(s, x, g);
  if (chosen === 'im2col') {
    // Transposed im2col, [kh * kw * ci, m]: the taps' channels-first windows stacked, then one product.
    const colT = s.sub((c) => {
      const taps: TensorInfo[] = [];
      for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) taps.push(c.reshape(wins(c, i, j), [ci, m]));
      return c.concat(taps, 0);
    });
    return s.reshape(matMul2D(s, colT, dy2, false, false, traits), [kh, kw, ci, co]);
  }

  // perTap: every tap's window as a channels-first [ci, m] matrix times dY [m, co]; dY is the same
  // right-hand operand for all taps, so XNNPACK packs it once.
  const parts: TensorInfo[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      parts.push(
        s.sub((c) =>
          c.reshape(matMul2D(c, c.reshape(wins(c, i, j), [ci, m]), dy2, false, false, traits), [1, ci, co]),
        ),
      );
    }
  }
  return s.reshape(s.concat(parts, 0), [kh, kw, ci, co]);
}

/**
 * The filter gradient as one forward convolution: `dW[kh, kw, ci, co] = sum_{n, oh, ow}
 * x[n, oh * sh + kh, ow * sw + kw, ci] * dY[n, oh, ow, co]` is a convolution of the input seen as
 * `[ci, h, w, n]` (channels as batch, batch as channels) with dY seen as the filter `[oh, ow, n, co]`,
 * dilated by the stride, giving `[ci, kh, kw, co]`. XNNPACK runs it as an indirect GEMM whose filter
 * window is the whole output image (only `batch` channels per window position).
 */
function filterGradAsConvolution(s: KernelScope, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const { batch: n, inChannels: ci, inHeight: h, inWidth: w } = g;
  const needH = g.filterHeight + (g.outHeight - 1) * g.strideHeight;
  const needW = g.filterWidth + (g.outWidth - 1) * g.strideWidth;
  const keepH = Math.min(h, needH - g.padTop);
  const keepW = Math.min(w, needW - g.padLeft);
  let xp = keepH < h || keepW < w ? s.slice(x, [0, 0, 0, 0], [n, keepH, keepW, ci]) : x;
  xp = s.pad(xp, [
    [0, 0],
    [g.padTop, needH - g.padTop - keepH],
    [g.padLeft, needW - g.padLeft - keepW],
    [0, 0],
  ]);
  const swapped = s.transpose(xp, [3, 1, 2, 0]);
  const filter = s.transpose(dy, [1, 2, 0, 3]);
  const out = s.run(
    'Conv2D',
    { x: swapped, filter },
    {
      strides: [1, 1],
      pad: 'valid',
      dataFormat: 'NHWC',
      dilations: [g.strideHeight, g.strideWidth],
      dimRoundingMode: undefined as unknown as string,
    },
  );
  return s.transpose(out, [1, 2, 0, 3]);
}

/**
 * Returns a function giving, for filter tap (i, j), the window of the padded input that tap sees, as a
 * channels-first `[ci, n, outHeight, outWidth]` tensor. Uses only 4-D transposes and plain slices (the
 * wasm backend's StridedSlice and 5-D/6-D transposes are generic scalar loops): for stride s the padded
 * input is split into its s x s phases once, `[n, h, w, c] -> [s, s, c, n, h / s, w / s]`, and every
 * window is then a contiguous slice of one phase.
 */
function channelsFirstWindows(
  s: KernelScope,
  x: TensorInfo,
  g: ConvGeometry,
): (scope: KernelScope, i: number, j: number) => TensorInfo {
  const { batch: n, inChannels: c, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = g;
  const needH = g.filterHeight + (oh - 1) * sh;
  const needW = g.filterWidth + (ow - 1) * sw;
  const hp = Math.ceil(Math.max(needH, g.padTop + g.inHeight) / sh) * sh;
  const wp = Math.ceil(Math.max(needW, g.padLeft + g.inWidth) / sw) * sw;
  const xp = s.pad(x, [
    [0, 0],
    [g.padTop, hp - g.padTop - g.inHeight],
    [g.padLeft, wp - g.padLeft - g.inWidth],
    [0, 0],
  ]);
  if (sh === 1 && sw === 1) {
    const xt = s.transpose(xp, [3, 0, 1, 2]);
    return (scope, i, j) => scope.slice(xt, [0, 0, i, j], [c, n, oh, ow]);
  }
  // [n * hp/sh, sh, wp/sw, sw * c] -> [sh, sw * c, n * hp/sh, wp/sw] = [sh, sw, c, n, hp/sh, wp/sw]
  const phases = s.transpose(s.reshape(xp, [(n * hp) / sh, sh, wp / sw, sw * c]), [1, 3, 0, 2]);
  const flat = s.reshape(phases, [sh * sw * c, n, hp / sh, wp / sw]);
  return (scope, i, j) => {
    const phase = (i % sh) * sw + (j % sw);
    return scope.slice(flat, [phase * c, 0, Math.floor(i / sh), Math.floor(j / sw)], [c, n, oh, ow]);
  };
}

/**
 * Inserts `stride - 1` zeros after every row and column of an NHWC tensor:
 * `[n, h, w, c] -> [n, h * sh, w * sw, c]`.
 */
function dilateSpatial(s: KernelScope, x: TensorInfo, sh: number, sw: number): TensorInfo {
  if (sh === 1 && sw === 1) return x;
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const x6 = s.reshape(x, [n, h, 1, w, 1, c]);
  const p = s.pad(x6, [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return s.reshape(p, [n, h * sh, w * sw, c]);
}

/**
 * Prepares the stride-1 "full" correlation that computes an input gradient: dilates `dy`, crops it where
 * the forward padding exceeded the filter, and returns it with the explicit padding to use and the
 * output size to crop to.
 */
function transposedConvInput(
  s: KernelScope,
  dy: TensorInfo,
  g: ConvGeometry,
): { input: TensorInfo; pads: [[number, number], [number, number]] } {
  let d = dilateSpatial(s, dy, g.strideHeight, g.strideWidth);
  const dh = d.shape[1]!;
  const dw = d.shape[2]!;
  // dx[h] = sum_k d[h + padTop - k] * w[k]  =>  correlation of d (padded by kh-1-padTop) with w reversed.
  let top = g.filterHeight - 1 - g.padTop;
  let left = g.filterWidth - 1 - g.padLeft;
  let cropTop = 0;
  let cropLeft = 0;
  if (top < 0) {
    cropTop = -top;
    top = 0;
  }
  if (left < 0) {
    cropLeft = -left;
    left = 0;
  }
  if (cropTop > 0 || cropLeft > 0) {
    d = s.slice(d, [0, cropTop, cropLeft, 0], [d.shape[0]!, dh - cropTop, dw - cropLeft, d.shape[3]!]);
  }
  const bottom = Math.max(0, g.inHeight - 1 + g.filterHeight - 1 - top - (d.shape[1]! - 1));
  const right = Math.max(0, g.inWidth - 1 + g.filterWidth - 1 - left - (d.shape[2]! - 1));
  return {
    input: d,
    pads: [
      [top, bottom],
      [left, right],
    ],
  };
}

/** Crops an NHWC result to `[n, h, w, c]` from the top-left corner. */
function cropTo(s: KernelScope, x: TensorInfo, h: number, w: number): TensorInfo {
  if (x.shape[1] === h && x.shape[2] === w) return x;
  return s.slice(x, [0, 0, 0, 0], [x.shape[0]!, h, w, x.shape[3]!]);
}

/**
 * Input gradient of a 2D convolution (NHWC, dilation 1): returns `inputShape`.
 * @internal
 */
export function conv2DBackpropInputNHWC(
  s: KernelScope,
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: number[],
  strides: number | [number, number],
  pad: unknown,
  dimRoundingMode: unknown,
  traits: MatMulTraits,
): TensorInfo {
  const g = convGeometry(inputShape, filter.shape, strides, pad, dimRoundingMode, false);
  const { batch: n, inChannels: ci, outChannels: co, inHeight: h, inWidth: w } = g;

  if (
    g.filterHeight === 1 &&
    g.filterWidth === 1 &&
    g.strideHeight === 1 &&
    g.strideWidth === 1 &&
    g.padTop === 0 &&
    g.padLeft === 0 &&
    g.outHeight === h &&
    g.outWidth === w
  ) {
    // 1x1, stride 1: dX = dY @ W^T.
    const prod = matMul2D(
      s,
      s.reshape(dy, [n * h * w, co]),
      s.reshape(filter, [ci, co]),
      false,
      true,
      traits,
    );
    return s.reshape(prod, [n, h, w, ci]);
  }
  return subPixelBackpropInput(s, dy, filter, g);
}

/** One spatial axis of one stride phase of an input gradient (see {@link subPixelBackpropInput}). */
interface PhasePlan {
  /** First filter tap of this phase; taps are first, first + stride, ... */
  first: number;
  /** Number of taps (0: the phase receives no gradient). */
  taps: number;
  /** Rows of dY to drop at the start. */
  crop: number;
  /** Explicit padding of the (cropped) dY for the stride-1 correlation. */
  padBefore: number;
  padAfter: number;
  /** Output length of this phase before padding to the common length. */
  length: number;
}

function planPhase(
  inLen: number,
  outLen: number,
  filterLen: number,
  stride: number,
  padBefore: number,
  phase: number,
): PhasePlan {
  const length = Math.max(0, Math.ceil((inLen - phase) / stride));
  const first = (phase + padBefore) % stride;
  const taps = first < filterLen ? Math.ceil((filterLen - first) / stride) : 0;
  const q = (phase + padBefore - first) / stride;
  // dx[s*i + phase] = sum_t dy[i + q - t] * w[first + s*t]: a correlation of dy with the reversed taps,
  // dy padded by (taps - 1 - q) in front.
  let before = taps - 1 - q;
  let crop = 0;
  if (before < 0) {
    crop = -before;
    before = 0;
  }
  const avail = outLen - crop;
  const after = Math.max(0, length - 1 + taps - 1 - before - (avail - 1));
  return { first, taps, crop, padBefore: before, padAfter: after, length };
}

/**
 * Input gradient of a 2D convolution as stride-1 forward convolutions, one per stride phase
 * (sub-pixel decomposition): output pixels `(s*i + a, s*j + b)` only receive the filter taps congruent to
 * `(a + padTop, b + padLeft)` modulo the stride, so each phase is a small correlation of dY with those
 * taps rotated by 180 degrees, and the phases are interleaved at the end. Unlike convolving a
 * zero-dilated dY, this does no multiplications by inserted zeros (4x fewer for stride 2).
 */
function subPixelBackpropInput(
  s: KernelScope,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const { batch: n, inChannels: ci, outChannels: co, inHeight: h, inWidth: w } = g;
  const sh = g.strideHeight;
  const sw = g.strideWidth;
  const h2 = Math.ceil(h / sh);
  const w2 = Math.ceil(w / sw);
  const phases: TensorInfo[][] = [];
  for (let a = 0; a < sh; a++) {
    const row: TensorInfo[] = [];
    const pa = planPhase(h, g.outHeight, g.filterHeight, sh, g.padTop, a);
    for (let b = 0; b < sw; b++) {
      const pb = planPhase(w, g.outWidth, g.filterWidth, sw, g.padLeft, b);
      const out = s.sub((s) => {
        let out: TensorInfo;
        if (pa.taps === 0 || pb.taps === 0 || pa.length === 0 || pb.length === 0) {
          out = s.run('Fill', {}, { shape: [n, h2, w2, ci], value: 0, dtype: 'float32' });
        } else {
          let input = dy;
          if (pa.crop > 0 || pb.crop > 0) {
            input = s.slice(
              dy,
              [0, pa.crop, pb.crop, 0],
              [n, g.outHeight - pa.crop, g.outWidth - pb.crop, co],
            );
          }
          // Taps of this phase, rotated by 180 degrees (taken in reverse order), channel axes swapped:
          // [ta, tb, co, ci]. Contiguous slices of the [kh * kw, ci, co] filter: no StridedSlice or Reverse.
          const flat = s.reshape(filter, [g.filterHeight * g.filterWidth, ci, co]);
          const picked: TensorInfo[] = [];
          for (let ta = pa.taps - 1; ta >= 0; ta--) {
            for (let tb = pb.taps - 1; tb >= 0; tb--) {
              const tap = (pa.first + ta * sh) * g.filterWidth + pb.first + tb * sw;
              picked.push(s.slice(flat, [tap, 0, 0], [1, ci, co]));
            }
          }
          const swapped = s.transpose(s.concat(picked, 0), [0, 2, 1]);
          const rotated = s.reshape(swapped, [pa.taps, pb.taps, co, ci]);
          const conv = s.run(
            'Conv2D',
            { x: input, filter: rotated },
            {
              strides: [1, 1],
              pad: [
                [0, 0],
                [pa.padBefore, pa.padAfter],
                [pb.padBefore, pb.padAfter],
                [0, 0],
              ],
              dataFormat: 'NHWC',
              dilations: [1, 1],
              dimRoundingMode: undefined as unknown as string,
            },
          );
          out = cropTo(s, conv, pa.length, pb.length);
          if (pa.length < h2 || pb.length < w2) {
            out = s.pad(out, [
              [0, 0],
              [0, h2 - pa.length],
              [0, w2 - pb.length],
              [0, 0],
            ]);
          }
        }
        return out;
      });
      row.push(out);
    }
    phases.push(row);
  }
  if (sh === 1 && sw === 1) return cropTo(s, phases[0]![0]!, h, w);
  // Interleave: columns of one row phase, then the row phases; both as concatenations on a new axis.
  const rows = phases.map((row) => {
    const cols = s.concat(
      row.map((p) => s.reshape(p, [n * h2 * w2, 1, ci])),
      1,
    );
    return s.reshape(cols, [n * h2, 1, w2 * sw * ci]);
  });
  const full = s.reshape(s.concat(rows, 1), [n, h2 * sh, w2 * sw, ci]);
  return cropTo(s, full, h, w);
}

/**
 * Filter gradient of a depthwise convolution (NHWC, dilation 1): returns `[kh, kw, c, multiplier]`.
 * @internal
 */
export function depthwiseBackpropFilterNHWC(
  s: KernelScope,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: number[],
  strides: number | [number, number],
  pad: unknown,
  dimRoundingMode: unknown,
): TensorInfo {
  const g = convGeometry(x.shape, filterShape, strides, pad, dimRoundingMode, true);
  const c = g.inChannels;
  const mult = filterShape[3]!;
  const { batch: n, outHeight: oh, outWidth: ow } = g;
  const xp = padForTaps(s, x, g, [1, 2]);
  const dy5 = s.reshape(dy, [n, oh, ow, c, mult]);
  const parts: TensorInfo[] = [];
  for (let i = 0; i < g.filterHeight; i++) {
    for (let j = 0; j < g.filterWidth; j++) {
      const win = s.stridedSlice(
        xp,
        [0, i, j, 0],
        [n, i + (oh - 1) * g.strideHeight + 1, j + (ow - 1) * g.strideWidth + 1, c],
        [1, g.strideHeight, g.strideWidth, 1],
      );
      const prod = s.run('Multiply', { a: s.reshape(win, [n, oh, ow, c, 1]), b: dy5 });
      const sum = s.run('Sum', { x: prod }, { axis: [0, 1, 2], keepDims: false });
      parts.push(s.reshape(sum, [1, c, mult]));
    }
  }
  return s.reshape(s.concat(parts, 0), [g.filterHeight, g.filterWidth, c, mult]);
}

/**
 * Input gradient of a depthwise convolution (NHWC, dilation 1): returns `inputShape`.
 * @internal
 */
export function depthwiseBackpropInputNHWC(
  s: KernelScope,
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: number[],
  strides: number | [number, number],
  pad: unknown,
  dimRoundingMode: unknown,
): TensorInfo {
  const g = convGeometry(inputShape, filter.shape, strides, pad, dimRoundingMode, true);
  const c = g.inChannels;
  const mult = filter.shape[3]!;
  const [kh, kw] = [g.filterHeight, g.filterWidth];
  const rotated = s.reverse(filter, [0, 1]);
  const outs: TensorInfo[] = [];
  for (let k = 0; k < mult; k++) {
    const dyK =
      mult === 1
        ? dy
        : s.stridedSlice(dy, [0, 0, 0, k], [g.batch, g.outHeight, g.outWidth, c * mult], [1, 1, 1, mult]);
    const wK = mult === 1 ? rotated : s.slice(rotated, [0, 0, 0, k], [kh, kw, c, 1]);
    const { input, pads } = transposedConvInput(s, dyK, g);
    const out = s.run(
      'DepthwiseConv2dNative',
      { x: input, filter: wK },
      {
        strides: [1, 1],
        pad: [[0, 0], pads[0], pads[1], [0, 0]],
        dataFormat: 'NHWC',
        dilations: [1, 1],
        dimRoundingMode: undefined as unknown as string,
      },
    );
    outs.push(cropTo(s, out, g.inHeight, g.inWidth));
  }
  if (outs.length === 1) return outs[0]!;
  return s.run('AddN', outs);
}
