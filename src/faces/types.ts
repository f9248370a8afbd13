/**
 * Shapes shared by the face room: boxes, keypoints and the detector interface. Browser-safe.
 * @module
 */

import type * as tf from '@tensorflow/tfjs-core';

/** A point in image pixels, `[x, y]`. @category Faces */
export type Point = [number, number];

/** An axis-aligned box in image pixels (origin top-left). @category Faces */
export interface FaceBox {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  /** Width. */
  width: number;
  /** Height. */
  height: number;
}

/**
 * Face keypoints in image pixels. "Right" and "left" are the person's own (the right eye of a
 * person facing the camera appears on the image's left), as in MediaPipe.
 * @category Faces
 */
export interface FaceKeypoints {
  /** Centre of the person's right eye. */
  rightEye: Point;
  /** Centre of the person's left eye. */
  leftEye: Point;
  /** Tip of the nose. */
  nose?: Point;
  /** Centre of the mouth. */
  mouth?: Point;
  /** Right ear tragion. */
  rightEar?: Point;
  /** Left ear tragion. */
  leftEar?: Point;
}

/** One face found by a {@link FaceDetector}. @category Faces */
export interface DetectedFace {
  /** The detector's box (for BlazeFace: brows to chin, about ear to ear), in image pixels. */
  box: FaceBox;
  /** Detection confidence in [0, 1]. */
  score: number;
  /** Eye (and other) keypoints, when the detector gives them. */
  keypoints?: FaceKeypoints;
}

/** Options of {@link FaceDetector.detect} and {@link detectFaces}. @category Faces */
export interface DetectOptions {
  /** Faces scoring below this are dropped. Defaults to `0.6`. */
  minScore?: number;
  /** Overlapping detections above this IoU are merged. Defaults to `0.3`. */
  iouThreshold?: number;
  /** At most this many faces, best first. Defaults to `50`. */
  maxFaces?: number;
  /** Faces whose box is narrower than this many pixels are dropped. Defaults to `12`. */
  minFaceSize?: number;
  /**
   * Also find faces that fill most of the picture (already-cropped faces, close-up portraits):
   * when the first look finds no face, or one wider than a quarter of the picture, BlazeFace looks
   * again at the picture zoomed out, because it was trained on faces up to 3/4 of its input and
   * misses or misframes larger ones (docs/faces.md). Costs one more detector run on those pictures
   * (two when no face is found at all); group photos, whose faces are smaller, keep the single look.
   * `false` gives the single-look detector of fer-cbam 0.1.0. Defaults to `true`.
   */
  largeFaces?: boolean;
}

/** Defaults of {@link DetectOptions}. @category Faces */
export const DETECT_DEFAULTS = {
  minScore: 0.6,
  iouThreshold: 0.3,
  maxFaces: 50,
  minFaceSize: 12,
  largeFaces: true,
} as const;

/**
 * A face detector: anything that turns an RGB image tensor into face boxes. {@link loadFaceDetector}
 * returns the bundled BlazeFace adapter; implement this interface to plug in another detector.
 * @example
 * ```ts
 * const detector = await loadFaceDetector();
 * const faces = await detector.detect(rgb); // rgb: [height, width, 3], values 0-255
 * ```
 * @category Faces
 */
export interface FaceDetector {
  /** A short name for messages, e.g. `'blazeface'`. */
  readonly name: string;
  /**
   * Finds faces in an image.
   * @param image `[height, width, 3]`, RGB values 0-255 (any dtype); not disposed.
   * @returns Faces in image pixels, best first.
   */
  detect(image: tf.Tensor3D, options?: DetectOptions): Promise<DetectedFace[]>;
  /** Frees the detector's weights. */
  dispose(): void;
}
