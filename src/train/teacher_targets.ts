import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { iterateBatches } from '../data/batches';
import type { FaceDataset } from '../data/dataset';
import { checkNumberInRange, checkPositiveInteger, expected } from '../errors';
import { nonFiniteOutput } from '../models/finite';
import { getPreprocessing } from '../models/preprocessing';
import { batchProbabilities } from './gradients';
import { detectOutputKind } from './loss';

/** Options of {@link teacherTargets}. Defaults are in {@link TEACHER_TARGETS_DEFAULTS}. @category Training */
export interface TeacherTargetsOptions {
  /**
   * Share of the teachers' probabilities in each target, in [0, 1]; the dataset's own label (its
   * soft label, or the one-hot class) gets `1 - weight`. Defaults to `0.5`.
   */
  weight?: number;
  /**
   * Softening temperature: each teacher's probabilities are `softmax(logits / temperature)` (for a
   * model ending in softmax, `p^(1/temperature)` renormalised, the same thing). Above 1 spreads
   * weight onto the classes the teacher finds second-likeliest. Defaults to `1`.
   */
  temperature?: number;
  /**
   * Each teacher averages the softmax of ten crops (four corners, centre, their mirrors) instead of
   * scoring one centre crop: steadier targets for ten times the work. Defaults to `false`.
   */
  tenCrop?: boolean;
  /** Images per forward pass. Defaults to `128`. */
  batchSize?: number;
  /** Called after each batch with the forward passes done so far and the total (all teachers). */
  onProgress?: (done: number, total: number) => void | Promise<void>;
}

/** Defaults of {@link TeacherTargetsOptions}. @category Training */
export const TEACHER_TARGETS_DEFAULTS = {
  weight: 0.5,
  temperature: 1,
  tenCrop: false,
  batchSize: 128,
} as const;

/**
 * Soft targets for **knowledge distillation**: the dataset with `softLabels` that blend its own labels
 * with the mean class probabilities of one or more trained models (the teachers), so that training
 * on it ({@link train} reads `softLabels`) teaches a model, often a smaller or single one, what an
 * ensemble knows: which faces are ambiguous, and between which classes.
 *
 * Each teacher scores every image as at inference, with its own stored preprocessing (crop size,
 * normalisation; see `getPreprocessing`) and in inference mode; the targets are fixed for the
 * whole run (offline distillation), so the student's augmented crops are matched to the teachers'
 * view of the whole face. Target per image: `(1 - weight) * label + weight * mean_t softmax(z_t / T)`.
 *
 * @param teachers Trained classifiers with stored preprocessing and the dataset's class names, in
 *   the same order (`remapClasses` puts a dataset in a model's order).
 * @param dataset The training images (`imageSize x imageSize`, as the teachers expect).
 * @param options See {@link TeacherTargetsOptions}.
 * @returns A copy of the dataset description (the same images and labels) with new `softLabels`.
 * @example
 * ```ts
 * const teachers = [await loadPretrained('realfaces'), await tf.loadLayersModel('file://runs/seed2/best/model.json')];
 * const distilled = await teacherTargets(teachers, trainSet, { weight: 0.5 });
 * await train(student, { train: distilled, validation }, { epochs: 30 });
 * ```
 * @throws RangeError for a bad option, an empty teacher list or a teacher whose image size,
 *   classes or preprocessing do not fit the dataset; Error if a teacher outputs NaN or infinity.
 * @category Training
 */
export async function teacherTargets(
  teachers: tfl.LayersModel[],
  dataset: FaceDataset,
  options: TeacherTargetsOptions = {},
): Promise<FaceDataset> {
  const where = 'teacherTargets';
  const o = { ...TEACHER_TARGETS_DEFAULTS, ...options };
  const weight = checkNumberInRange(o.weight, 'weight', where, 0, 1);
  const temperature = o.temperature;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw new RangeError(expected(where, 'temperature', 'a positive number', temperature));
  }
  checkPositiveInteger(o.batchSize, 'batchSize', where);
  if (!Array.isArray(teachers) || teachers.length === 0) {
    throw new RangeError(expected(where, 'teachers', 'a non-empty array of models', teachers));
  }
  const classes = dataset.classNames;
  const C = classes.length;
  const preprocessings = teachers.map((teacher, t) => {
    const pre = getPreprocessing(teacher);
    if (!pre) {
      throw new RangeError(
        `${where}: teacher ${t} (${teacher.name}) has no stored preprocessing; store it with setPreprocessing(model, …) or use a model saved by train().`,
      );
    }
    if (pre.classNames.length !== C || pre.classNames.some((c, i) => c !== classes[i])) {
      throw new RangeError(
        `${where}: teacher ${t} (${teacher.name}) answers [${pre.classNames.join(', ')}] but the dataset's classes are [${classes.join(', ')}]; put the dataset in the teacher's order with remapClasses(dataset, classNames, mapping).`,
      );
    }
    if (pre.imageSize !== dataset.height || pre.imageSize !== dataset.width) {
      throw new RangeError(
        `${where}: teacher ${t} (${teacher.name}) takes ${pre.imageSize}x${pre.imageSize} images, the dataset has ${dataset.height}x${dataset.width}.`,
      );
    }
    return pre;
  });

  const sums = new Float32Array(dataset.count * C);
  const total = dataset.count * teachers.length;
  let done = 0;
  for (const [t, teacher] of teachers.entries()) {
    const pre = preprocessings[t]!;
    const forward = {
      tenCrop: o.tenCrop,
      cropSize: pre.cropSize,
      outputs: detectOutputKind(teacher),
      temperature,
    };
    const batches = iterateBatches(dataset, {
      batchSize: o.batchSize,
      seed: 0,
      epoch: 0,
      shuffle: false,
      augment: false,
      cropSize: o.tenCrop ? dataset.height : pre.cropSize,
      normalization: pre.normalization,
    });
    for (const { xs, ys, indices } of batches) {
      const probabilities = batchProbabilities(teacher, xs, forward).scores;
      const p = await probabilities.data();
      tf.dispose([xs, ys, probabilities]);
      for (let k = 0; k < indices.length; k++) {
        for (let c = 0; c < C; c++) {
          const v = p[k * C + c]!;
          if (!Number.isFinite(v)) {
            throw nonFiniteOutput(teacher, where, `image ${indices[k]} (teacher ${t})`, v);
          }
          sums[indices[k]! * C + c]! += v;
        }
      }
      done += indices.length;
      await o.onProgress?.(done, total);
    }
  }

  const softLabels = new Float32Array(dataset.count * C);
  const share = weight / teachers.length;
  for (let i = 0; i < dataset.count; i++) {
    for (let c = 0; c < C; c++) {
      const own = dataset.softLabels ? dataset.softLabels[i * C + c]! : dataset.labels[i] === c ? 1 : 0;
      softLabels[i * C + c] = (1 - weight) * own + share * sums[i * C + c]!;
    }
  }
  return { ...dataset, softLabels };
}
