import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { expected } from '../errors';

/**
 * What a classifier's output holds: `'logits'` (a linear last layer) or `'probabilities'` (it ends in
 * softmax). See {@link detectOutputKind}.
 * @category Training
 */
export type OutputKind = 'logits' | 'probabilities';

/**
 * Tells whether `model` outputs logits or softmax probabilities, from its last layer: a `Softmax`
 * layer or an `activation: 'softmax'` gives `'probabilities'`; `'linear'` or no activation gives
 * `'logits'`.
 * @throws RangeError if the model has several outputs or ends in another activation (e.g. sigmoid),
 *   which softmax cross-entropy cannot train; pass `outputs` to {@link train} to override.
 * @example
 * ```ts
 * detectOutputKind(resnetCbam({ classifierActivation: 'linear' })); // 'logits'
 * ```
 * @category Training
 */
export function detectOutputKind(model: tfl.LayersModel): OutputKind {
  const where = 'detectOutputKind';
  if (model.outputs.length !== 1) {
    throw new RangeError(expected(where, 'model', 'a model with one output', model.outputs.length));
  }
  const last = model.outputs[0].sourceLayer;
  const className = last.getClassName();
  if (className === 'Softmax') return 'probabilities';
  const activation = (last.getConfig() as { activation?: unknown }).activation;
  if (activation === 'softmax') return 'probabilities';
  if (activation === undefined || activation === null || activation === 'linear') return 'logits';
  throw new RangeError(
    expected(
      where,
      'model',
      `to end in a linear or softmax layer (last layer ${last.name} is ${className})`,
      activation,
    ),
  );
}

const EPSILON = 1e-7;

/**
 * Mean softmax cross-entropy between targets (one-hot or soft labels, rows summing to 1) and the
 * model's output. For logits it is computed stably as `-sum(y * logSoftmax(z))`; for probabilities
 * as `-sum(y * log(clip(p, 1e-7, 1)))` (as Keras does).
 * @param labels `[batch, classes]` targets.
 * @param outputs `[batch, classes]` logits or probabilities.
 * @param kind What `outputs` holds.
 * @returns A scalar.
 * @example
 * ```ts
 * const loss = softmaxCrossEntropy(ys, model.apply(xs) as tf.Tensor2D, 'logits');
 * ```
 * @category Training
 */
export function softmaxCrossEntropy(labels: tf.Tensor, outputs: tf.Tensor, kind: OutputKind): tf.Scalar {
  return tf.tidy(() => {
    const logProbs = kind === 'logits' ? tf.logSoftmax(outputs) : tf.log(tf.clipByValue(outputs, EPSILON, 1));
    return tf.neg(tf.mean(tf.sum(tf.mul(labels, logProbs), -1))) as tf.Scalar;
  });
}
