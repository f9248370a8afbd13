/**
 * Mini-batches for training and evaluation: shuffled with a seed, augmented on tensors, built one
 * batch at a time (bounded memory), and a pure function of `(seed, epoch)` so a resumed run sees
 * exactly the batches an uninterrupted one would.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNonNegativeInteger, checkPositiveInteger, expected } from '../errors';
import { deriveSeed, Random } from '../random';
import {
  type AugmentOptions,
  augmentBatch,
  centerCrop,
  checkNormalization,
  resolveAugmentOptions,
} from './augment';
import type { FaceDataset } from './dataset';
import { checkIndices, type Normalization } from './stats';

/** Options of {@link iterateBatches}. @category Data */
export interface BatchOptions {
  /** Images per batch. */
  batchSize: number;
  /** Seed of the shuffle and the augmentation. Defaults to `0`. */
  seed?: number;
  /** Epoch number: each epoch gets its own order and augmentation, derived from `(seed, epoch)`. Defaults to `0`. */
  epoch?: number;
  /** Shuffle the images. Defaults to `true`. */
  shuffle?: boolean;
  /** Use only these images (indices into the dataset). Defaults to all. */
  indices?: ArrayLike<number>;
  /** Side of the crops. Defaults to the image size (no crop). */
  cropSize?: number;
  /**
   * `true` (the paper's random crops and flips), `false` (centre crops), or {@link AugmentOptions}.
   * Defaults to `false`.
   */
  augment?: boolean | AugmentOptions;
  /** `(x / 255 - mean) / std`. Defaults to `{ mean: 0, std: 1 }` (pixels scaled to [0, 1]). */
  normalization?: Normalization;
  /**
   * Class-balanced sampling: each epoch draws as many images as the selection holds, a uniformly
   * random class first, then a random image of it (with replacement). For rare classes such as
   * FER2013's disgust (1.5 %). Defaults to `false`.
   */
  balanced?: boolean;
  /** Skip the last, smaller batch. Defaults to `false`. */
  dropRemainder?: boolean;
  /**
   * Start at this batch of the epoch, without building the ones before it (for resuming mid-epoch;
   * every batch is a pure function of `(seed, epoch, batch index)`). Defaults to `0`.
   */
  startBatch?: number;
}

/** Defaults of {@link BatchOptions}. @category Data */
export const BATCH_DEFAULTS = Object.freeze({
  seed: 0,
  epoch: 0,
  shuffle: true,
  augment: false as boolean | AugmentOptions,
  normalization: Object.freeze({ mean: 0, std: 1 }) as Normalization,
  balanced: false,
  dropRemainder: false,
  startBatch: 0,
});

/** One batch; the caller disposes `xs` and `ys`. @category Data */
export interface Batch {
  /** `[b, crop, crop, 1]` float32, normalised. */
  xs: tf.Tensor4D;
  /** `[b, numClasses]`: one-hot, or the dataset's soft labels. */
  ys: tf.Tensor2D;
  /** Dataset indices of the images in this batch. */
  indices: number[];
}

/**
 * The order of images for one epoch (shuffled, or drawn class-balanced), before batching; a pure
 * function of `(seed, epoch)`.
 * @param dataset The dataset.
 * @param options The batch options (`seed`, `epoch`, `shuffle`, `indices`, `balanced` are used).
 * @example
 * ```ts
 * const order = epochOrder(ds, { batchSize: 64, seed: 1, epoch: 3 });
 * ```
 * @throws RangeError for a bad epoch or index.
 * @category Data
 */
export function epochOrder(dataset: FaceDataset, options: BatchOptions): number[] {
  const where = 'iterateBatches';
  const o = { ...BATCH_DEFAULTS, ...options };
  checkNonNegativeInteger(o.epoch, 'epoch', where);
  const selection = o.indices ? Array.from(o.indices) : Array.from({ length: dataset.count }, (_, i) => i);
  if (o.indices) checkIndices(where, dataset, selection);
  const rng = new Random(deriveSeed(o.seed, o.epoch, 1));
  if (o.balanced) {
    const byClass: number[][] = dataset.classNames.map(() => []);
    for (const i of selection) byClass[dataset.labels[i]!]?.push(i);
    const present = byClass.filter((c) => c.length > 0);
    return selection.map(() => {
      const members = present[rng.int(present.length)]!;
      return members[rng.int(members.length)]!;
    });
  }
  return o.shuffle ? rng.shuffle(selection) : selection;
}

/**
 * Number of batches {@link iterateBatches} yields for `count` images.
 * @param count Number of images (the selection's length).
 * @param batchSize Images per batch.
 * @param dropRemainder Whether the last, smaller batch is skipped. Defaults to `false`.
 * @example
 * ```ts
 * countBatches(10, 4); // 3
 * ```
 * @category Data
 */
export function countBatches(count: number, batchSize: number, dropRemainder = false): number {
  return dropRemainder ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/**
 * Yields training or evaluation batches from a {@link FaceDataset}, one at a time, so memory holds
 * one batch, never the whole set as floats. `xs` is `[b, crop, crop, 1]` float32, normalised as
 * `(pixel / 255 - mean) / std` after augmentation; `ys` is one-hot `[b, numClasses]` (or the
 * dataset's soft labels). The order and the augmentation are a pure function of
 * `(seed, epoch, batch index)`, so a resumed run reproduces its batches (see `startBatch`). Works
 * with a custom loop (`train` uses it), `model.trainOnBatch`, or `model.fitDataset` through
 * {@link toFitDataset}. The caller disposes `xs` and `ys`.
 * @param dataset The images and labels.
 * @param options See {@link BatchOptions}.
 * @example
 * ```ts
 * for (const { xs, ys } of iterateBatches(ds, { batchSize: 128, epoch, cropSize: 44, augment: true, normalization })) {
 *   await model.trainOnBatch(xs, ys);
 *   tf.dispose([xs, ys]);
 * }
 * ```
 * @throws RangeError for a bad batch size, crop size, epoch, index or normalization.
 * @category Data
 */
export function* iterateBatches(dataset: FaceDataset, options: BatchOptions): Generator<Batch> {
  const where = 'iterateBatches';
  const o = { ...BATCH_DEFAULTS, ...options };
  checkPositiveInteger(o.batchSize, 'batchSize', where);
  checkNonNegativeInteger(o.startBatch, 'startBatch', where);
  const h = dataset.height;
  const w = dataset.width;
  const crop = o.cropSize ?? Math.min(h, w);
  checkPositiveInteger(crop, 'cropSize', where);
  if (crop > h || crop > w)
    throw new RangeError(expected(where, 'cropSize', `at most the image size ${h}x${w}`, crop));
  checkNormalization(where, o.normalization);
  const { mean, std } = o.normalization;
  const augment: Required<AugmentOptions> | null =
    o.augment === false ? null : resolveAugmentOptions(o.augment === true ? {} : o.augment, where);
  const order = epochOrder(dataset, o);
  const numClasses = dataset.classNames.length;
  if (dataset.softLabels && dataset.softLabels.length !== dataset.count * numClasses) {
    throw new RangeError(
      expected(
        where,
        'dataset.softLabels',
        `${dataset.count * numClasses} values (count x classes)`,
        dataset.softLabels.length,
      ),
    );
  }
  const pixels = h * w;
  const batches = countBatches(order.length, o.batchSize, o.dropRemainder);
  for (let b = o.startBatch; b < batches; b++) {
    const indices = order.slice(b * o.batchSize, (b + 1) * o.batchSize);
    const n = indices.length;
    const raw = new Float32Array(n * pixels);
    const labels = new Float32Array(n * numClasses);
    for (let k = 0; k < n; k++) {
      const i = indices[k]!;
      const src = dataset.images.subarray(i * pixels, (i + 1) * pixels);
      const dst = k * pixels;
      for (let p = 0; p < pixels; p++) raw[dst + p] = src[p]! / 255;
      if (dataset.softLabels)
        labels.set(dataset.softLabels.subarray(i * numClasses, (i + 1) * numClasses), k * numClasses);
      else {
        const label = dataset.labels[i]!;
        if (label >= numClasses) {
          throw new RangeError(
            expected(where, `dataset.labels[${i}]`, `a class index below ${numClasses}`, label),
          );
        }
        labels[k * numClasses + label] = 1;
      }
    }
    const xs = tf.tidy(() => {
      const images = tf.tensor4d(raw, [n, h, w, 1]);
      const cropped = augment
        ? augmentBatch(images, crop, new Random(deriveSeed(o.seed, o.epoch, 2, b)), augment)
        : centerCrop(images, crop);
      return tf.div(tf.sub(cropped, mean), std) as tf.Tensor4D;
    });
    yield { xs, ys: tf.tensor2d(labels, [n, numClasses]), indices };
  }
}

/** One element of a {@link FitDataset}. @category Data */
export interface FitBatch {
  /** Inputs `[b, crop, crop, 1]`. */
  xs: tf.Tensor4D;
  /** Labels `[b, numClasses]`. */
  ys: tf.Tensor2D;
}

/**
 * The duck-typed dataset `model.fitDataset` expects (tfjs-data's `Dataset` shape), without needing
 * `@tensorflow/tfjs-data`. @category Data
 */
export interface FitDataset {
  /** Batches per epoch (fitDataset reads it as steps per epoch). */
  size: number;
  /** A fresh iterator over the next epoch (one that was never read does not use up its epoch). */
  iterator(): Promise<{
    /** The next batch of the epoch, or `done` at its end. */
    next(): Promise<IteratorResult<FitBatch>>;
  }>;
}

/**
 * Adapts {@link iterateBatches} for `model.fitDataset`: each epoch's iterator yields that epoch's
 * batches, starting at `options.epoch` (an iterator that is never read, like the one fitDataset makes
 * before training, does not use up an epoch). fitDataset disposes the batches it consumes.
 * @param dataset The images and labels.
 * @param options See {@link BatchOptions}; `epoch` is the first epoch.
 * @example
 * ```ts
 * await model.fitDataset(toFitDataset(train, { batchSize: 64, cropSize: 44, augment: true }) as any, { epochs: 5 });
 * ```
 * @category Data
 */
export function toFitDataset(dataset: FaceDataset, options: BatchOptions): FitDataset {
  let epoch = options.epoch ?? BATCH_DEFAULTS.epoch;
  // fitDataset asks for one iterator before training and then one per epoch; an iterator that was
  // never read does not use up its epoch.
  let lastConsumed = false;
  let first = true;
  // Balanced sampling draws as many images as the selection holds, so the count is the same.
  const selected = options.indices ? options.indices.length : dataset.count;
  return {
    size: countBatches(selected, options.batchSize, options.dropRemainder ?? false),
    iterator: async () => {
      if (!first && lastConsumed) epoch++;
      first = false;
      lastConsumed = false;
      const thisEpoch = epoch;
      let it: Generator<Batch> | null = null;
      return {
        next: async () => {
          lastConsumed = true;
          it ??= iterateBatches(dataset, { ...options, epoch: thisEpoch });
          const r = it.next();
          return r.done
            ? { done: true, value: undefined }
            : { done: false, value: { xs: r.value.xs, ys: r.value.ys } };
        },
      };
    },
  };
}
