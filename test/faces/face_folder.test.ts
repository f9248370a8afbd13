/**
 * `loadFaceFolder` with a stand-in detector (no BlazeFace needed): one face per photo (the largest
 * or the most confident), photos without a face listed, undecodable photos thrown or listed, the
 * cache reused on a second load and ignored when an option that shapes the crop changes.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFaceFolder } from '../../src/faces/face_folder';
import type { DetectedFace, FaceDetector } from '../../src/faces/types';
import { ImageInputError } from '../../src/image/read_image';

const root = mkdtempSync(join(tmpdir(), 'fer-cbam-face-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const at = (...parts: string[]) => join(root, ...parts);

/**
 * A detector for the test photos: none in a dark picture; else a small confident face on the left
 * (dark there) and a large, less confident one on the right (bright there).
 */
function standIn(): FaceDetector & { calls: number } {
  const d = {
    name: 'stand-in',
    calls: 0,
    async detect(image: tf.Tensor3D): Promise<DetectedFace[]> {
      d.calls++;
      const mean = tf.tidy(() => tf.mean(image).dataSync()[0]!);
      if (mean < 40) return [];
      return [
        { box: { x: 10, y: 40, width: 40, height: 40 }, score: 0.95 },
        { box: { x: 120, y: 30, width: 70, height: 70 }, score: 0.7 },
      ];
    },
    dispose() {},
  };
  return d;
}

/** 200x150: the left half dark (30), the right half bright (220); or all one value. */
async function photo(file: string, value?: number) {
  mkdirSync(join(file, '..'), { recursive: true });
  const px = Buffer.alloc(200 * 150);
  for (let y = 0; y < 150; y++) for (let x = 0; x < 200; x++) px[y * 200 + x] = value ?? (x < 100 ? 30 : 220);
  await sharp(px, { raw: { width: 200, height: 150, channels: 1 } })
    .png()
    .toFile(file);
}

const meanOf = (images: Uint8Array, i: number) => {
  let s = 0;
  for (let k = i * 2304; k < (i + 1) * 2304; k++) s += images[k]!;
  return s / 2304;
};

beforeAll(async () => {
  await photo(at('photos', 'happy', 'one.png'));
  await photo(at('photos', 'happy', 'two.png'));
  await photo(at('photos', 'sad', 'dark.png'), 0);
  await photo(at('photos', 'sad', 'face.png'));
  writeFileSync(at('photos', 'sad', 'notes.txt'), 'not a photo');
});

describe('loadFaceFolder', () => {
  it('keeps the largest face of each photo, lists photos without a face, and reuses its cache', async () => {
    const detector = standIn();
    const cacheDir = at('cache');
    const ds = await loadFaceFolder(at('photos'), { detector, cacheDir });
    expect(ds.classNames).toEqual(['happy', 'sad']);
    expect(ds.count).toBe(3);
    expect(Array.from(ds.labels)).toEqual([0, 0, 1]);
    expect(ds.noFace).toEqual([at('photos', 'sad', 'dark.png')]);
    expect(ds.severalFaces).toHaveLength(3);
    expect(ds.ignored).toEqual([at('photos', 'sad', 'notes.txt')]);
    expect(ds.perClass).toEqual([
      { photos: 2, faces: 2 },
      { photos: 2, faces: 1 },
    ]);
    expect(meanOf(ds.images, 0)).toBeGreaterThan(150); // the large face, on the bright side
    expect(detector.calls).toBeGreaterThanOrEqual(4);

    // Again: every result from the cache, nothing detected, the same crops.
    const again = standIn();
    const second = await loadFaceFolder(at('photos'), { detector: again, cacheDir });
    expect(again.calls).toBe(0);
    expect(second.cached).toBe(4);
    expect(second.images).toEqual(ds.images);
    expect(second.noFace).toEqual(ds.noFace);

    // A changed photo is detected again; another option that shapes the crop ignores the cache.
    utimesSync(at('photos', 'happy', 'one.png'), new Date(), new Date(Date.now() + 5000));
    const third = standIn();
    expect((await loadFaceFolder(at('photos'), { detector: third, cacheDir })).cached).toBe(3);
    const fourth = standIn();
    const best = await loadFaceFolder(at('photos'), { detector: fourth, cacheDir, pick: 'best' });
    expect(best.cached).toBe(0);
    expect(meanOf(best.images, 0)).toBeLessThan(100); // the most confident face, on the dark side
  });

  it('takes pictures whole with detect off (no detector), and names an undecodable photo', async () => {
    const whole = await loadFaceFolder(at('photos'), { detect: 'off', detector: standIn() });
    expect(whole.count).toBe(4);
    expect(whole.whole).toBe(4);
    writeFileSync(at('photos', 'sad', 'broken.jpg'), 'not a jpeg');
    try {
      const error = await loadFaceFolder(at('photos'), { detector: standIn() }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageInputError);
      expect((error as Error).message).toMatch(/broken\.jpg: cannot decode the image/);
      const skipped = await loadFaceFolder(at('photos'), { detector: standIn(), onInvalidFile: 'skip' });
      expect(skipped.skipped).toEqual([
        {
          file: at('photos', 'sad', 'broken.jpg'),
          reason: expect.stringMatching(/^cannot decode the image/),
        },
      ]);
      expect(skipped.count).toBe(3);
    } finally {
      rmSync(at('photos', 'sad', 'broken.jpg'));
    }
  });

  it('refuses a folder without class folders, naming it', async () => {
    mkdirSync(at('flat'), { recursive: true });
    await photo(at('flat', 'a.png'));
    await expect(loadFaceFolder(at('flat'), { detector: standIn() })).rejects.toThrow(
      /loadFaceFolder: .*flat: expected `root` to be a folder with one sub-folder per class/,
    );
  });
});
