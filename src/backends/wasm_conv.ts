/**
 * The wasm convolution kernels: `Conv2D` and `FusedConv2D` by fer-cbam's own SIMD kernels (direct,
 * Winograd F(2x2, 3x3), channel-planar for few channels), `Conv2DBackpropFilter` (native or an XNNPACK
 * composition), `Conv2DBackpropInput` and the depthwise gradients (XNNPACK compositions, see
 * `conv_grads.ts`). Registered by `registerWasmTrainingKernels` (wasm_kernels.ts).
 * @module
 * @internal
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
import {
  type ConvGeometry,
  convGeometry,
  isChannelsFirst,
  type KernelArgs,
  type KernelScope,
  toChannelsLast,
  withScope,
} from './kernel_utils';
import { heapOffset, native, nativeKernelsEnabled, WASM, type WasmHeapBackend } from './wasm_heap';
import type { Epilogue, NativeConvGeometry, NativeKernels } from './wasm_native';

/** XNNPACK runs BatchMatMul only without transposes; everything else falls back to a scalar loop. */
const WASM_MATMUL: MatMulTraits = { fastTransposes: false };

/** Runs an NHWC body on NCHW operands by transposing in and (optionally) out. */
function nchwToNhwc(s: KernelScope, x: TensorInfo): TensorInfo {
  return s.transpose(x, [0, 2, 3, 1]);
}

/** `Conv2DBackpropFilter` by the given formulation (see {@link FilterGradMethod}). @internal */
export function conv2DBackpropFilterKernel(method: FilterGradMethod, winograd: boolean) {
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
      const direct = nativeKernelsEnabled() && (method === 'direct' || method === 'auto');
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
 * @internal
 */
export function conv2DKernel(original: tf.KernelConfig | null, fused: boolean, winograd: boolean) {
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

/** `Conv2DBackpropInput` as forward XNNPACK convolutions of `dy` (`conv2DBackpropInputNHWC`). @internal */
export function conv2DBackpropInputKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
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

/** `DepthwiseConv2dNativeBackpropFilter` by per-tap products (`depthwiseBackpropFilterNHWC`). @internal */
export function depthwiseFilterKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { strides, pad, dilations, dimRoundingMode, filterShape } = attrs as Record<string, any>;
  checkDilations(dilations, 'DepthwiseConv2dNativeBackpropFilter');
  return withScope(backend, WASM, (s) =>
    depthwiseBackpropFilterNHWC(s, inputs.x!, inputs.dy!, filterShape, strides, pad, dimRoundingMode),
  );
}

/** `DepthwiseConv2dNativeBackpropInput` by a depthwise convolution of the dilated `dy`. @internal */
export function depthwiseInputKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { strides, pad, dilations, dimRoundingMode, inputShape } = attrs as Record<string, any>;
  checkDilations(dilations, 'DepthwiseConv2dNativeBackpropInput');
  return withScope(backend, WASM, (s) =>
    depthwiseBackpropInputNHWC(s, inputs.dy!, inputs.filter!, inputShape, strides, pad, dimRoundingMode),
  );
}
