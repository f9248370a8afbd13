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
  /**
   * When given, always return probabilities, softened by this temperature: `softmax(logits / T)`
   * (for a model ending in softmax, `p^(1/T)` renormalised, the same thing). Distillation's
   * teacher targets use it; evaluation leaves it out and gets the raw output of a single pass.
   */
  temperature?: number;
}

/**
 * Class probabilities `softmax(out / temperature)` from a model output of kind `outputs`; for
 * probabilities, `out^(1/temperature)` renormalised, which is the same function of the logits.
 * @internal
 */
export function softenedProbabilities(out: tf.Tensor, outputs: OutputKind, temperature = 1): tf.Tensor {
  return tf.tidy(() => {
    if (outputs === 'logits') return tf.softmax(temperature === 1 ? out : tf.div(out, temperature));
    if (temperature === 1) return out;
    const p = tf.pow(tf.clipByValue(out, 1e-30, 1), 1 / temperature);
    return tf.div(p, tf.sum(p, -1, true));
  });
}

/**
 * The class scores of a batch in inference mode: the model's output (of kind `outputs`), or with
 * `tenCrop` the mean softmax over ten crops (kind `'probabilities'`), or with `temperature` the
 * (mean) softened probabilities. Shared by evaluation on this thread and on gradient workers, and
 * by distillation's teacher targets. The caller owns the tensor.
 * @internal
 */
export function batchProbabilities(
  model: tfl.LayersModel,
  xs: tf.Tensor,
  options: ForwardOptions,
): { scores: tf.Tensor; kind: OutputKind } {
  return tf.tidy(() => {
    const forward = (x: tf.Tensor) => model.apply(x, { training: false }) as tf.Tensor;
    const toProbabilities = (x: tf.Tensor) =>
      softenedProbabilities(forward(x), options.outputs, options.temperature ?? 1);
    if (!options.tenCrop) {
      return options.temperature === undefined
        ? { scores: forward(xs), kind: options.outputs }
        : { scores: toProbabilities(xs), kind: 'probabilities' as OutputKind };
    }
    const crops = tenCrop(xs as tf.Tensor4D, options.cropSize);
    return {
      scores: tf.div(tf.addN(crops.map(toProbabilities)), crops.length),
      kind: 'probabilities' as OutputKind,
    };
  });
}
