/**
 * Dataset statistics and selection helpers. Browser-safe.
 * @module
 */

import { expected } from '../errors';
import { type FaceDataset, FER2013_USAGES, type Fer2013Usage } from './dataset';

/** Mean and standard deviation of pixel values on the 0-1 scale. @category Data */
export interface Normalization {
  /** Mean pixel value / 255. */
  mean: number;
  /** Standard deviation of pixel values / 255 (population, not sample). */
  std: number;
}

/** Checks an index list against a dataset. @internal */
export function checkIndices(where: string, ds: FaceDataset, indices: ArrayLike<number>): void {
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= ds.count) {
      throw new RangeError(expected(where, `indices[${i}]`, `an integer in [0, ${ds.count - 1}]`, j));
    }
  }
}

/**
 * Mean and standard deviation of all pixels of the given images, on the 0-1 scale (pixel / 255), for
 * normalising inputs: `(x / 255 - mean) / std`. Compute it on the training images only.
 * @param ds The dataset.
 * @param indices Images to use. Defaults to all.
 * @example
 * ```ts
 * const norm = datasetStats(fer, usageIndices(fer, 'Training')); // { mean: 0.508, std: 0.255 }
 * ```
 * @throws RangeError if an index is out of range or no image is selected.
 * @category Data
 */
export function datasetStats(ds: FaceDataset, indices?: ArrayLike<number>): Normalization {
  const where = 'datasetStats';
  const pixels = ds.height * ds.width;
  const hist = new Float64Array(256);
  const count = indices ? indices.length : ds.count;
  if (count === 0) throw new RangeError(expected(where, 'indices', 'a non-empty selection', []));
  if (indices) checkIndices(where, ds, indices);
  const images = ds.images;
  for (let k = 0; k < count; k++) {
    const start = (indices ? indices[k]! : k) * pixels;
    const end = start + pixels;
    for (let p = start; p < end; p++) hist[images[p]!]!++;
  }
  let n = 0;
  let sum = 0;
  for (let v = 0; v < 256; v++) {
    n += hist[v]!;
    sum += v * hist[v]!;
  }
  const mean = sum / n;
  let sq = 0;
  for (let v = 0; v < 256; v++) sq += hist[v]! * (v - mean) * (v - mean);
  return { mean: mean / 255, std: Math.sqrt(sq / n) / 255 };
}

/**
 * Number of images per class.
 * @param ds The dataset.
 * @param indices Images to count. Defaults to all.
 * @returns An array of `ds.classNames.length` counts.
 * @example
 * ```ts
 * classCounts(fer); // [4462, 492, 4593, 8110, 5483, 3586, 5572]
 * ```
 * @category Data
 */
export function classCounts(ds: FaceDataset, indices?: ArrayLike<number>): number[] {
  const counts = new Array<number>(ds.classNames.length).fill(0);
  const count = indices ? indices.length : ds.count;
  for (let k = 0; k < count; k++) {
    const label = ds.labels[indices ? indices[k]! : k]!;
    if (label >= counts.length) {
      throw new RangeError(
        expected('classCounts', 'labels', `indices below ${counts.length} (classNames.length)`, label),
      );
    }
    counts[label]!++;
  }
  return counts;
}

/**
 * Indices of the images with a given FER2013 usage.
 * @param ds A dataset with `usages` (FER2013, FER+).
 * @param usage `'Training'`, `'PublicTest'` (the validation split: select models on it) or
 * `'PrivateTest'` (the test split: report on it once).
 * @example
 * ```ts
 * const val = usageIndices(fer, 'PublicTest');
 * ```
 * @throws TypeError if the dataset has no `usages`.
 * @category Data
 */
export function usageIndices(ds: FaceDataset, usage: Fer2013Usage): number[] {
  const code = FER2013_USAGES.indexOf(usage);
  if (code < 0) {
    throw new RangeError(
      expected('usageIndices', 'usage', `one of ${FER2013_USAGES.map((u) => `'${u}'`).join(', ')}`, usage),
    );
  }
  if (!ds.usages)
    throw new TypeError(expected('usageIndices', 'ds.usages', 'present (a FER2013 set)', undefined));
  const out: number[] = [];
  for (let i = 0; i < ds.count; i++) if (ds.usages[i] === code) out.push(i);
  return out;
}

/**
 * A new dataset holding copies of the selected images (and their labels, usages, subjects and soft
 * labels), in the given order.
 * @param ds The dataset.
 * @param indices Images to keep.
 * @example
 * ```ts
 * const train = subsetDataset(fer, usageIndices(fer, 'Training'));
 * ```
 * @throws RangeError if an index is out of range.
 * @category Data
 */
export function subsetDataset(ds: FaceDataset, indices: ArrayLike<number>): FaceDataset {
  checkIndices('subsetDataset', ds, indices);
  const pixels = ds.height * ds.width;
  const n = indices.length;
  const images = new Uint8Array(n * pixels);
  const labels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const i = indices[k]!;
    images.set(ds.images.subarray(i * pixels, (i + 1) * pixels), k * pixels);
    labels[k] = ds.labels[i]!;
  }
  const out: FaceDataset = {
    count: n,
    height: ds.height,
    width: ds.width,
    images,
    labels,
    classNames: [...ds.classNames],
  };
  if (ds.usages) out.usages = Uint8Array.from({ length: n }, (_, k) => ds.usages![indices[k]!]!);
  if (ds.subjects) out.subjects = Array.from({ length: n }, (_, k) => ds.subjects![indices[k]!]!);
  if (ds.softLabels) {
    const c = ds.classNames.length;
    const soft = new Float32Array(n * c);
    for (let k = 0; k < n; k++)
      soft.set(ds.softLabels.subarray(indices[k]! * c, (indices[k]! + 1) * c), k * c);
    out.softLabels = soft;
  }
  return out;
}
