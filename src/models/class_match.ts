/**
 * Matching a trained model's classes to a dataset's by name, for fine-tuning: the same classes in
 * another order or case keep the classifier, a subset keeps it too, and classes the model lacks get
 * a new classifier that starts from the old one's weights for the classes both have.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { expected } from '../errors';
import { getPreprocessing, setPreprocessing } from './preprocessing';
import { replaceClassifier } from './transfer';

/**
 * How a dataset's classes relate to a model's: `'same'` (the same set, in any order or case),
 * `'subset'` (every data class is one of the model's) or `'new'` (some data class is not).
 * @category Models
 */
export type ClassMatchKind = 'same' | 'subset' | 'new';

/** What {@link matchClassNames} returns. @category Models */
export interface ClassMatch {
  /** How the data's classes relate to the model's. */
  kind: ClassMatchKind;
  /**
   * The classes the fine-tuned model predicts, in output order: the model's own for `'same'` and
   * `'subset'`; for `'new'`, the data's classes in the data's order, spelled as the model spells
   * those it knows.
   */
  classNames: string[];
  /** Data class name → its name in `classNames` (for `remapClasses`). */
  mapping: Record<string, string>;
  /** Data classes the model does not know (empty unless `kind` is `'new'`). */
  newClasses: string[];
  /** Model classes without data (with `'subset'` they stay in the model, with `'new'` they leave it). */
  missing: string[];
}

const key = (name: string) => name.trim().toLowerCase();

/**
 * Matches a dataset's class names to a model's, ignoring case and order.
 * @param dataClasses The data's class names (e.g. a folder's class folders).
 * @param modelClasses The model's class names, in output order.
 * @example
 * ```ts
 * matchClassNames(['Angry', 'happy', 'sad'], FER2013_CLASSES).kind; // 'subset'
 * matchClassNames(['angry', 'contempt'], FER2013_CLASSES).newClasses; // ['contempt']
 * ```
 * @throws RangeError when two data (or model) classes differ only in case.
 * @category Models
 */
export function matchClassNames(dataClasses: readonly string[], modelClasses: readonly string[]): ClassMatch {
  const where = 'matchClassNames';
  for (const [arg, names] of [
    ['dataClasses', dataClasses],
    ['modelClasses', modelClasses],
  ] as const) {
    const seen = new Map<string, string>();
    for (const n of names) {
      const other = seen.get(key(n));
      if (other !== undefined) {
        throw new RangeError(expected(where, arg, 'names that differ in more than case', `${other}, ${n}`));
      }
      seen.set(key(n), n);
    }
  }
  const modelByKey = new Map(modelClasses.map((n) => [key(n), n]));
  const dataKeys = new Set(dataClasses.map(key));
  const newClasses = dataClasses.filter((n) => !modelByKey.has(key(n)));
  const missing = modelClasses.filter((n) => !dataKeys.has(key(n)));
  const kind: ClassMatchKind = newClasses.length > 0 ? 'new' : missing.length > 0 ? 'subset' : 'same';
  const spelled = (n: string) => modelByKey.get(key(n)) ?? n;
  const classNames = kind === 'new' ? dataClasses.map(spelled) : [...modelClasses];
  const mapping: Record<string, string> = {};
  for (const n of dataClasses) mapping[n] = spelled(n);
  return { kind, classNames, mapping, newClasses, missing };
}

/** Options of {@link fitClassifierToClasses}. @category Models */
export interface FitClassifierOptions {
  /** Seed of a new classifier's initial weights. Defaults to `0`. */
  seed?: number;
}

/** What {@link fitClassifierToClasses} returns. @category Models */
export interface FittedClassifier {
  /** The model to fine-tune: the given one, or one with a new classifier (sharing every other layer). */
  model: tfl.LayersModel;
  /** How the classes matched, and the mapping to relabel the data with. */
  match: ClassMatch;
}

/**
 * Prepares a trained model for fine-tuning on data with the classes `dataClasses` (matched by name,
 * any order and case, see {@link matchClassNames}). With the same classes or a subset the model is
 * returned as it is. With classes it lacks, its classifier is replaced ({@link replaceClassifier})
 * by one with the data's classes, whose weights for the classes the model knew are copied from the
 * old classifier; the preprocessing is copied with the new class names. Relabel the data with
 * `remapClasses(data, match.classNames, match.mapping)`.
 * @param model A classifier with preprocessing metadata (e.g. `loadPretrained('fer2013')`).
 * @param dataClasses The data's class names.
 * @param options See {@link FitClassifierOptions}.
 * @example
 * ```ts
 * const { model, match } = fitClassifierToClasses(await loadPretrained('fer2013'), photos.classNames);
 * if (match.kind === 'new') console.log(`new classifier for ${match.newClasses.join(', ')}`);
 * await train(model, { train: remapClasses(photos, match.classNames, match.mapping) }, { epochs: 8 });
 * ```
 * @throws TypeError when the model has no preprocessing metadata (no class names to match).
 * @category Models
 */
export function fitClassifierToClasses(
  model: tfl.LayersModel,
  dataClasses: readonly string[],
  options: FitClassifierOptions = {},
): FittedClassifier {
  const pre = getPreprocessing(model);
  if (!pre) {
    throw new TypeError(
      'fitClassifierToClasses: the model has no preprocessing metadata (class names); set it with setPreprocessing().',
    );
  }
  const match = matchClassNames(dataClasses, pre.classNames);
  if (match.kind !== 'new') return { model, match };
  const oldLayer = model.layers[model.layers.length - 1]!;
  const next = replaceClassifier(model, match.classNames.length, { seed: options.seed ?? 0 });
  const newLayer = next.layers[next.layers.length - 1]!;
  // getWeights() returns the variables themselves: read them, never dispose them.
  const oldWeights = oldLayer.getWeights();
  const newWeights = newLayer.getWeights();
  if (oldWeights.length === 2 && newWeights.length === 2 && oldWeights[0]!.shape.length === 2) {
    const [oldKernel, oldBias] = oldWeights.map((w) => w.dataSync()) as [Float32Array, Float32Array];
    const [kernel, bias] = newWeights.map((w) => Float32Array.from(w.dataSync())) as [
      Float32Array,
      Float32Array,
    ];
    const features = oldWeights[0]!.shape[0]!;
    const oldUnits = oldWeights[0]!.shape[1]!;
    const units = match.classNames.length;
    const oldIndex = new Map(pre.classNames.map((n, i) => [key(n), i]));
    match.classNames.forEach((name, c) => {
      const from = oldIndex.get(key(name));
      if (from === undefined) return;
      for (let f = 0; f < features; f++) kernel[f * units + c] = oldKernel[f * oldUnits + from]!;
      bias[c] = oldBias[from]!;
    });
    const k = tf.tensor2d(kernel, [features, units]);
    const b = tf.tensor1d(bias);
    newLayer.setWeights([k, b]);
    k.dispose();
    b.dispose();
  }
  setPreprocessing(next, { ...pre, classNames: [...match.classNames] });
  return { model: next, match };
}
