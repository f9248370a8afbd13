/**
 * Fused element-wise ops that the training step needs many times: one kernel where a backend registers
 * one (fer-cbam's WebGPU setup does), the same arithmetic as separate tfjs ops elsewhere. Layers and the
 * optimizer use them without knowing about backends: the kernel is looked up by name at call time.
 * @module
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { expected } from '../errors';

/**
 * Name of the kernel behind {@link linearCombination}: inputs `x`, `y`, `z` (same shape, float32), attrs
 * `a`, `b`, `c` (numbers); output `a * x + b * y + c * z`. Registered for `'webgpu'` by
 * `registerWebGPUTrainingKernels`.
 * @category Ops
 */
export const LINEAR_COMBINATION_KERNEL = 'FerCbamLinearCombination';

/** One term of a {@link linearCombination}: a tensor and its coefficient. @category Ops */
export type LinearTerm = readonly [Tensor, number];

/**
 * `sum(coefficient * tensor)` over one to three same-shape float32 tensors, e.g. a momentum-SGD update
 * `v = m * v + g + wd * w` or a BatchNorm moving average `mm = 0.9 * mm + 0.1 * mean`. On a backend that
 * registers {@link LINEAR_COMBINATION_KERNEL} (WebGPU, after `useBackend('webgpu')`) it is one kernel
 * (one GPU dispatch) instead of up to five; elsewhere it runs as `tf.mul`/`tf.add` (multiplications by
 * 1 are skipped). Not differentiable: it is meant for updates outside the gradient tape.
 * @param terms One to three `[tensor, coefficient]` pairs; tensors of the same shape, float32.
 * @returns A new tensor of that shape.
 * @example
 * ```ts
 * const v = linearCombination([[velocity, 0.9], [grad, 1], [weight, 5e-4]]);
 * ```
 * @throws RangeError for zero or more than three terms, mismatched shapes, non-float32 tensors or
 *   non-finite coefficients.
 * @category Ops
 */
export function linearCombination(terms: readonly LinearTerm[]): Tensor {
  const where = 'linearCombination';
  if (terms.length < 1 || terms.length > 3) {
    throw new RangeError(expected(where, 'terms', 'one to three [tensor, coefficient] pairs', terms.length));
  }
  const [first] = terms[0]!;
  terms.forEach(([t, c], i) => {
    if (!tf.util.arraysEqual(t.shape, first.shape)) {
      throw new RangeError(expected(where, `terms[${i}][0]`, `of shape [${first.shape}]`, t.shape));
    }
    if (t.dtype !== 'float32') throw new RangeError(expected(where, `terms[${i}][0]`, 'float32', t.dtype));
    if (!Number.isFinite(c)) throw new RangeError(expected(where, `terms[${i}][1]`, 'a finite number', c));
  });
  if (tf.getKernel(LINEAR_COMBINATION_KERNEL, tf.getBackend()) != null) {
    // Unused slots repeat the first tensor with coefficient 0 (the kernel always reads three inputs).
    const [x, a] = terms[0]!;
    const [y, b] = terms[1] ?? [x, 0];
    const [z, c] = terms[2] ?? [x, 0];
    return tf.engine().runKernel(LINEAR_COMBINATION_KERNEL, { x, y, z }, { a, b, c }) as Tensor;
  }
  return tf.tidy(() => {
    const scaled = terms.map(([t, c]) => (c === 1 ? t : tf.mul(t, c)));
    return scaled.slice(1).reduce((sum, t) => tf.add(sum, t), scaled[0]!);
  });
}
