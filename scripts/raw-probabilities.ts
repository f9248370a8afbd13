/**
 * Raw class probabilities of grayscale faces as the library's inference path computes them
 * (`facesToInput` with the model's stored preprocessing, then `predictProbabilities` without the
 * stored temperature): one definition for the scripts and benchmarks that score whole test sets.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { facesToInput, getPreprocessing, predictProbabilities } from '../src/index';

/**
 * One row of class probabilities per face (single centre crop, no calibration), `chunk` faces per
 * forward pass. Each face is a `Uint8Array` of the model's input side squared (48x48 for the
 * shipped models).
 */
export function rawProbabilities(model: tfl.LayersModel, faces: Uint8Array[], chunk = 256): Float32Array[] {
  const pre = getPreprocessing(model);
  if (!pre) throw new Error(`rawProbabilities: ${model.name} has no stored preprocessing`);
  const rows: Float32Array[] = [];
  for (let s = 0; s < faces.length; s += chunk) {
    const x = facesToInput(faces.slice(s, s + chunk), pre);
    const p = predictProbabilities(model, x, { calibrated: false });
    const flat = p.dataSync() as Float32Array;
    const C = p.shape[1]!;
    for (let k = 0; k * C < flat.length; k++) rows.push(flat.slice(k * C, (k + 1) * C));
    tf.dispose([x, p]);
  }
  return rows;
}
