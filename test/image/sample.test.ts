import { describe, expect, it } from 'vitest';
import { resizeGray } from '../../src/image/gray';
import { sampleRect } from '../../src/image/sample';

/** A `w` x `h` picture of distinct values 0-255 (a fixed pseudo-random pattern). */
function picture(w: number, h: number): Uint8Array {
  const data = new Uint8Array(w * h);
  for (let i = 0; i < data.length; i++) data[i] = (i * 97 + 13) % 256;
  return data;
}

describe('sampleRect', () => {
  it('shrinks a 2:1 rectangle to a square by averaging each horizontal pixel pair (plain loop)', () => {
    const size = 6;
    const w = 2 * size;
    const data = picture(w, size);
    const out = sampleRect(
      { data, width: w, height: size },
      { center: [w / 2, size / 2], width: w, height: size, angle: 0 },
      size,
    );
    for (let v = 0; v < size; v++) {
      for (let u = 0; u < size; u++) {
        const expected = Math.round((data[v * w + 2 * u]! + data[v * w + 2 * u + 1]!) / 2);
        expect(out[v * size + u]).toBe(expected);
      }
    }
  });

  it("is what resizeGray's 'fill' does with a whole picture", () => {
    const data = picture(30, 17);
    const image = { data, width: 30, height: 17 };
    const rect = { center: [15, 8.5] as [number, number], width: 30, height: 17, angle: 0 };
    expect(resizeGray(image, 11, 'fill')).toEqual(sampleRect(image, rect, 11));
  });

  it('rotated a quarter turn, samples the transposed rectangle (within rounding of cos(pi/2))', () => {
    const size = 5;
    const data = picture(size, 2 * size); // tall: 5 wide, 10 high
    // A 10-wide, 5-high rectangle turned 90 degrees covers exactly this tall picture.
    const out = sampleRect(
      { data, width: size, height: 2 * size },
      { center: [size / 2, size], width: 2 * size, height: size, angle: Math.PI / 2 },
      size,
    );
    // Output (u, v) walks the rectangle's x axis down the picture and its y axis leftwards.
    for (let v = 0; v < size; v++) {
      for (let u = 0; u < size; u++) {
        const x = size - 1 - v;
        const expected = (data[2 * u * size + x]! + data[(2 * u + 1) * size + x]!) / 2;
        expect(Math.abs(out[v * size + u]! - expected)).toBeLessThanOrEqual(0.5 + 1e-9);
      }
    }
  });

  it('names its caller and the fix for a bad size or pixel count', () => {
    const image = { data: new Uint8Array(12), width: 4, height: 3 };
    const rect = { center: [2, 1.5] as [number, number], width: 4, height: 3, angle: 0 };
    expect(() => sampleRect(image, rect, 0, 'resizeGray')).toThrow(/resizeGray.*size/);
    expect(() => sampleRect({ ...image, width: 5 }, rect, 8)).toThrow(/sampleRect.*width \* height \(15\)/);
  });
});
