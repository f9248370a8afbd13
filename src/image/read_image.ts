/**
 * Every kind of picture the face functions take, turned into one 8-bit RGB buffer: tensors
 * (gray, RGB or RGBA), image bytes and file paths in Node (decoded by sharp, imported lazily, so a
 * browser bundle does not pull it in), and `HTMLImageElement` / `HTMLVideoElement` /
 * `HTMLCanvasElement` / `ImageBitmap` / `ImageData` in browsers. Huge images are downscaled first.
 * @module
 */

import * as tf from '@tensorflow/tfjs-core';
import { checkPositiveInteger, expected } from '../errors';
import { isNode } from '../node_env';
import { decodeRgb, explainDecodeFailure } from './decode';
import { importSharp } from './sharp';
import type { RgbImage } from './types';

/** Browser image sources {@link readImage} takes (whatever `tf.browser.fromPixels` accepts). @category Faces */
export type BrowserImageSource =
  | ImageData
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | ImageBitmap;

/**
 * A picture: an image tensor (`[h, w]`, `[h, w, 1|3|4]` or `[1, h, w, c]`, values 0-255), image
 * file bytes or a file path (Node), a browser image source, or an already decoded {@link RgbImage}.
 * @category Faces
 */
export type FaceImageInput = tf.Tensor | Uint8Array | ArrayBuffer | string | BrowserImageSource | RgbImage;

/** A decoded picture, possibly downscaled, and how to map its pixels back to the original. @category Faces */
export interface DecodedImage {
  /** The pixels (at most `maxSide` on the longer side). */
  image: RgbImage;
  /** Original width (after EXIF orientation) in pixels. */
  originalWidth: number;
  /** Original height in pixels. */
  originalHeight: number;
  /** `original / decoded`: multiply decoded coordinates by this for original pixels (1 when not downscaled). */
  scale: number;
  /** Where it came from, for messages: the path, `'<bytes>'`, `'<tensor>'` or `'<browser image>'`. */
  source: string;
}

/** Options of {@link readImage}. @category Faces */
export interface ReadImageOptions {
  /** Images whose longer side exceeds this are downscaled to it first. Defaults to `2048`. */
  maxSide?: number;
  /** The name used in error messages for bytes and tensors. Defaults to `'<bytes>'` / `'<tensor>'`. */
  name?: string;
}

/** Defaults of {@link ReadImageOptions}. @category Faces */
export const READ_IMAGE_DEFAULTS = { maxSide: 2048 } as const;

/**
 * An error about one input picture: the message starts with the function and the file.
 * @example
 * ```ts
 * try {
 *   await detectFaces('broken.jpg');
 * } catch (e) {
 *   if (e instanceof ImageInputError) console.log(`skipping ${e.file}`);
 * }
 * ```
 * @category Faces
 */
export class ImageInputError extends Error {
  /** The file path, or `'<bytes>'` / `'<tensor>'` / `'<browser image>'`. */
  readonly file: string;
  /**
   * @param where The function reporting.
   * @param file The file or a placeholder name.
   * @param reason What is wrong.
   */
  constructor(where: string, file: string, reason: string) {
    super(`${where}: ${file}: ${reason}`);
    this.name = 'ImageInputError';
    this.file = file;
  }
}

function isRgbImage(x: unknown): x is RgbImage {
  const o = x as RgbImage;
  return (
    typeof o === 'object' &&
    o !== null &&
    o.data instanceof Uint8Array &&
    Number.isInteger(o.width) &&
    Number.isInteger(o.height) &&
    o.data.length === o.width * o.height * 3
  );
}

function isBrowserSource(x: unknown): x is BrowserImageSource {
  const has = (name: string) => typeof (globalThis as Record<string, unknown>)[name] === 'function';
  return (
    (has('ImageData') && x instanceof ImageData) ||
    (has('HTMLImageElement') && x instanceof HTMLImageElement) ||
    (has('HTMLCanvasElement') && x instanceof HTMLCanvasElement) ||
    (has('HTMLVideoElement') && x instanceof HTMLVideoElement) ||
    (has('ImageBitmap') && x instanceof ImageBitmap)
  );
}

/** Decodes file bytes or a path with sharp: EXIF rotation, any colour space to sRGB, alpha on black. */
async function decodeWithSharp(
  where: string,
  input: string | Uint8Array,
  name: string,
  maxSide: number,
): Promise<DecodedImage> {
  if (!isNode()) {
    throw new ImageInputError(
      where,
      name,
      'file paths and image bytes are decoded only in Node; in a browser pass an image element, ImageBitmap or tensor.',
    );
  }
  const sharp = await importSharp(where);
  try {
    const meta = await sharp(input, { failOn: 'error' }).metadata();
    if (!meta.width || !meta.height) throw new Error('no image size in the file');
    const swap = (meta.orientation ?? 1) >= 5;
    const originalWidth = swap ? meta.height : meta.width;
    const originalHeight = swap ? meta.width : meta.height;
    // A larger pixel limit than the folder loaders' (sharp's default): a huge photo is downscaled
    // to maxSide while it is decoded, and predict should find the faces in it.
    const image = await decodeRgb(sharp, input, maxSide, 1e9);
    return { image, originalWidth, originalHeight, scale: originalWidth / image.width, source: name };
  } catch (e) {
    const reason = (e as Error).message.replace(/\s+/g, ' ').trim();
    if (typeof input === 'string' && /no such file|ENOENT|missing/i.test(reason)) {
      throw new ImageInputError(where, name, 'no such file.');
    }
    // A file's failure in words a user can act on (empty, a directory, BMP, truncated), the folder
    // loaders' explanation.
    const detail = typeof input === 'string' ? await explainDecodeFailure(sharp, input, reason) : reason;
    throw new ImageInputError(where, name, `cannot decode the image (${detail}).`);
  }
}

/**
 * Refuses tensors whose values are not 0-255 pixels: NaN or infinite values, negative ones (a
 * normalised tensor), or a float tensor on the 0-1 scale (fractions, none above 1). Rounded and
 * clipped to bytes, those become a black or flat picture in which no face is found, so the caller
 * would get 0 faces and no hint why.
 */
async function checkPixelValues(where: string, t: tf.Tensor, name: string): Promise<void> {
  const stats = tf.tidy(() => {
    const x = tf.cast(t, 'float32');
    const fractional =
      t.dtype === 'int32' ? tf.scalar(0) : tf.cast(tf.any(tf.notEqual(x, tf.round(x))), 'float32');
    // The sum catches NaN, which min and max may skip (comparisons with NaN are false).
    return tf.stack([tf.min(x), tf.max(x), fractional, tf.sum(x)]);
  });
  const [lo, hi, fractional, sum] = Array.from(await stats.data());
  stats.dispose();
  if (!Number.isFinite(sum!) || !Number.isFinite(lo!) || !Number.isFinite(hi!)) {
    throw new ImageInputError(
      where,
      name,
      'the tensor holds NaN or infinite values; give pixel values 0-255.',
    );
  }
  if (lo! < 0) {
    throw new ImageInputError(
      where,
      name,
      `the tensor holds values from ${lo} to ${hi}, not pixel values 0-255 (a normalised tensor?); give the picture's pixels 0-255.`,
    );
  }
  if (hi! <= 1 && fractional! > 0) {
    throw new ImageInputError(
      where,
      name,
      `the tensor holds values from ${lo} to ${hi}, a 0-1 scale; pixel values are 0-255: multiply it by 255 (tf.mul(x, 255)).`,
    );
  }
}

/** A `[h, w, c]` tensor (c = 1, 3 or 4, values 0-255) to RGB bytes, downscaling to `maxSide`. */
async function tensorToRgb(
  where: string,
  t: tf.Tensor,
  name: string,
  maxSide: number,
): Promise<DecodedImage> {
  let shape = t.shape;
  if (shape.length === 4 && shape[0] === 1) shape = shape.slice(1);
  if (shape.length === 2) shape = [...shape, 1];
  const c = shape[2];
  if (shape.length !== 3 || !(c === 1 || c === 3 || c === 4) || shape[0]! < 1 || shape[1]! < 1) {
    throw new ImageInputError(
      where,
      name,
      `expected a [height, width], [height, width, 1|3|4] or [1, height, width, c] tensor, but got shape ${JSON.stringify(t.shape)}.`,
    );
  }
  const [h, w] = shape as [number, number, number];
  await checkPixelValues(where, t, name);
  const side = Math.max(h, w);
  const factor = side > maxSide ? maxSide / side : 1;
  const outH = Math.max(1, Math.round(h * factor));
  const outW = Math.max(1, Math.round(w * factor));
  const rgb = tf.tidy(() => {
    let x = tf.cast(tf.reshape(t, [h, w, c!]), 'float32') as tf.Tensor3D;
    if (c === 4) x = tf.slice(x, [0, 0, 0], [h, w, 3]);
    if (c === 1) x = tf.tile(x, [1, 1, 3]);
    if (factor < 1) {
      let x4 = tf.expandDims(x, 0) as tf.Tensor4D;
      const pool = Math.floor(1 / factor);
      if (pool >= 2) x4 = tf.avgPool(x4, pool, pool, 'valid');
      x = tf.squeeze(tf.image.resizeBilinear(x4, [outH, outW], false, true), [0]) as tf.Tensor3D;
    }
    return tf.cast(tf.clipByValue(tf.round(x), 0, 255), 'int32');
  });
  const values = await rgb.data();
  rgb.dispose();
  return {
    image: { data: Uint8Array.from(values), width: outW, height: outH },
    originalWidth: w,
    originalHeight: h,
    scale: w / outW,
    source: name,
  };
}

/**
 * Reads any {@link FaceImageInput} as 8-bit RGB, downscaling huge pictures first. Used by
 * {@link detectFaces} and {@link recognizeExpressions}; call it yourself to decode once and reuse.
 * @param input A tensor, bytes, path, browser image source or {@link RgbImage}.
 * @param options See {@link ReadImageOptions}.
 * @example
 * ```ts
 * const { image, scale } = await readImage('group.jpg', { maxSide: 1600 });
 * ```
 * @throws ImageInputError naming the file when it is missing, corrupt or of an unsupported shape.
 * @category Faces
 */
export async function readImage(
  input: FaceImageInput,
  options: ReadImageOptions = {},
): Promise<DecodedImage> {
  const where = 'readImage';
  const maxSide = checkPositiveInteger(options.maxSide ?? READ_IMAGE_DEFAULTS.maxSide, 'maxSide', where);
  if (typeof input === 'string') return decodeWithSharp(where, input, options.name ?? input, maxSide);
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) {
    const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : input;
    if (bytes.length === 0) throw new ImageInputError(where, options.name ?? '<bytes>', 'the file is empty.');
    return decodeWithSharp(where, bytes, options.name ?? '<bytes>', maxSide);
  }
  if (input instanceof tf.Tensor) return tensorToRgb(where, input, options.name ?? '<tensor>', maxSide);
  if (isRgbImage(input)) {
    if (Math.max(input.width, input.height) <= maxSide) {
      return {
        image: input,
        originalWidth: input.width,
        originalHeight: input.height,
        scale: 1,
        source: options.name ?? '<rgb>',
      };
    }
    const t = tf.tensor3d(input.data, [input.height, input.width, 3], 'int32');
    try {
      return await tensorToRgb(where, t, options.name ?? '<rgb>', maxSide);
    } finally {
      t.dispose();
    }
  }
  if (isBrowserSource(input)) {
    const name = options.name ?? '<browser image>';
    const video = input as HTMLVideoElement;
    if (typeof video.videoWidth === 'number' && (video.videoWidth === 0 || video.readyState < 2)) {
      throw new ImageInputError(where, name, 'the video has no frame yet (wait for its "loadeddata" event).');
    }
    const t = tf.browser.fromPixels(input, 3);
    try {
      return await tensorToRgb(where, t, name, maxSide);
    } finally {
      t.dispose();
    }
  }
  throw new TypeError(
    expected(
      where,
      'input',
      'a tensor, image bytes, a file path, an RgbImage or a browser image source',
      typeof input,
    ),
  );
}

/** The RGB image as a `[h, w, 3]` int32 tensor; the caller disposes it. @internal */
export function rgbToTensor(image: RgbImage): tf.Tensor3D {
  return tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
}

/** Whether all three channels are (nearly) equal everywhere: a grayscale picture. @internal */
export function isGrayscale(image: RgbImage): boolean {
  const d = image.data;
  const step = Math.max(1, Math.floor(d.length / 3 / 20000));
  for (let i = 0; i < d.length; i += 3 * step) {
    if (Math.abs(d[i]! - d[i + 1]!) > 3 || Math.abs(d[i + 1]! - d[i + 2]!) > 3) return false;
  }
  return true;
}
