/**
 * Training kernels for `@tensorflow/tfjs-backend-wasm` 4.x, which ships without `Conv2DBackpropFilter`,
 * the depthwise gradient kernels and `UnsortedSegmentSum`, and whose `Conv2DBackpropInput` is a scalar
 * loop. Each kernel here is composed of the backend's own XNNPACK-backed kernels (see `conv_grads.ts`).
 * The kernels live by family (wasm_conv.ts, wasm_copies.ts, wasm_reductions.ts, wasm_elementwise.ts,
 * wasm_batchnorm.ts); this module holds their options and registers them, all in one place.
 * @module
 */

import type { TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type { FilterGradMethod } from './conv_grads';

export { AUTO_CONV_MAX_OUT_CHANNELS, type FilterGradMethod } from './conv_grads';
/** @internal */
export { nativeKernelsEnabled } from './wasm_heap';

import { BATCH_NORM_GRAD_KERNEL, CHANNEL_MOMENTS_KERNEL } from '../ops/batch_norm';
import { registerReductionGradients } from '../ops/reduction_gradients';
import { type KernelArgs, replaceKernel, restoreKernel } from './kernel_utils';
import { batchNormGradKernel, batchNormKernel, channelMomentsKernel } from './wasm_batchnorm';
import {
  conv2DBackpropFilterKernel,
  conv2DBackpropInputKernel,
  conv2DKernel,
  depthwiseFilterKernel,
  depthwiseInputKernel,
} from './wasm_conv';
import {
  castKernel,
  concatKernel,
  identityKernel,
  reverseKernel,
  sliceKernel,
  splitKernel,
  tileKernel,
} from './wasm_copies';
import { broadcastBinaryKernel, equalKernel } from './wasm_elementwise';
import { setNativeKernelsEnabled, WASM } from './wasm_heap';
import { nativeKernelsLoadable } from './wasm_native';
import { poolReduceKernel, unsortedSegmentSumKernel } from './wasm_reductions';

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
  setNativeKernelsEnabled(o.nativeKernels);
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
