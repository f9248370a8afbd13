/**
 * The loss and gradients of one (part of a) training batch: shared by {@link train}'s own step and
 * by its gradient workers (`data_parallel.ts`), so that both compute exactly the same thing.
 * @module
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type OutputKind, softmaxCrossEntropy } from './loss';

/** The mean loss, the number of correct predictions and the gradient per variable of one batch. @internal */
export interface BatchGradients {
  loss: tf.Scalar;
  correct: tf.Scalar;
  grads: tf.Tensor[];
}

/**
 * Softmax cross-entropy (plus the model's regularisation losses) of `model.apply(xs, { training:
 * true })` against the one-hot `ys`, and its gradients with respect to `variables` (zeros where a
 * variable does not take part), in that order. The caller owns every returned tensor.
 * @internal
 */
export function batchGradients(
  model: tfl.LayersModel,
  variables: tf.Variable[],
  xs: tf.Tensor,
  ys: tf.Tensor,
  outputs: OutputKind,
): BatchGradients {
  let correct: tf.Scalar | null = null;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(xs, { training: true }) as tf.Tensor;
    correct = tf.keep(
      tf.sum(tf.cast(tf.equal(tf.argMax(out, -1), tf.argMax(ys, -1)), 'float32')) as tf.Scalar,
    );
    let loss = softmaxCrossEntropy(ys, out, outputs);
    const regularization = model.calculateLosses();
    if (regularization.length > 0) loss = tf.add(loss, tf.addN(regularization)) as tf.Scalar;
    return loss;
  }, variables);
  return { loss: value, correct: correct!, grads: variables.map((v) => grads[v.name] ?? tf.zerosLike(v)) };
}
