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

/** `dy` (the reduced shape) broadcast back to `x`'s shape over `axis`, divided by `divisor`. */
function broadcastBack(dy: tf.Tensor, x: tf.Tensor, axis: number | number[], divisor: number): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const scaled = divisor === 1 ? tf.reshape(dy, expanded) : tf.div(tf.reshape(dy, expanded), divisor);
  return tf.broadcastTo(scaled, x.shape);
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
  tf.registerGradient({
    kernelName: tf.Mean,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0]!;
      const axis = (attrs as { axis: number | number[] }).axis;
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
      return { x: () => broadcastBack(dy as tf.Tensor, x, axes, count) };
    },
  });
  tf.registerGradient({
    kernelName: tf.Sum,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0]!;
      const axis = (attrs as { axis: number | number[] }).axis;
      return { x: () => broadcastBack(dy as tf.Tensor, x, axis, 1) };
    },
  });
}
