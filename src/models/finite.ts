/**
 * Checks that a model's weights and outputs are finite numbers. A float16 weight flipped to NaN (a
 * damaged copy, a run that diverged before it was saved) makes every prediction NaN; without a
 * check the argmax of NaNs is class 0 and the probabilities print as "NaN%", so results look valid.
 * Browser-safe.
 * @module
 */
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * A model whose weights or outputs hold NaN or infinite values. `model` is the model's name (or
 * the file it was loaded from, when the caller knows it). @category Models
 */
export class NonFiniteModelError extends Error {
  /** The model's name or file. */
  readonly model: string;
  /**
   * @param message The message.
   * @param model The model's name or file.
   */
  constructor(message: string, model: string) {
    super(message);
    this.name = 'NonFiniteModelError';
    this.model = model;
  }
}

/**
 * Throws a {@link NonFiniteModelError} naming the first weight of `model` that holds NaN or infinite
 * values (with their count), so a damaged model is refused when it is loaded.
 * @param model The model.
 * @param where The function reporting, for the message.
 * @param source What the model is, for the message (its file); defaults to its name.
 * @example
 * ```ts
 * checkFiniteWeights(await tf.loadLayersModel('file://m/model.json'), 'load', 'm/model.json');
 * ```
 * @category Models
 */
export function checkFiniteWeights(model: tfl.LayersModel, where: string, source?: string): void {
  const name = source ?? `the model "${model.name}"`;
  for (const w of model.weights) {
    const values = w.read().dataSync();
    let bad = 0;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) bad++;
    if (bad > 0) {
      throw new NonFiniteModelError(
        `${where}: ${name}: the weight ${w.originalName} holds ${bad} NaN or infinite values (of ${values.length}), so every prediction would be NaN: the file is damaged or was saved from a run that diverged; use an intact copy.`,
        source ?? model.name,
      );
    }
  }
}

/**
 * Throws a {@link NonFiniteModelError} when any value of `rows` (one row of class scores per input)
 * is NaN or infinite, naming the model and the first such row.
 * @param rows The scores, one row per input.
 * @param model The model that gave them.
 * @param where The function reporting, for the message.
 * @param first Index of `rows[0]` among all inputs, for the message. Defaults to `0`.
 * @example
 * ```ts
 * checkFiniteScores(await predictProbabilities(model, x).array(), model, 'classifyFaceCrops');
 * ```
 * @category Models
 */
export function checkFiniteScores(
  rows: readonly (readonly number[])[],
  model: tfl.LayersModel,
  where: string,
  first = 0,
): void {
  const i = rows.findIndex((row) => row.some((v) => !Number.isFinite(v)));
  if (i < 0) return;
  throw nonFiniteOutput(model, where, `input ${first + i + 1}`, rows[i]!.find((v) => !Number.isFinite(v))!);
}

/** The error for a model whose output is not finite, for `which` input(s). @internal */
export function nonFiniteOutput(
  model: tfl.LayersModel,
  where: string,
  which: string,
  value: number,
): NonFiniteModelError {
  return new NonFiniteModelError(
    `${where}: the output of the model "${model.name}" is not finite (${value} for ${which}): its weights hold NaN or infinite values (a damaged file?), or its input makes it overflow; check the model file and its normalization.`,
    model.name,
  );
}
