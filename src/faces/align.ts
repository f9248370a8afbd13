/**
 * FER2013-style face crops from detections: rotate so the eyes are level, frame the face the way
 * FER2013's 48x48 crops are framed (margins calibrated on FER2013 and CK+ faces, see
 * docs/faces.md), and resample to a grayscale square with area averaging. Browser-safe.
 * @module
 */

import { checkNumberInRange, checkPositiveInteger, expected } from '../errors';
import type { DetectedFace, FaceBox, Point } from './types';

/**
 * How a crop square relates to the detector's box: side `scale * box.width`; centre at the box
 * centre moved by `offsetX * side` and `offsetY * side` along the face's own axes (after levelling
 * the eyes). Calibrated for BlazeFace on FER2013 and CK+ faces (docs/faces.md).
 * @category Faces
 */
export interface CropFraming {
  /** Crop side divided by the box width. */
  scale: number;
  /** Horizontal shift of the crop centre from the box centre, as a fraction of the crop side. */
  offsetX: number;
  /** Vertical shift (positive is down, towards the chin), as a fraction of the crop side. */
  offsetY: number;
}

/**
 * The framing that makes BlazeFace crops match FER2013's: medians over 400 FER2013 faces pasted,
 * upscaled, into larger pictures (`test/faces/calibration.ts`; re-checked by
 * `test/faces/detect.test.ts`; numbers in docs/faces.md). The crop is 16 % wider than the box and
 * sits 11 % of its side higher, towards the forehead.
 * @example
 * ```ts
 * const square = faceCropSquare(face, { framing: { ...FER2013_FRAMING, scale: 1.3 } }); // looser
 * ```
 * @category Faces
 */
export const FER2013_FRAMING: Readonly<CropFraming> = { scale: 1.16, offsetX: 0, offsetY: -0.11 };

/** Options of {@link faceCropSquare} and {@link cropFace}. @category Faces */
export interface CropOptions {
  /** Output side in pixels. Defaults to `48` (the model's `imageSize` in {@link recognizeExpressions}). */
  size?: number;
  /** Rotate so the eyes are level (needs eye keypoints; ignored without them). Defaults to `true`. */
  align?: boolean;
  /** The framing. Defaults to {@link FER2013_FRAMING}. */
  framing?: CropFraming;
}

/** Defaults of {@link CropOptions}. @category Faces */
export const CROP_DEFAULTS = { size: 48, align: true } as const;

/** A (possibly rotated) square in image pixels: the region a crop samples. @category Faces */
export interface CropSquare {
  /** Centre, in image pixels. */
  center: Point;
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
 * Roll of a face in radians from its eye keypoints (0 when the eyes are level or unknown).
 * @example
 * ```ts
 * const degrees = (eyeAngle(face) * 180) / Math.PI;
 * ```
 * @category Faces
 */
export function eyeAngle(face: DetectedFace): number {
  const k = face.keypoints;
  if (!k) return 0;
  return Math.atan2(k.leftEye[1] - k.rightEye[1], k.leftEye[0] - k.rightEye[0]);
}

function checkFraming(where: string, f: CropFraming): CropFraming {
  checkNumberInRange(f.scale, 'framing.scale', where, 0.1, 10);
  checkNumberInRange(f.offsetX, 'framing.offsetX', where, -2, 2);
  checkNumberInRange(f.offsetY, 'framing.offsetY', where, -2, 2);
  return f;
}

/**
 * The square a FER2013-style crop of `face` samples: levelled by the eyes, framed by `framing`.
 * @param face A detection (from {@link detectFaces} or any {@link FaceDetector}).
 * @param options See {@link CropOptions} (`size` is not used here).
 * @example
 * ```ts
 * const { center, side, angle } = faceCropSquare(faces[0]);
 * ```
 * @category Faces
 */
export function faceCropSquare(face: DetectedFace, options: CropOptions = {}): CropSquare {
  const where = 'faceCropSquare';
  const framing = checkFraming(where, options.framing ?? FER2013_FRAMING);
  const b: FaceBox = face.box;
  if (!(b.width > 0 && b.height > 0)) {
    throw new RangeError(expected(where, 'face.box', 'a box with positive width and height', b));
  }
  const angle = (options.align ?? CROP_DEFAULTS.align) ? eyeAngle(face) : 0;
  const side = framing.scale * b.width;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const dx = framing.offsetX * side;
  const dy = framing.offsetY * side;
  return {
    center: [b.x + b.width / 2 + cos * dx - sin * dy, b.y + b.height / 2 + sin * dx + cos * dy],
    side,
    angle,
  };
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
 * Resamples a square region of a gray image to `size x size` bytes: bilinear samples, averaged
 * over up to 8x8 sub-pixels when shrinking (so large faces are not aliased); pixels outside the
 * image repeat the nearest edge pixel.
 * @param image The source, values 0-255.
 * @param square The region (see {@link faceCropSquare}).
 * @param size Output side. Defaults to `48`.
 * @returns `size * size` bytes, row-major.
 * @example
 * ```ts
 * const crop = sampleSquare(gray, faceCropSquare(face), 48);
 * ```
 * @category Faces
 */
export function sampleSquare(image: GrayImage, square: CropSquare, size = 48): Uint8Array {
  const where = 'sampleSquare';
  checkPositiveInteger(size, 'size', where);
  const { width: w, height: h, data } = image;
  if (data.length !== w * h || w < 1 || h < 1) {
    throw new RangeError(expected(where, 'image', `width * height (${w * h}) values`, data.length));
  }
  const step = square.side / size;
  const sub = Math.min(8, Math.max(1, Math.ceil(step)));
  const cos = Math.cos(square.angle);
  const sin = Math.sin(square.angle);
  const [cx, cy] = square.center;
  const at = bilinearSampler(data, w, h);
  const out = new Uint8Array(size * size);
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      let sum = 0;
      for (let j = 0; j < sub; j++) {
        const ly = (v + (j + 0.5) / sub) * step - square.side / 2;
        for (let i = 0; i < sub; i++) {
          const lx = (u + (i + 0.5) / sub) * step - square.side / 2;
          // pixel centres: image coordinate x samples pixel floor(x) at x + 0.5 => subtract 0.5
          sum += at(cx + cos * lx - sin * ly - 0.5, cy + sin * lx + cos * ly - 0.5);
        }
      }
      out[v * size + u] = Math.round(sum / (sub * sub));
    }
  }
  return out;
}

/**
 * A FER2013-style grayscale crop of one detected face: eyes level, framed like FER2013.
 * @param image The gray picture the face was found in (values 0-255).
 * @param face The detection.
 * @param options See {@link CropOptions}.
 * @returns `size * size` bytes, ready for `facesToInput`.
 * @example
 * ```ts
 * const crop = cropFace(gray, faces[0], { size: 48 });
 * const x = facesToInput([crop], getPreprocessing(model)!);
 * ```
 * @category Faces
 */
export function cropFace(image: GrayImage, face: DetectedFace, options: CropOptions = {}): Uint8Array {
  return sampleSquare(image, faceCropSquare(face, options), options.size ?? CROP_DEFAULTS.size);
}
