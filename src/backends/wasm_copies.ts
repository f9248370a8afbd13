/**
 * The wasm copy and shape kernels: `Tile`, `Identity`, `Slice`, `Concat`, `SplitV`, `Cast` and `Reverse`
 * as block copies in place on the wasm heap (or buffer sharing) instead of the backend's per-element
 * loops. Registered by `registerWasmTrainingKernels` (wasm_kernels.ts).
 * @module
 * @internal
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, withScope } from './kernel_utils';
import { BROADCAST_OP, nativeBroadcast } from './wasm_elementwise';
import { native, WASM, type WasmHeapBackend } from './wasm_heap';
import type { NativeKernels } from './wasm_native';

/**
 * `Tile`: a tile of axes of size 1 (a broadcast) as one pass of the native element-wise kernel, else as
 * successive concatenations, innermost tiled axis first, so the final copy is a few large
 * block copies. The backend's own Tile computes an index per element, which made it the third most
 * expensive kernel of a ResNet training step (the BatchNorm gradient tiles the inverse standard
 * deviation to the full activation shape). Falls back to the original kernel when the concatenations
 * would need very many small copies.
 * @internal
 */
export function tileKernel(original: tf.KernelConfig | null) {
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
 * @internal
 */
export function identityKernel(original: tf.KernelConfig | null) {
  return (args: KernelArgs): TensorInfo => {
    const x = args.inputs.x!;
    if (x.dtype === 'string' && original != null) {
      return original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as TensorInfo;
    }
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  };
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
 * @internal
 */
export function sliceKernel(original: tf.KernelConfig | null) {
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
 * @internal
 */
export function concatKernel(original: tf.KernelConfig | null) {
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
 * @internal
 */
export function splitKernel(original: tf.KernelConfig | null) {
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
 * @internal
 */
export function castKernel(original: tf.KernelConfig | null) {
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
 * @internal
 */
export function reverseKernel(original: tf.KernelConfig | null) {
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
