// The browser demo's preprocessing (examples/browser/preprocess.ts), checked by hand computations.
// Runs without a browser; demo.test.ts checks the page end to end.
import { describe, expect, it } from 'vitest';
import { centreCrop, rgbaToGray } from '../../examples/browser/preprocess';
import { facesToInput } from '../../src/models/index';

describe('browser demo preprocessing', () => {
  it('rgbaToGray keeps gray pixels and weights colours by BT.709 luma, ignoring alpha', () => {
    const rgba = [
      0, 0, 0, 255, 255, 255, 255, 0, 77, 77, 77, 255, 255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 9,
    ];
    expect(Array.from(rgbaToGray(rgba, 6))).toEqual([0, 255, 77, 54, 182, 18]);
    for (let v = 0; v < 256; v++) expect(rgbaToGray([v, v, v, 255], 1)[0]).toBe(v);
    expect(() => rgbaToGray([1, 2, 3], 1)).toThrow(/rgbaToGray: expected `rgba` to have 4 values, but got 3/);
  });

  it('centreCrop takes the centred window, offsets rounded down', () => {
    const img = Uint8Array.from({ length: 48 * 48 }, (_, i) => i % 251);
    const crop = centreCrop(img, 48, 48, 44);
    expect(crop).toHaveLength(44 * 44);
    expect(crop[0]).toBe(img[2 * 48 + 2]);
    expect(crop[44 * 44 - 1]).toBe(img[45 * 48 + 45]);
    // 5x4 -> 2x2: top = floor(3 / 2) = 1, left = floor(2 / 2) = 1
    const small = Uint8Array.from({ length: 20 }, (_, i) => i);
    expect(Array.from(centreCrop(small, 5, 4, 2))).toEqual([5, 6, 9, 10]);
    expect(() => centreCrop(small, 5, 4, 5)).toThrow(
      /expected `size` to be an integer in \[1, 4\], but got 5/,
    );
  });

  it('centreCrop is the window the library feeds the model (facesToInput)', () => {
    const face = Uint8Array.from({ length: 48 * 48 }, (_, i) => (i * 37) % 256);
    const pre = { imageSize: 48, cropSize: 44, normalization: { mean: 0, std: 1 }, classNames: [] };
    const x = facesToInput([face], pre);
    const expected = Array.from(centreCrop(face, 48, 48, 44), (v) => Math.fround(v / 255));
    expect(Array.from(x.dataSync())).toEqual(expected);
    x.dispose();
  });
});
