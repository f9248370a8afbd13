/**
 * Resampling a (possibly rotated) square of a gray picture to a small square: the one sampler behind
 * face crops (`cropFace`, `findFaceCrops`) and the whole-picture resize of the data loaders
 * (`resizeGray`), so the same picture gives the same pixels whichever way it comes in. Browser-safe.
 * @module
 */

import { checkPositiveInteger, expected } from '../errors';

/** A (possibly rotated) square in image pixels: the region a crop samples. @category Faces */
export interface CropSquare {
  /** Centre, in image pixels. */
  center: [number, number];
  /** Side, in image pixels. */
  side: number;
  /** Rotation in radians (clockwise in image coordinates; 0 = upright). */
  angle: number;
}

/** A single-channel image of float or byte values 0-255, row-major. @category Faces */
export interface GrayImage {
  /** `width * height` values. */
  data: ArrayLike<number>;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/**
 * Bilinear reads of a `w` x `h` gray picture at real coordinates, clamped to its edges: the sampler
 * of {@link sampleSquare} and of the data loaders' resize, one copy so the two agree bit for bit.
 * @example
 * ```ts
 * const at = bilinearSampler(pixels, 48, 48);
 * at(10.5, 3.25); // a value between the four pixels around it
 * ```
 * @internal
 */
export function bilinearSampler(
  data: ArrayLike<number>,
  w: number,
  h: number,
): (x: number, y: number) => number {
  return (x, y) => {
    const xc = Math.max(0, Math.min(x, w - 1));
    const yc = Math.max(0, Math.min(y, h - 1));
    const x0 = Math.floor(xc);
    const y0 = Math.floor(yc);
    const x1 = Math.min(x0 + 1, w - 1);
    const y1 = Math.min(y0 + 1, h - 1);
    const fx = xc - x0;
    const fy = yc - y0;
    const top = data[y0 * w + x0]! * (1 - fx) + data[y0 * w + x1]! * fx;
    const bottom = data[y1 * w + x0]! * (1 - fx) + data[y1 * w + x1]! * fx;
    return top * (1 - fy) + bottom * fy;
  };
}

/**
 * A (possibly rotated) rectangle in image pixels, the general form of {@link CropSquare}: what
 * {@link sampleRect} resamples. @internal
 */
export interface CropRect {
  /** Centre, in image pixels. */
  center: [number, number];
  /** Width (along the rotated x axis), in image pixels. */
  width: number;
  /** Height (along the rotated y axis), in image pixels. */
  height: number;
  /** Rotation in radians (clockwise in image coordinates; 0 = upright). */
  angle: number;
}

/**
 * Resamples a square region of a gray image to `size x size` bytes: bilinear samples, averaged
 * over up to 8x8 sub-pixels when shrinking (so large faces are not aliased); pixels outside the
 * image repeat the nearest edge pixel.
 * @param image The source, values 0-255.
 * @param square The region (`faceCropSquare` gives a face's).
 * @param size Output side. Defaults to `48`.
 * @returns `size * size` bytes, row-major.
 * @example
 * ```ts
 * const crop = sampleSquare(gray, faceCropSquare(face), 48);
 * ```
 * @category Faces
 */
export function sampleSquare(image: GrayImage, square: CropSquare, size = 48): Uint8Array {
  const { center, side, angle } = square;
  return sampleRect(image, { center, width: side, height: side, angle }, size, 'sampleSquare');
}

/**
 * Resamples a (possibly rotated) rectangle of a gray image to `size x size` bytes, stretching it
 * to a square: {@link sampleSquare} for a square, `resizeGray`'s `'fill'` for a whole picture. Each
 * output pixel averages bilinear samples on a grid of up to 8 sub-pixels per axis (as many as the
 * shrink factor along that axis); pixels outside the image repeat the nearest edge pixel. The one
 * loop behind both, so the data loaders and the face pipeline agree bit for bit.
 * @param image The source, values 0-255.
 * @param rect The region.
 * @param size Output side.
 * @param where The caller's name, for errors. Defaults to `'sampleRect'`.
 * @returns `size * size` bytes, row-major.
 * @example
 * ```ts
 * const squeezed = sampleRect(gray, { center: [w / 2, h / 2], width: w, height: h, angle: 0 }, 48);
 * ```
 * @internal
 */
export function sampleRect(image: GrayImage, rect: CropRect, size: number, where = 'sampleRect'): Uint8Array {
  checkPositiveInteger(size, 'size', where);
  const { width: w, height: h, data } = image;
  if (data.length !== w * h || w < 1 || h < 1) {
    throw new RangeError(expected(where, 'image', `width * height (${w * h}) values`, data.length));
  }
  const stepX = rect.width / size;
  const stepY = rect.height / size;
  const subX = Math.min(8, Math.max(1, Math.ceil(stepX)));
  const subY = Math.min(8, Math.max(1, Math.ceil(stepY)));
  const cos = Math.cos(rect.angle);
  const sin = Math.sin(rect.angle);
  const [cx, cy] = rect.center;
  const at = bilinearSampler(data, w, h);
  const out = new Uint8Array(size * size);
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      let sum = 0;
      for (let j = 0; j < subY; j++) {
        const ly = (v + (j + 0.5) / subY) * stepY - rect.height / 2;
        for (let i = 0; i < subX; i++) {
          const lx = (u + (i + 0.5) / subX) * stepX - rect.width / 2;
          // pixel centres: image coordinate x samples pixel floor(x) at x + 0.5 => subtract 0.5
          sum += at(cx + cos * lx - sin * ly - 0.5, cy + sin * lx + cos * ly - 0.5);
        }
      }
      out[v * size + u] = Math.round(sum / (subX * subY));
    }
  }
  return out;
}
