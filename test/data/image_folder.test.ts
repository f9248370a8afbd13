import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FER2013_CLASSES } from '../../src/data/dataset';
import { loadImageFolder } from '../../src/data/image_folder';
import { loadGrayImage } from '../../src/data/image_io';

const root = mkdtempSync(join(tmpdir(), 'image-folder-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Writes a uniform image of the given colour, size and format. */
async function solid(
  file: string,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  value: number[],
  format: 'png' | 'jpeg' | 'webp',
) {
  mkdirSync(join(file, '..'), { recursive: true });
  const data = Buffer.alloc(width * height * channels);
  for (let i = 0; i < width * height; i++)
    for (let c = 0; c < channels; c++) data[i * channels + c] = value[c]!;
  await sharp(data, { raw: { width, height, channels } })
    [format]({ quality: 100 } as never)
    .toFile(file);
}

beforeAll(async () => {
  // train/<class>/: mixed formats, sizes and colours.
  await solid(join(root, 'train/happy/b.png'), 30, 30, 1, [200], 'png');
  await solid(join(root, 'train/happy/a.jpg'), 64, 40, 3, [90, 90, 90], 'jpeg');
  await solid(join(root, 'train/angry/c.webp'), 10, 10, 3, [30, 30, 30], 'webp');
  await solid(join(root, 'train/angry/d.png'), 12, 12, 4, [250, 250, 250, 255], 'png');
  writeFileSync(join(root, 'train/angry/notes.txt'), 'not an image');
  writeFileSync(join(root, 'train/angry/.DS_Store'), '');
  // A wide image: black | white | black; 'cover' keeps the white centre, 'fill' squeezes all three.
  const w = 30;
  const h = 10;
  const striped = Buffer.alloc(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) striped[y * w + x] = x >= 10 && x < 20 ? 255 : 0;
  mkdirSync(join(root, 'wide'), { recursive: true });
  await sharp(striped, { raw: { width: w, height: h, channels: 1 } })
    .png()
    .toFile(join(root, 'wide/striped.png'));
});

describe('loadImageFolder', () => {
  it('reads any format, size and colour as size x size grayscale, in sorted order', async () => {
    const ds = await loadImageFolder(join(root, 'train'), { size: 8 });
    expect(ds.classNames).toEqual(['angry', 'happy']);
    expect(ds.count).toBe(4);
    expect(ds.height).toBe(8);
    expect(ds.files.map((f) => f.slice(root.length))).toEqual([
      '/train/angry/c.webp',
      '/train/angry/d.png',
      '/train/happy/a.jpg',
      '/train/happy/b.png',
    ]);
    expect(Array.from(ds.labels)).toEqual([0, 0, 1, 1]);
    const mean = (i: number) => ds.images.subarray(i * 64, (i + 1) * 64).reduce((a, b) => a + b, 0) / 64;
    // Grey in, the same grey out (within JPEG/WebP rounding).
    for (const [i, v] of [
      [0, 30],
      [1, 250],
      [2, 90],
      [3, 200],
    ] as const) {
      expect(Math.abs(mean(i) - v)).toBeLessThanOrEqual(2);
    }
    expect(ds.ignored.map((f) => f.slice(root.length)).sort()).toEqual([
      '/train/angry/.DS_Store',
      '/train/angry/notes.txt',
    ]);
    expect(ds.skipped).toEqual([]);
  });

  it('maps folders to the given classNames (FER2013 order) and allows classes without a folder', async () => {
    const ds = await loadImageFolder(join(root, 'train'), { size: 4, classNames: FER2013_CLASSES });
    expect(ds.classNames).toEqual([...FER2013_CLASSES]);
    expect(Array.from(ds.labels)).toEqual([0, 0, 3, 3]); // angry = 0, happy = 3
  });

  it("crops the centre square with fit 'cover' and stretches with 'fill'", async () => {
    const cover = await loadGrayImage(join(root, 'wide/striped.png'), { size: 6 });
    expect(Math.min(...cover)).toBeGreaterThan(240);
    const fill = await loadGrayImage(join(root, 'wide/striped.png'), { size: 6, fit: 'fill' });
    expect(fill[0]).toBeLessThan(15);
    expect(fill[3]).toBeGreaterThan(240);
  });

  it('reports progress and rejects bad options', async () => {
    const seen: number[] = [];
    await loadImageFolder(join(root, 'train'), { size: 4, onProgress: (p) => seen.push(p.done / p.total) });
    expect(seen.sort()).toEqual([0.25, 0.5, 0.75, 1]);
    await expect(loadImageFolder(join(root, 'train'), { size: 0 })).rejects.toThrow(/`size`/);
    await expect(loadImageFolder(join(root, 'train'), { fit: 'crop' as never })).rejects.toThrow(/`fit`/);
    await expect(loadImageFolder(join(root, 'train'), { classNames: ['a', 'a'] })).rejects.toThrow(
      /without duplicates/,
    );
    await expect(loadImageFolder(join(root, 'train'), { onInvalidFile: 'x' as never })).rejects.toThrow(
      /`onInvalidFile`/,
    );
  });
});
