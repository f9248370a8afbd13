import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { iterateBatches } from '../data/batches';
import type { FaceDataset } from '../data/dataset';
import { toIndexArray } from '../data/splits';
import type { Normalization } from '../data/stats';
import { checkNonNegativeInteger, checkPositiveInteger, expected } from '../errors';
import { nonFiniteOutput } from '../models/finite';
import type { GradientWorkers } from './data_parallel';
import { batchProbabilities } from './gradients';
import { detectOutputKind, type OutputKind, softmaxCrossEntropy } from './loss';
import { type ClassificationMetrics, classificationMetrics, confusionMatrix } from './metrics';

/** Options of {@link evaluate}. @category Training */
export interface EvaluateOptions {
  /**
   * Average the softmax of ten crops (four corners, centre, and their mirrors) per image instead of
   * one centre crop. Defaults to `false`.
   */
  tenCrop?: boolean;
  /** Images to evaluate (indices into the dataset). Defaults to all. */
  indices?: ArrayLike<number>;
  /**
   * Pixel normalisation `(x / 255 - mean) / std`, as used in training (`best/training.json` and
   * {@link TrainResult.normalization} hold it). Defaults to `{ mean: 0, std: 1 }` (pixels / 255):
   * pass the training values.
   */
  normalization?: Normalization;
  /** Crop side fed to the model. Defaults to the model's input height. */
  cropSize?: number;
  /** Images per forward pass (ten crops count once). Defaults to `64`. */
  batchSize?: number;
  /** What the model outputs. Defaults to {@link detectOutputKind}. */
  outputs?: OutputKind;
  /** Called after each batch with the images done so far and the total. */
  onProgress?: (done: number, total: number) => void | Promise<void>;
  /**
   * Worker threads (Node only) that each compute a part of every batch, with one wasm thread each (see
   * `train`'s `workers`): on N cores, `workers: N - 1` with the wasm backend at one thread. The
   * predictions are the same as without. Defaults to `0`.
   */
  workers?: number;
}

/** What {@link evaluate} returns: classification metrics plus the mean cross-entropy. @category Training */
export interface EvaluationResult extends ClassificationMetrics {
  /** Mean softmax cross-entropy against the dataset's (one-hot or soft) labels. */
  loss: number;
  /** Predicted class per evaluated image, in evaluation order. */
  predictions: Int32Array;
  /** True class per evaluated image, in evaluation order. */
  labels: Int32Array;
}

/** Default normalisation when none is given: pixels / 255. @category Training */
export const IDENTITY_NORMALIZATION: Normalization = { mean: 0, std: 1 };

/** The model's input height (the crop side it expects). @internal */
export function modelCropSize(model: tfl.LayersModel, where: string): number {
  const shape = model.inputs[0]?.shape;
  const h = shape?.[1];
  if (typeof h !== 'number') {
    throw new RangeError(expected(where, 'cropSize', 'given (the model input height is unknown)', shape));
  }
  return h;
}

/**
 * Runs `model` in inference mode over a dataset and returns predictions, per-image class
 * probabilities and the summed loss. Shared by {@link evaluate} and validation during {@link train}.
 * @internal
 */
export async function predictDataset(
  model: tfl.LayersModel,
  dataset: FaceDataset,
  options: Required<Omit<EvaluateOptions, 'onProgress' | 'indices' | 'workers'>> & {
    indices: Int32Array;
    onProgress?: EvaluateOptions['onProgress'];
    /** Gradient workers that compute parts of each batch. */
    workers?: GradientWorkers;
  },
): Promise<{ predictions: Int32Array; labels: Int32Array; lossSum: number; count: number }> {
  const { indices, batchSize, cropSize, normalization, outputs } = options;
  // Inference needs every weight on the workers, BatchNorm's moving statistics included.
  if (options.workers) await options.workers.setWeights(model);
  const predictions = new Int32Array(indices.length);
  const labels = new Int32Array(indices.length);
  let lossSum = 0;
  let done = 0;
  const batches = iterateBatches(dataset, {
    batchSize,
    seed: 0,
    epoch: 0,
    shuffle: false,
    augment: false,
    indices,
    cropSize: options.tenCrop ? dataset.height : cropSize,
    normalization,
  });
  for (const batch of batches) {
    const { xs, ys } = batch;
    const forward = { tenCrop: options.tenCrop, cropSize, outputs };
    const { scores, kind } = options.workers
      ? await options.workers.batchProbabilities(model, xs, forward)
      : batchProbabilities(model, xs, forward);
    const [predicted, loss, total] = tf.tidy(() => {
      const loss = tf.mul(softmaxCrossEntropy(ys, scores, kind), xs.shape[0]);
      return [tf.argMax(scores, -1), loss, tf.sum(scores)];
    });
    scores.dispose();
    const [p, l, sum] = await Promise.all([predicted.data(), loss.data(), total.data()]);
    predicted.dispose();
    loss.dispose();
    total.dispose();
    const n = xs.shape[0];
    // The sum is NaN or infinite iff a score is: argMax of NaNs is class 0, which would be counted
    // as a prediction and give a plausible-looking accuracy.
    if (!Number.isFinite(sum[0]!)) {
      xs.dispose();
      ys.dispose();
      throw nonFiniteOutput(model, 'evaluate', `images ${done + 1}-${done + n}`, sum[0]!);
    }
    for (let i = 0; i < n; i++) {
      predictions[done + i] = p[i];
      labels[done + i] = dataset.labels[batch.indices[i]];
    }
    lossSum += l[0];
    done += n;
    xs.dispose();
    ys.dispose();
    await options.onProgress?.(done, indices.length);
  }
  if (done !== indices.length) {
    throw new Error(`evaluate: the batch iterator yielded ${done} images, expected ${indices.length}.`);
  }
  return { predictions, labels, lossSum, count: done };
}

/**
 * Evaluates a classifier on a dataset (or a subset of it): accuracy, mean class accuracy, per-class
 * precision / recall / F1, confusion matrix and mean loss. Uses a centre crop, or with
 * `tenCrop: true` the mean softmax over ten crops. Inference mode (BatchNorm moving statistics, no
 * dropout). Browser-safe.
 * @param model A classifier ending in softmax or linear logits.
 * @param dataset The images and labels.
 * @param options See {@link EvaluateOptions}.
 * @throws RangeError if the model's output size differs from the dataset's class count, or an index is
 *   out of range.
 * @example
 * ```ts
 * const info = await readBestModelInfo('runs/fer/best');
 * const m = await evaluate(model, fer, { tenCrop: true, indices: publicTest, normalization: info.normalization });
 * console.log(formatConfusionMatrix(m.confusionMatrix, m.classNames));
 * ```
 * @category Training
 */
export async function evaluate(
  model: tfl.LayersModel,
  dataset: FaceDataset,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const where = 'evaluate';
  const indices = toIndexArray(dataset, options.indices, where, 'indices');
  const numClasses = dataset.classNames.length;
  const units = model.outputs[0]?.shape.at(-1);
  if (model.outputs.length !== 1) {
    throw new RangeError(
      expected(
        where,
        'model',
        `a classifier with one output of ${numClasses} units`,
        `${model.outputs.length} outputs`,
      ),
    );
  }
  if (units !== numClasses) {
    throw new RangeError(
      expected(
        where,
        'model',
        `a model with ${numClasses} outputs (${dataset.classNames.join(', ')})`,
        units,
      ),
    );
  }
  const cropSize = checkPositiveInteger(options.cropSize ?? modelCropSize(model, where), 'cropSize', where);
  const batchSize = checkPositiveInteger(options.batchSize ?? 64, 'batchSize', where);
  const workerCount = checkNonNegativeInteger(options.workers ?? 0, 'workers', where);
  const outputs = options.outputs ?? detectOutputKind(model);
  const workers =
    workerCount > 0
      ? await (await import('./data_parallel')).GradientWorkers.start(model, workerCount, outputs)
      : undefined;
  let result: Awaited<ReturnType<typeof predictDataset>>;
  try {
    result = await predictDataset(model, dataset, {
      indices,
      tenCrop: options.tenCrop ?? false,
      normalization: options.normalization ?? IDENTITY_NORMALIZATION,
      cropSize,
      batchSize,
      outputs,
      onProgress: options.onProgress,
      workers,
    });
  } finally {
    await workers?.dispose();
  }
  const matrix = confusionMatrix(result.labels, result.predictions, numClasses);
  return {
    ...classificationMetrics(matrix, dataset.classNames),
    loss: result.count > 0 ? result.lossSum / result.count : 0,
    predictions: result.predictions,
    labels: result.labels,
  };
}
