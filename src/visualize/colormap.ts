/**
 * Heatmap colouring and blending, on plain arrays (no tensors, no files), so it runs anywhere:
 * Node, the browser demo, workers.
 * @module
 */

import type { RgbImage } from '../image/types';

export type { RgbImage };

// Control points of the "jet" colormap (blue -> cyan -> yellow -> red), as used by most Grad-CAM figures.
const JET: ReadonlyArray<readonly [number, number, number, number]> = [
  [0, 0, 0, 128],
  [0.125, 0, 0, 255],
  [0.375, 0, 255, 255],
  [0.625, 255, 255, 0],
  [0.875, 255, 0, 0],
  [1, 128, 0, 0],
];

/**
 * Maps a value in [0, 1] (clamped) to an RGB triple of the jet colormap.
 * @example
 * ```ts
 * jet(0); // [0, 0, 128] (dark blue)
 * jet(1); // [128, 0, 0] (dark red)
 * ```
 * @category Visualization
 */
export function jet(value: number): [number, number, number] {
  const v = Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
  for (let i = 1; i < JET.length; i++) {
    const [x1, r1, g1, b1] = JET[i]!;
    if (v <= x1) {
      const [x0, r0, g0, b0] = JET[i - 1]!;
      const t = (v - x0) / (x1 - x0);
      return [Math.round(r0 + t * (r1 - r0)), Math.round(g0 + t * (g1 - g0)), Math.round(b0 + t * (b1 - b0))];
    }
  }
  return [128, 0, 0];
}

/**
 * Rescales values linearly to [0, 1] (min to 0, max to 1); a constant map becomes all zeros.
 * @category Visualization
 */
export function normalizeMap(values: ArrayLike<number>): Float32Array {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const out = new Float32Array(values.length);
  const range = max - min;
  if (!(range > 0)) return out;
  for (let i = 0; i < values.length; i++) out[i] = (values[i]! - min) / range;
  return out;
}

/**
 * Bilinearly resamples a `srcH x srcW` map to `dstH x dstW` (align-corners = false, like
 * `tf.image.resizeBilinear`), so a 6x6 Grad-CAM or a 44x44 attention map lines up with a 48x48 face.
 * @category Visualization
 */
export function resizeMap(
  map: ArrayLike<number>,
  srcH: number,
  srcW: number,
  dstH: number,
  dstW: number,
): Float32Array {
  if (map.length !== srcH * srcW) {
    throw new RangeError(`resizeMap: expected \`map\` to have ${srcH * srcW} values, but got ${map.length}.`);
  }
  const out = new Float32Array(dstH * dstW);
  const sy = srcH / dstH;
  const sx = srcW / dstW;
  for (let y = 0; y < dstH; y++) {
    const fy = Math.min(srcH - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(srcH - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < dstW; x++) {
      const fx = Math.min(srcW - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(srcW - 1, x0 + 1);
      const tx = fx - x0;
      const top = map[y0 * srcW + x0]! * (1 - tx) + map[y0 * srcW + x1]! * tx;
      const bottom = map[y1 * srcW + x0]! * (1 - tx) + map[y1 * srcW + x1]! * tx;
      out[y * dstW + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

/**
 * Colours a heatmap with {@link jet} and blends it over a grayscale face.
 * @param gray `height * width` grayscale pixels (0-255).
 * @param heat A map of any size (`heatH x heatW`), any range: it is resized to the face and rescaled to [0, 1].
 * @param alpha Weight of the heatmap in the blend. Defaults to `0.45`.
 * @returns The RGB overlay, same size as the face.
 * @example
 * ```ts
 * const rgb = overlayHeatmap(face, 48, 48, attention, 44, 44);
 * await writePng('attention.png', rgb);
 * ```
 * @category Visualization
 */
export function overlayHeatmap(
  gray: ArrayLike<number>,
  height: number,
  width: number,
  heat: ArrayLike<number>,
  heatH: number,
  heatW: number,
  alpha = 0.45,
): RgbImage {
  if (gray.length !== height * width) {
    throw new RangeError(
      `overlayHeatmap: expected \`gray\` to have ${height * width} pixels, but got ${gray.length}.`,
    );
  }
  if (!(alpha >= 0 && alpha <= 1)) {
    throw new RangeError(`overlayHeatmap: expected \`alpha\` to be a number in [0, 1], but got ${alpha}.`);
  }
  const scaled = normalizeMap(resizeMap(heat, heatH, heatW, height, width));
  const data = new Uint8Array(height * width * 3);
  for (let i = 0; i < height * width; i++) {
    const [r, g, b] = jet(scaled[i]!);
    const base = gray[i]! * (1 - alpha);
    data[3 * i] = Math.round(base + alpha * r);
    data[3 * i + 1] = Math.round(base + alpha * g);
    data[3 * i + 2] = Math.round(base + alpha * b);
  }
  return { width, height, data };
}

/**
 * Places images side by side (same height), with a `gap` of black pixels between them.
 * @category Visualization
 */
export function tileHorizontally(images: RgbImage[], gap = 2): RgbImage {
  if (images.length === 0)
    throw new RangeError('tileHorizontally: expected `images` to be non-empty, but got [].');
  const height = Math.max(...images.map((im) => im.height));
  const width = images.reduce((s, im) => s + im.width, 0) + gap * (images.length - 1);
  const data = new Uint8Array(width * height * 3);
  let x0 = 0;
  for (const im of images) {
    for (let y = 0; y < im.height; y++) {
      data.set(im.data.subarray(y * im.width * 3, (y + 1) * im.width * 3), (y * width + x0) * 3);
    }
    x0 += im.width + gap;
  }
  return { width, height, data };
}

/** Expands a grayscale image to RGB. @category Visualization */
export function grayToRgb(gray: ArrayLike<number>, height: number, width: number): RgbImage {
  const data = new Uint8Array(height * width * 3);
  for (let i = 0; i < height * width; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = gray[i]!;
  return { width, height, data };
}
