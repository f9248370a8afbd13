/**
 * The wasm broadcasting element-wise kernels: `Equal`, `Multiply`, `Add`, `Sub` and `RealDiv` of
 * operands of different shapes by fer-cbam's SIMD kernels (native/elementwise.c) over merged axes,
 * instead of the backend's index per element. Registered by `registerWasmTrainingKernels`
 * (wasm_kernels.ts).
 * @module
 * @internal
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type { KernelArgs } from './kernel_utils';
import { heapOffset, native, type WasmHeapBackend } from './wasm_heap';
import type { NativeKernels, Strided3 } from './wasm_native';

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
 * @internal
 */
export function equalKernel(original: tf.KernelConfig | null) {
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
/** binary3's op that copies its second operand: a broadcast. @internal */
export const BROADCAST_OP = 4;

/**
 * `Multiply`, `Add`, `Sub` and `RealDiv` of float32 operands of different shapes (broadcasting) by
 * fer-cbam's SIMD kernel (native/elementwise.c) over the merged axes of {@link broadcastPlan}: the
 * backend's broadcasting ops compute an index per element, 12x slower than the same op without
 * broadcasting for CBAM's gate products. Same-shape operands, other types and a missing native
 * module go to the backend's kernel.
 * @internal
 */
export function broadcastBinaryKernel(original: tf.KernelConfig | null, op: keyof typeof BINARY_OPS) {
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

/**
 * `a (op) b` broadcast to `outShape` by the native `binary3`, float32 (op: see {@link BINARY_OPS}).
 * @internal
 */
export function nativeBroadcast(
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
