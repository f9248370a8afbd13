import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  grayToRgb,
  jet,
  normalizeMap,
  overlayHeatmap,
  resizeMap,
  tileHorizontally,
} from '../../src/visualize/colormap';

describe('colormap', () => {
  it('jet runs from dark blue through cyan and yellow to dark red', () => {
    expect(jet(0)).toEqual([0, 0, 128]);
    expect(jet(0.375)).toEqual([0, 255, 255]);
    expect(jet(0.625)).toEqual([255, 255, 0]);
    expect(jet(1)).toEqual([128, 0, 0]);
    expect(jet(-3)).toEqual(jet(0));
    expect(jet(Number.NaN)).toEqual(jet(0));
    expect(jet(0.25)).toEqual([0, 128, 255]); // halfway between 0.125 (blue) and 0.375 (cyan)
  });

  it('normalizeMap rescales to [0, 1] and maps a constant map to zeros', () => {
    expect(Array.from(normalizeMap([2, 4, 6]))).toEqual([0, 0.5, 1]);
    expect(Array.from(normalizeMap([3, 3]))).toEqual([0, 0]);
  });

  it('resizeMap equals tf.image.resizeBilinear (half-pixel centres)', () => {
    const src = Array.from({ length: 6 * 5 }, (_, i) => Math.sin(i) * 3 + i / 7);
    const ours = resizeMap(src, 6, 5, 13, 11);
    const ref = tf.tidy(() =>
      tf.image.resizeBilinear(tf.tensor4d(src, [1, 6, 5, 1]), [13, 11], false, true).dataSync(),
    );
    for (let i = 0; i < ours.length; i++) expect(ours[i]).toBeCloseTo(ref[i]!, 4);
    expect(() => resizeMap([1, 2, 3], 2, 2, 4, 4)).toThrow(/`map` to have 4 values, but got 3/);
  });

  it('overlayHeatmap blends the colour over the face with the given alpha', () => {
    const gray = [0, 100, 200, 255];
    const out = overlayHeatmap(gray, 2, 2, [0, 1, 2, 3], 2, 2, 0.5);
    expect(out.width).toBe(2);
    // pixel 0: heat 0 -> jet(0) = [0,0,128]; 0.5*0 + 0.5*[0,0,128]
    expect(Array.from(out.data.subarray(0, 3))).toEqual([0, 0, 64]);
    // pixel 3: heat 1 -> jet(1) = [128,0,0]; 0.5*255 + 0.5*[128,0,0] = [191.5,127.5,127.5] rounded
    expect(Array.from(out.data.subarray(9, 12))).toEqual([192, 128, 128]);
    expect(() => overlayHeatmap(gray, 3, 3, [0], 1, 1)).toThrow(/`gray` to have 9 pixels/);
    expect(() => overlayHeatmap(gray, 2, 2, [0], 1, 1, 2)).toThrow(/`alpha`/);
  });

  it('tileHorizontally places images side by side with a gap', () => {
    const a = grayToRgb([10, 20], 1, 2);
    const b = grayToRgb([30], 1, 1);
    const t = tileHorizontally([a, b], 1);
    expect(t.width).toBe(4);
    expect(Array.from(t.data)).toEqual([10, 10, 10, 20, 20, 20, 0, 0, 0, 30, 30, 30]);
  });
});
