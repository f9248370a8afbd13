/**
 * Transfer learning: a trained network with a new classifier, for another label set (FER2013 to
 * FER+ or CK+, as the pretrained `ferplus` and `ckplus` models were made).
 * @module
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { checkNonNegativeInteger, checkPositiveInteger } from '../errors';
import { withSeededRandom } from '../random';

const WHERE = 'replaceClassifier';

/** Options of {@link replaceClassifier}. @category Models */
export interface ReplaceClassifierOptions {
  /** Seed of the new classifier's initial weights. Defaults to `0`. */
  seed?: number;
  /** Activation of the new classifier. Defaults to `'linear'` (logits, as `train()` expects). */
  activation?: 'linear' | 'softmax';
}

/**
 * Returns a model that shares every layer of `model` (and so its trained weights) up to the input of
 * its last layer, followed by a new dense classifier named `classifier` with `numClasses` outputs.
 * The model's preprocessing is not copied: set it for the new classes with `setPreprocessing`.
 * @param model A classifier whose last layer is the dense classifier (e.g. from `resnetCbam` or
 *   `loadPretrained`).
 * @param numClasses Outputs of the new classifier.
 * @throws TypeError when the last layer is not a single-input layer.
 * @example
 * ```ts
 * const fer = await loadPretrained('fer2013');
 * const ck = replaceClassifier(fer, CKPLUS_CLASSES.length, { seed: 1 });
 * setPreprocessing(ck, { ...getPreprocessing(fer)!, classNames: [...CKPLUS_CLASSES] });
 * await train(ck, { train: ckData }, { normalization: getPreprocessing(fer)!.normalization });
 * ```
 * @category Models
 */
export function replaceClassifier(
  model: tfl.LayersModel,
  numClasses: number,
  options: ReplaceClassifierOptions = {},
): tfl.LayersModel {
  checkPositiveInteger(numClasses, 'numClasses', WHERE);
  const seed = checkNonNegativeInteger(options.seed ?? 0, 'seed', WHERE);
  const last = model.layers[model.layers.length - 1];
  const features = last?.input;
  if (!last || Array.isArray(features) || !features) {
    throw new TypeError(
      `${WHERE}: expected the model's last layer to be a single-input classifier, but it is ${last?.name}.`,
    );
  }
  const logits = withSeededRandom(seed, () =>
    tfl.layers
      .dense({ name: 'classifier', units: numClasses, activation: options.activation ?? 'linear' })
      .apply(features),
  ) as tfl.SymbolicTensor;
  return tfl.model({ name: model.name, inputs: model.inputs, outputs: logits });
}
