import { describe, expect, it } from 'vitest';
import type { FaceDataset } from '../../src/data/dataset';
import { classCounts, datasetStats, subsetDataset, usageIndices } from '../../src/data/stats';

const ds: FaceDataset = {
  count: 4,
  height: 1,
  width: 3,
  images: Uint8Array.from([0, 255, 51, 10, 20, 30, 100, 100, 100, 7, 8, 9]),
  labels: Uint8Array.from([0, 2, 2, 1]),
  classNames: ['a', 'b', 'c'],
  usages: Uint8Array.from([0, 1, 0, 2]),
  subjects: ['s1', 's2', 's3', 's4'],
  softLabels: Float32Array.from([1, 0, 0, 0, 0.5, 0.5, 0, 0, 1, 0.2, 0.8, 0]),
};

describe('stats', () => {
  it('datasetStats equals the plain mean and population std on the 0-1 scale', () => {
    const plain = (idx: number[]) => {
      const v = idx.flatMap((i) => Array.from(ds.images.subarray(i * 3, i * 3 + 3), (p) => p / 255));
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) };
    };
    const all = datasetStats(ds);
    expect(all.mean).toBeCloseTo(plain([0, 1, 2, 3]).mean, 12);
    expect(all.std).toBeCloseTo(plain([0, 1, 2, 3]).std, 12);
    const some = datasetStats(ds, [2, 0]);
    expect(some.mean).toBeCloseTo(plain([2, 0]).mean, 12);
    expect(some.std).toBeCloseTo(plain([2, 0]).std, 12);
    expect(() => datasetStats(ds, [])).toThrow(/`indices` to be a non-empty selection/);
    expect(() => datasetStats(ds, [4])).toThrow(/`indices\[0\]` to be an integer in \[0, 3\]/);
  });

  it('classCounts and usageIndices count and select', () => {
    expect(classCounts(ds)).toEqual([1, 1, 2]);
    expect(classCounts(ds, [1, 2])).toEqual([0, 0, 2]);
    expect(usageIndices(ds, 'Training')).toEqual([0, 2]);
    expect(usageIndices(ds, 'PublicTest')).toEqual([1]);
    expect(usageIndices(ds, 'PrivateTest')).toEqual([3]);
    expect(() => usageIndices({ ...ds, usages: undefined }, 'Training')).toThrow(/`ds\.usages`/);
  });

  it('subsetDataset copies images and every per-image field in the given order', () => {
    const sub = subsetDataset(ds, [3, 1]);
    expect(sub.count).toBe(2);
    expect(Array.from(sub.images)).toEqual([7, 8, 9, 10, 20, 30]);
    expect(Array.from(sub.labels)).toEqual([1, 2]);
    expect(Array.from(sub.usages!)).toEqual([2, 1]);
    expect(sub.subjects).toEqual(['s4', 's2']);
    expect(Array.from(sub.softLabels!)).toEqual([0.2, 0.8, 0, 0, 0.5, 0.5].map(Math.fround));
    sub.images[0] = 99;
    expect(ds.images[9]).toBe(7); // a copy
  });
});
