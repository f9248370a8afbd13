/**
 * The face pipeline: picture → faces (BlazeFace, optionally tiled for small faces) → aligned
 * FER2013-style crops → expression probabilities. Browser-safe (decoding bytes and paths needs Node).
 * @module
 */

import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { checkImageFitsBackend, detectionBytesPerPixel } from '../backends/memory';
import { FER2013_CLASSES } from '../data/dataset';
import { checkOneOf, checkPositiveInteger } from '../errors';
import { rgbToGray } from '../image/gray';
import {
  type DecodedImage,
  type FaceImageInput,
  READ_IMAGE_DEFAULTS,
  type ReadImageOptions,
  readImage,
  rgbToTensor,
} from '../image/read_image';
import { type CropSquare, sampleSquare } from '../image/sample';
import { checkFiniteScores } from '../models/finite';
import { facesToInput, predictProbabilities } from '../models/predict';
import { getPreprocessing, type Preprocessing } from '../models/preprocessing';
import { CROP_DEFAULTS, type CropOptions, faceCropSquare } from './align';
import { loadFaceDetector, resolveDetectOptions } from './blazeface';
import {
  DETECT_DEFAULTS,
  type DetectedFace,
  type DetectOptions,
  type FaceBox,
  type FaceDetector,
  type FaceKeypoints,
  type Point,
} from './types';

/** `'on'`: always detect; `'off'`: the whole picture is one face crop; `'auto'`: see {@link FindFacesOptions.detect}. @category Faces */
export type DetectMode = 'auto' | 'on' | 'off';

/** The values of {@link DetectMode}. @category Faces */
export const DETECT_MODES: readonly DetectMode[] = ['auto', 'on', 'off'];

/** Options of {@link detectFaces}. @category Faces */
export interface DetectFacesOptions extends DetectOptions, ReadImageOptions {
  /** The detector. Defaults to a shared {@link loadFaceDetector}`()` (loaded on first use). */
  detector?: FaceDetector;
  /**
   * Also search `tiles x tiles` overlapping tiles (each 1.5 / `tiles` of the picture), for small
   * faces in large group photos; costs `tiles² + 1` detector runs. Defaults to `1` (the whole
   * picture only).
   */
  tiles?: number;
}

let sharedDetector: Promise<FaceDetector> | null = null;

/**
 * The detector {@link detectFaces} uses when none is given, loaded once.
 * @example
 * ```ts
 * const faces = await (await defaultFaceDetector()).detect(rgbTensor);
 * ```
 * @category Faces
 */
export function defaultFaceDetector(): Promise<FaceDetector> {
  sharedDetector ??= loadFaceDetector().catch((e: unknown) => {
    sharedDetector = null;
    throw e;
  });
  return sharedDetector;
}

function scaleFace(face: DetectedFace, s: number, dx = 0, dy = 0): DetectedFace {
  const p = (q: Point | undefined): Point | undefined => (q ? [(q[0] + dx) * s, (q[1] + dy) * s] : undefined);
  const out: DetectedFace = {
    box: {
      x: (face.box.x + dx) * s,
      y: (face.box.y + dy) * s,
      width: face.box.width * s,
      height: face.box.height * s,
    },
    score: face.score,
  };
  if (face.keypoints) {
    const k = face.keypoints;
    const keypoints: FaceKeypoints = { rightEye: p(k.rightEye)!, leftEye: p(k.leftEye)! };
    for (const name of ['nose', 'mouth', 'rightEar', 'leftEar'] as const) {
      if (k[name]) keypoints[name] = p(k[name]);
    }
    out.keypoints = keypoints;
  }
  return out;
}

function boxIou(a: FaceBox, b: FaceBox): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.width * a.height + b.width * b.height - w * h);
}

/** Plain non-maximum suppression over detections: best score first, overlaps above `iou` dropped. @internal */
export function suppressOverlaps(faces: DetectedFace[], iou: number, maxFaces: number): DetectedFace[] {
  const out: DetectedFace[] = [];
  for (const f of [...faces].sort((a, b) => b.score - a.score)) {
    if (out.length >= maxFaces) break;
    if (out.every((k) => boxIou(k.box, f.box) <= iou)) out.push(f);
  }
  return out;
}

/** Detection on an already decoded picture, in its own pixels. @internal */
export async function detectInDecoded(
  decoded: DecodedImage,
  detector: FaceDetector,
  options: DetectOptions & { tiles?: number; maxSide?: number },
): Promise<DetectedFace[]> {
  const where = 'detectFaces';
  const o = resolveDetectOptions(where, options);
  const tiles = checkPositiveInteger(options.tiles ?? 1, 'tiles', where);
  const { width: w, height: h } = decoded.image;
  // Refused before any tensor is made: a wasm allocation that fails aborts the backend for good.
  checkImageFitsBackend(where, decoded.source, w, h, {
    bytesPerPixel: detectionBytesPerPixel(tiles),
    maxSide: options.maxSide ?? READ_IMAGE_DEFAULTS.maxSide,
  });
  const full = rgbToTensor(decoded.image);
  try {
    const found = await detector.detect(full, o);
    if (tiles === 1) return found;
    const all = [...found];
    const tw = Math.min(w, Math.ceil((1.5 * w) / tiles));
    const th = Math.min(h, Math.ceil((1.5 * h) / tiles));
    for (let ty = 0; ty < tiles; ty++) {
      for (let tx = 0; tx < tiles; tx++) {
        const x0 = Math.round(((w - tw) * tx) / (tiles - 1));
        const y0 = Math.round(((h - th) * ty) / (tiles - 1));
        const tile = tf.slice(full, [y0, x0, 0], [th, tw, 3]);
        // a face large in a tile is at least a quarter of the picture, found by the look above;
        // no zoomed-out looks at the many tiles without a face
        const inTile = await detector.detect(tile, { ...o, largeFaces: false });
        tile.dispose();
        for (const f of inTile) {
          // a face cut by an inner tile edge is found whole in a neighbouring tile
          const edge = 2;
          const cut =
            (f.box.x < edge && x0 > 0) ||
            (f.box.y < edge && y0 > 0) ||
            (f.box.x + f.box.width > tw - edge && x0 + tw < w) ||
            (f.box.y + f.box.height > th - edge && y0 + th < h);
          if (!cut) all.push(scaleFace(f, 1, x0, y0));
        }
      }
    }
    // merge duplicates from the whole picture and the tiles: keep the best-scoring one
    return suppressOverlaps(all, o.iouThreshold, o.maxFaces);
  } finally {
    full.dispose();
  }
}

/**
 * Finds the faces in a picture: boxes and eye (and nose, mouth, ear) keypoints, in the picture's
 * original pixels, best first.
 * @param input A tensor, image bytes or path (Node), browser image or video, or {@link RgbImage}.
 * @param options See {@link DetectFacesOptions} (and {@link DetectOptions} for the thresholds).
 * @example
 * ```ts
 * const faces = await detectFaces('group.jpg');
 * for (const f of faces) console.log(f.box, f.keypoints?.leftEye, f.score);
 * ```
 * @throws ImageInputError naming the file when it cannot be read; Error naming the package when the detector is missing.
 * @category Faces
 */
export async function detectFaces(
  input: FaceImageInput,
  options: DetectFacesOptions = {},
): Promise<DetectedFace[]> {
  const decoded = await readImage(input, options);
  const detector = options.detector ?? (await defaultFaceDetector());
  const faces = await detectInDecoded(decoded, detector, options);
  return faces.map((f) => scaleFace(f, decoded.scale));
}

/** Options of {@link findFaceCrops}. @category Faces */
export interface FindFacesOptions extends DetectFacesOptions, CropOptions {
  /**
   * `'on'`: detect faces; `'off'`: take the picture's centre square as the one face (the picture is
   * already a face crop, like FER2013's); `'auto'`: `'off'` for pictures of at most
   * `cropMaxSide` pixels that are nearly square, else `'on'`. Defaults to `'auto'`.
   */
  detect?: DetectMode;
  /** Largest side (pixels) that `'auto'` takes for a face crop. Defaults to `128`. */
  cropMaxSide?: number;
}

/** Defaults of {@link FindFacesOptions}. @category Faces */
export const FIND_FACES_DEFAULTS = { detect: 'auto', cropMaxSide: 128 } as const;

/** One face ready for the classifier. @category Faces */
export interface FaceCrop {
  /** The face's box in the original picture's pixels (the whole picture when not detected). */
  box: FaceBox;
  /** Detection confidence, or `null` when the picture was taken as a crop (`detect: 'off'`). */
  score: number | null;
  /** Keypoints in original pixels, when detected. */
  keypoints?: FaceKeypoints;
  /** The square the crop was sampled from, in original pixels. */
  square: CropSquare;
  /** `size * size` grayscale bytes, framed like FER2013. */
  crop: Uint8Array;
}

/** What {@link findFaceCrops} returns: the faces and the picture they came from. @category Faces */
export interface FaceCrops {
  /** The faces, best first; empty when none was found (then `notice` says why and what to try). */
  faces: FaceCrop[];
  /** Whether faces were detected, or the whole picture was taken as one crop. */
  mode: 'detected' | 'whole';
  /** The decoded picture (possibly downscaled; see `scale`). */
  image: DecodedImage;
  /**
   * Set when no face was found: the picture, its size and the options to try (`detect: 'off'` when
   * it already is a face crop, `tiles` or a lower `minScore` for small faces). Absent otherwise.
   */
  notice?: string;
}

/**
 * The message of a picture in which no face was found, naming the options that would help.
 * @internal
 */
export function noFaceNotice(image: DecodedImage, minScore: number): string {
  return (
    `no face found in ${image.source} (${image.originalWidth}x${image.originalHeight}). ` +
    "If it already is a face crop, pass `detect: 'off'` (CLI: --detect off) to classify the whole picture; " +
    `for small faces in a large picture try \`tiles: 2\` (--tiles 2) or a \`minScore\` below ${minScore} (--min-score).`
  );
}

/** Whether `auto` treats a picture as an existing face crop. @internal */
export function looksLikeFaceCrop(width: number, height: number, cropMaxSide: number): boolean {
  const ratio = width / height;
  return Math.max(width, height) <= cropMaxSide && ratio >= 0.8 && ratio <= 1.25;
}

/**
 * Finds the faces in a picture and cuts one aligned FER2013-style grayscale crop per face.
 * @param input A tensor, image bytes or path (Node), browser image or video, or {@link RgbImage}.
 * @param options See {@link FindFacesOptions}.
 * @example
 * ```ts
 * const { faces } = await findFaceCrops('photo.jpg', { size: 48 });
 * const x = facesToInput(faces.map((f) => f.crop), preprocessing);
 * ```
 * @category Faces
 */
export async function findFaceCrops(
  input: FaceImageInput,
  options: FindFacesOptions = {},
): Promise<FaceCrops> {
  const where = 'findFaceCrops';
  const detect = checkOneOf(options.detect ?? FIND_FACES_DEFAULTS.detect, DETECT_MODES, 'detect', where);
  const cropMaxSide = checkPositiveInteger(
    options.cropMaxSide ?? FIND_FACES_DEFAULTS.cropMaxSide,
    'cropMaxSide',
    where,
  );
  const size = checkPositiveInteger(options.size ?? CROP_DEFAULTS.size, 'size', where);
  const image = await readImage(input, options);
  const { width: w, height: h } = image.image;
  const gray = { data: rgbToGray(image.image), width: w, height: h };
  const s = image.scale;
  const whole =
    detect === 'off' ||
    (detect === 'auto' && looksLikeFaceCrop(image.originalWidth, image.originalHeight, cropMaxSide));
  if (whole) {
    const side = Math.min(w, h);
    const square: CropSquare = { center: [w / 2, h / 2], side, angle: 0 };
    return {
      mode: 'whole',
      image,
      faces: [
        {
          box: { x: ((w - side) / 2) * s, y: ((h - side) / 2) * s, width: side * s, height: side * s },
          score: null,
          square: { center: [(w / 2) * s, (h / 2) * s], side: side * s, angle: 0 },
          crop: sampleSquare(gray, square, size),
        },
      ],
    };
  }
  const detector = options.detector ?? (await defaultFaceDetector());
  const found = await detectInDecoded(image, detector, options);
  const faces = found.map((f): FaceCrop => {
    const square = faceCropSquare(f, options);
    const inOriginal = scaleFace(f, s);
    const out: FaceCrop = {
      box: inOriginal.box,
      score: f.score,
      square: {
        center: [square.center[0] * s, square.center[1] * s],
        side: square.side * s,
        angle: square.angle,
      },
      crop: sampleSquare(gray, square, size),
    };
    if (inOriginal.keypoints) out.keypoints = inOriginal.keypoints;
    return out;
  });
  if (faces.length > 0) return { mode: 'detected', image, faces };
  const minScore = options.minScore ?? DETECT_DEFAULTS.minScore;
  return { mode: 'detected', image, faces, notice: noFaceNotice(image, minScore) };
}

/** Class probabilities of face crops, in the model's class order. @category Faces */
export interface CropPredictions {
  /** One row per crop, summing to 1. */
  probabilities: number[][];
  /** The most probable class name per crop. */
  labels: string[];
  /** Class names in output order (the model's metadata, else FER2013's). */
  classNames: string[];
}

/** The model's preprocessing, or the FER2013 defaults the CLI uses for models without metadata. @internal */
export function preprocessingOf(model: tfl.LayersModel): Preprocessing {
  return (
    getPreprocessing(model) ?? {
      imageSize: 48,
      cropSize: model.inputs[0]?.shape[1] ?? 44,
      normalization: { mean: 0.5, std: 0.25 },
      classNames: [...FER2013_CLASSES],
    }
  );
}

/**
 * Runs the expression model on grayscale face crops (`imageSize x imageSize`, e.g. from
 * {@link findFaceCrops}), in batches.
 * @param model A fer-cbam model (its preprocessing is read from its metadata).
 * @param crops `imageSize * imageSize` bytes each.
 * @param batchSize Crops per forward pass. Defaults to `32`.
 * @example
 * ```ts
 * const { labels } = await classifyFaceCrops(model, faces.map((f) => f.crop));
 * ```
 * @category Faces
 */
export async function classifyFaceCrops(
  model: tfl.LayersModel,
  crops: Uint8Array[],
  batchSize = 32,
): Promise<CropPredictions> {
  checkPositiveInteger(batchSize, 'batchSize', 'classifyFaceCrops');
  const pre = preprocessingOf(model);
  const probabilities: number[][] = [];
  for (let i = 0; i < crops.length; i += batchSize) {
    const x = facesToInput(crops.slice(i, i + batchSize), pre);
    const p = predictProbabilities(model, x);
    x.dispose();
    const rows = (await p.array()) as number[][];
    p.dispose();
    // NaN scores would otherwise print as "NaN%" and label every face with class 0.
    checkFiniteScores(rows, model, 'classifyFaceCrops', i);
    probabilities.push(...rows);
  }
  const labels = probabilities.map((row) => pre.classNames[row.indexOf(Math.max(...row))] ?? '?');
  return { probabilities, labels, classNames: pre.classNames };
}

/** Options of {@link recognizeExpressions}. @category Faces */
export interface RecognizeOptions extends FindFacesOptions {
  /** The expression model (e.g. `loadPretrained('realfaces')` or `tf.loadLayersModel(...)`). */
  model: tfl.LayersModel;
}

/** One face with its expression. @category Faces */
export interface FaceExpression extends FaceCrop {
  /** Class probabilities in the model's class order (`classNames`). */
  probabilities: number[];
  /** The most probable class. */
  label: string;
  /** Class names in output order. */
  classNames: string[];
}

/**
 * What {@link recognizeExpressions} returns: the faces, best first, as an array; when it is empty,
 * `notice` says that no face was found in the picture and which options to try (like
 * {@link FaceCrops.notice}).
 * @category Faces
 */
export type RecognizedFaces = FaceExpression[] & { notice?: string };

/**
 * Finds every face in a picture and recognises its expression: per face the box, keypoints, the
 * aligned FER2013-style crop, the class probabilities and the label.
 * @param input A tensor, image bytes or path (Node), browser image or video, or {@link RgbImage}.
 * @param options `model` plus {@link FindFacesOptions} (`detector`, `detect`, thresholds, `tiles`).
 * @returns Faces best first; `[]` with a `notice` (the remedy) when there is none.
 * @example
 * ```ts
 * const model = await tf.loadLayersModel('file://models/fer2013/model.json');
 * const faces = await recognizeExpressions('friends.jpg', { model });
 * if (faces.notice) console.warn(faces.notice); // no face found, and what to try
 * for (const face of faces) console.log(face.box, face.label, face.probabilities);
 * ```
 * @throws ImageInputError naming the file when it cannot be read; Error naming the package when the detector is missing.
 * @category Faces
 */
export async function recognizeExpressions(
  input: FaceImageInput,
  options: RecognizeOptions,
): Promise<RecognizedFaces> {
  if (!options || typeof options.model?.predict !== 'function') {
    throw new TypeError('recognizeExpressions: expected `options.model` to be a tfjs LayersModel.');
  }
  const pre = preprocessingOf(options.model);
  const { faces, notice } = await findFaceCrops(input, { ...options, size: options.size ?? pre.imageSize });
  const { probabilities, labels, classNames } = await classifyFaceCrops(
    options.model,
    faces.map((f) => f.crop),
  );
  const out: RecognizedFaces = faces.map((f, i) => ({
    ...f,
    probabilities: probabilities[i]!,
    label: labels[i]!,
    classNames,
  }));
  if (notice) out.notice = notice;
  return out;
}
