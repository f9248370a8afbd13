/**
 * Decoding picture files and bytes with sharp (Node): the one decoding pipeline (EXIF orientation,
 * alpha on black, sRGB, downscaled to a longest side) shared by `readImage` and the folder loaders,
 * and the explanation of a failure in words a user can act on.
 * @module
 */

import { importAtRuntime } from '../node_env';
import type { SharpModule } from './sharp';
import type { RgbImage } from './types';

/**
 * Longer side a picture is decoded at before it is resampled: bigger ones are downscaled by sharp
 * first, as `readImage` does with its default `maxSide`, so a folder picture and the same picture
 * given to `predict` are resampled from the same pixels. @internal
 */
export const DECODE_MAX_SIDE = 2048;

/**
 * Decodes a file path or image bytes to 8-bit sRGB with an already-imported sharp: EXIF orientation
 * applied, any colour space converted, alpha composited on black, downscaled (Lanczos) so the longer
 * side is at most `maxSide`. Throws sharp's own error; callers word it with {@link explainDecodeFailure}.
 * @param sharp The sharp module (`importSharp`).
 * @param input A file path or the file's bytes.
 * @param maxSide Longest side of the result; smaller pictures are not enlarged.
 * @param maxPixels Pictures with more pixels are refused before decoding. Defaults to
 * {@link MAX_IMAGE_PIXELS}, sharp's own default.
 * @example
 * ```ts
 * const rgb = await decodeRgb(await importSharp('mine'), 'face.jpg', DECODE_MAX_SIDE);
 * ```
 * @internal
 */
export async function decodeRgb(
  sharp: SharpModule,
  input: string | Uint8Array,
  maxSide: number,
  maxPixels = MAX_IMAGE_PIXELS,
): Promise<RgbImage> {
  const { data, info } = await sharp(input, { failOn: 'error', limitInputPixels: maxPixels })
    .rotate() // honour EXIF orientation
    .flatten({ background: { r: 0, g: 0, b: 0 } })
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true, kernel: 'lanczos3' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, not 3`);
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
  };
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
