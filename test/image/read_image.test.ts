import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { rgbToGray } from '../../src/image/gray';
import { ImageInputError, isGrayscale, readImage } from '../../src/image/read_image';

const dir = mkdtempSync(join(tmpdir(), 'faces-input-'));

/** A 40x30 picture: left half red, right half blue. */
async function halves(): Promise<Buffer> {
  const data = Buffer.alloc(40 * 30 * 3);
  for (let y = 0; y < 30; y++) {
    for (let x = 0; x < 40; x++) data[(y * 40 + x) * 3 + (x < 20 ? 0 : 2)] = 255;
  }
  return sharp(data, { raw: { width: 40, height: 30, channels: 3 } })
    .png()
    .toBuffer();
}

describe('readImage', () => {
  it('decodes bytes and paths to RGB, keeping the size', async () => {
    const png = await halves();
    const file = join(dir, 'halves.png');
    writeFileSync(file, png);
    for (const input of [png, new Uint8Array(png), file]) {
      const d = await readImage(input);
      expect([d.image.width, d.image.height, d.scale]).toEqual([40, 30, 1]);
      expect(Array.from(d.image.data.slice(0, 3))).toEqual([255, 0, 0]);
      expect(Array.from(d.image.data.slice(39 * 3, 40 * 3))).toEqual([0, 0, 255]);
    }
  });

  it('takes gray, RGB, RGBA and batched tensors', async () => {
    const gray = tf.fill([6, 8], 100, 'int32');
    const rgba = tf.fill([1, 6, 8, 4], 200, 'float32');
    const g = await readImage(gray);
    const a = await readImage(rgba);
    expect([g.image.width, g.image.height]).toEqual([8, 6]);
    expect(Array.from(g.image.data.slice(0, 3))).toEqual([100, 100, 100]);
    expect(Array.from(a.image.data.slice(0, 3))).toEqual([200, 200, 200]);
    expect(isGrayscale(g.image)).toBe(true);
    expect(rgbToGray(g.image)[0]).toBeCloseTo(100, 3);
    await expect(readImage(tf.zeros([4, 4, 2]), { name: 'two-channel' })).rejects.toThrow(
      /readImage: two-channel: expected a \[height, width\].*but got shape \[4,4,2\]/,
    );
    gray.dispose();
    rgba.dispose();
  });

  it('downscales huge pictures first and reports the scale back to the original', async () => {
    const big = await sharp({ create: { width: 5000, height: 2500, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer();
    const d = await readImage(big, { maxSide: 1000 });
    expect([d.image.width, d.image.height, d.originalWidth, d.originalHeight]).toEqual([
      1000, 500, 5000, 2500,
    ]);
    expect(d.scale).toBe(5);
    const t = tf.zeros([300, 3000, 3]);
    const dt = await readImage(t, { maxSide: 600 });
    expect([dt.image.width, dt.image.height, dt.scale]).toEqual([600, 60, 5]);
    t.dispose();
  });

  it('applies EXIF orientation and reads grayscale, CMYK and alpha JPEG/PNG', async () => {
    const png = await halves();
    // stored 40x30; orientation 6 shows it turned a quarter clockwise: 30x40, red on top
    const rotated = await sharp(png).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const r = await readImage(rotated);
    expect([r.image.width, r.image.height, r.originalWidth, r.originalHeight]).toEqual([30, 40, 30, 40]);
    expect(r.image.data[0]).toBeGreaterThan(200); // top-left is red
    expect(r.image.data[39 * 30 * 3 + 2]).toBeGreaterThan(200); // bottom-left is blue
    const gray = await readImage(await sharp(png).greyscale().jpeg().toBuffer());
    expect(isGrayscale(gray.image)).toBe(true);
    const cmyk = await readImage(await sharp(png).toColourspace('cmyk').jpeg().toBuffer());
    expect(cmyk.image.data[0]).toBeGreaterThan(180); // still red after the CMYK round trip
    expect(cmyk.image.data[2]).toBeLessThan(80);
    const alpha = await readImage(await sharp(png).ensureAlpha(0.5).png().toBuffer());
    expect(alpha.image.data.length).toBe(40 * 30 * 3);
  });

  it('names the file for a missing, empty, corrupt or truncated picture', async () => {
    const empty = join(dir, 'empty.jpg');
    const corrupt = join(dir, 'corrupt.png');
    const truncated = join(dir, 'truncated.jpg');
    writeFileSync(empty, '');
    writeFileSync(corrupt, 'this is not an image');
    const jpg = await sharp(await halves())
      .jpeg()
      .toBuffer();
    writeFileSync(truncated, jpg.subarray(0, jpg.length >> 1));
    await expect(readImage(join(dir, 'missing.jpg'))).rejects.toThrow(
      /readImage: .*missing\.jpg: no such file/,
    );
    for (const file of [empty, corrupt, truncated]) {
      const error = await readImage(file).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageInputError);
      expect((error as ImageInputError).file).toBe(file);
      expect((error as Error).message).toMatch(/cannot decode the image/);
    }
    await expect(readImage(new Uint8Array(0), { name: 'upload.jpg' })).rejects.toThrow(
      /readImage: upload\.jpg: the file is empty/,
    );
    await expect(readImage(42 as never)).rejects.toThrow(/readImage: expected `input` to be a tensor/);
  });
});

describe('loadFaceDetector errors', () => {
  it('names the model file it cannot load', async () => {
    const { loadFaceDetector } = await import('../../src/faces/blazeface');
    await expect(loadFaceDetector({ model: join(dir, 'nowhere/blazeface.json') })).rejects.toThrow(
      /loadFaceDetector: cannot load the BlazeFace model from file:\/\/.*nowhere\/blazeface\.json/,
    );
    await expect(loadFaceDetector({ model: '' })).rejects.toThrow(/expected `model` to be a URL or a path/);
  });
});
