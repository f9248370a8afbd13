import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Preprocessing } from './preprocessing';

/**
 * Turns grayscale faces (`imageSize x imageSize`, 0-255) into a model input: centre crop to
 * `cropSize`, scale to [0, 1], normalise with the stored mean and std.
 * @param faces One `Uint8Array` of `imageSize * imageSize` pixels per face.
 * @returns `[n, cropSize, cropSize, 1]` float32; the caller disposes it.
 * @example
 * ```ts
 * const x = facesToInput([face], getPreprocessing(model)!);
 * ```
 * @throws RangeError if a face does not have `imageSize * imageSize` pixels.
 * @category Models
 */
export function facesToInput(faces: ArrayLike<number>[], preprocessing: Preprocessing): tf.Tensor4D {
  const { imageSize: s, cropSize: c, normalization } = preprocessing;
  if (!(c <= s)) {
    throw new RangeError(`facesToInput: expected \`cropSize\` (${c}) to be at most \`imageSize\` (${s}).`);
  }
  const off = Math.floor((s - c) / 2);
  const data = new Float32Array(faces.length * c * c);
  faces.forEach((face, n) => {
    if (face.length !== s * s) {
      throw new RangeError(
        `facesToInput: expected face ${n} to have ${s * s} pixels, but got ${face.length}.`,
      );
    }
    for (let y = 0; y < c; y++) {
      for (let x = 0; x < c; x++) {
        const v = face[(y + off) * s + x + off]! / 255;
        data[n * c * c + y * c + x] = (v - normalization.mean) / normalization.std;
      }
    }
  });
  return tf.tensor4d(data, [faces.length, c, c, 1]);
}

/** True when the model's last layer applies softmax (its outputs are probabilities). @category Models */
export function endsWithSoftmax(model: tfl.LayersModel): boolean {
  const last = model.layers[model.layers.length - 1]!.getConfig() as { activation?: unknown };
  return last.activation === 'softmax';
}

/**
 * Class probabilities for a batch, whether the model ends in softmax or outputs logits.
 * @returns `[n, numClasses]`; the caller disposes it.
 * @example
 * ```ts
 * const probs = await predictProbabilities(model, x).array();
 * ```
 * @category Models
 */
export function predictProbabilities(model: tfl.LayersModel, x: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const out = model.predict(x) as tf.Tensor2D;
    return endsWithSoftmax(model) ? out : (tf.softmax(out) as tf.Tensor2D);
  });
}
