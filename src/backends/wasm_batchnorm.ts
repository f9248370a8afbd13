/**
 * The wasm BatchNorm kernels: fer-cbam's batch moments and closed-form gradient (native/batch_norm.c,
 * the kernels of src/ops/batch_norm.ts) and `FusedBatchNorm` as one XNNPACK depthwise convolution.
 * Registered by `registerWasmTrainingKernels` (wasm_kernels.ts).
 * @module
 * @internal
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_GRAD_KERNEL, CHANNEL_MOMENTS_KERNEL } from '../ops/batch_norm';
import { type KernelArgs, withScope, withScopeAll } from './kernel_utils';
import { heapOffset, WASM, type WasmHeapBackend } from './wasm_heap';
import {
  batchNormGradScratchFloats,
  momentsScratchFloats,
  type NativeKernels,
  nativeKernels,
} from './wasm_native';

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
 * @internal
 */
export function channelMomentsKernel({ inputs, backend }: KernelArgs): TensorInfo[] {
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
 * @internal
 */
export function batchNormGradKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
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

/**
 * `FusedBatchNorm` (`(x - mean) * scale / sqrt(variance + epsilon) + offset` per channel) as one XNNPACK
 * 1x1 depthwise convolution with bias: `x * s + (offset - mean * s)`, `s = scale / sqrt(variance +
 * epsilon)` computed in float64 from the `[C]` parameters. The backend's kernel is a scalar loop, about
 * 5x slower for a [16, 44, 44, 64] activation; BatchNorm in training runs it three times per layer
 * (forward and fer-cbam's fused gradient). Inputs whose parameters are not plain `[C]` vectors use the
 * original kernel.
 * @internal
 */
export function batchNormKernel(original: tf.KernelConfig | null) {
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
