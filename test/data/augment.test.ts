import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  augmentBatch,
  centerCrop,
  cropBatch,
  cropTransform,
  eraseBoxes,
  fiveCrop,
  normalizeImages,
  randomAffine,
  randomBrightness,
  randomCrop,
  randomErase,
  randomFlip,
  tenCrop,
  transformCrops,
} from '../../src/data/augment';
import { Random } from '../../src/random';

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

/** Plain-loop bilinear sample of a rotated/zoomed crop (edges clamped), for checking transformCrops. */
function affineReference(
  pixels: Float32Array,
  h: number,
  w: number,
  img: number,
  p: { offsetY: number; offsetX: number; flip?: boolean; rotation?: number; zoom?: number },
  s: number,
) {
  const c = (s - 1) / 2;
  const theta = ((p.rotation ?? 0) * Math.PI) / 180;
  const zoom = p.zoom ?? 1;
  const at = (y: number, x: number) =>
    pixels[img * h * w + Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))]!;
  const out: number[] = [];
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const u = (p.flip ? -1 : 1) * (x - c);
      const v = y - c;
      // Input position: rotate the output offset by theta (screen coordinates), shrink by zoom.
      const xi = (Math.cos(theta) * u + Math.sin(theta) * v) / zoom + p.offsetX + c;
      const yi = (-Math.sin(theta) * u + Math.cos(theta) * v) / zoom + p.offsetY + c;
      const x0 = Math.floor(xi);
      const y0 = Math.floor(yi);
      const fx = xi - x0;
      const fy = yi - y0;
      out.push(
        (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
          fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)),
      );
    }
  }
  return out;
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
    expect(Array.from(out.dataSync())).toEqual([
      ...crop(pixels, h, w, 0, 1, 2, 4, false).map(Math.fround),
      ...crop(pixels, h, w, 1, 3, 0, 4, true).map(Math.fround),
    ]);
  });

  it('transformCrops matches a plain-loop bilinear reference for rotation and zoom', () => {
    const square = tf.tensor4d(
      Float32Array.from({ length: 2 * 8 * 8 }, (_, i) => Math.cos(i / 3) + (i % 8) / 8),
      [2, 8, 8, 1],
    );
    const data = square.dataSync() as Float32Array;
    const params = [
      { offsetY: 1, offsetX: 2, flip: false, rotation: 12, zoom: 1.1 },
      { offsetY: 2, offsetX: 0, flip: true, rotation: -7, zoom: 0.9 },
    ];
    const got = Array.from(transformCrops(square, 5, params).dataSync());
    const want = [
      ...affineReference(data, 8, 8, 0, params[0]!, 5),
      ...affineReference(data, 8, 8, 1, params[1]!, 5),
    ];
    got.forEach((v, i) => {
      expect(v).toBeCloseTo(want[i]!, 4);
    });
  });

  it("transformCrops on wasm (one batched transform) gives the cpu path's pixels", async () => {
    const n = 9;
    const x = tf.tensor4d(
      Float32Array.from({ length: n * 12 * 12 }, (_, i) => Math.sin(i / 5) + (i % 12) / 12),
      [n, 12, 12, 1],
    );
    const params = Array.from({ length: n }, (_, i) => ({
      offsetY: i % 3,
      offsetX: (i * 2) % 3,
      flip: i % 2 === 0,
      rotation: 3 * i - 12,
      zoom: 0.9 + i / 40,
    }));
    const onCpu = Array.from(transformCrops(x, 9, params).dataSync());
    const data = x.dataSync() as Float32Array;
    x.dispose();
    await tf.setBackend('wasm');
    try {
      const xw = tf.tensor4d(data, [n, 12, 12, 1]);
      const y = transformCrops(xw, 9, params);
      const onWasm = Array.from(y.dataSync());
      tf.dispose([xw, y]);
      onWasm.forEach((v, i) => {
        expect(v).toBeCloseTo(onCpu[i]!, 5);
      });
      // Every image is transformed, not only the first (the cpu kernel's batch bug).
      const want = affineReference(data, 12, 12, n - 1, params[n - 1]!, 9);
      onWasm.slice(-81).forEach((v, i) => {
        expect(v).toBeCloseTo(want[i]!, 4);
      });
    } finally {
      await tf.setBackend('cpu');
    }
  });

  it('cropTransform is the identity for a full-size crop without rotation', () => {
    expect(cropTransform({ offsetY: 0, offsetX: 0 }, 5)).toEqual([1, 0, 0, -0, 1, 0, 0, 0]);
    // A mirror maps column 0 to column size - 1.
    const [a0, , a2] = cropTransform({ offsetY: 0, offsetX: 3, flip: true }, 4);
    expect(a0 * 0 + a2).toBe(3 + 3);
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
        expect(plain).toEqual(crop(pixels, h, w, img, oy!, ox!, 4, false).map(Math.fround));
        expect(mirror).toEqual(crop(pixels, h, w, img, oy!, ox!, 4, true).map(Math.fround));
      }
    });
    expect(fiveCrop(x, 4).map((t) => Array.from(t.dataSync()))).toEqual(
      crops.slice(0, 5).map((t) => Array.from(t.dataSync())),
    );
    expect(Array.from(centerCrop(x, 4).dataSync())).toEqual(Array.from(crops[4]!.dataSync()));
    tf.dispose(crops);
  });

  it('randomCrop copies pixels exactly, at positions that cover every offset', () => {
    const big = tf.tensor4d(
      Float32Array.from({ length: 64 * 6 * 6 }, (_, i) => i),
      [64, 6, 6, 1],
    );
    const out = randomCrop(big, 4, new Random(2)).dataSync();
    const offsets = new Set<string>();
    for (let img = 0; img < 64; img++) {
      const first = out[img * 16]! - img * 36; // the input index of the crop's top-left pixel
      const oy = Math.floor(first / 6);
      const ox = first % 6;
      offsets.add(`${oy},${ox}`);
      expect(Array.from(out.slice(img * 16, (img + 1) * 16))).toEqual(
        crop(big.dataSync() as Float32Array, 6, 6, img, oy, ox, 4, false),
      );
    }
    expect(offsets.size).toBe(9); // all 3 x 3 positions appear among 64 draws
  });

  it('randomFlip mirrors about half the images, each exactly', () => {
    const imgs = tf.tensor4d(
      Float32Array.from({ length: 40 * 2 * 3 }, (_, i) => i),
      [40, 2, 3, 1],
    );
    const out = randomFlip(imgs, new Random(5)).dataSync();
    let flipped = 0;
    for (let i = 0; i < 40; i++) {
      const row = Array.from(out.slice(i * 6, i * 6 + 3));
      const base = i * 6;
      if (row[0] === base + 2) {
        flipped++;
        expect(row).toEqual([base + 2, base + 1, base]);
      } else expect(row).toEqual([base, base + 1, base + 2]);
    }
    expect(flipped).toBeGreaterThan(10);
    expect(flipped).toBeLessThan(30);
  });

  it('randomBrightness scales each image by one factor in range and clips to [0, 1]', () => {
    const imgs = tf.fill([20, 3, 3, 1], 0.5) as tf.Tensor4D;
    const out = randomBrightness(imgs, 0.2, new Random(3)).dataSync();
    for (let i = 0; i < 20; i++) {
      const values = new Set(Array.from(out.slice(i * 9, (i + 1) * 9)));
      expect(values.size).toBe(1);
      const v = [...values][0]!;
      expect(v).toBeGreaterThanOrEqual(0.4 - 1e-6);
      expect(v).toBeLessThanOrEqual(0.6 + 1e-6);
    }
    const bright = randomBrightness(
      tf.fill([4, 2, 2, 1], 0.99) as tf.Tensor4D,
      0.5,
      new Random(1),
      0.5,
    ).dataSync();
    for (const v of bright) expect(v).toBeLessThanOrEqual(1);
  });

  it('augmentBatch is deterministic per RNG state; without rotation its pixels are input pixels', () => {
    const a = augmentBatch(x, 4, new Random(3), { rotation: 15, scale: 0.1, brightness: 0.2, contrast: 0.2 });
    const b = augmentBatch(x, 4, new Random(3), { rotation: 15, scale: 0.1, brightness: 0.2, contrast: 0.2 });
    expect(a.shape).toEqual([2, 4, 4, 1]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const plain = augmentBatch(x, 4, 3);
    const inputs = new Set(Array.from(pixels, (v) => Math.fround(v)));
    for (const v of plain.dataSync()) expect(inputs.has(v)).toBe(true);
    // crop: false gives the centre crop (possibly mirrored).
    const centre = augmentBatch(x, 4, new Random(1), { crop: false, flip: false });
    expect(Array.from(centre.dataSync())).toEqual(Array.from(centerCrop(x, 4).dataSync()));
    // randomAffine with zero ranges is the identity.
    expect(
      Array.from(randomAffine(tf.tensor4d(pixels.slice(0, 36), [1, 6, 6, 1]), 1, 0, 0).dataSync()),
    ).toEqual(Array.from(pixels.slice(0, 36), Math.fround));
  });

  it('eraseBoxes draws boxes of 2-20 % of the image inside it, with the asked probability', () => {
    const boxes = eraseBoxes(2000, 44, 40, 0.3, new Random(7));
    const drawn = boxes.filter((b) => b !== null);
    expect(drawn.length / boxes.length).toBeGreaterThan(0.26);
    expect(drawn.length / boxes.length).toBeLessThan(0.34);
    for (const b of drawn) {
      expect(b!.y).toBeGreaterThanOrEqual(0);
      expect(b!.x).toBeGreaterThanOrEqual(0);
      expect(b!.y + b!.h).toBeLessThanOrEqual(44);
      expect(b!.x + b!.w).toBeLessThanOrEqual(40);
      // Rounding and clipping to the image move the area a little outside [2 %, 20 %].
      const area = (b!.h * b!.w) / (44 * 40);
      expect(area).toBeGreaterThan(0.01);
      expect(area).toBeLessThan(0.3);
    }
    expect(eraseBoxes(50, 10, 10, 0, new Random(1)).every((b) => b === null)).toBe(true);
  });

  it('randomErase fills exactly its boxes with the image mean and keeps the rest (plain loop)', () => {
    const n = 6;
    const h = 12;
    const w = 10;
    const pixels = Float32Array.from({ length: n * h * w }, (_, i) => ((i * 37) % 101) / 100);
    const x = tf.tensor4d(pixels, [n, h, w, 1]);
    const boxes = eraseBoxes(n, h, w, 0.5, new Random(3));
    expect(boxes.some((b) => b !== null)).toBe(true);
    const y = randomErase(x, 0.5, new Random(3)).dataSync();
    for (let i = 0; i < n; i++) {
      let mean = 0;
      for (let k = 0; k < h * w; k++) mean += pixels[i * h * w + k]!;
      mean /= h * w;
      const b = boxes[i];
      for (let r = 0; r < h; r++) {
        for (let c = 0; c < w; c++) {
          const k = (i * h + r) * w + c;
          const inside = b !== null && r >= b!.y && r < b!.y + b!.h && c >= b!.x && c < b!.x + b!.w;
          expect(y[k]).toBeCloseTo(inside ? mean : pixels[k]!, 6);
        }
      }
    }
    x.dispose();
  });

  it('augmentBatch with erase erases some images and is deterministic', () => {
    const x = tf.tensor4d(
      Float32Array.from({ length: 8 * 48 * 48 }, (_, i) => (i % 256) / 255),
      [8, 48, 48, 1],
    );
    const a = augmentBatch(x, 44, new Random(5), { erase: 1 });
    const b = augmentBatch(x, 44, new Random(5), { erase: 1 });
    const plain = augmentBatch(x, 44, new Random(5), { erase: 0 });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(plain.dataSync()));
    expect(() => augmentBatch(x, 44, new Random(5), { erase: 2 })).toThrow(/erase/);
    tf.dispose([x, a, b, plain]);
  });

  it('normalizeImages computes (x - mean) / std', () => {
    const y = normalizeImages(tf.tensor1d([0, 0.5, 1]), { mean: 0.5, std: 0.25 });
    expect(Array.from(y.dataSync())).toEqual([-2, 0, 2]);
    expect(() => normalizeImages(tf.tensor1d([0]), { mean: 0, std: 0 })).toThrow(
      /`normalization\.std` to be a positive number/,
    );
  });

  it('does not leak tensors', () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      augmentBatch(x, 4, new Random(i), {
        rotation: 5,
        scale: 0.1,
        brightness: 0.1,
        contrast: 0.1,
      }).dispose();
      randomCrop(x, 3, i).dispose();
      randomFlip(x, i).dispose();
      tf.dispose(tenCrop(x, 4));
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad arguments, naming them', () => {
    expect(() => cropBatch(x, 9, [])).toThrow(/`size` to be at most the image size 7x6/);
    expect(() => cropBatch(x, 2, [])).toThrow(/`offsets` to be 2 entries/);
    expect(() => augmentBatch(x, 4, new Random(1), { rotation: -1 })).toThrow(/`rotation`/);
    expect(() => augmentBatch(x, 4, new Random(1), { scale: 2 })).toThrow(/`scale`/);
    expect(() => augmentBatch(x, 4, new Random(1), { flip: 'yes' as never })).toThrow(/`flip`/);
    expect(() => tenCrop(tf.zeros([2, 2]) as unknown as tf.Tensor4D, 1)).toThrow(/`x` to be a 4D tensor/);
    expect(() => transformCrops(x, 3, [{ offsetY: 0, offsetX: 0 }])).toThrow(/`params` to be 2 entries/);
    expect(() => randomFlip(x, 1, 2)).toThrow(/`p`/);
  });
});
