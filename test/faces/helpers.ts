/** Shared fixtures of the face tests: the detector (or a skip), an untrained model, sample photos. */

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { FER2013_CLASSES } from '../../src/data/dataset';
import { findBlazeFaceWeights, loadFaceDetector } from '../../src/faces/blazeface';
import type { FaceDetector } from '../../src/faces/types';
import { setPreprocessing } from '../../src/models/preprocessing';
import { resnetCbam } from '../../src/models/resnet_cbam';

/** The weights' path, or null (tests using the detector skip). */
export const WEIGHTS = await findBlazeFaceWeights();

let converterOk = true;
try {
  await import('@tensorflow/tfjs-converter');
} catch {
  converterOk = false;
}
/** Whether the optional detector peers are installed. */
export const HAS_DETECTOR = WEIGHTS !== null && converterOk;

/**
 * Photos shipped inside `@vladmandic/human` (MIT; used in place, never copied):
 * `assets/screenshot-facedetect.jpg` (800x718, a row of five face photos at y 340-500).
 */
export const HUMAN_ASSETS = WEIGHTS ? join(dirname(dirname(WEIGHTS)), 'assets') : '';
export const FACEDETECT_JPG = join(HUMAN_ASSETS, 'screenshot-facedetect.jpg');
export const HAS_PHOTOS = HAS_DETECTOR && existsSync(FACEDETECT_JPG);

let detector: Promise<FaceDetector> | null = null;
/** One detector for the whole test file. */
export function sharedDetector(): Promise<FaceDetector> {
  detector ??= loadFaceDetector();
  return detector;
}

/** An untrained tiny ResNet+CBAM with FER2013 preprocessing metadata. */
export function tinyModel(): tfl.LayersModel {
  const model = resnetCbam({ depth: 10, width: 4, inputShape: [44, 44, 1], numClasses: 7, seed: 1 });
  setPreprocessing(model, {
    imageSize: 48,
    cropSize: 44,
    normalization: { mean: 0.5, std: 0.25 },
    classNames: [...FER2013_CLASSES],
  });
  return model;
}

export function iou(
  a: { x: number; y: number; width: number; height: number },
  b: { x: number; y: number; width: number; height: number },
) {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.width * a.height + b.width * b.height - w * h);
}
