/**
 * Matching a dataset to a model: class labels by name (a folder's alphabetical order, CK+'s names
 * and FER2013's order all differ) and image size. Browser-safe.
 * @module
 */

import * as tf from '@tensorflow/tfjs-core';
import { expected } from '../errors';
import type { FaceDataset } from './dataset';
import { subsetDataset } from './stats';

/**
 * Parses a class mapping `data=model,data=model,...` (`data=-` drops that class's images), as given
 * on the command line (`--class-map anger=angry,sadness=sad,contempt=-`).
 * @param text The mapping.
 * @param arg The option name used in error messages.
 * @returns Data class name → model class name, or `null` to drop the class.
 * @throws RangeError naming `arg` and the bad entry.
 * @example
 * ```ts
 * parseClassMap('anger=angry,sadness=sad,contempt=-'); // { anger: 'angry', sadness: 'sad', contempt: null }
 * ```
 * @category Data
 */
export function parseClassMap(text: string, arg = 'classMap'): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const part of text.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const from = eq < 0 ? '' : entry.slice(0, eq).trim();
    const to = eq < 0 ? '' : entry.slice(eq + 1).trim();
    if (from === '' || to === '') {
      throw new RangeError(
        expected('parseClassMap', arg, 'entries of the form data=model (or data=-)', entry),
      );
    }
    if (from in out) throw new RangeError(expected('parseClassMap', arg, 'each data class once', from));
    out[from] = to === '-' ? null : to;
  }
  return out;
}

/**
 * Relabels a dataset into a model's class order, matching classes by name: every data class must be
 * one of `classNames` (or be mapped to one by `mapping`, or mapped to `null` to drop its images).
 * Classes of the model without images are fine (they get no true examples). Soft labels are
 * permuted the same way.
 * @param ds The dataset (its `classNames` give the names of its labels).
 * @param classNames The model's class names, in output order.
 * @param mapping Data class → model class (or `null` to drop), for names that differ.
 * @param where Name used in error messages.
 * @returns `ds` itself when nothing changes, else a relabelled copy with `classNames` set to the model's.
 * @throws RangeError listing the data classes that match no model class, and how to map them.
 * @example
 * ```ts
 * const folder = await loadImageFolder('test'); // classes sorted: angry, disgust, fear, happy, neutral, ...
 * const scored = remapClasses(folder, FER2013_CLASSES); // neutral is label 6, as in FER2013
 * ```
 * @category Data
 */
export function remapClasses(
  ds: FaceDataset,
  classNames: readonly string[],
  mapping: Record<string, string | null> = {},
  where = 'remapClasses',
): FaceDataset {
  for (const [from, to] of Object.entries(mapping)) {
    if (!ds.classNames.includes(from)) {
      throw new RangeError(
        expected(where, 'class map', `to name data classes (${ds.classNames.join(', ')})`, from),
      );
    }
    if (to !== null && !classNames.includes(to)) {
      throw new RangeError(
        expected(
          where,
          `class map entry ${from}=${to}`,
          `to name a model class (${classNames.join(', ')})`,
          to,
        ),
      );
    }
  }
  const target = ds.classNames.map((name) =>
    name in mapping
      ? mapping[name] === null
        ? -1
        : classNames.indexOf(mapping[name]!)
      : classNames.indexOf(name),
  );
  const unmatched = ds.classNames.filter((name, i) => target[i] === -1 && !(name in mapping));
  if (unmatched.length > 0) {
    throw new RangeError(
      `${where}: the data's classes ${JSON.stringify(unmatched)} are not classes of the model (${classNames.join(', ')}); labels are matched by name, so map them explicitly (e.g. --class-map ${unmatched.map((n) => `${n}=<model class>`).join(',')}, or ${unmatched[0]}=- to leave that class out).`,
    );
  }
  const same = classNames.length === ds.classNames.length && ds.classNames.every((_, i) => target[i] === i);
  if (same) return ds;
  const keep: number[] = [];
  for (let i = 0; i < ds.count; i++) if (target[ds.labels[i]!]! >= 0) keep.push(i);
  const out = subsetDataset(ds, keep);
  const labels = new Uint8Array(out.count);
  for (let k = 0; k < out.count; k++) labels[k] = target[out.labels[k]!]!;
  out.labels = labels;
  if (out.softLabels) {
    const from = ds.classNames.length;
    const to = classNames.length;
    const soft = new Float32Array(out.count * to);
    for (let k = 0; k < out.count; k++) {
      for (let c = 0; c < from; c++) {
        const t = target[c]!;
        if (t >= 0) soft[k * to + t]! += out.softLabels[k * from + c]!;
      }
    }
    out.softLabels = soft;
  }
  out.classNames = [...classNames];
  return out;
}

/**
 * Resizes every image of a dataset to `size` x `size` (bilinear, as the browser demo and
 * `tf.image.resizeBilinear` do), e.g. to evaluate a model trained on 32x32 faces on 48x48 FER2013.
 * @param ds The dataset.
 * @param size The new side.
 * @returns `ds` itself when it already has that size, else a copy.
 * @throws RangeError if `size` is not an integer in [1, 4096].
 * @example
 * ```ts
 * const small = resizeDataset(fer, 32);
 * ```
 * @category Data
 */
export function resizeDataset(ds: FaceDataset, size: number): FaceDataset {
  if (!Number.isInteger(size) || size < 1 || size > 4096) {
    throw new RangeError(expected('resizeDataset', 'size', 'an integer in [1, 4096]', size));
  }
  if (ds.height === size && ds.width === size) return ds;
  const pixels = size * size;
  const images = new Uint8Array(ds.count * pixels);
  const chunk = 256;
  for (let start = 0; start < ds.count; start += chunk) {
    const n = Math.min(chunk, ds.count - start);
    const out = tf.tidy(() => {
      const x = tf.tensor4d(
        Float32Array.from(
          ds.images.subarray(start * ds.height * ds.width, (start + n) * ds.height * ds.width),
        ),
        [n, ds.height, ds.width, 1],
      );
      const resized = tf.image.resizeBilinear(x, [size, size], true);
      return tf.clipByValue(tf.round(resized), 0, 255);
    });
    images.set(Uint8Array.from(out.dataSync()), start * pixels);
    out.dispose();
  }
  return { ...ds, height: size, width: size, images };
}
