/**
 * The one grayscale conversion and the one resampler for whole pictures, shared by every path that
 * turns a picture into a model input: the folder and CK+ loaders (`loadGrayImage`), the face
 * pipeline (`findFaceCrops`, whose detected faces are cut by the same sampler, rotated) and the
 * CLI's `--detect off` / `--no-center-crop`. With one conversion, the same picture gives the same
 * crop, and so the same probabilities, whichever way it comes in. Browser-safe.
 * @module
 */
import { sampleRect } from './sample';

/** An 8-bit RGB picture, row-major, 3 bytes per pixel. @internal */
export interface RgbPixels {
  /** `width * height * 3` bytes. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** A grayscale picture, row-major, values 0-255. @internal */
export interface GrayPixels {
  /** `width * height` values. */
  data: Float32Array | Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/**
 * ITU-R BT.709 luma of an RGB image (weights 0.2126, 0.7152, 0.0722 on the sRGB-encoded values),
 * as float gray values 0-255. A gray picture (R = G = B) keeps its values.
 * @param image The RGB pixels.
 * @returns `width * height` gray values.
 * @example
 * ```ts
 * const gray = rgbToGray({ data: rgb, width: 64, height: 64 });
 * ```
 * @internal
 */
export function rgbToGray(image: RgbPixels): Float32Array {
  const n = image.width * image.height;
  const out = new Float32Array(n);
  const d = image.data;
  for (let i = 0; i < n; i++) out[i] = 0.2126 * d[3 * i]! + 0.7152 * d[3 * i + 1]! + 0.0722 * d[3 * i + 2]!;
  return out;
}

/**
 * A whole gray picture resampled to `size` x `size` bytes: `'cover'` takes the centre square (what
 * `findFaceCrops` does with `detect: 'off'`), `'fill'` stretches the whole picture. Each output pixel
 * averages bilinear samples on a grid of up to 8 x 8 per axis (more for larger downscales), so
 * downscaling does not alias; at the same size it copies the pixels.
 * @param image The gray picture.
 * @param size Output side.
 * @param fit `'cover'` or `'fill'`.
 * @returns `size * size` bytes, row-major.
 * @example
 * ```ts
 * const crop = resizeGray({ data: rgbToGray(rgb), width: 64, height: 48 }, 48, 'cover');
 * ```
 * @internal
 */
export function resizeGray(image: GrayPixels, size: number, fit: 'cover' | 'fill'): Uint8Array {
  const { width: w, height: h } = image;
  // 'cover': the centre square; 'fill': the whole picture, stretched. Both through the face
  // pipeline's own sampler, so `detect: 'off'` and findFaceCrops' squares agree bit for bit.
  const side = Math.min(w, h);
  const [width, height] = fit === 'cover' ? [side, side] : [w, h];
  return sampleRect(image, { center: [w / 2, h / 2], width, height, angle: 0 }, size, 'resizeGray');
}
