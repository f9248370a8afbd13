import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { countBatches, epochOrder, iterateBatches, toFitDataset } from '../../src/data/batches';
import type { FaceDataset } from '../../src/data/dataset';

/** Plain-loop crop of image `img` of an [n, h, w, 1] array. */
function crop(pixels: Float32Array, h: number, w: number, img: number, oy: number, ox: number, s: number) {
  const out: number[] = [];
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++) out.push(pixels[img * h * w + (oy + y) * w + ox + x]!);
  return out;
}

function dataset(count: number, size = 6, classes = 3): FaceDataset {
  const images = new Uint8Array(count * size * size);
  for (let i = 0; i < images.length; i++) images[i] = (i * 37 + 11) % 256;
  const labels = Uint8Array.from({ length: count }, (_, i) => i % classes);
  return { count, height: size, width: size, images, labels, classNames: ['a', 'b', 'c'].slice(0, classes) };
}

const drain = (it: Iterable<{ xs: tf.Tensor; ys: tf.Tensor; indices: number[] }>) =>
  [...it].map((b) => {
    const out = {
      xs: Array.from(b.xs.dataSync()),
      ys: Array.from(b.ys.dataSync()),
      indices: b.indices,
      shape: b.xs.shape,
    };
    tf.dispose([b.xs, b.ys]);
    return out;
  });

describe('iterateBatches', () => {
  const ds = dataset(10);

  it('visits every image once per epoch, deterministically per (seed, epoch)', () => {
    const seen = (epoch: number, seed = 5) =>
      drain(iterateBatches(ds, { batchSize: 4, seed, epoch })).flatMap((b) => b.indices);
    const e0 = seen(0);
    expect([...e0].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen(0)).toEqual(e0);
    expect(seen(1)).not.toEqual(e0);
    expect(seen(0, 6)).not.toEqual(e0);
    expect(countBatches(10, 4)).toBe(3);
    expect(countBatches(10, 4, true)).toBe(2);
    expect(
      drain(iterateBatches(ds, { batchSize: 4, dropRemainder: true })).map((b) => b.indices.length),
    ).toEqual([4, 4]);
  });

  it('reproduces augmented batches from (seed, epoch), and startBatch skips exactly', () => {
    const options = {
      batchSize: 3,
      seed: 9,
      epoch: 2,
      cropSize: 4,
      augment: { rotation: 10, brightness: 0.1 },
    };
    const full = drain(iterateBatches(ds, options));
    expect(drain(iterateBatches(ds, options))).toEqual(full);
    expect(drain(iterateBatches(ds, { ...options, startBatch: 2 }))).toEqual(full.slice(2));
    expect(drain(iterateBatches(ds, { ...options, epoch: 3 }))).not.toEqual(full);
  });

  it('normalises centre crops exactly and one-hot encodes labels', () => {
    const [batch] = drain(
      iterateBatches(ds, {
        batchSize: 10,
        shuffle: false,
        cropSize: 4,
        normalization: { mean: 0.5, std: 0.25 },
      }),
    );
    const raw = Float32Array.from(ds.images, (v) => v / 255);
    for (const img of [0, 7]) {
      const want = crop(raw, 6, 6, img, 1, 1, 4).map((v) => (v - 0.5) / 0.25);
      batch!.xs.slice(img * 16, (img + 1) * 16).forEach((v, i) => {
        expect(v).toBeCloseTo(want[i]!, 5);
      });
    }
    expect(batch!.ys.slice(0, 9)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(batch!.shape).toEqual([10, 4, 4, 1]);
  });

  it('uses soft labels when the dataset has them, and a subset with indices', () => {
    const soft = new Float32Array(10 * 3).map((_, i) => (i % 3 === 0 ? 0.5 : 0.25));
    const [batch] = drain(iterateBatches({ ...ds, softLabels: soft }, { batchSize: 2, shuffle: false }));
    expect(batch!.ys).toEqual([0.5, 0.25, 0.25, 0.5, 0.25, 0.25]);
    const subset = drain(iterateBatches(ds, { batchSize: 10, indices: [7, 2, 5], seed: 1 }));
    expect([...subset[0]!.indices].sort()).toEqual([2, 5, 7]);
    expect(
      drain(iterateBatches(ds, { batchSize: 10, indices: [7, 2, 5], shuffle: false }))[0]!.indices,
    ).toEqual([7, 2, 5]);
  });

  it('class-balanced sampling draws classes about equally from an imbalanced set', () => {
    const labels = Uint8Array.from({ length: 300 }, (_, i) => (i < 270 ? 0 : i < 295 ? 1 : 2));
    const imbalanced = { ...dataset(300), labels };
    const order = epochOrder(imbalanced, { batchSize: 1, balanced: true, seed: 1 });
    expect(order.length).toBe(300);
    const counts = [0, 0, 0];
    for (const i of order) counts[labels[i]!]!++;
    for (const c of counts) expect(c).toBeGreaterThan(70);
    expect(epochOrder(imbalanced, { batchSize: 1, balanced: true, seed: 1 })).toEqual(order);
  });

  it('builds one batch at a time (bounded memory) and does not leak tensors', () => {
    const big = dataset(50);
    const before = tf.memory().numTensors;
    const it = iterateBatches(big, { batchSize: 5, cropSize: 4, augment: true });
    const first = it.next().value!;
    // Only the yielded batch is alive: 2 tensors.
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([first.xs, first.ys]);
    for (const b of it) tf.dispose([b.xs, b.ys]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('validates options, naming them', () => {
    expect(() => [...iterateBatches(ds, { batchSize: 0 })]).toThrow(/`batchSize` to be a positive integer/);
    expect(() => [...iterateBatches(ds, { batchSize: 2, cropSize: 9 })]).toThrow(/`cropSize`/);
    expect(() => [...iterateBatches(ds, { batchSize: 2, indices: [11] })]).toThrow(/indices\[0\]/);
    expect(() => [...iterateBatches(ds, { batchSize: 2, normalization: { mean: 0, std: 0 } })]).toThrow(
      /`normalization\.std`/,
    );
    expect(() => [...iterateBatches(ds, { batchSize: 2, augment: { rotation: 500 } })]).toThrow(/`rotation`/);
    expect(() => [...iterateBatches(ds, { batchSize: 2, startBatch: -1 })]).toThrow(/`startBatch`/);
    expect(() => [
      ...iterateBatches({ ...ds, labels: new Uint8Array(10).fill(5) }, { batchSize: 2 }),
    ]).toThrow(/`dataset\.labels\[\d\]` to be a class index below 3/);
  });
});

describe('toFitDataset', () => {
  it('feeds model.fitDataset, one epoch per iterator, and nothing leaks', async () => {
    const ds = dataset(12, 6, 3);
    const model = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [4, 4, 1] }),
        tfl.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const data = toFitDataset(ds, { batchSize: 5, cropSize: 4, augment: true, seed: 3 });
    expect(data.size).toBe(3);
    const before = tf.memory().numTensors;
    const history = await model.fitDataset(data as never, { epochs: 2, verbose: 0 });
    expect(history.history.loss).toHaveLength(2);
    expect(tf.memory().numTensors).toBe(before);
    // Epochs advance: the third iterator gives epoch 2's order.
    const third = await data.iterator();
    const first = await third.next();
    const expected = drain(
      iterateBatches(ds, { batchSize: 5, cropSize: 4, augment: true, seed: 3, epoch: 2 }),
    )[0]!;
    expect(Array.from(first.value!.xs.dataSync())).toEqual(expected.xs);
    tf.dispose([first.value!.xs, first.value!.ys]);
    model.dispose();
  });
});
