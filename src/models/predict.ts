import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { getPreprocessing, type Preprocessing } from './preprocessing';

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

/** Options of {@link predictProbabilities}. @category Models */
export interface PredictProbabilitiesOptions {
  /**
   * Apply the temperature stored with the model (`getPreprocessing(model).temperature`, fitted on
   * validation images) so the probabilities are calibrated; `false` gives the raw softmax. Models
   * without a stored temperature give the raw softmax either way. Defaults to `true`.
   */
  calibrated?: boolean;
}

/**
 * Class probabilities for a batch, whether the model ends in softmax or outputs logits, calibrated
 * with the model's stored temperature (see {@link Preprocessing.temperature}) unless
 * `calibrated: false`.
 * @param model The classifier.
 * @param x The input batch (e.g. from {@link facesToInput}).
 * @param options See {@link PredictProbabilitiesOptions}.
 * @returns `[n, numClasses]`; the caller disposes it.
 * @example
 * ```ts
 * const probs = await predictProbabilities(model, x).array();
 * const raw = await predictProbabilities(model, x, { calibrated: false }).array();
 * ```
 * @category Models
 */
export function predictProbabilities(
  model: tfl.LayersModel,
  x: tf.Tensor4D,
  options: PredictProbabilitiesOptions = {},
): tf.Tensor2D {
  const t = options.calibrated === false ? 1 : (getPreprocessing(model)?.temperature ?? 1);
  if (!(typeof t === 'number' && Number.isFinite(t) && t > 0)) {
    throw new RangeError(
      `predictProbabilities: the model's stored temperature is ${t}; expected a positive number (fix it with setPreprocessing, or pass calibrated: false).`,
    );
  }
  return tf.tidy(() => {
    const out = model.predict(x) as tf.Tensor2D;
    const softmax = endsWithSoftmax(model);
    if (t === 1) return softmax ? out : (tf.softmax(out) as tf.Tensor2D);
    // softmax(z / t): from probabilities, log p = z - logsumexp(z), and the constant cancels.
    const logits = softmax ? tf.log(tf.maximum(out, 1e-30)) : out;
    return tf.softmax(tf.div(logits, t)) as tf.Tensor2D;
  });
}
