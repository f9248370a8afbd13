/**
 * Training kernels for `@tensorflow/tfjs-backend-wasm` 4.x, which ships without `Conv2DBackpropFilter`,
 * the depthwise gradient kernels and `UnsortedSegmentSum`, and whose `Conv2DBackpropInput` is a scalar
 * loop. Each kernel here is composed of the backend's own XNNPACK-backed kernels (see `conv_grads.ts`).
 * @module
 */

import type { TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import {
  conv2DBackpropFilterNHWC,
  conv2DBackpropInputNHWC,
  depthwiseBackpropFilterNHWC,
  depthwiseBackpropInputNHWC,
  type FilterGradMethod,
  type MatMulTraits,
} from './conv_grads';

export { AUTO_CONV_MAX_OUT_CHANNELS, type FilterGradMethod } from './conv_grads';

import { BATCH_NORM_GRAD_KERNEL, CHANNEL_MOMENTS_KERNEL } from '../ops/batch_norm';
import { registerReductionGradients } from '../ops/reduction_gradients';
import {
  type ConvGeometry,
  convGeometry,
  isChannelsFirst,
  type KernelArgs,
  type KernelScope,
  replaceKernel,
  restoreKernel,
  toChannelsLast,
  withScope,
  withScopeAll,
} from './kernel_utils';
import {
  batchNormGradScratchFloats,
  type Epilogue,
  momentsScratchFloats,
  type NativeConvGeometry,
  type NativeKernels,
  nativeKernels,
  nativeKernelsLoadable,
  type Strided3,
} from './wasm_native';

const WASM = 'wasm';
/** XNNPACK runs BatchMatMul only without transposes; everything else falls back to a scalar loop. */
const WASM_MATMUL: MatMulTraits = { fastTransposes: false };

/** Options of {@link registerWasmTrainingKernels}. @category Backends */
export interface WasmTrainingKernelOptions {
  /**
   * Formulation of `Conv2DBackpropFilter`: `'direct'` (fer-cbam's own SIMD kernels, Winograd for 3x3
   * stride-1 filters; output channels that are not a multiple of 4 zero-padded), `'perTap'` (one
   * matrix product per filter tap, the right operand `dY` packed once), `'im2col'` (one product with
   * the stacked windows), `'conv'` (one XNNPACK convolution with batch and channels swapped), or
   * `'auto'`: `'direct'` where the native kernels run, else `'conv'` for filters with few output
   * channels (CBAM's spatial gate, {@link AUTO_CONV_MAX_OUT_CHANNELS}) and `'perTap'` for the rest.
   * Defaults to `'auto'` (the fastest on every ResNet layer measured, docs/backends.md).
   */
  filterGradMethod?: FilterGradMethod;

  /**
   * Also replace the backend's `Conv2DBackpropInput` (a scalar C++ loop) with a forward XNNPACK
   * convolution of the dilated gradient. Defaults to `true`.
   */
  replaceConv2DBackpropInput?: boolean;

  /**
   * Use fer-cbam's own SIMD kernels (native/*.c, run in place on the backend's memory; with several
   * wasm threads they split their work across helper threads that {@link setupWasm} starts) where
   * they apply: `Conv2D` and `FusedConv2D` without an activation (NHWC, dilation 1, output channels a
   * multiple of 4; also the input gradient's convolutions), the `'direct'` filter gradient of `'auto'`, BatchNorm's batch moments
   * and closed-form gradient ({@link FusedBatchNormalization}), broadcasting `Multiply`/`Add`/`Sub`/
   * `RealDiv`/`Equal`, and `Max`. On one thread they make a ResNet-10 width-16 training step about
   * 1.6x faster than XNNPACK's kernels (docs/backends.md). `false` gives tfjs-backend-wasm's kernels
   * and the XNNPACK compositions, for comparison. Defaults to `true`.
   */
  nativeKernels?: boolean;

  /**
   * With {@link WasmTrainingKernelOptions.nativeKernels}: compute 3x3 stride-1 convolutions with at
   * least 8 input channels (a multiple of 4), their `'direct'` filter gradients, and the input gradients
   * of such convolutions by Winograd's F(2x2, 3x3) (native/winograd.c), which needs 2.25x fewer
   * multiplications than the direct kernels and agrees with them within float32 rounding (about 1e-6 of
   * the largest output). `false` keeps the direct kernels, for comparison. Defaults to `true`.
   */
  winograd?: boolean;
}

/** Defaults of {@link WasmTrainingKernelOptions}. @category Backends */
export const WASM_TRAINING_KERNEL_DEFAULTS: Readonly<Required<WasmTrainingKernelOptions>> = Object.freeze({
  filterGradMethod: 'auto',
  replaceConv2DBackpropInput: true,
  nativeKernels: true,
  winograd: true,
});

/** Whether the registered kernels may use the native module (set by {@link registerWasmTrainingKernels}). */
let nativeEnabled = true;

/** Whether {@link registerWasmTrainingKernels} last switched the native kernels on. @internal */
export function nativeKernelsEnabled(): boolean {
  return nativeEnabled;
}

/** The native kernels on `backend`, or null when they are switched off or cannot load there. */
function native(backend: object): NativeKernels | null {
  return nativeEnabled ? nativeKernels(backend) : null;
}

/** Runs an NHWC body on NCHW operands by transposing in and (optionally) out. */
function nchwToNhwc(s: KernelScope, x: TensorInfo): TensorInfo {
  return s.transpose(x, [0, 2, 3, 1]);
}

function conv2DBackpropFilterKernel(method: FilterGradMethod, winograd: boolean) {
  return ({ inputs, backend, attrs }: KernelArgs): TensorInfo => {
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as Record<string, any>;
    return withScope(backend, WASM, (s) => {
      let x = inputs.x!;
      let dy = inputs.dy!;
      if (isChannelsFirst(dataFormat)) {
        x = nchwToNhwc(s, x);
        dy = nchwToNhwc(s, dy);
      }
      const g = convGeometry(x.shape, filterShape, strides, pad, dimRoundingMode, false);
      const direct = nativeEnabled && (method === 'direct' || method === 'auto');
      if (direct && x.dtype === 'float32' && dy.dtype === 'float32') {
        const kernels = native(backend);
        if (kernels) return directFilterGrad(s, kernels, x, dy, g, winograd && usesWinograd(g));
      }
      return conv2DBackpropFilterNHWC(
        s,
        x,
        dy,
        filterShape,
        strides,
        pad,
        dimRoundingMode,
        WASM_MATMUL,
        method === 'direct' ? 'perTap' : method,
      );
    });
  };
}

/** A convolution's geometry in the argument order of the native convolution kernels. */
function nativeGeometry(g: ConvGeometry): NativeConvGeometry {
  return [
    g.batch,
    g.inHeight,
    g.inWidth,
    g.inChannels,
    g.outHeight,
    g.outWidth,
    g.outChannels,
    g.filterHeight,
    g.filterWidth,
    g.strideHeight,
    g.strideWidth,
    g.padTop,
    g.padLeft,
  ];
}

/**
 * The filter gradient by fer-cbam's own SIMD kernel (native/conv_filter_grad.c), in place on the wasm
 * heap: 2.2-3.8x faster than the XNNPACK compositions on the ResNet layers (docs/backends.md), because
 * it reduces over a cache-sized chunk of positions at a time instead of streaming megabyte operands
 * once per filter tap.
 */
function directFilterGrad(
  s: KernelScope,
  native: NativeKernels,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
  winograd: boolean,
): TensorInfo {
  const wb = s.backend as unknown as WasmHeapBackend;
  const co = g.outChannels;
  if (g.batch * g.outHeight * g.outWidth * g.inChannels === 0) {
    const shape = [g.filterHeight, g.filterWidth, g.inChannels, co];
    return s.run('Fill', {}, { shape, value: 0, dtype: 'float32' });
  }
  if (co % 4 !== 0) {
    // CBAM's spatial gate has one output channel.
    return withPaddedOutChannels(s, native, dy, g, (d, g4) =>
      directFilterGrad(s, native, x, d, g4, winograd),
    );
  }
  const dw = s.adopt(wb.makeOutput([g.filterHeight, g.filterWidth, g.inChannels, co], 'float32'));
  const at = (t: TensorInfo) => heapOffset(wb, t);
  if (winograd) {
    const ci = g.inChannels;
    const scratch = s.adopt(wb.makeOutput([native.winogradScratchFloats(ci, co, true)], 'float32'));
    native.conv2d_winograd_filter_grad_nhwc(at(x), at(dy), at(dw), at(scratch), ...nativeGeometry(g));
  } else {
    native.conv2d_filter_grad_nhwc(at(x), at(dy), at(dw), ...nativeGeometry(g));
  }
  return dw;
}

/**
 * `Conv2D` and `FusedConv2D` (with a bias, and no activation or ReLU) by fer-cbam's own SIMD kernels
 * (native/conv2d.c, native/winograd.c) for NHWC float32 convolutions with dilation 1: 1.2-3x faster
 * than XNNPACK's on one thread on the ResNet layers (docs/backends.md), and, through `Conv2D`, the
 * stride-phase convolutions of the input gradient too. A `[outChannels]` bias and the ReLU are applied
 * as the output is written (inference folds BatchNorm into them: src/layers/conv_bn.ts). Anything
 * else goes to the backend's kernel.
 */
function conv2DKernel(original: tf.KernelConfig | null, fused: boolean, winograd: boolean) {
  return (args: KernelArgs): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const a = attrs as Record<string, any>;
    const x = inputs.x!;
    const filter = inputs.filter!;
    const activation = fused ? (a.activation ?? 'linear') : 'linear';
    const bias = fused ? inputs.bias : undefined;
    const kernels =
      x.dtype === 'float32' &&
      filter.dtype === 'float32' &&
      !isChannelsFirst(a.dataFormat) &&
      isUnitDilation(a.dilations) &&
      (activation === 'linear' || activation === 'relu') &&
      (!fused || inputs.preluActivationWeights == null) &&
      (bias == null || bias.dtype === 'float32')
        ? native(backend)
        : null;
    const g = kernels && convGeometry(x.shape, filter.shape, a.strides, a.pad, a.dimRoundingMode, false);
    const path = g && nativeConvPath(g);
    if (kernels == null || g == null || path == null) {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const relu = activation === 'relu';
    return withScope(backend, WASM, (s) => {
      let out: TensorInfo;
      if (x.shape.some((d) => d === 0)) {
        const shape = [g.batch, g.outHeight, g.outWidth, g.outChannels];
        out = s.run('Fill', {}, { shape, value: 0, dtype: 'float32' });
      } else if (path === 'planar') {
        out = planarConv(s, kernels, x, filter, g);
      } else if (path === 'padded') {
        // A grayscale stem's input gradient (16 -> 1): 6.0 ms against XNNPACK's 9.1 at 44x44, batch 64,
        // and split across the helper threads.
        out = withPaddedOutChannels(s, kernels, filter, g, (f, g4) =>
          nativeConv(s, kernels, x, f, g4, winograd),
        );
      } else if (bias == null || (bias.shape.length === 1 && bias.shape[0] === g.outChannels)) {
        // The tiled kernels with no bias or an [outChannels] one: the epilogue runs as they write.
        return nativeConv(s, kernels, x, filter, g, winograd, bias ?? null, relu);
      } else {
        out = nativeConv(s, kernels, x, filter, g, winograd);
      }
      if (bias != null) out = s.run('Add', { a: out, b: bias });
      return relu ? s.run('Relu', { x: out }) : out;
    });
  };
}

/**
 * Which native kernel computes a convolution, or null for the backend's: output channels a multiple
 * of 4 go to the direct or Winograd kernels (`'tiles'`); others zero-padded to one (`'padded'`) with 8
 * or more input channels; with fewer, stride 1 and at most 3 output channels (CBAM's spatial gate, 2 ->
 * 1, and its input gradient, 1 -> 2) to the channel-planar kernel (`'planar'`); else XNNPACK's.
 */
function nativeConvPath(g: ConvGeometry): 'tiles' | 'padded' | 'planar' | null {
  if (g.outChannels % 4 === 0) return 'tiles';
  if (g.inChannels >= 8) return 'padded';
  if (g.outChannels < 4 && g.strideHeight === 1 && g.strideWidth === 1) return 'planar';
  return null;
}

/**
 * `body` on `operand` (a filter or `dy`) with its last axis, the output channels, zero-padded to a
 * multiple of 4 (the native kernels compute 4 output channels at a time), and the geometry to match;
 * its result's last axis cut back to `g.outChannels`.
 */
function withPaddedOutChannels(
  s: KernelScope,
  kernels: NativeKernels,
  operand: TensorInfo,
  g: ConvGeometry,
  body: (padded: TensorInfo, g4: ConvGeometry) => TensorInfo,
): TensorInfo {
  const co = g.outChannels;
  const co4 = co + 4 - (co % 4);
  const out = body(padLastAxis(s, kernels, operand, co4), { ...g, outChannels: co4 });
  return takeLastAxis(s, kernels, out, co);
}

/**
 * The convolution of `x` by `filter` (`g.outChannels % 4 == 0`) by the native kernels, Winograd or
 * direct, plus `bias` (`[outChannels]`, or null for none), then a ReLU when `relu`.
 */
function nativeConv(
  s: KernelScope,
  kernels: NativeKernels,
  x: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
  winograd: boolean,
  bias: TensorInfo | null = null,
  relu = false,
): TensorInfo {
  const wb = s.backend as unknown as WasmHeapBackend;
  const out = s.adopt(wb.makeOutput([g.batch, g.outHeight, g.outWidth, g.outChannels], 'float32'));
  const at = (t: TensorInfo) => heapOffset(wb, t);
  const epilogue: Epilogue = [bias == null ? 0 : at(bias), relu ? 1 : 0];
  if (winograd && usesWinograd(g)) {
    const ci = g.inChannels;
    const co = g.outChannels;
    const u = s.adopt(wb.makeOutput([16 * ci * co], 'float32'));
    const scratch = s.adopt(wb.makeOutput([kernels.winogradScratchFloats(ci, co)], 'float32'));
    kernels.winograd_filter_3x3(at(filter), at(u), ci, co);
    kernels.conv2d_winograd_nhwc(at(x), at(u), at(out), ...epilogue, at(scratch), ...nativeGeometry(g));
  } else {
    kernels.conv2d_nhwc(at(x), at(filter), at(out), ...epilogue, ...nativeGeometry(g));
  }
  return out;
}

/**
 * A stride-1 convolution with few channels by native/conv_few.c: the input rearranged channel-planar
 * with its padding, then 4 neighbouring outputs of a row per vector (CBAM's 7x7 gate: 2.0 ms against
 * XNNPACK's 7 at 44x44, batch 64, one thread; docs/backends.md).
 */
function planarConv(
  s: KernelScope,
  kernels: NativeKernels,
  x: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const wb = s.backend as unknown as WasmHeapBackend;
  const hp = g.outHeight + g.filterHeight - 1;
  const wp = g.outWidth + g.filterWidth - 1;
  const planar = s.adopt(wb.makeOutput([g.batch * g.inChannels * hp * wp], 'float32'));
  const out = s.adopt(wb.makeOutput([g.batch, g.outHeight, g.outWidth, g.outChannels], 'float32'));
  const at = (t: TensorInfo) => heapOffset(wb, t);
  kernels.to_planar_padded(
    at(x),
    at(planar),
    g.batch,
    g.inHeight,
    g.inWidth,
    g.inChannels,
    hp,
    wp,
    g.padTop,
    g.padLeft,
  );
  kernels.conv2d_planar(
    at(planar),
    at(filter),
    at(out),
    g.batch,
    g.inChannels,
    hp,
    wp,
    g.outHeight,
    g.outWidth,
    g.outChannels,
    g.filterHeight,
    g.filterWidth,
  );
  return out;
}

/** float32 `t` with its last axis padded with zeros to `size`, by native block copies. */
function padLastAxis(s: KernelScope, kernels: NativeKernels, t: TensorInfo, size: number): TensorInfo {
  const wb = s.backend as unknown as WasmHeapBackend;
  const c = t.shape[t.shape.length - 1]!;
  const rows = tf.util.sizeFromShape(t.shape) / c;
  const out = s.run('Fill', {}, { shape: [...t.shape.slice(0, -1), size], value: 0, dtype: 'float32' });
  kernels.copy_blocks(heapOffset(wb, out), heapOffset(wb, t), rows, 4 * c, 4 * size, 4 * c);
  return out;
}

/** The first `size` entries of float32 `t`'s last axis, by native block copies. */
function takeLastAxis(s: KernelScope, kernels: NativeKernels, t: TensorInfo, size: number): TensorInfo {
  const wb = s.backend as unknown as WasmHeapBackend;
  const c = t.shape[t.shape.length - 1]!;
  const rows = tf.util.sizeFromShape(t.shape) / c;
  const out = s.adopt(wb.makeOutput([...t.shape.slice(0, -1), size], 'float32'));
  kernels.copy_blocks(heapOffset(wb, out), heapOffset(wb, t), rows, 4 * size, 4 * size, 4 * c);
  return out;
}

/**
 * Whether a native convolution goes by Winograd F(2x2, 3x3) (native/winograd.c): 3x3, stride 1, and
 * enough input channels that its 2.25x fewer multiplications outweigh the transforms (measured:
 * docs/backends.md).
 */
function usesWinograd(g: ConvGeometry): boolean {
  return (
    g.filterHeight === 3 &&
    g.filterWidth === 3 &&
    g.strideHeight === 1 &&
    g.strideWidth === 1 &&
    g.inChannels % 4 === 0 &&
    g.inChannels >= WINOGRAD_MIN_IN_CHANNELS
  );
}
// 8 input channels: 1.15x faster than the direct kernel at 44x44x8 -> 8; 4: 0.8x.
const WINOGRAD_MIN_IN_CHANNELS = 8;

/** A kernel's `dilations` attribute as `[height, width]` (absent: 1). */
function dilationPair(dilations: unknown): unknown[] {
  return dilations == null ? [1, 1] : Array.isArray(dilations) ? dilations : [dilations, dilations];
}

function isUnitDilation(dilations: unknown): boolean {
  return dilationPair(dilations).every((v) => v === 1);
}

/** The native kernels of `backend`, or an error saying how to do without them. */
function requireNative(backend: object, kernel: string): NativeKernels {
  const native = nativeKernels(backend);
  if (native == null) {
    throw new Error(
      `fer-cbam: ${kernel} needs fer-cbam's native wasm kernels, which could not be instantiated on this ` +
        'tfjs-backend-wasm backend (its memory was not found); call ' +
        'registerWasmTrainingKernels({ nativeKernels: false }) to use tfjs ops instead.',
    );
  }
  return native;
}

/**
 * {@link CHANNEL_MOMENTS_KERNEL} (BatchNorm's batch mean and biased variance per channel) by
 * native/batch_norm.c: two passes over the activations instead of about 6 tfjs kernels.
 */
function channelMomentsKernel({ inputs, backend }: KernelArgs): TensorInfo[] {
  const x = inputs.x!;
  const native = requireNative(backend, CHANNEL_MOMENTS_KERNEL);
  return withScopeAll(backend, WASM, (s) => {
    const wb = s.backend as unknown as WasmHeapBackend;
    const c = x.shape[x.shape.length - 1]!;
    const n = tf.util.sizeFromShape(x.shape) / c;
    const mean = s.adopt(wb.makeOutput([c], 'float32'));
    const variance = s.adopt(wb.makeOutput([c], 'float32'));
    const scratch = s.adopt(wb.makeOutput([momentsScratchFloats(c)], 'float32'));
    const at = (t: TensorInfo) => heapOffset(wb, t);
    native.channel_moments(at(x), at(mean), at(variance), at(scratch), n, c);
    return [mean, variance];
  });
}

/**
 * {@link BATCH_NORM_GRAD_KERNEL} (BatchNorm's closed-form gradient in training) by
 * native/batch_norm.c: three passes over the activations instead of about 11 tfjs kernels.
 */
function batchNormGradKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const { x, dy, mean, variance, gamma } = inputs as Record<string, TensorInfo>;
  const native = requireNative(backend, BATCH_NORM_GRAD_KERNEL);
  const epsilon = (attrs as { epsilon: number }).epsilon;
  return withScopeAll(backend, WASM, (s) => {
    const wb = s.backend as unknown as WasmHeapBackend;
    const c = x!.shape[x!.shape.length - 1]!;
    const n = tf.util.sizeFromShape(x!.shape) / c;
    const dx = s.adopt(wb.makeOutput(x!.shape.slice(), 'float32'));
    const dgamma = s.adopt(wb.makeOutput([c], 'float32'));
    const dbeta = s.adopt(wb.makeOutput([c], 'float32'));
    const scratch = s.adopt(wb.makeOutput([batchNormGradScratchFloats(c)], 'float32'));
    const at = (t: TensorInfo) => heapOffset(wb, t);
    native.batch_norm_grad(
      at(x!),
      at(dy!),
      at(mean!),
      at(variance!),
      at(gamma!),
      epsilon,
      at(dx),
      at(dgamma),
      at(dbeta),
      at(scratch),
      n,
      c,
    );
    return [dx, dgamma, dbeta];
  });
}

function conv2DBackpropInputKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as Record<string, any>;
  return withScope(backend, WASM, (s) => {
    const first = isChannelsFirst(dataFormat);
    const dy = first ? nchwToNhwc(s, inputs.dy!) : inputs.dy!;
    const shape = first ? toChannelsLast(inputShape) : (inputShape as number[]);
    const dx = conv2DBackpropInputNHWC(
      s,
      dy,
      inputs.filter!,
      shape,
      strides,
      pad,
      dimRoundingMode,
      WASM_MATMUL,
    );
    return first ? s.transpose(dx, [0, 3, 1, 2]) : dx;
  });
}

function checkDilations(dilations: unknown, where: string): void {
  if (!isUnitDilation(dilations)) {
    throw new Error(
      `${where}: dilations other than 1 are not supported in gradients, but got ${String(dilationPair(dilations))}.`,
    );
  }
}

function depthwiseFilterKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { strides, pad, dilations, dimRoundingMode, filterShape } = attrs as Record<string, any>;
  checkDilations(dilations, 'DepthwiseConv2dNativeBackpropFilter');
  return withScope(backend, WASM, (s) =>
    depthwiseBackpropFilterNHWC(s, inputs.x!, inputs.dy!, filterShape, strides, pad, dimRoundingMode),
  );
}

function depthwiseInputKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { strides, pad, dilations, dimRoundingMode, inputShape } = attrs as Record<string, any>;
  checkDilations(dilations, 'DepthwiseConv2dNativeBackpropInput');
  return withScope(backend, WASM, (s) =>
    depthwiseBackpropInputNHWC(s, inputs.dy!, inputs.filter!, inputShape, strides, pad, dimRoundingMode),
  );
}

/**
 * `Tile`: a tile of axes of size 1 (a broadcast) as one pass of the native element-wise kernel, else as
 * successive concatenations, innermost tiled axis first, so the final copy is a few large
 * block copies. The backend's own Tile computes an index per element, which made it the third most
 * expensive kernel of a ResNet training step (the BatchNorm gradient tiles the inverse standard
 * deviation to the full activation shape). Falls back to the original kernel when the concatenations
 * would need very many small copies.
 */
function tileKernel(original: tf.KernelConfig | null) {
  return (args: KernelArgs): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x!;
    const reps = (attrs as { reps: number[] }).reps;
    // Tiling only axes of size 1 is a broadcast: one native pass (the gradients of Mean and Sum, and
    // BatchNorm's per-channel factors, are such tiles).
    const kernels = x.dtype === 'float32' ? native(backend) : null;
    if (kernels != null && reps.every((r, a) => r === 1 || x.shape[a] === 1)) {
      const outShape = x.shape.map((d, a) => d * reps[a]!);
      return nativeBroadcast(kernels, backend as unknown as WasmHeapBackend, x, x, outShape, BROADCAST_OP);
    }
    // Concatenating r copies along axis a (axes before a not yet tiled) makes prod(shape[:a]) * r copies.
    let copies = 0;
    let outer = 1;
    for (let a = 0; a < x.shape.length; a++) {
      if (reps[a]! > 1) copies += outer * reps[a]!;
      outer *= x.shape[a]!;
    }
    if (x.dtype === 'string' || (copies > 4096 && original != null)) {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    return withScope(backend, WASM, (s) => {
      let cur = x;
      for (let a = x.shape.length - 1; a >= 0; a--) {
        const r = reps[a]!;
        if (r > 1) cur = s.concat(new Array<TensorInfo>(r).fill(cur), a);
      }
      return cur === x ? s.reshape(x, x.shape.slice()) : cur;
    });
  };
}

/**
 * `Identity` that shares the input's buffer (reference counted, as the cpu and webgpu backends do) instead
 * of copying it. The engine clones every tensor it saves for the backward pass through `Identity`, which
 * made about 600 full copies per ResNet-18 training step. Safe because no wasm kernel writes into its
 * inputs; strings still go through the original kernel.
 */
function identityKernel(original: tf.KernelConfig | null) {
  return (args: KernelArgs): TensorInfo => {
    const x = args.inputs.x!;
    if (x.dtype === 'string' && original != null) {
      return original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  };
}

/** The parts of tfjs-backend-wasm's BackendWasm that the heap kernels use. */
interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
}

/** Byte offset of a tensor's data on the wasm heap. */
function heapOffset(backend: WasmHeapBackend, t: TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/** An Int32Array (4-byte types) or Uint8Array (bool) view of the whole heap, and the element size. */
function heapView(
  backend: WasmHeapBackend,
  dtype: tf.DataType,
): { heap: Int32Array | Uint8Array; bytes: number } {
  // Read HEAPU8 after any allocation: growing the memory replaces the buffer.
  const buffer = backend.wasm.HEAPU8.buffer;
  return dtype === 'bool'
    ? { heap: new Uint8Array(buffer), bytes: 1 }
    : { heap: new Int32Array(buffer), bytes: 4 };
}

/**
 * Copies `count` blocks of `block` elements (`bytes` each) inside the heap, block k from
 * `src + k * srcStride` to `dst + k * dstStride` (element offsets): the native kernel when there are
 * many, else {@link copyRun} per block.
 */
function copyBlocks(
  kernels: NativeKernels | null,
  heap: Int32Array | Uint8Array,
  bytes: number,
  dst: number,
  src: number,
  count: number,
  block: number,
  dstStride: number,
  srcStride: number,
): void {
  if (kernels != null && count >= 8) {
    kernels.copy_blocks(dst * bytes, src * bytes, count, block * bytes, dstStride * bytes, srcStride * bytes);
    return;
  }
  for (let k = 0; k < count; k++) copyRun(heap, dst + k * dstStride, src + k * srcStride, block);
}

/** Copies `run` elements inside the heap: memmove for long runs, a loop for short ones. */
function copyRun(heap: Int32Array | Uint8Array, dst: number, src: number, run: number): void {
  if (run >= 16) {
    heap.copyWithin(dst, src, src + run);
  } else {
    for (let k = 0; k < run; k++) heap[dst + k] = heap[src + k]!;
  }
}

/**
 * `Slice` reading the input in place on the wasm heap. The backend's own Slice first copies the whole
 * input out of the heap (`readSync`), so taking nine filter-tap windows out of one activation copied it
 * nine extra times. Trailing full dimensions are merged into one contiguous run per copy.
 */
function sliceKernel(original: tf.KernelConfig | null) {
  return (args: KernelArgs): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x!;
    if (x.dtype === 'string' || x.dtype === 'complex64') {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const { begin, size } = attrs as { begin: number | number[]; size: number | number[] };
    const [b, sz] = tf.slice_util.parseSliceParams(x as tf.TensorInfo as tf.Tensor, begin, size);
    const wb = backend as unknown as WasmHeapBackend;
    const out = wb.makeOutput(sz, x.dtype);
    const total = tf.util.sizeFromShape(sz);
    if (total === 0) return out;
    const { heap, bytes } = heapView(wb, x.dtype);
    const src0 = wb.dataIdMap.get(x.dataId).memoryOffset / bytes;
    const dst0 = wb.dataIdMap.get(out.dataId).memoryOffset / bytes;
    const rank = x.shape.length;
    const strides = tf.util.computeStrides(x.shape);
    strides.push(1);
    // Merge trailing dimensions taken whole into the innermost run.
    let d = rank - 1;
    let run = sz[d] ?? 1;
    while (d > 0 && sz[d] === x.shape[d]) {
      d--;
      run *= sz[d]!;
    }
    const outer = total / run;
    const idx = new Array<number>(d).fill(0);
    let dst = dst0;
    for (let o = 0; o < outer; o++) {
      let src = src0 + b[d]! * strides[d]!;
      for (let k = 0; k < d; k++) src += (b[k]! + idx[k]!) * strides[k]!;
      copyRun(heap, dst, src, run);
      dst += run;
      for (let k = d - 1; k >= 0; k--) {
        if (++idx[k]! < sz[k]!) break;
        idx[k] = 0;
      }
    }
    return out;
  };
}

/**
 * `Concat` as block copies on the wasm heap: for each index of the axes before `axis`, each input's
 * trailing block in turn. The backend's kernel copies each row with a `TypedArray.set` call, slow for
 * CBAM's concatenation of the channel mean and max maps (rows of one value): 13-19 ms against 5-8 ms
 * per ResNet-10 width-16 forward pass at batch 64, one thread. String and complex inputs use the
 * original.
 */
function concatKernel(original: tf.KernelConfig | null) {
  return (args: KernelArgs): TensorInfo => {
    const { backend, attrs } = args;
    const xs = Object.values(args.inputs) as TensorInfo[];
    const dtype = xs[0]?.dtype;
    if (
      original == null ||
      xs.length === 0 ||
      dtype === 'string' ||
      dtype === 'complex64' ||
      xs.some((t) => t.dtype !== dtype)
    ) {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const axis = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, xs[0]!.shape)[0]!;
    const outShape = tf.backend_util.computeOutShape(
      xs.map((t) => t.shape),
      axis,
    );
    const wb = backend as unknown as WasmHeapBackend;
    const out = wb.makeOutput(outShape, dtype!);
    if (tf.util.sizeFromShape(outShape) === 0) return out;
    const parts = xs.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    const { heap, bytes } = heapView(wb, dtype!);
    const outer = tf.util.sizeFromShape(outShape.slice(0, axis));
    const blocks = parts.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
    const starts = parts.map((t) => wb.dataIdMap.get(t.dataId).memoryOffset / bytes);
    const row = blocks.reduce((a, b) => a + b, 0);
    let dst = wb.dataIdMap.get(out.dataId).memoryOffset / bytes;
    const kernels = native(backend);
    for (let i = 0; i < parts.length; i++) {
      copyBlocks(kernels, heap, bytes, dst, starts[i]!, outer, blocks[i]!, row, blocks[i]!);
      dst += blocks[i]!;
    }
    return out;
  };
}

/**
 * `SplitV` as block copies on the wasm heap, the mirror of {@link concatKernel}: for each index of the
 * axes before `axis`, each part's block in turn. The backend's kernel slices each part with its own
 * Slice (not the registered one), element by element: 26 ms to split CBAM's `[64, 44, 44, 2]` gradient
 * of the concatenated mean and max maps into two, against about 1 ms here. String and complex inputs
 * use the original.
 */
function splitKernel(original: tf.KernelConfig | null) {
  return (args: KernelArgs): TensorInfo[] => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x!;
    if (original == null || x.dtype === 'string' || x.dtype === 'complex64') {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo[];
    }
    const { numOrSizeSplits, axis } = attrs as {
      numOrSizeSplits: number | number[];
      axis: number | number[];
    };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.TensorInfo as tf.Tensor, numOrSizeSplits, ax);
    const wb = backend as unknown as WasmHeapBackend;
    const outs = sizes.map((size) => {
      const shape = x.shape.slice();
      shape[ax] = size;
      return wb.makeOutput(shape, x.dtype);
    });
    const outer = tf.util.sizeFromShape(x.shape.slice(0, ax));
    const inner = tf.util.sizeFromShape(x.shape.slice(ax + 1));
    const row = (x.shape[ax] ?? 1) * inner;
    if (outer * row === 0) return outs;
    const { heap, bytes } = heapView(wb, x.dtype);
    const src0 = wb.dataIdMap.get(x.dataId).memoryOffset / bytes;
    const kernels = native(backend);
    let offset = 0;
    for (const [i, out] of outs.entries()) {
      const block = sizes[i]! * inner;
      const dst = wb.dataIdMap.get(out.dataId).memoryOffset / bytes;
      copyBlocks(kernels, heap, bytes, dst, src0 + offset, outer, block, block, row);
      offset += block;
    }
    return outs;
  };
}

/**
 * `Cast` to bool as `x != 0`. tfjs-backend-wasm 4.22 stores the low byte of each value instead, so
 * `cast([-2, 256, 0.5], 'bool')` read back as `[254, 0, 0]`: true values that are not 1 and non-zero
 * values that are false. A cast to the input's own dtype shares its buffer; other casts use the
 * original.
 */
function castKernel(original: tf.KernelConfig | null) {
  return (args: KernelArgs): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x!;
    const { dtype } = attrs as { dtype: tf.DataType };
    // To its own dtype (ReLU's gradient casts its float32 step mask to float32): share the buffer, as
    // Identity does, instead of the backend's copy.
    if (dtype === x.dtype && x.dtype !== 'string') {
      backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
    }
    if (original == null || dtype !== 'bool' || (x.dtype !== 'float32' && x.dtype !== 'int32')) {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    return withScope(backend, WASM, (s) => {
      const zero = s.run('Fill', {}, { shape: [], value: 0, dtype: x.dtype });
      return s.run('NotEqual', { a: x, b: zero });
    });
  };
}

/**
 * `Reverse` over leading axes (for example the two spatial axes of a filter) as block copies on the wasm
 * heap; other axes go to the backend's kernel, which computes an index per element (120 ms for a
 * 3 x 3 x 512 x 512 filter).
 */
function reverseKernel(original: tf.KernelConfig | null) {
  return (args: KernelArgs): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x!;
    const dims = tf.util.parseAxisParam((attrs as { dims: number | number[] }).dims, x.shape);
    const sorted = [...new Set(dims)].sort((p, q) => p - q);
    const leading = sorted.every((a, i) => a === i);
    if (!leading || x.dtype === 'string' || x.dtype === 'complex64' || original == null) {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const wb = backend as unknown as WasmHeapBackend;
    const out = wb.makeOutput(x.shape.slice(), x.dtype);
    const blocks = tf.util.sizeFromShape(x.shape.slice(0, sorted.length));
    const block = tf.util.sizeFromShape(x.shape.slice(sorted.length));
    if (blocks * block === 0) return out;
    const { heap, bytes } = heapView(wb, x.dtype);
    const src0 = wb.dataIdMap.get(x.dataId).memoryOffset / bytes;
    const dst0 = wb.dataIdMap.get(out.dataId).memoryOffset / bytes;
    // Reversing every one of the leading axes reverses their flattened index.
    for (let i = 0; i < blocks; i++) copyRun(heap, dst0 + i * block, src0 + (blocks - 1 - i) * block, block);
    return out;
  };
}

/** The divisor of `rows` nearest below or at `sqrt(rows)` (1 when `rows` is prime). */
function balancedDivisor(rows: number): number {
  for (let d = Math.floor(Math.sqrt(rows)); d > 1; d--) {
    if (rows % d === 0) return d;
  }
  return 1;
}

/**
 * `Sum`, `Mean` and `Max` over a block of neighbouring axes that is not last (BatchNorm's reductions
 * over batch, height and width; CBAM's channel gate's average and max over height and width) as one
 * XNNPACK pooling: the input is viewed as `[before, d, reduced / d, after]` (`d` about
 * `sqrt(reduced)`) and pooled with a window of the whole `d x (reduced / d)` image; a sum is the mean
 * times the count. XNNPACK's multi-pass pooling reads the input once, with no weights to pack and no
 * copies. On a `[64, 44, 44, 16]` activation, one wasm thread: a mean over the first three axes 0.4 ms
 * against 6.8 ms for the backend's kernel (which transposes the reduced axes innermost first) and
 * 2.7 ms for halving with slices and Adds (this kernel's earlier form); over height and width 0.5 ms against
 * 3.0 ms (mean) and 3.1 ms (max). (A product with a vector of ones is not faster: XNNPACK packs the
 * activation as the weights on every call. Pooling over the last axis, one channel wide, is slower than
 * the backend's kernel.) Other reductions, non-float32 inputs, and sums and means with a NaN or -Infinity
 * in them use the original kernel.
 */
function poolReduceKernel(original: tf.KernelConfig | null, kind: 'sum' | 'mean' | 'max') {
  return (args: KernelArgs): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x!;
    // Sum and Mean name their axes `axis`, Max `reductionIndices`.
    const { axis, reductionIndices, keepDims } = attrs as {
      axis?: number | number[];
      reductionIndices?: number | number[];
      keepDims: boolean;
    };
    const axes = [...new Set(tf.util.parseAxisParam(axis ?? reductionIndices!, x.shape))].sort(
      (p, q) => p - q,
    );
    const first = axes[0] ?? 0;
    const last = axes[axes.length - 1] ?? 0;
    const contiguous = axes.length > 0 && last - first === axes.length - 1;
    const block = contiguous && last < x.shape.length - 1;
    const before = tf.util.sizeFromShape(x.shape.slice(0, first));
    const reduced = tf.util.sizeFromShape(x.shape.slice(first, last + 1));
    const after = tf.util.sizeFromShape(x.shape.slice(last + 1));
    const outShape = keepDims
      ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d))
      : x.shape.filter((_, i) => i < first || i > last);
    const kernels = kind === 'max' && contiguous && x.dtype === 'float32' ? native(backend) : null;
    if (kernels && before * reduced * after > 0) {
      // fer-cbam's kernel (native/elementwise.c), also over the last axis (CBAM's channel max); a NaN
      // gives NaN, as in the cpu backend.
      const wb = backend as unknown as WasmHeapBackend;
      const out = wb.makeOutput(outShape, 'float32');
      const at = (t: TensorInfo) => heapOffset(wb, t);
      kernels.max_middle(at(x), at(out), before, reduced, after);
      return out;
    }
    if (!block || x.dtype !== 'float32' || original == null || before * reduced * after === 0) {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const pooled = withScope(backend, WASM, (s) => {
      const d = balancedDivisor(reduced);
      let out = s.run(
        kind === 'max' ? 'MaxPool' : 'AvgPool',
        { x: s.reshape(x, [before, d, reduced / d, after]) },
        {
          filterSize: [d, reduced / d],
          strides: [1, 1],
          pad: 'valid',
          dimRoundingMode: undefined as unknown as string,
        } as tf.NamedAttrMap,
      );
      if (kind === 'sum') {
        const count = s.run('Fill', {}, { shape: [], value: reduced, dtype: 'float32' });
        out = s.run('Multiply', { a: out, b: count });
      }
      return s.reshape(out, outShape);
    });
    // XNNPACK's average pooling clamps its output to [-inf, inf], which turns NaN into -Infinity. The
    // output is small ([before, after]); where it holds -Infinity (a NaN, or a true -Infinity, both
    // rare), the backend's kernel gives the sum or mean instead, so NaN stays NaN.
    if (kind !== 'max' && (backend.readSync(pooled.dataId) as Float32Array).includes(-Infinity)) {
      backend.disposeData(pooled.dataId);
      return original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    return pooled;
  };
}

/**
 * The output axes of a broadcasting binary op merged into as few as possible, with each operand's
 * element stride along them (0 where it is broadcast): neighbouring axes merge when each operand is
 * either whole or broadcast along both. Padded in front with size-1 axes to at least three, so that
 * the loops over the last three are plain nested loops. `[64, 44, 44, 16]` against `[64, 1, 1, 16]`
 * becomes `[64, 1936, 16]` with strides `[30976, 16, 1]` and `[16, 0, 1]`.
 */
function broadcastPlan(
  outShape: number[],
  aShape: number[],
  bShape: number[],
): { dims: number[]; sa: number[]; sb: number[] } {
  const rank = outShape.length;
  const padded = (shape: number[]) => [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const pa = padded(aShape);
  const pb = padded(bShape);
  const dims: number[] = [];
  const whole: [boolean, boolean][] = [];
  for (let i = 0; i < rank; i++) {
    const d = outShape[i]!;
    if (d === 1) continue;
    const w: [boolean, boolean] = [pa[i] === d, pb[i] === d];
    const last = whole[whole.length - 1];
    if (last && last[0] === w[0] && last[1] === w[1]) dims[dims.length - 1]! *= d;
    else {
      dims.push(d);
      whole.push(w);
    }
  }
  const stridesOf = (k: 0 | 1) => {
    const st = new Array<number>(dims.length).fill(0);
    let acc = 1;
    for (let i = dims.length - 1; i >= 0; i--) {
      if (whole[i]![k]) {
        st[i] = acc;
        acc *= dims[i]!;
      }
    }
    return st;
  };
  const sa = stridesOf(0);
  const sb = stridesOf(1);
  while (dims.length < 3) {
    dims.unshift(1);
    sa.unshift(0);
    sb.unshift(0);
  }
  return { dims, sa, sb };
}

/**
 * `Equal` with broadcasting as nested loops over the merged axes of {@link broadcastPlan}, on the wasm
 * heap. The gradient of `max` (CBAM's channel and spatial max pooling) is `dy * (x == max(x))` with
 * `max` broadcast back, and the backend's broadcasting comparison computes a multi-index per element: about 200 ms for one [16, 44, 44, 64] tensor, 8 % of a
 * ResNet-18 'paper' training step.
 */
function equalKernel(original: tf.KernelConfig | null) {
  return (args: KernelArgs): TensorInfo => {
    const { inputs, backend } = args;
    const a = inputs.a!;
    const b = inputs.b!;
    if (original == null || a.dtype !== b.dtype || (a.dtype !== 'float32' && a.dtype !== 'int32')) {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const wb = backend as unknown as WasmHeapBackend;
    const out = wb.makeOutput(outShape, 'bool');
    const size = tf.util.sizeFromShape(outShape);
    if (size === 0) return out;
    const plan = broadcastPlan(outShape, a.shape, b.shape);
    const a0 = heapOffset(wb, a);
    const b0 = heapOffset(wb, b);
    const o0 = heapOffset(wb, out);
    const kernels = a.dtype === 'float32' ? native(backend) : null;
    const inner = innerThree(plan);
    if (kernels) {
      // fer-cbam's kernel (native/elementwise.c) over the last three merged axes.
      forEachBlock(plan, (da, db, block) => {
        kernels.equal3(a0 + 4 * da, b0 + 4 * db, o0 + block, ...inner);
      });
      return out;
    }
    const buffer = wb.wasm.HEAPU8.buffer;
    const heap = a.dtype === 'float32' ? new Float32Array(buffer) : new Int32Array(buffer);
    const bytes = new Uint8Array(buffer);
    const [d0, d1, d2, sa0, sa1, sa2, sb0, sb1, sb2] = inner;
    forEachBlock(plan, (da, db, block) => {
      let o = o0 + block;
      for (let i0 = 0; i0 < d0; i0++) {
        for (let i1 = 0; i1 < d1; i1++) {
          let pa = a0 / 4 + da + i0 * sa0 + i1 * sa1;
          let pb = b0 / 4 + db + i0 * sb0 + i1 * sb1;
          for (let i2 = 0; i2 < d2; i2++, pa += sa2, pb += sb2) bytes[o++] = heap[pa] === heap[pb] ? 1 : 0;
        }
      }
    });
    return out;
  };
}

/** The sizes and strides of the last three merged axes of a {@link broadcastPlan}. */
function innerThree(plan: { dims: number[]; sa: number[]; sb: number[] }): Strided3 {
  const r = plan.dims.length;
  return [...plan.dims.slice(r - 3), ...plan.sa.slice(r - 3), ...plan.sb.slice(r - 3)] as Strided3;
}

/**
 * Calls `body(offsetA, offsetB, outIndex)` (element offsets) for every block of the last three
 * merged axes of `plan`, an odometer over the axes before them.
 */
function forEachBlock(
  plan: { dims: number[]; sa: number[]; sb: number[] },
  body: (da: number, db: number, outIndex: number) => void,
): void {
  const { dims, sa, sb } = plan;
  const r = dims.length;
  const inner = dims[r - 3]! * dims[r - 2]! * dims[r - 1]!;
  const blocks = tf.util.sizeFromShape(dims) / inner;
  const idx = new Array<number>(r - 3).fill(0);
  for (let block = 0; block < blocks; block++) {
    let da = 0;
    let db = 0;
    for (let k = 0; k < r - 3; k++) {
      da += idx[k]! * sa[k]!;
      db += idx[k]! * sb[k]!;
    }
    body(da, db, block * inner);
    for (let k = r - 4; k >= 0; k--) {
      if (++idx[k]! < dims[k]!) break;
      idx[k] = 0;
    }
  }
}

const BINARY_OPS = { Multiply: 0, Add: 1, Sub: 2, RealDiv: 3 } as const;
/** binary3's op that copies its second operand: a broadcast. */
const BROADCAST_OP = 4;

/**
 * `Multiply`, `Add`, `Sub` and `RealDiv` of float32 operands of different shapes (broadcasting) by
 * fer-cbam's SIMD kernel (native/elementwise.c) over the merged axes of {@link broadcastPlan}: the
 * backend's broadcasting ops compute an index per element, 12x slower than the same op without
 * broadcasting for CBAM's gate products. Same-shape operands, other types and a missing native
 * module go to the backend's kernel.
 */
function broadcastBinaryKernel(original: tf.KernelConfig | null, op: keyof typeof BINARY_OPS) {
  return (args: KernelArgs): TensorInfo => {
    const { inputs, backend } = args;
    const a = inputs.a!;
    const b = inputs.b!;
    const kernels =
      original != null &&
      a.dtype === 'float32' &&
      b.dtype === 'float32' &&
      !tf.util.arraysEqual(a.shape, b.shape)
        ? native(backend)
        : null;
    if (kernels == null) {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    return nativeBroadcast(kernels, backend as unknown as WasmHeapBackend, a, b, outShape, BINARY_OPS[op]);
  };
}

/** `a (op) b` broadcast to `outShape` by the native `binary3`, float32 (op: see {@link BINARY_OPS}). */
function nativeBroadcast(
  kernels: NativeKernels,
  wb: WasmHeapBackend,
  a: TensorInfo,
  b: TensorInfo,
  outShape: number[],
  op: number,
): TensorInfo {
  const out = wb.makeOutput(outShape, 'float32');
  if (tf.util.sizeFromShape(outShape) === 0) return out;
  const plan = broadcastPlan(outShape, a.shape, b.shape);
  const a0 = heapOffset(wb, a);
  const b0 = heapOffset(wb, b);
  const o0 = heapOffset(wb, out);
  const inner = innerThree(plan);
  forEachBlock(plan, (da, db, block) => {
    kernels.binary3(a0 + 4 * da, b0 + 4 * db, o0 + 4 * block, ...inner, op);
  });
  return out;
}

/**
 * `FusedBatchNorm` (`(x - mean) * scale / sqrt(variance + epsilon) + offset` per channel) as one XNNPACK
 * 1x1 depthwise convolution with bias: `x * s + (offset - mean * s)`, `s = scale / sqrt(variance +
 * epsilon)` computed in float64 from the `[C]` parameters. The backend's kernel is a scalar loop, about
 * 5x slower for a [16, 44, 44, 64] activation; BatchNorm in training runs it three times per layer
 * (forward and fer-cbam's fused gradient). Inputs whose parameters are not plain `[C]` vectors use the
 * original kernel.
 */
function batchNormKernel(original: tf.KernelConfig | null) {
  return (args: KernelArgs): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const { x, mean, variance, offset, scale } = inputs as Record<string, TensorInfo | undefined>;
    const channels = x!.shape[x!.shape.length - 1] ?? 0;
    const plain = (t: TensorInfo | undefined) =>
      t == null || (t.shape.length === 1 && t.shape[0] === channels);
    const params = [mean, variance, offset, scale];
    if (
      original == null ||
      x!.dtype !== 'float32' ||
      x!.shape.length < 1 ||
      channels === 0 ||
      !params.every(plain) ||
      params.some((t) => t != null && t.dtype !== 'float32')
    ) {
      return original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    const epsilon = (attrs as { varianceEpsilon?: number }).varianceEpsilon ?? 0.001;
    const read = (t: TensorInfo | undefined) =>
      t == null ? null : (backend.readSync(t.dataId) as Float32Array);
    const [m, v, o, sc] = params.map(read);
    const s = new Float32Array(channels);
    const b = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      const k = (sc ? sc[c]! : 1) / Math.sqrt(v![c]! + epsilon);
      s[c] = k;
      b[c] = (o ? o[c]! : 0) - m![c]! * k;
    }
    return withScope(backend, WASM, (scope) => {
      const rows = tf.util.sizeFromShape(x!.shape) / channels;
      const wb = backend as unknown as WasmHeapBackend;
      const upload = (shape: number[], values: Float32Array): TensorInfo => {
        const info = scope.adopt(wb.makeOutput(shape, 'float32'));
        // Read the heap after allocating: growing the memory replaces the buffer.
        const offset = wb.dataIdMap.get(info.dataId).memoryOffset;
        new Float32Array(wb.wasm.HEAPU8.buffer, offset, values.length).set(values);
        return info;
      };
      const filter = upload([1, 1, channels, 1], s);
      const bias = upload([channels], b);
      const y = scope.run(
        'FusedDepthwiseConv2D',
        { x: scope.reshape(x!, [1, 1, rows, channels]), filter, bias },
        {
          strides: [1, 1],
          pad: 'valid',
          dilations: [1, 1],
          dataFormat: 'NHWC',
          dimRoundingMode: undefined as unknown as string,
          activation: 'linear',
          leakyreluAlpha: 0,
        } as tf.NamedAttrMap,
      );
      return scope.reshape(y, x!.shape.slice());
    });
  };
}

/** `UnsortedSegmentSum` (the gradient of `gather`), as a plain loop over the wasm heap. */
function unsortedSegmentSumKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { numSegments } = attrs as { numSegments: number };
  const x = inputs.x!;
  const ids = inputs.segmentIds!;
  const xv = backend.readSync(x.dataId) as Float32Array | Int32Array;
  const iv = backend.readSync(ids.dataId) as Int32Array;
  const inner = tf.util.sizeFromShape(x.shape.slice(ids.shape.length));
  const outShape = [numSegments, ...x.shape.slice(ids.shape.length)];
  const out =
    x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  for (let i = 0; i < iv.length; i++) {
    const seg = iv[i]!;
    if (seg < 0 || seg >= numSegments) continue;
    const src = i * inner;
    const dst = seg * inner;
    for (let k = 0; k < inner; k++) out[dst + k]! += xv[src + k]!;
  }
  const dataId = backend.write(out, outShape, x.dtype);
  return { dataId, shape: outShape, dtype: x.dtype };
}

interface Installed {
  names: string[];
  previous: Map<string, tf.KernelConfig | null>;
}
let installed: Installed | null = null;

/**
 * Registers the kernels `@tensorflow/tfjs-backend-wasm` needs for training: `Conv2DBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropFilter`, `DepthwiseConv2dNativeBackpropInput`, `UnsortedSegmentSum`, and a
 * fast `Conv2DBackpropInput`. They are built from the backend's XNNPACK kernels and agree with the cpu
 * backend to float32 rounding. Calling it again replaces the kernels with the new options. Called by
 * {@link useBackend}('wasm'); call it yourself only when you set the backend with `tf.setBackend('wasm')`.
 * @param options Formulation choices; see {@link WasmTrainingKernelOptions}.
 * @returns The names of the kernels registered for `'wasm'`.
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-wasm';
 * registerWasmTrainingKernels();
 * await tf.setBackend('wasm');
 * await model.fit(xs, ys); // convolution gradients now run on XNNPACK
 * ```
 * @category Backends
 */
export function registerWasmTrainingKernels(options: WasmTrainingKernelOptions = {}): string[] {
  const o = { ...WASM_TRAINING_KERNEL_DEFAULTS, ...options };
  if (installed != null) unregisterWasmTrainingKernels();
  registerReductionGradients(); // backend-independent; the same values without a full-size ones tensor
  const kernels: { kernelName: string; kernelFunc: (a: KernelArgs) => TensorInfo | TensorInfo[] }[] = [
    {
      kernelName: 'Conv2DBackpropFilter',
      kernelFunc: conv2DBackpropFilterKernel(o.filterGradMethod, o.winograd),
    },
    { kernelName: 'DepthwiseConv2dNativeBackpropFilter', kernelFunc: depthwiseFilterKernel },
    { kernelName: 'DepthwiseConv2dNativeBackpropInput', kernelFunc: depthwiseInputKernel },
    { kernelName: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSumKernel },
  ];
  if (o.replaceConv2DBackpropInput) {
    kernels.push({ kernelName: 'Conv2DBackpropInput', kernelFunc: conv2DBackpropInputKernel });
  }
  // Faster versions of kernels the backend has (each keeps the original for cases it does not handle).
  const wrappers: [
    string,
    (original: tf.KernelConfig | null) => (a: KernelArgs) => TensorInfo | TensorInfo[],
  ][] = [
    ['Tile', tileKernel],
    ['Identity', identityKernel],
    ['Slice', sliceKernel],
    ['Concat', concatKernel],
    ['SplitV', splitKernel],
    ['Cast', castKernel],
    ['Reverse', reverseKernel],
    ['Sum', (original) => poolReduceKernel(original, 'sum')],
    ['Mean', (original) => poolReduceKernel(original, 'mean')],
    ['Max', (original) => poolReduceKernel(original, 'max')],
    ['Equal', equalKernel],
    ['Multiply', (original) => broadcastBinaryKernel(original, 'Multiply')],
    ['Add', (original) => broadcastBinaryKernel(original, 'Add')],
    ['Sub', (original) => broadcastBinaryKernel(original, 'Sub')],
    ['RealDiv', (original) => broadcastBinaryKernel(original, 'RealDiv')],
    ['FusedBatchNorm', batchNormKernel],
  ];
  nativeEnabled = o.nativeKernels;
  if (o.nativeKernels) {
    wrappers.push(['Conv2D', (original) => conv2DKernel(original, false, o.winograd)]);
    wrappers.push(['FusedConv2D', (original) => conv2DKernel(original, true, o.winograd)]);
  }
  // fer-cbam's BatchNorm ops (src/ops/batch_norm.ts) fall back to tfjs ops where these are missing.
  if (o.nativeKernels && nativeKernelsLoadable()) {
    kernels.push({ kernelName: CHANNEL_MOMENTS_KERNEL, kernelFunc: channelMomentsKernel });
    kernels.push({ kernelName: BATCH_NORM_GRAD_KERNEL, kernelFunc: batchNormGradKernel });
  }
  for (const [kernelName, wrap] of wrappers) {
    kernels.push({ kernelName, kernelFunc: wrap(tf.getKernel(kernelName, WASM) ?? null) });
  }
  const previous = new Map<string, tf.KernelConfig | null>();
  for (const k of kernels) {
    previous.set(
      k.kernelName,
      replaceKernel({
        kernelName: k.kernelName,
        backendName: WASM,
        kernelFunc: k.kernelFunc as unknown as tf.KernelFunc,
      }),
    );
  }
  installed = { names: kernels.map((k) => k.kernelName), previous };
  return installed.names.slice();
}

/**
 * Removes what {@link registerWasmTrainingKernels} registered and restores the backend's own kernels
 * (working, also when the backend initialised in between).
 * @example
 * ```ts
 * unregisterWasmTrainingKernels(); // back to stock tfjs-backend-wasm, e.g. to compare speed
 * ```
 * @category Backends
 */
export function unregisterWasmTrainingKernels(): void {
  if (installed == null) return;
  for (const name of installed.names) restoreKernel(name, WASM, installed.previous.get(name) ?? null);
  installed = null;
}
