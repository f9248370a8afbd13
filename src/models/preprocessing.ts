import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * How images must be prepared for a trained model: saved inside `model.json` (as tfjs
 * user-defined metadata) by the trainer and the CLI, read by `predict`, `eval`, the attention
 * heatmaps and the browser demo, so a model always travels with its preprocessing.
 * @category Models
 */
export interface Preprocessing {
  /** Side of the grayscale images the crops are taken from (FER2013: 48). */
  imageSize: number;
  /** Side of the crops the network sees (FER2013 recipe: 44). */
  cropSize: number;
  /** Pixels are scaled to [0, 1], then `(x - mean) / std`. */
  normalization: { mean: number; std: number };
  /** Class names in output order. */
  classNames: string[];
  /**
   * Temperature of the calibrated probabilities: `softmax(logits / temperature)`, fitted on validation
   * images (`fitTemperature`) so that a face scored 80 % is right about 80 % of the time.
   * `predictProbabilities` applies it; absent means 1 (the raw softmax). The argmax never changes.
   */
  temperature?: number;
}

const KEY = 'ferCbam';

/**
 * Stores `preprocessing` in the model's user-defined metadata (saved with `model.save`).
 * @example
 * ```ts
 * setPreprocessing(model, { imageSize: 48, cropSize: 44, normalization: { mean: 0.5, std: 0.25 }, classNames });
 * await model.save('file://my-model');
 * ```
 * @category Models
 */
export function setPreprocessing(model: tfl.LayersModel, preprocessing: Preprocessing): void {
  const current = (model.getUserDefinedMetadata() ?? {}) as Record<string, unknown>;
  model.setUserDefinedMetadata({ ...current, [KEY]: preprocessing });
}

/**
 * Reads the preprocessing stored by {@link setPreprocessing}, or `null` when the model has none.
 * @example
 * ```ts
 * const model = await tf.loadLayersModel('file://my-model/model.json');
 * const { cropSize, normalization } = getPreprocessing(model) ?? defaults;
 * ```
 * @category Models
 */
export function getPreprocessing(model: tfl.LayersModel): Preprocessing | null {
  const meta = model.getUserDefinedMetadata() as Record<string, unknown> | undefined;
  const value = meta?.[KEY] as Preprocessing | undefined;
  if (!value || typeof value !== 'object') return null;
  return value;
}

/**
 * The preprocessing fields of a `training.json` (the file `train` wrote beside `best/model.json`
 * before models stored their preprocessing), parsed JSON in: the well-formed fields only, so the CLI
 * (Node) and the browser page read old runs the same way.
 * @param info The parsed `training.json`.
 * @returns `cropSize`, `normalization` (a positive `std`) and `classNames`, each when present and valid.
 * @example
 * ```ts
 * const legacy = trainingJsonPreprocessing(JSON.parse(text)); // { normalization, classNames, cropSize }
 * ```
 * @internal
 */
export function trainingJsonPreprocessing(
  info: unknown,
): Partial<Pick<Preprocessing, 'cropSize' | 'normalization' | 'classNames'>> {
  const out: Partial<Pick<Preprocessing, 'cropSize' | 'normalization' | 'classNames'>> = {};
  if (info === null || typeof info !== 'object') return out;
  const { cropSize, normalization, classNames } = info as Record<string, unknown>;
  if (Number.isInteger(cropSize) && (cropSize as number) > 0) out.cropSize = cropSize as number;
  const { mean, std } = (normalization ?? {}) as { mean?: unknown; std?: unknown };
  if (typeof mean === 'number' && Number.isFinite(mean) && typeof std === 'number' && std > 0) {
    out.normalization = { mean, std };
  }
  if (Array.isArray(classNames) && classNames.length > 0 && classNames.every((c) => typeof c === 'string')) {
    out.classNames = [...classNames];
  }
  return out;
}
