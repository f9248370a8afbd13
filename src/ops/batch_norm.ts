/**
 * The two halves of BatchNorm in training that tfjs has no single kernel for: the per-channel batch
 * moments, and the closed-form gradient. Each is one kernel call where a backend registers one
 * (fer-cbam's WebGPU setup does: 3 and 4 dispatches, with the reductions inside the kernels), and
 * tfjs ops elsewhere (about 6 and 11 kernels).
 * @module
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Kernel behind {@link channelMoments}: input `x` (float32, channels last); outputs the mean and the
 * biased variance over every axis but the last, each `[C]`. Registered for `'webgpu'` by
 * `registerWebGPUTrainingKernels`.
 * @category Ops
 */
export const CHANNEL_MOMENTS_KERNEL = 'FerCbamChannelMoments';

/**
 * Kernel behind {@link batchNormGradients}: inputs `x`, `dy` (same shape, channels last), `mean`,
 * `variance`, `gamma` (`[C]`), attr `epsilon`; outputs `dx`, `dgamma`, `dbeta`. Registered for
 * `'webgpu'` by `registerWebGPUTrainingKernels`.
 * @category Ops
 */
export const BATCH_NORM_GRAD_KERNEL = 'FerCbamBatchNormGrad';

function leadingAxes(x: Tensor): number[] {
  return x.shape.slice(0, -1).map((_, i) => i);
}

function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) != null;
}

/**
 * Mean and biased variance of `x` per channel (last axis), over all other axes: BatchNorm's batch
 * statistics. One kernel call where the backend has {@link CHANNEL_MOMENTS_KERNEL}, else
 * `tf.mean` and `tf.squaredDifference`. Not differentiable (BatchNorm's gradient is
 * {@link batchNormGradients}).
 * @param x A float32 tensor of rank >= 2, channels last.
 * @returns `{ mean, variance }`, each `[C]`.
 * @example
 * ```ts
 * const { mean, variance } = channelMoments(activations); // [C] each
 * ```
 * @category Ops
 */
export function channelMoments(x: Tensor): { mean: Tensor; variance: Tensor } {
  if (hasKernel(CHANNEL_MOMENTS_KERNEL)) {
    const [mean, variance] = tf.engine().runKernel(CHANNEL_MOMENTS_KERNEL, { x }, {}) as Tensor[];
    return { mean: mean!, variance: variance! };
  }
  const axes = leadingAxes(x);
  return tf.tidy(() => {
    const mean = tf.mean(x, axes);
    return { mean, variance: tf.mean(tf.squaredDifference(x, mean), axes) };
  });
}

/**
 * Gradients of `y = gamma * (x - mean) / sqrt(variance + epsilon) + beta` with the batch's own `mean`
 * and biased `variance` (BatchNorm in training), given `dy`, in closed form: with `n` values per
 * channel and `xhat = (x - mean) / sqrt(variance + epsilon)`, `dbeta = sum(dy)`,
 * `dgamma = sum(dy * xhat)`, `dx = gamma / sqrt(variance + epsilon) * (dy - dbeta / n - xhat * dgamma / n)`.
 * One kernel call where the backend has {@link BATCH_NORM_GRAD_KERNEL}, else tfjs ops.
 * @param x The layer's input, channels last.
 * @param dy The gradient of the loss with respect to the output (same shape).
 * @param mean The batch mean `[C]` used in the forward pass.
 * @param variance The biased batch variance `[C]` used in the forward pass.
 * @param gamma The scale `[C]`.
 * @param epsilon The epsilon of the forward pass.
 * @returns `{ dx, dgamma, dbeta }`.
 * @example
 * ```ts
 * const { dx, dgamma, dbeta } = batchNormGradients(x, dy, mean, variance, gamma, 1e-5);
 * ```
 * @category Ops
 */
export function batchNormGradients(
  x: Tensor,
  dy: Tensor,
  mean: Tensor,
  variance: Tensor,
  gamma: Tensor,
  epsilon: number,
): { dx: Tensor; dgamma: Tensor; dbeta: Tensor } {
  if (hasKernel(BATCH_NORM_GRAD_KERNEL)) {
    const [dx, dgamma, dbeta] = tf
      .engine()
      .runKernel(BATCH_NORM_GRAD_KERNEL, { x, dy, mean, variance, gamma }, { epsilon }) as Tensor[];
    return { dx: dx!, dgamma: dgamma!, dbeta: dbeta! };
  }
  const axes = leadingAxes(x);
  const n = x.size / x.shape[x.shape.length - 1]!;
  return tf.tidy(() => {
    const xhat = tf.batchNorm(x, mean, variance, undefined, undefined, epsilon);
    const dbeta = tf.sum(dy, axes);
    const dgamma = tf.sum(tf.mul(dy, xhat), axes);
    const centred = tf.sub(dy, tf.mul(xhat, tf.div(dgamma, n)));
    // (centred - dbeta / n) * gamma / sqrt(variance + epsilon) is exactly what batchNorm computes
    // with mean dbeta / n and scale gamma: one kernel, no per-channel vector ops.
    const dx = tf.batchNorm(centred, tf.div(dbeta, n), variance, undefined, gamma, epsilon);
    return { dx, dgamma, dbeta };
  });
}
