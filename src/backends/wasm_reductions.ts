/**
 * The wasm reduction kernels: `Sum`, `Mean` and `Max` over neighbouring axes (one XNNPACK pooling, or
 * fer-cbam's native maximum) and `UnsortedSegmentSum`. Registered by `registerWasmTrainingKernels`
 * (wasm_kernels.ts).
 * @module
 * @internal
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, withScope } from './kernel_utils';
import { heapOffset, native, WASM, type WasmHeapBackend } from './wasm_heap';

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
 * @internal
 */
export function poolReduceKernel(original: tf.KernelConfig | null, kind: 'sum' | 'mean' | 'max') {
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

/** `UnsortedSegmentSum` (the gradient of `gather`), as a plain loop over the wasm heap. @internal */
export function unsortedSegmentSumKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo {
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
