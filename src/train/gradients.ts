/**
 * The loss and gradients of one (part of a) training batch, and the class scores of an evaluation
 * batch: shared by {@link train}'s own step, {@link evaluate} and the gradient workers
 * (`data_parallel.ts`), so that every thread computes exactly the same thing.
 * @module
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { tenCrop } from '../data/augment';
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

/** How {@link batchProbabilities} turns a batch into class scores. @internal */
export interface ForwardOptions {
  /** Average the softmax of the ten crops of each image (the batch holds uncropped images). */
  tenCrop: boolean;
  /** Crop side fed to the model (ten-crop only). */
  cropSize: number;
  /** What the model outputs. */
  outputs: OutputKind;
}

/**
 * The class scores of a batch in inference mode: the model's output (of kind `outputs`), or with
 * `tenCrop` the mean softmax over ten crops (kind `'probabilities'`). Shared by evaluation on this
 * thread and on gradient workers. The caller owns the tensor.
 * @internal
 */
export function batchProbabilities(
  model: tfl.LayersModel,
  xs: tf.Tensor,
  options: ForwardOptions,
): { scores: tf.Tensor; kind: OutputKind } {
  return tf.tidy(() => {
    if (!options.tenCrop) {
      return { scores: model.apply(xs, { training: false }) as tf.Tensor, kind: options.outputs };
    }
    const crops = tenCrop(xs as tf.Tensor4D, options.cropSize);
    const toProbabilities = (x: tf.Tensor4D) => {
      const out = model.apply(x, { training: false }) as tf.Tensor;
      return options.outputs === 'logits' ? tf.softmax(out) : out;
    };
    return {
      scores: tf.div(tf.addN(crops.map(toProbabilities)), crops.length),
      kind: 'probabilities' as OutputKind,
    };
  });
}
