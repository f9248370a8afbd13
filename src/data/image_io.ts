/**
 * Picture files as square 8-bit grayscale images for the folder loaders and for prediction on image
 * files: any format sharp reads, any size or colour (decoded by src/image/decode.ts). Node-only: `sharp` and `node:fs` are
 * imported lazily inside the functions, so a browser bundle of the library does not pull them in.
 * @module
 */

import { expected } from '../errors';
import { DECODE_MAX_SIDE, decodeRgb, explainDecodeFailure } from '../image/decode';
import { resizeGray, rgbToGray } from '../image/gray';
import { importSharp, type SharpModule } from '../image/sharp';
import type { RgbImage } from '../image/types';
import { importAtRuntime } from '../node_env';
import { DataFormatError } from './data_error';

/** Options of {@link loadGrayImage}. @category Data */
export interface LoadGrayImageOptions {
  /** Output side in pixels. Defaults to `48`. */
  size?: number;
  /**
   * `'cover'`: crop the centre square, then resize (keeps the aspect ratio); `'fill'`: stretch the
   * whole image to a square. Defaults to `'cover'`.
   */
  fit?: 'cover' | 'fill';
}

/** Defaults of {@link LoadGrayImageOptions}. @category Data */
export const LOAD_GRAY_IMAGE_DEFAULTS = { size: 48, fit: 'cover' } as const;

/** Checks size/fit options; returns resolved values. @internal */
export function resolveImageOptions(
  where: string,
  options: LoadGrayImageOptions,
): { size: number; fit: 'cover' | 'fill' } {
  const size = options.size ?? LOAD_GRAY_IMAGE_DEFAULTS.size;
  if (!Number.isInteger(size) || size < 1 || size > 4096) {
    throw new RangeError(expected(where, 'size', 'an integer in [1, 4096]', size));
  }
  const fit = options.fit ?? LOAD_GRAY_IMAGE_DEFAULTS.fit;
  if (fit !== 'cover' && fit !== 'fill') {
    throw new RangeError(expected(where, 'fit', "one of 'cover', 'fill'", fit));
  }
  return { size, fit };
}

/**
 * Decodes one file with an already-imported sharp into a `size` x `size` gray image: sRGB pixels
 * (EXIF orientation applied, alpha on black, at most {@link DECODE_MAX_SIDE} on the longer side),
 * then the library's one gray conversion and resampler ({@link rgbToGray}, {@link resizeGray}), the
 * same as the face pipeline's. Throws DataFormatError naming the path. @internal
 */
export async function decodeGray(
  sharp: SharpModule,
  path: string,
  size: number,
  fit: 'cover' | 'fill',
  where: string,
): Promise<Uint8Array> {
  let rgb: RgbImage;
  try {
    rgb = await decodeRgb(sharp, path, DECODE_MAX_SIDE);
  } catch (e) {
    const detail = await explainDecodeFailure(sharp, path, (e as Error).message);
    throw new DataFormatError(where, path, undefined, `cannot decode the image (${detail}).`);
  }
  return resizeGray({ data: rgbToGray(rgb), width: rgb.width, height: rgb.height }, size, fit);
}

/**
 * Reads one image file of any format, size or colour as a `size` x `size` grayscale image
 * (EXIF orientation applied, alpha composited on black, ITU-R BT.709 luma of the sRGB values, the
 * same conversion and resampling as the face pipeline's `findFaceCrops` with `detect: 'off'`).
 * @param path The image file.
 * @param options See {@link LoadGrayImageOptions}.
 * @returns `size * size` pixels, row-major.
 * @example
 * ```ts
 * const pixels = await loadGrayImage('face.jpg', { size: 48 });
 * const x = tf.tensor4d(Float32Array.from(pixels, (p) => p / 255), [1, 48, 48, 1]);
 * ```
 * @throws DataFormatError naming the path if the file cannot be read or decoded.
 * @category Data
 */
export async function loadGrayImage(path: string, options: LoadGrayImageOptions = {}): Promise<Uint8Array> {
  const where = 'loadGrayImage';
  const { size, fit } = resolveImageOptions(where, options);
  const sharp = await importSharp(where);
  // A FIFO (or socket, device) would block the decoder forever instead of failing.
  const fs = await importAtRuntime<typeof import('node:fs')>('node:fs');
  const stat = await fs.promises.stat(path).catch(() => null);
  if (stat && !stat.isFile() && !stat.isDirectory()) {
    throw new DataFormatError(where, path, undefined, 'cannot decode the image (it is not a regular file).');
  }
  return decodeGray(sharp, path, size, fit, where);
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping order. @internal */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
) {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
