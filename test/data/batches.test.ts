import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { augmentBatch, centerCrop, cropBatch, fiveCrop, tenCrop } from '../../src/data/augment';
import { countBatches, epochOrder, iterateBatches } from '../../src/data/batches';
import type { FaceDataset } from '../../src/data/dataset';
import { Random } from '../../src/data/random';

/** Plain-loop crop of image `img` of an [n, h, w, 1] array. */
function crop(
  pixels: Float32Array,
  h: number,
  w: number,
  img: number,
  oy: number,
  ox: number,
  s: number,
  flip: boolean,
) {
  const out: number[] = [];
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const sx = flip ? ox + s - 1 - x : ox + x;
      out.push(pixels[img * h * w + (oy + y) * w + sx]!);
    }
  }
  return out;
}

function dataset(count: number, size = 6, classes = 3): FaceDataset {
  const images = new Uint8Array(count * size * size);
  for (let i = 0; i < images.length; i++) images[i] = (i * 37 + 11) % 256;
  const labels = Uint8Array.from({ length: count }, (_, i) => i % classes);
  return { count, height: size, width: size, images, labels, classNames: ['a', 'b', 'c'].slice(0, classes) };
}

describe('augment', () => {
  const h = 7;
  const w = 6;
  const pixels = Float32Array.from({ length: 2 * h * w }, (_, i) => Math.sin(i) + i / 10);
  const x = tf.tensor4d(pixels, [2, h, w, 1]);

  it('cropBatch crops and mirrors each image at its own offset, exactly', () => {
    const out = cropBatch(x, 4, [
      [1, 2, false],
      [3, 0, true],
    ]);
    const got = Array.from(out.dataSync());
    const want = [...crop(pixels, h, w, 0, 1, 2, 4, false), ...crop(pixels, h, w, 1, 3, 0, 4, true)];
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
  });

  it('tenCrop gives the four corners, the centre, then their mirrors', () => {
    const crops = tenCrop(x, 4);
    expect(crops).toHaveLength(10);
    const starts = [
      [0, 0],
      [0, 2],
      [3, 0],
      [3, 2],
      [1, 1],
    ];
    starts.forEach(([oy, ox], k) => {
      for (const img of [0, 1]) {
        const plain = Array.from(crops[k]!.dataSync().slice(img * 16, (img + 1) * 16));
        const mirror = Array.from(crops[k + 5]!.dataSync().slice(img * 16, (img + 1) * 16));
        expect(plain).toEqual(crop(pixels, h, w, img, oy!, ox!, 4, false));
        expect(mirror).toEqual(crop(pixels, h, w, img, oy!, ox!, 4, true));
      }
    });
    expect(fiveCrop(x, 4).map((t) => Array.from(t.dataSync()))).toEqual(
      crops.slice(0, 5).map((t) => Array.from(t.dataSync())),
    );
    expect(Array.from(centerCrop(x, 4).dataSync())).toEqual(Array.from(crops[4]!.dataSync()));
  });

  it('augmentBatch is deterministic per RNG state and keeps values in range', () => {
    const a = augmentBatch(x, 4, new Random(3), { rotation: 15, scale: 0.1, brightness: 0.2 });
    const b = augmentBatch(x, 4, new Random(3), { rotation: 15, scale: 0.1, brightness: 0.2 });
    expect(a.shape).toEqual([2, 4, 4, 1]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const plain = augmentBatch(x, 4, new Random(3));
    // Without rotation/brightness every output pixel is one of the input pixels.
    const inputs = new Set(Array.from(pixels, (v) => Math.fround(v).toFixed(4)));
    for (const v of plain.dataSync()) expect(inputs.has(v.toFixed(4))).toBe(true);
  });

  it('rejects bad arguments, naming them', () => {
    expect(() => cropBatch(x, 9, [])).toThrow(/`size` to be at most the image size 7x6/);
    expect(() => augmentBatch(x, 4, new Random(1), { rotation: -1 })).toThrow(/`rotation`/);
    expect(() => tenCrop(tf.zeros([2, 2]) as tf.Tensor4D, 1)).toThrow(/`x` to be a 4D tensor/);
  });
});

describe('iterateBatches', () => {
  const ds = dataset(10);

  it('visits every image once per epoch, deterministically per (seed, epoch)', () => {
    const seen = (epoch: number, seed = 5) =>
      [...iterateBatches(ds, { batchSize: 4, seed, epoch })].flatMap((b) => {
        tf.dispose([b.xs, b.ys]);
        return b.indices;
      });
    const e0 = seen(0);
    expect([...e0].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen(0)).toEqual(e0);
    expect(seen(1)).not.toEqual(e0);
    expect(seen(0, 6)).not.toEqual(e0);
    expect(countBatches(10, 4)).toBe(3);
    expect([...iterateBatches(ds, { batchSize: 4, dropRemainder: true })].length).toBe(2);
  });

  it('normalises centre crops exactly and one-hot encodes labels', () => {
    const [batch] = [
      ...iterateBatches(ds, {
        batchSize: 10,
        shuffle: false,
        cropSize: 4,
        normalization: { mean: 0.5, std: 0.25 },
      }),
    ];
    const xs = batch!.xs.dataSync();
    const raw = Float32Array.from(ds.images, (v) => v / 255);
    for (const img of [0, 7]) {
      const want = crop(raw, 6, 6, img, 1, 1, 4, false).map((v) => (v - 0.5) / 0.25);
      Array.from(xs.slice(img * 16, (img + 1) * 16)).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    }
    expect(Array.from(batch!.ys.dataSync().slice(0, 9))).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(batch!.xs.shape).toEqual([10, 4, 4, 1]);
  });

  it('uses soft labels when the dataset has them', () => {
    const soft = new Float32Array(10 * 3).map((_, i) => (i % 3 === 0 ? 0.5 : 0.25));
    const [batch] = [...iterateBatches({ ...ds, softLabels: soft }, { batchSize: 2, shuffle: false })];
    expect(Array.from(batch!.ys.dataSync())).toEqual([0.5, 0.25, 0.25, 0.5, 0.25, 0.25]);
  });

  it('class-balanced sampling draws classes about equally from an imbalanced set', () => {
    const labels = Uint8Array.from({ length: 300 }, (_, i) => (i < 270 ? 0 : i < 295 ? 1 : 2));
    const imbalanced = { ...dataset(300), labels };
    const order = epochOrder(imbalanced, { batchSize: 1, balanced: true, seed: 1 });
    const counts = [0, 0, 0];
    for (const i of order) counts[labels[i]!]!++;
    for (const c of counts) expect(c).toBeGreaterThan(70);
  });

  it('does not leak tensors and validates options', () => {
    const before = tf.memory().numTensors;
    for (const b of iterateBatches(ds, { batchSize: 3, cropSize: 4, augment: true }))
      tf.dispose([b.xs, b.ys]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => [...iterateBatches(ds, { batchSize: 0 })]).toThrow(/`batchSize` to be a positive integer/);
    expect(() => [...iterateBatches(ds, { batchSize: 2, cropSize: 9 })]).toThrow(/`cropSize`/);
    expect(() => [...iterateBatches(ds, { batchSize: 2, indices: [11] })]).toThrow(/indices\[0\]/);
  });
});
