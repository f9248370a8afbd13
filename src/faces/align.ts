/**
 * FER2013-style face crops from detections: rotate so the eyes are level, frame the face the way
 * FER2013's 48x48 crops are framed (margins calibrated on FER2013 and CK+ faces, see
 * docs/faces.md), and resample to a grayscale square with area averaging. Browser-safe.
 * @module
 */

import { checkNumberInRange, expected } from '../errors';
import { type CropSquare, type GrayImage, sampleSquare } from '../image/sample';
import type { DetectedFace, FaceBox } from './types';

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
