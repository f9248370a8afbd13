/**
 * Gradients of `Mean` and `Sum` that broadcast the incoming gradient instead of multiplying it by a
 * full-size tensor of ones. tfjs's own gradients build that `ones(x.shape)` in JavaScript on every call
 * (a Float32Array filled element by element, then uploaded to the backend): for CBAM's average pools
 * and the global average pool of a ResNet-10 at batch 64 that was about 35 ms of a 430 ms training step
 * on wasm, more than any single kernel but the convolutions. The values are the same: `dy / n` (or
 * `dy`) repeated over the reduced axes.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * The gradient config of `Mean` (`mean`) or `Sum`: `dy`, of the reduced shape, reshaped to `x`'s rank
 * with 1 on the reduced axes, divided by their size for a mean, and broadcast back to `x`'s shape.
 */
function reductionGradient(kernelName: string, mean: boolean): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0]!;
      const axes = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
      const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
      return {
        x: () => {
          const reshaped = tf.reshape(dy as tf.Tensor, expanded);
          return tf.broadcastTo(mean ? tf.div(reshaped, count) : reshaped, x.shape);
        },
      };
    },
  };
}

/**
 * Registers the `Mean` and `Sum` gradients of this module in tfjs's (global) gradient registry, in place
 * of tfjs's own. Idempotent; the wasm and WebGPU training-kernel setups call it, so a model trained
 * after `useBackend()` gets them on any backend.
 * @example
 * ```ts
 * registerReductionGradients();
 * const g = tf.grad((x: tf.Tensor) => tf.mean(x, [1, 2]).sum())(tf.ones([2, 4, 4, 3])); // all 1/16
 * ```
 * @category Ops
 */
export function registerReductionGradients(): void {
  tf.registerGradient(reductionGradient(tf.Mean, true));
  tf.registerGradient(reductionGradient(tf.Sum, false));
}
