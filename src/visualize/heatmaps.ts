import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { captureAttentionMaps } from '../layers/attention_maps';
import { endsWithSoftmax, predictProbabilities } from '../models/predict';
import { grayToRgb, overlayHeatmap, type RgbImage, tileHorizontally } from './colormap';
import { gradCam } from './gradcam';

/** One face explained by {@link explainFaces}. @category Visualization */
export interface FaceExplanation {
  /** The part of the face the model sees (its centre crop, the input's size), in RGB. */
  face: RgbImage;
  /** One overlay per attention layer with a spatial map, in model order (`path` names the layer). */
  attention: { path: string; image: RgbImage }[];
  /** Grad-CAM overlay of the explained layer (the last 4D layer by default), or `null` if it could not run. */
  gradCam: { layerName: string; image: RgbImage } | null;
  /** Face, attention overlays and Grad-CAM side by side. */
  tile: RgbImage;
  /** Softmax probabilities per class. */
  probabilities: number[];
  /** Index of the most probable class. */
  predicted: number;
}

/**
 * Attention heatmaps for faces: the spatial attention map of every attention layer that has one
 * (CBAM, spatial gates), and a Grad-CAM of the last stage, each as a coloured overlay on the face.
 * @param model A classifier whose input is `[batch, crop, crop, 1]`.
 * @param faces Grayscale faces, `size * size` pixels each (0-255).
 * @param input The faces as the model's input `[n, crop, crop, 1]` (cropped and normalised the same way).
 * @param size Side of the faces in `faces`.
 * @example
 * ```ts
 * const x = facesToInput(faces, preprocessing);
 * const [first] = explainFaces(model, faces, x, 48);
 * await writeFile('face0.png', await encodePng(first.tile, 4));
 * ```
 * @category Visualization
 */
export function explainFaces(
  model: tfl.LayersModel,
  faces: Uint8Array[],
  input: tf.Tensor4D,
  size: number,
): FaceExplanation[] {
  const n = faces.length;
  if (input.shape[0] !== n) {
    throw new RangeError(`explainFaces: expected \`input\` to hold ${n} images, but got ${input.shape[0]}.`);
  }
  const entries = captureAttentionMaps(model, input);
  const spatial: { path: string; values: Float32Array; h: number; w: number }[] = [];
  for (const e of entries) {
    const map = e.maps.spatial;
    if (map)
      spatial.push({
        path: e.path,
        values: map.dataSync() as Float32Array,
        h: map.shape[1]!,
        w: map.shape[2]!,
      });
  }
  tf.dispose(entries.map((e) => e.maps));

  let cam: { layerName: string; values: Float32Array; h: number; w: number; scores: Float32Array } | null =
    null;
  try {
    const result = gradCam(model, input);
    const [, h, w] = result.maps.shape;
    const scores = endsWithSoftmax(model) ? result.scores.clone() : tf.softmax(result.scores);
    cam = {
      layerName: result.layerName,
      values: result.maps.dataSync() as Float32Array,
      h,
      w,
      scores: scores.dataSync() as Float32Array,
    };
    tf.dispose([result.maps, result.scores, scores]);
  } catch {
    cam = null;
  }
  let probs = cam?.scores;
  if (!probs) {
    const p = predictProbabilities(model, input);
    probs = p.dataSync() as Float32Array;
    p.dispose();
  }
  const classes = probs.length / n;

  // The maps cover the model's input, the centre crop of each face: overlay them on that crop.
  const crop = input.shape[1];
  const offset = (size - crop) >> 1;
  return faces.map((full, i) => {
    const face = centreCrop(full, size, crop, offset);
    const base = grayToRgb(face, crop, crop);
    const attention = spatial.map((s) => ({
      path: s.path,
      image: overlayHeatmap(
        face,
        crop,
        crop,
        s.values.subarray(i * s.h * s.w, (i + 1) * s.h * s.w),
        s.h,
        s.w,
      ),
    }));
    const camImage = cam
      ? {
          layerName: cam.layerName,
          image: overlayHeatmap(
            face,
            crop,
            crop,
            cam.values.subarray(i * cam.h * cam.w, (i + 1) * cam.h * cam.w),
            cam.h,
            cam.w,
          ),
        }
      : null;
    const probabilities = Array.from(probs.subarray(i * classes, (i + 1) * classes));
    const predicted = probabilities.indexOf(Math.max(...probabilities));
    const tile = tileHorizontally([
      base,
      ...attention.map((a) => a.image),
      ...(camImage ? [camImage.image] : []),
    ]);
    return { face: base, attention, gradCam: camImage, tile, probabilities, predicted };
  });
}

function centreCrop(face: Uint8Array, size: number, crop: number, offset: number): Uint8Array {
  if (crop === size) return face;
  const out = new Uint8Array(crop * crop);
  for (let y = 0; y < crop; y++)
    out.set(face.subarray((y + offset) * size + offset, (y + offset) * size + offset + crop), y * crop);
  return out;
}
