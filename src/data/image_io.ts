/**
 * Image decoding for the folder loaders and for prediction on image files: any format sharp reads,
 * any size or colour, to a square 8-bit grayscale image. Node-only: `sharp` and `node:fs` are
 * imported lazily inside the functions, so a browser bundle of the library does not pull them in.
 * @module
 */

import { expected } from '../errors';
import { importSharp, type SharpModule } from '../image/sharp';
import { importAtRuntime } from '../node_env';
import { DataFormatError } from './data_error';
import { resizeGray, rgbToGray } from './gray';

/**
 * File extensions the folder loaders and `fer-cbam predict <folder>` read (lower case, with the dot):
 * the formats sharp decodes (JPEG under all its names, PNG, GIF, WebP, TIFF, AVIF and HEIF/HEIC). BMP
 * is not among them: sharp (libvips) has no BMP decoder, so BMP files are skipped and listed, never
 * read. @category Data
 */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.png',
  '.jpg',
  '.jpeg',
  '.jpe',
  '.jfif',
  '.gif',
  '.webp',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
  '.heif',
];

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

/** Imports sharp: the loader of src/image/sharp.ts, re-exported for the data loaders. @internal */
export { importSharp } from '../image/sharp';

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
 * Longer side a picture is decoded at before it is resampled: bigger ones are downscaled by sharp
 * first, as `readImage` does with its default `maxSide`, so a folder picture and the same picture
 * given to `predict` are resampled from the same pixels. @internal
 */
export const DECODE_MAX_SIDE = 2048;

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
  let rgb: { data: Uint8Array; width: number; height: number };
  try {
    const { data, info } = await sharp(path, { failOn: 'error' })
      .rotate() // honour EXIF orientation
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .resize(DECODE_MAX_SIDE, DECODE_MAX_SIDE, {
        fit: 'inside',
        withoutEnlargement: true,
        kernel: 'lanczos3',
      })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, not 3`);
    rgb = {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
    };
  } catch (e) {
    const detail = await explainDecodeFailure(sharp, path, (e as Error).message);
    throw new DataFormatError(where, path, undefined, `cannot decode the image (${detail}).`);
  }
  return resizeGray({ data: rgbToGray(rgb), width: rgb.width, height: rgb.height }, size, fit);
}

/** sharp's default `limitInputPixels`: images with more pixels are refused before decoding. @internal */
export const MAX_IMAGE_PIXELS = 0x3fff * 0x3fff;

/**
 * Says why an image could not be decoded, in words a user can act on: a missing, unreadable, empty or
 * non-regular file, a file that is not an image, truncated or corrupt image data, or an image over
 * the pixel limit (with its size and the limit). Only called after a failure, so the happy path does
 * not pay for a `stat`. @internal
 */
export async function explainDecodeFailure(
  sharp: SharpModule,
  path: string,
  sharpMessage: string,
): Promise<string> {
  const raw = sharpMessage.replace(/\s+/g, ' ').trim();
  const fs = await importAtRuntime<typeof import('node:fs')>('node:fs');
  let stat: import('node:fs').Stats;
  try {
    stat = await fs.promises.stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : `cannot read the file: ${(e as Error).message}`;
  }
  if (stat.isDirectory()) return 'it is a directory, not an image file';
  if (!stat.isFile()) return 'it is not a regular file';
  if (stat.size === 0) return 'the file is empty: 0 bytes';
  try {
    await fs.promises.access(path, fs.constants.R_OK);
    const fh = await fs.promises.open(path, 'r');
    await fh.close();
  } catch (e) {
    return `cannot read the file: ${(e as Error).message}`;
  }
  if (/pixel limit/i.test(raw)) {
    let size = '';
    try {
      const meta = await sharp(path, { limitInputPixels: false }).metadata();
      if (meta.width && meta.height) {
        size = `, ${meta.width}x${meta.height} = ${meta.width * meta.height} pixels`;
      }
    } catch {
      // header unreadable too: report without the size
    }
    return `the image is too large to decode${size}, over the limit of ${MAX_IMAGE_PIXELS} pixels, 16383x16383; downscale it first`;
  }
  if (/unsupported image format/i.test(raw)) {
    const fh = await fs.promises.open(path, 'r');
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0).finally(() => fh.close());
    const hex = Array.from(head.subarray(0, bytesRead), (b) => b.toString(16).padStart(2, '0')).join(' ');
    if (head[0] === 0x42 && head[1] === 0x4d) {
      return `a BMP file (it starts with "BM"), a format sharp does not read; convert it to PNG first (e.g. \`convert in.bmp out.png\` or \`ffmpeg -i in.bmp out.png\`)`;
    }
    return `not an image in a format sharp reads, such as PNG, JPEG, WebP, GIF or TIFF; the ${stat.size}-byte file starts with the bytes ${hex}`;
  }
  if (
    /premature|truncat|end of (file|data|stream)|unknown error|read error|corrupt|invalid|bad|damaged/i.test(
      raw,
    )
  ) {
    return `the image data is truncated or corrupt, ${stat.size} bytes; libvips says: ${raw}`;
  }
  return raw;
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

/**
 * Whether a directory entry is an image the folder loaders and `predict <folder>` read: one of
 * {@link IMAGE_EXTENSIONS}, and not hidden. Hidden names (`.DS_Store`, the `._photo.png` resource
 * forks macOS leaves on other disks, which are not images) are skipped by every folder reader alike.
 * @internal
 */
export function isImageFile(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return !name.startsWith('.') && dot > 0 && IMAGE_EXTENSIONS.includes(name.slice(dot).toLowerCase());
}
