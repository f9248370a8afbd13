import { describe, expect, it } from 'vitest';
import { groupKFold, sequenceKFold, stratifiedSplit, subjectKFold } from '../../src/data/folds';
import { Random } from '../../src/random';

/** A CK+-like set: subjects with 1-4 sequences of 3 frames, one label per sequence. */
function ckLike(subjects: number, seed: number) {
  const rng = new Random(seed);
  const subjectIds: string[] = [];
  const sequenceIds: string[] = [];
  const labels: number[] = [];
  for (let s = 0; s < subjects; s++) {
    const sequences = 1 + rng.int(4);
    for (let q = 0; q < sequences; q++) {
      const label = rng.bool(0.3) ? 1 : rng.int(7);
      for (let f = 0; f < 3; f++) {
        subjectIds.push(`S${String(s).padStart(3, '0')}`);
        sequenceIds.push(`S${String(s).padStart(3, '0')}_${q}`);
        labels.push(label);
      }
    }
  }
  return { subjectIds, sequenceIds, labels };
}

function checkPartition(folds: { train: number[]; test: number[] }[], n: number) {
  const inTest = new Array<number>(n).fill(0);
  for (const { train, test } of folds) {
    for (const i of test) inTest[i]!++;
    expect(train.length + test.length).toBe(n);
    expect(new Set([...train, ...test]).size).toBe(n);
    expect([...test].sort((a, b) => a - b)).toEqual(test);
    expect([...train].sort((a, b) => a - b)).toEqual(train);
  }
  expect(inTest.every((c) => c === 1)).toBe(true);
}

describe('subjectKFold', () => {
  const { subjectIds, labels } = ckLike(118, 1);

  it('never puts a subject in both train and test, and tests every image exactly once', () => {
    const folds = subjectKFold(subjectIds, 10, 0, labels);
    expect(folds).toHaveLength(10);
    checkPartition(folds, subjectIds.length);
    for (const { train, test } of folds) {
      const testSubjects = new Set(test.map((i) => subjectIds[i]));
      for (const i of train) expect(testSubjects.has(subjectIds[i])).toBe(false);
    }
  });

  it('balances fold sizes and classes about as well as whole subjects allow', () => {
    const folds = subjectKFold(subjectIds, 10, 0, labels);
    const n = subjectIds.length;
    const largestSubject = Math.max(
      ...[...new Set(subjectIds)].map((s) => subjectIds.filter((x) => x === s).length),
    );
    for (const { test } of folds) expect(Math.abs(test.length - n / 10)).toBeLessThanOrEqual(largestSubject);
    for (let c = 0; c < 7; c++) {
      const total = labels.filter((l) => l === c).length;
      const perFold = folds.map(({ test }) => test.filter((i) => labels[i] === c).length);
      // Each class within one subject's worth of images (<= 12 here) of its even share.
      for (const k of perFold) expect(Math.abs(k - total / 10)).toBeLessThanOrEqual(12);
    }
    // Balancing by class beats ignoring the labels on the worst class deviation.
    const spread = (fs: typeof folds) =>
      Math.max(
        ...[0, 1, 2, 3, 4, 5, 6].map((c) => {
          const per = fs.map(({ test }) => test.filter((i) => labels[i] === c).length);
          return Math.max(...per) - Math.min(...per);
        }),
      );
    expect(spread(folds)).toBeLessThanOrEqual(spread(subjectKFold(subjectIds, 10, 0)));
  });

  it('is deterministic per seed, and the seed changes the folds', () => {
    expect(subjectKFold(subjectIds, 5, 3, labels)).toEqual(subjectKFold(subjectIds, 5, 3, labels));
    expect(subjectKFold(subjectIds, 5, 3, labels)).not.toEqual(subjectKFold(subjectIds, 5, 4, labels));
  });

  it('handles the smallest cases: k equal to the number of subjects', () => {
    const folds = subjectKFold(['a', 'b', 'a', 'c'], 3);
    checkPartition(folds, 4);
    expect(folds.map((f) => f.test).sort()).toEqual([[0, 2], [1], [3]].sort());
  });

  it('rejects bad arguments, naming them', () => {
    expect(() => subjectKFold(['a', 'b'], 3)).toThrow(
      /subjectKFold: expected `k` to be at most the number of distinct groups \(2\)/,
    );
    expect(() => subjectKFold(['a', 'b'], 1)).toThrow(/`k` to be an integer >= 2/);
    expect(() => subjectKFold(['a', ''], 2)).toThrow(/`groups\[1\]`/);
    expect(() => subjectKFold(['a', 'b'], 2, 0, [0])).toThrow(/`labels` to be an array of 2 labels/);
    expect(() => groupKFold(['a', 'b'], 2, 0, [0, -1])).toThrow(/`labels\[1\]`/);
  });
});

describe('sequenceKFold (leaky, for comparison)', () => {
  it('keeps sequences together but lets subjects cross between train and test', () => {
    const { subjectIds, sequenceIds, labels } = ckLike(60, 2);
    const folds = sequenceKFold(sequenceIds, 10, 0, labels);
    checkPartition(folds, sequenceIds.length);
    let leaked = 0;
    for (const { train, test } of folds) {
      const testSequences = new Set(test.map((i) => sequenceIds[i]));
      for (const i of train) expect(testSequences.has(sequenceIds[i])).toBe(false);
      const testSubjects = new Set(test.map((i) => subjectIds[i]));
      if (train.some((i) => testSubjects.has(subjectIds[i]))) leaked++;
    }
    expect(leaked).toBeGreaterThan(0);
  });
});

describe('stratifiedSplit', () => {
  it('holds out the same share of each class, at least one of a class with two or more, never all', () => {
    const labels = [...Array(50).fill(0), ...Array(10).fill(1), ...Array(2).fill(2), 3];
    const { train, validation } = stratifiedSplit(labels, 0.2, 1);
    const count = (idx: number[], c: number) => idx.filter((i) => labels[i] === c).length;
    expect([0, 1, 2, 3].map((c) => count(validation, c))).toEqual([10, 2, 1, 0]);
    expect([...train, ...validation].sort((a, b) => a - b)).toEqual(labels.map((_, i) => i));
    expect(train).toEqual([...train].sort((a, b) => a - b));
    expect(stratifiedSplit(labels, 0.2, 1)).toEqual({ train, validation });
    expect(stratifiedSplit(labels, 0.2, 2).validation).not.toEqual(validation);
    expect(stratifiedSplit(labels, 0, 1).validation).toEqual([]);
  });

  it('refuses a fraction outside [0, 1) and labels that are not class indices', () => {
    expect(() => stratifiedSplit([0, 1], 1)).toThrow(
      /expected `fraction` to be a number in \[0, 1\), but got 1\./,
    );
    expect(() => stratifiedSplit([0, -1], 0.2)).toThrow(/labels\[1\]/);
  });
});
