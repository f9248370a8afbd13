/**
 * Cross-validation folds that keep groups (subjects, sequences) together, balanced by class.
 * Browser-safe.
 * @module
 */

import { expected } from '../errors';
import { Random } from '../random';

/** One cross-validation fold: indices to train on and indices to test on. @category Data */
export interface Fold {
  /** Training indices, ascending. */
  train: number[];
  /** Test indices, ascending. */
  test: number[];
}

function checkArgs(
  where: string,
  groups: readonly string[],
  k: number,
  seed: number,
  labels: ArrayLike<number> | undefined,
): void {
  if (!Array.isArray(groups))
    throw new TypeError(expected(where, 'groups', 'an array of strings', typeof groups));
  if (!Number.isInteger(k) || k < 2) throw new RangeError(expected(where, 'k', 'an integer >= 2', k));
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new TypeError(expected(where, 'seed', 'a finite number', seed));
  }
  if (labels !== undefined && labels.length !== groups.length) {
    throw new RangeError(
      expected(
        where,
        'labels',
        `an array of ${groups.length} labels (one per image)`,
        `length ${labels.length}`,
      ),
    );
  }
  for (let i = 0; i < groups.length; i++) {
    if (typeof groups[i] !== 'string' || groups[i] === '') {
      throw new TypeError(expected(where, `groups[${i}]`, 'a non-empty string', groups[i]));
    }
  }
}

/**
 * K-fold cross-validation where all images of a group land in the same test fold. Groups are placed
 * greedily, largest first (ties in seeded random order), each into the fold where it adds least to the
 * per-class load (every class weighted by `1 / its total`) plus the overall size, so classes are as
 * balanced across folds as the groups allow. Every image is in exactly one test fold; each fold's
 * train set is every other image.
 * @param groups Group id per image (e.g. subject ids).
 * @param k Number of folds. Defaults to `10`.
 * @param seed Seed for the order of equal-sized groups. Defaults to `0`.
 * @param labels Optional class index per image, for class balance.
 * @example
 * ```ts
 * const folds = groupKFold(['a', 'a', 'b', 'c'], 2);
 * ```
 * @throws RangeError if `k < 2` or there are fewer groups than folds.
 * @category Data
 */
export function groupKFold(groups: readonly string[], k = 10, seed = 0, labels?: ArrayLike<number>): Fold[] {
  return groupFolds('groupKFold', groups, k, seed, labels);
}

function groupFolds(
  where: string,
  groups: readonly string[],
  k: number,
  seed: number,
  labels: ArrayLike<number> | undefined,
): Fold[] {
  checkArgs(where, groups, k, seed, labels);
  const byGroup = new Map<string, number[]>();
  for (let i = 0; i < groups.length; i++) {
    const list = byGroup.get(groups[i]!);
    if (list) list.push(i);
    else byGroup.set(groups[i]!, [i]);
  }
  if (byGroup.size < k) {
    throw new RangeError(expected(where, 'k', `at most the number of distinct groups (${byGroup.size})`, k));
  }
  let numClasses = 1;
  if (labels) {
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i]!;
      if (!Number.isInteger(label) || label < 0) {
        throw new RangeError(expected(where, `labels[${i}]`, 'a non-negative integer', label));
      }
      numClasses = Math.max(numClasses, label + 1);
    }
  }
  const labelOf = (i: number) => (labels ? labels[i]! : 0);
  const totals = new Float64Array(numClasses);
  for (let i = 0; i < groups.length; i++) totals[labelOf(i)]!++;
  const weight = Array.from(totals, (t) => (t > 0 ? 1 / (t * t) : 0));
  const n = groups.length;

  const rng = new Random(seed);
  const keys = rng.shuffle([...byGroup.keys()].sort());
  // Largest groups first; equal sizes keep the shuffled order (Array.prototype.sort is stable).
  keys.sort((a, b) => byGroup.get(b)!.length - byGroup.get(a)!.length);

  const load = Array.from({ length: k }, () => new Float64Array(numClasses));
  const sizes = new Float64Array(k);
  const testSets: number[][] = Array.from({ length: k }, () => []);
  const hist = new Float64Array(numClasses);
  for (const key of keys) {
    const members = byGroup.get(key)!;
    hist.fill(0);
    for (const i of members) hist[labelOf(i)]!++;
    let best = 0;
    let bestCost = Number.POSITIVE_INFINITY;
    for (let f = 0; f < k; f++) {
      // Increase of sum over classes of w_c * load_c^2 (and of the size term) when adding the group.
      let cost = 0;
      for (let c = 0; c < numClasses; c++) {
        const h = hist[c]!;
        if (h > 0) cost += weight[c]! * (2 * load[f]![c]! * h + h * h);
      }
      const m = members.length;
      cost += (2 * sizes[f]! * m + m * m) / (n * n);
      if (cost < bestCost - 1e-15) {
        bestCost = cost;
        best = f;
      }
    }
    for (let c = 0; c < numClasses; c++) load[best]![c]! += hist[c]!;
    sizes[best]! += members.length;
    testSets[best]!.push(...members);
  }
  return testSets.map((test) => {
    test.sort((a, b) => a - b);
    const inTest = new Uint8Array(n);
    for (const i of test) inTest[i] = 1;
    const train: number[] = [];
    for (let i = 0; i < n; i++) if (!inTest[i]) train.push(i);
    return { train, test };
  });
}

/**
 * Subject-independent k-fold cross-validation, the honest protocol for CK+: no subject is ever in both
 * train and test, every image is in exactly one test fold, and classes are balanced across folds as far
 * as whole subjects allow (pass `labels`). See {@link groupKFold} for the placement rule.
 * @param subjects Subject id per image (e.g. `ckplus.subjects`).
 * @param k Number of folds. Defaults to `10`.
 * @param seed Seed for the order of equal-sized subjects. Defaults to `0`.
 * @param labels Optional class index per image, for class balance.
 * @example
 * ```ts
 * const ck = await loadCkPlus('data/ckplus');
 * for (const { train, test } of subjectKFold(ck.subjects, 10, 0, ck.labels)) {
 *   // train on train, evaluate on test; report mean and spread over the folds
 * }
 * ```
 * @throws RangeError if `k < 2` or there are fewer subjects than folds.
 * @category Data
 */
export function subjectKFold(
  subjects: readonly string[],
  k = 10,
  seed = 0,
  labels?: ArrayLike<number>,
): Fold[] {
  return groupFolds('subjectKFold', subjects, k, seed, labels);
}

/**
 * **Leaky protocol, for comparison only.** K-fold split by sequence: the frames of one sequence stay
 * together, but one person's other sequences (often the same face with another expression, under the
 * same light) land in both train and test, so accuracy is inflated. Many published CK+ numbers use this
 * or an even leakier per-image split; use {@link subjectKFold} for honest results.
 * @param sequences Sequence id per image (e.g. `ckplus.sequences`).
 * @param k Number of folds. Defaults to `10`.
 * @param seed Seed. Defaults to `0`.
 * @param labels Optional class index per image, for class balance.
 * @example
 * ```ts
 * const leaky = sequenceKFold(ck.sequences, 10, 0, ck.labels); // inflated numbers, for comparison
 * ```
 * @throws RangeError if `k < 2` or there are fewer sequences than folds.
 * @category Data
 */
export function sequenceKFold(
  sequences: readonly string[],
  k = 10,
  seed = 0,
  labels?: ArrayLike<number>,
): Fold[] {
  return groupFolds('sequenceKFold', sequences, k, seed, labels);
}

/** What {@link stratifiedSplit} returns: indices to train on and indices to validate on. @category Data */
export interface HoldoutSplit {
  /** Training indices, ascending. */
  train: number[];
  /** Validation indices, ascending. */
  validation: number[];
}

/**
 * A seeded hold-out split that keeps each class's share: per class, `round(fraction * count)`
 * images (at least one when the class has two or more, never all of them) go to validation, the
 * rest to training. For picking the best epoch on a small folder of photos; for CK+-style data
 * with several images per person, split by person instead ({@link subjectKFold}).
 * @param labels Class index per image.
 * @param fraction Share of each class held out, in `[0, 1)`. Defaults to `0.2`.
 * @param seed Seed of the choice. Defaults to `0`.
 * @example
 * ```ts
 * const { train, validation } = stratifiedSplit(photos.labels, 0.2, 1);
 * ```
 * @throws RangeError if `fraction` is not in `[0, 1)` or a label is not a non-negative integer.
 * @category Data
 */
export function stratifiedSplit(labels: ArrayLike<number>, fraction = 0.2, seed = 0): HoldoutSplit {
  const where = 'stratifiedSplit';
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction < 1)) {
    throw new RangeError(expected(where, 'fraction', 'a number in [0, 1)', fraction));
  }
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new TypeError(expected(where, 'seed', 'a finite number', seed));
  }
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0) {
      throw new RangeError(expected(where, `labels[${i}]`, 'a non-negative integer', label));
    }
    const list = byClass.get(label);
    if (list) list.push(i);
    else byClass.set(label, [i]);
  }
  const rng = new Random(seed);
  const held = new Uint8Array(labels.length);
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = rng.shuffle(byClass.get(label)!);
    let n = Math.round(fraction * members.length);
    if (fraction > 0 && members.length >= 2) n = Math.max(1, n);
    n = Math.min(n, members.length - 1);
    for (let j = 0; j < n; j++) held[members[j]!] = 1;
  }
  const train: number[] = [];
  const validation: number[] = [];
  for (let i = 0; i < labels.length; i++) (held[i] ? validation : train).push(i);
  return { train, validation };
}
