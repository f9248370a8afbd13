import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKPLUS_CLASSES, CKPLUS_CLASSES_WITH_NEUTRAL, loadCkPlus } from '../../src/data/ckplus';
import { subjectKFold } from '../../src/data/folds';
import { classCounts } from '../../src/data/stats';

const root = mkdtempSync(join(tmpdir(), 'ckplus-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function png(file: string, value: number, width = 8, height = 8, channels: 1 | 3 = 1) {
  mkdirSync(join(file, '..'), { recursive: true });
  await sharp(Buffer.alloc(width * height * channels, value), { raw: { width, height, channels } })
    .png()
    .toFile(file);
}

beforeAll(async () => {
  // CK+48 layout, inside a CK+48 folder.
  for (const [cls, name, v] of [
    ['anger', 'S010_004_00000017.png', 10],
    ['anger', 'S010_004_00000018.png', 11],
    ['happy', 'S011_006_00000020.png', 20],
    ['surprise', 'S010_001_00000014.png', 30],
  ] as const) {
    await png(join(root, 'ck48/CK+48', cls, name), v);
  }
  // Original layout: S005/001 (surprise, 5 frames), S005/002 (no label), S022/003 (anger, 2 frames, RGB).
  for (let f = 1; f <= 5; f++)
    await png(join(root, 'orig/cohn-kanade-images/S005/001', `S005_001_0000000${f}.png`), f * 10, 20, 16);
  await png(join(root, 'orig/cohn-kanade-images/S005/002/S005_002_00000001.png'), 99);
  for (let f = 1; f <= 2; f++)
    await png(join(root, 'orig/cohn-kanade-images/S022/003', `S022_003_0000000${f}.png`), 100 + f, 20, 16, 3);
  const emotion = (rel: string, text: string) => {
    mkdirSync(join(root, 'orig/Emotion', rel, '..'), { recursive: true });
    writeFileSync(join(root, 'orig/Emotion', rel), text);
  };
  emotion('S005/001/S005_001_00000005_emotion.txt', '   7.0000000e+00\n');
  emotion('S022/003/S022_003_00000002_emotion.txt', '   1.0000000e+00\n');
  mkdirSync(join(root, 'orig/Emotion/S005/002'), { recursive: true });
});

describe('loadCkPlus', () => {
  it('reads the CK+48 layout with subjects and sequences from the file names', async () => {
    const ds = await loadCkPlus(join(root, 'ck48'), { size: 4 });
    expect(ds.layout).toBe('ck+48');
    expect(ds.classNames).toEqual([...CKPLUS_CLASSES]);
    expect(ds.count).toBe(4);
    expect(ds.subjects).toEqual(['S010', 'S010', 'S011', 'S010']);
    expect(ds.sequences).toEqual(['S010_004', 'S010_004', 'S011_006', 'S010_001']);
    expect(Array.from(ds.labels)).toEqual([0, 0, 4, 6]);
    expect(Array.from(ds.images.subarray(0, 16)).every((v) => v === 10)).toBe(true);
    // The same folder given directly.
    const direct = await loadCkPlus(join(root, 'ck48/CK+48'), { size: 4 });
    expect(direct.files).toEqual(ds.files);
  });

  it('reads the original layout: the last peak frames of each labelled sequence', async () => {
    const ds = await loadCkPlus(join(root, 'orig'), { size: 4 });
    expect(ds.layout).toBe('original');
    expect(ds.classNames).toEqual([...CKPLUS_CLASSES]);
    expect(ds.files.map((f) => f.split('/').pop())).toEqual([
      'S005_001_00000003.png',
      'S005_001_00000004.png',
      'S005_001_00000005.png',
      'S022_003_00000001.png',
      'S022_003_00000002.png',
    ]);
    expect(Array.from(ds.labels)).toEqual([6, 6, 6, 0, 0]); // surprise (code 7), anger (code 1)
    expect(ds.subjects).toEqual(['S005', 'S005', 'S005', 'S022', 'S022']);
    // Grayscale from RGB, resized: a uniform frame stays uniform.
    expect(Array.from(ds.images.subarray(3 * 16, 4 * 16)).every((v) => Math.abs(v - 101) <= 1)).toBe(true);
  });

  it('with includeNeutral, the first frame is neutral and labels follow the Emotion codes', async () => {
    const ds = await loadCkPlus(join(root, 'orig'), { size: 4, includeNeutral: true, peakFrames: 2 });
    expect(ds.classNames).toEqual([...CKPLUS_CLASSES_WITH_NEUTRAL]);
    expect(ds.files.map((f) => f.split('/').pop())).toEqual([
      'S005_001_00000001.png',
      'S005_001_00000004.png',
      'S005_001_00000005.png',
      'S022_003_00000001.png',
      'S022_003_00000002.png',
    ]);
    expect(Array.from(ds.labels)).toEqual([0, 7, 7, 0, 1]);
  });

  it('rejects bad options', async () => {
    await expect(loadCkPlus(join(root, 'orig'), { peakFrames: 0 })).rejects.toThrow(/`peakFrames`/);
    await expect(loadCkPlus(join(root, 'orig'), { includeNeutral: 1 as never })).rejects.toThrow(
      /`includeNeutral`/,
    );
    await expect(loadCkPlus('')).rejects.toThrow(/`root`/);
  });
});

const REAL = '/work/shared/data/ckplus';

describe.skipIf(!existsSync(join(REAL, 'CK+48')))('loadCkPlus on the real CK+48', () => {
  it('gives 981 images of 118 subjects and 327 sequences, with the README class counts', async () => {
    const ds = await loadCkPlus(REAL);
    expect(ds.count).toBe(981);
    expect(new Set(ds.subjects).size).toBe(118);
    expect(new Set(ds.sequences).size).toBe(327);
    expect(classCounts(ds)).toEqual([135, 54, 177, 75, 207, 84, 249]);
    const folds = subjectKFold(ds.subjects, 10, 0, ds.labels);
    for (const { train, test } of folds) {
      const testSubjects = new Set(test.map((i) => ds.subjects[i]));
      expect(train.some((i) => testSubjects.has(ds.subjects[i]))).toBe(false);
    }
    expect(folds.reduce((n, f) => n + f.test.length, 0)).toBe(981);
  });
});
