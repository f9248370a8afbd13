/**
 * The options of {@link train}: what they are ({@link TrainData}, {@link TrainOptions},
 * {@link TRAIN_DEFAULTS}) and their resolution, in one function that checks every one of them (and the
 * data splits against the model) before anything is written.
 * @module
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { AugmentOptions } from '../data/augment';
import type { FaceDataset } from '../data/dataset';
import { resolveSplits } from '../data/splits';
import type { Normalization } from '../data/stats';
import { checkBoolean, checkNonNegativeInteger, checkOneOf, checkPositiveInteger, expected } from '../errors';
import type { TrainCallbacks } from './callbacks';
import { modelCropSize } from './evaluate';
import { detectOutputKind, type OutputKind } from './loss';
import { type ResolvedSchedule, resolveSchedule, type ScheduleSpec } from './schedules';
import { SGD_DEFAULTS, type SGDOptions } from './sgd';

/**
 * The data {@link train} uses. With FER2013 (a dataset with `usages`), the defaults are the
 * `Training` rows for training and the `PublicTest` rows for validation; `PrivateTest` rows are
 * refused in both, so the best model is never chosen on the test split.
 * @category Training
 */
export interface TrainData {
  /** The training images. */
  train: FaceDataset;
  /** Validation images, for the per-epoch validation metrics and the best-model choice. */
  validation?: FaceDataset;
  /** Training subset. Defaults to all images, or FER2013's `Training` rows. */
  trainIndices?: ArrayLike<number>;
  /** Validation subset. Defaults to all images, or FER2013's `PublicTest` rows. */
  validationIndices?: ArrayLike<number>;
}

/** Options of {@link train}. @category Training */
export interface TrainOptions {
  /** Epochs to train (in total, counting epochs done before a resume). Defaults to `30`. */
  epochs?: number;
  /** Images per step. Defaults to `128`. */
  batchSize?: number;
  /** Seed of batch order, augmentation and dropout. Defaults to `0`. */
  seed?: number;
  /** Learning-rate schedule. Defaults to `'paper'` (0.01, x0.9 every 5 epochs after epoch 80). */
  schedule?: ScheduleSpec;
  /** SGD momentum. Defaults to `0.9`. */
  momentum?: number;
  /** L2 weight decay on every trainable weight (PyTorch semantics). Defaults to `5e-4`. */
  weightDecay?: number;
  /** Nesterov momentum. Defaults to `false`. */
  nesterov?: boolean;
  /** Clip gradients to this global L2 norm. Defaults to none. */
  clipNorm?: number;
  /**
   * Data-parallel gradient workers (Node only): each batch is split into `workers + 1` parts, one
   * computed on this thread and one on each worker (a `worker_thread` with its own tfjs backend and one
   * wasm thread); their gradients are averaged into one SGD step. On a CPU with N cores, `workers: N - 1`
   * with the wasm backend at one thread scales where wasm's own threads do not. BatchNorm then
   * normalises each part with its own statistics (as PyTorch's DistributedDataParallel does without
   * SyncBatchNorm), so a run is reproducible for a given `workers`, and exact resume needs the same
   * value. Defaults to `0` (every step on this thread).
   */
  workers?: number;
  /** Side of the square crops fed to the model. Defaults to the model's input height. */
  cropSize?: number;
  /**
   * Training augmentation: `true` for the paper's random crops and horizontal flips, `false` for
   * centre crops, or the data module's `AugmentOptions` (e.g. `{ rotation: 10 }`). Defaults to `true`.
   */
  augment?: boolean | AugmentOptions;
  /** Class-balanced sampling of training batches. Defaults to `false`. */
  balanced?: boolean;
  /**
   * Pixel normalisation `(x / 255 - mean) / std`: explicit values (0-1 scale), or `'dataset'` for the
   * training images' mean and standard deviation (`datasetStats`). Defaults to `'dataset'`. Stored
   * in checkpoints, in `best/training.json` and in the result.
   */
  normalization?: Normalization | 'dataset';
  /** What the model outputs. Defaults to {@link detectOutputKind}. */
  outputs?: OutputKind;
  /** Average ten crops when validating (slower, matches the paper's test protocol). Defaults to `false`. */
  validationTenCrop?: boolean;
  /** Images per validation forward pass. Defaults to `batchSize`. */
  validationBatchSize?: number;
  /** Metric choosing the best model (validation only). Defaults to `'valAccuracy'`. */
  monitor?: 'valAccuracy' | 'valLoss';
  /**
   * Directory for checkpoints (every epoch, and on stop), the best model (`best/`) and the log
   * (`log.jsonl`). Node only. While training, the directory is locked (`.fer-cbam.lock`, naming this
   * process's pid): a second training into it fails at once; a lock left by a process that is gone is
   * taken over with a warning. Defaults to none (nothing is written).
   */
  checkpointDir?: string;
  /** Continue the run in `checkpointDir` if it holds a checkpoint (else start fresh). Defaults to `false`. */
  resume?: boolean;
  /**
   * Allow starting afresh in a `checkpointDir` that holds a checkpoint or other files of an earlier
   * run (`best/`, `last/`, `log.jsonl`, `epoch-*`, `final_validation.json`; they are removed). Without
   * it such a directory is refused. Defaults to `false`.
   */
  overwrite?: boolean;
  /**
   * Make dropout (and any other `Math.random`-seeded op in the step) a function of
   * `(seed, epoch, batch)`, by seeding `Math.random` for the duration of each synchronous training
   * step. Needed for bit-exact resume with dropout. Defaults to `true`.
   */
  deterministic?: boolean;
  /** Hooks (one object or several). */
  callbacks?: TrainCallbacks | TrainCallbacks[];
  /** Aborting stops training after the current batch, saving a checkpoint (e.g. on Ctrl-C). */
  signal?: AbortSignal;
}

/** Defaults of {@link TrainOptions}. @category Training */
export const TRAIN_DEFAULTS = {
  epochs: 30,
  batchSize: 128,
  seed: 0,
  schedule: 'paper',
  momentum: SGD_DEFAULTS.momentum,
  weightDecay: SGD_DEFAULTS.weightDecay,
  nesterov: SGD_DEFAULTS.nesterov,
  augment: true,
  balanced: false,
  normalization: 'dataset',
  validationTenCrop: false,
  monitor: 'valAccuracy',
  resume: false,
  overwrite: false,
  deterministic: true,
} as const;

const WHERE = 'train';

/** {@link TrainOptions} checked and completed, with the data splits: what the loop runs on. @internal */
export interface ResolvedTrainOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  schedule: ResolvedSchedule;
  augment: boolean | AugmentOptions;
  balanced: boolean;
  resume: boolean;
  overwrite: boolean;
  deterministic: boolean;
  validationTenCrop: boolean;
  monitor: 'valAccuracy' | 'valLoss';
  clipNorm: number | undefined;
  workers: number;
  validationBatchSize: number;
  checkpointDir: string | undefined;
  callbacks: TrainCallbacks[];
  signal: AbortSignal | undefined;
  /** The SGD options, not yet checked: `new SGD(...)` checks them. */
  sgd: SGDOptions;
  /** `'dataset'` (computed from the training images on a fresh start) or explicit values. */
  normalization: Normalization | 'dataset';
  outputs: OutputKind;
  cropSize: number;
  /** Class names of the training data (the model's outputs). */
  classNames: string[];
  /** Training images, FER2013 split rules applied. */
  trainIdx: Int32Array;
  /** Validation images, or `null` without validation. */
  valIdx: Int32Array | null;
}

/**
 * Checks every option of {@link train} (and the data and model they go with) and fills in the
 * defaults, in a fixed order, so the first bad option is the one reported; nothing is written.
 * @param model The model to train: one output of `data.train.classNames.length` units.
 * @param data The training (and validation) images.
 * @param options The caller's options; `undefined` values mean the default ({@link TRAIN_DEFAULTS}).
 * @example
 * ```ts
 * const o = resolveTrainOptions(model, { train: fer, validation: fer }, { epochs: 40 });
 * o.trainIdx.length; // 28709, the Training rows
 * ```
 * @throws RangeError / TypeError naming the option (see {@link train}).
 * @internal
 */
export function resolveTrainOptions(
  model: tfl.LayersModel,
  data: TrainData,
  options: TrainOptions,
): ResolvedTrainOptions {
  const o = {
    ...TRAIN_DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
  const epochs = checkPositiveInteger(o.epochs, 'epochs', WHERE);
  const batchSize = checkPositiveInteger(o.batchSize, 'batchSize', WHERE);
  const seed = checkNonNegativeInteger(o.seed, 'seed', WHERE);
  const schedule: ResolvedSchedule = resolveSchedule(o.schedule as ScheduleSpec);
  const augment = o.augment as boolean | AugmentOptions;
  if (typeof augment !== 'boolean' && (augment === null || typeof augment !== 'object')) {
    throw new TypeError(expected(WHERE, 'augment', 'a boolean or augmentation options', augment));
  }
  const balanced = checkBoolean(o.balanced, 'balanced', WHERE);
  const resume = checkBoolean(o.resume, 'resume', WHERE);
  const overwrite = checkBoolean(o.overwrite, 'overwrite', WHERE);
  const deterministic = checkBoolean(o.deterministic, 'deterministic', WHERE);
  const validationTenCrop = checkBoolean(o.validationTenCrop, 'validationTenCrop', WHERE);
  const monitor = checkOneOf(o.monitor, ['valAccuracy', 'valLoss'] as const, 'monitor', WHERE);
  const clipNorm = options.clipNorm;
  if (
    clipNorm !== undefined &&
    !(typeof clipNorm === 'number' && Number.isFinite(clipNorm) && clipNorm > 0)
  ) {
    throw new RangeError(expected(WHERE, 'clipNorm', 'a positive number', clipNorm));
  }
  const workers = checkNonNegativeInteger(options.workers ?? 0, 'workers', WHERE);
  if (workers > 0 && !(typeof process !== 'undefined' && process.versions?.node)) {
    throw new RangeError(`${WHERE}: \`workers\` needs Node.js (worker_threads); leave it at 0 in browsers.`);
  }
  const validationBatchSize = checkPositiveInteger(
    options.validationBatchSize ?? batchSize,
    'validationBatchSize',
    WHERE,
  );
  const checkpointDir = options.checkpointDir;
  if (checkpointDir !== undefined && (typeof checkpointDir !== 'string' || checkpointDir.length === 0)) {
    throw new TypeError(expected(WHERE, 'checkpointDir', 'a non-empty string', checkpointDir));
  }
  const callbacks =
    options.callbacks === undefined
      ? []
      : Array.isArray(options.callbacks)
        ? options.callbacks
        : [options.callbacks];

  const { trainIdx, valIdx } = resolveSplits(data, WHERE);
  const classNames = data.train.classNames.slice();
  const numClasses = classNames.length;
  const units = model.outputs[0]?.shape.at(-1);
  if (model.outputs.length !== 1 || units !== numClasses) {
    throw new RangeError(
      expected(
        WHERE,
        'model',
        `a model with one output of ${numClasses} units (${classNames.join(', ')})`,
        units,
      ),
    );
  }
  if (data.validation && data.validation.classNames.join() !== classNames.join()) {
    throw new RangeError(
      expected(
        WHERE,
        'data.validation.classNames',
        `equal to the training classes [${classNames}]`,
        data.validation.classNames,
      ),
    );
  }
  const outputs: OutputKind = options.outputs ?? detectOutputKind(model);
  checkOneOf(outputs, ['logits', 'probabilities'] as const, 'outputs', WHERE);
  const cropSize = checkPositiveInteger(options.cropSize ?? modelCropSize(model, WHERE), 'cropSize', WHERE);
  for (const [ds, arg] of [
    [data.train, 'data.train'],
    [data.validation, 'data.validation'],
  ] as const) {
    if (ds && (cropSize > ds.height || cropSize > ds.width)) {
      throw new RangeError(
        expected(
          WHERE,
          'cropSize',
          `at most the side of the ${arg} images (${ds.height}x${ds.width})`,
          cropSize,
        ),
      );
    }
  }
  if (
    o.normalization !== 'dataset' &&
    !(
      o.normalization !== null &&
      typeof o.normalization === 'object' &&
      Number.isFinite((o.normalization as Normalization).mean) &&
      Number.isFinite((o.normalization as Normalization).std) &&
      (o.normalization as Normalization).std > 0
    )
  ) {
    throw new RangeError(
      expected(WHERE, 'normalization', "'dataset' or { mean, std } with std > 0", o.normalization),
    );
  }
  return {
    epochs,
    batchSize,
    seed,
    schedule,
    augment,
    balanced,
    resume,
    overwrite,
    deterministic,
    validationTenCrop,
    monitor,
    clipNorm,
    workers,
    validationBatchSize,
    checkpointDir,
    callbacks,
    signal: options.signal,
    sgd: { momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov },
    normalization: o.normalization as Normalization | 'dataset',
    outputs,
    cropSize,
    classNames,
    trainIdx,
    valIdx,
  };
}
