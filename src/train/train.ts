import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { AugmentOptions } from '../data/augment';
import { countBatches, iterateBatches } from '../data/batches';
import type { FaceDataset } from '../data/dataset';
import { deriveSeed } from '../data/random';
import { datasetStats, type Normalization } from '../data/stats';
import { checkBoolean, checkNonNegativeInteger, checkOneOf, checkPositiveInteger, expected } from '../errors';
import type { RunLock } from '../io/lock';
import { setPreprocessing } from '../models/preprocessing';
import { withSeededRandom } from '../random';
import type { BatchLog, TrainCallbacks, TrainControl, TrainProgress } from './callbacks';
import {
  appendLog,
  type EpochLog,
  loadCheckpoint,
  restoreModelWeights,
  saveBestModel,
  saveCheckpoint,
  type TrainingState,
  truncateLog,
} from './checkpoint';
import { modelCropSize, predictDataset, toIndexArray } from './evaluate';
import { detectOutputKind, type OutputKind, softmaxCrossEntropy } from './loss';
import { learningRateAt, type ResolvedSchedule, resolveSchedule, type ScheduleSpec } from './schedules';
import { clipByGlobalNorm, SGD, SGD_DEFAULTS } from './sgd';

/** FER2013 `usages` codes. */
const TRAINING = 0;
const PUBLIC_TEST = 1;
const PRIVATE_TEST = 2;

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

/** What {@link train} returns. @category Training */
export interface TrainResult {
  /** Logs of all completed epochs (including those before a resume). */
  history: EpochLog[];
  /** The best validation result, or `null` without validation. */
  best: { monitor: string; value: number; epoch: number } | null;
  /** Epochs completed. */
  epochsCompleted: number;
  /** Whether training stopped early (abort signal or `control.stop()`). */
  stopped: boolean;
  /** Optimizer steps taken in the whole run. */
  globalStep: number;
  /** The normalisation used (give it to {@link evaluate}). */
  normalization: Normalization;
  /** The crop size used. */
  cropSize: number;
  /** Directory of the last checkpoint written, if any. */
  checkpoint?: string;
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

/** Training / validation indices with FER2013's split rules applied. */
function resolveSplits(data: TrainData): { trainIdx: Int32Array; valIdx: Int32Array | null } {
  if (data === null || typeof data !== 'object' || data.train == null) {
    throw new TypeError(
      expected(WHERE, 'data', 'an object { train, validation?, trainIndices?, validationIndices? }', data),
    );
  }
  const pick = (ds: FaceDataset, usage: number) => {
    const out: number[] = [];
    for (let i = 0; i < ds.count; i++) if (ds.usages![i] === usage) out.push(i);
    return Int32Array.from(out);
  };
  const trainIdx =
    data.trainIndices !== undefined || !data.train.usages
      ? toIndexArray(data.train, data.trainIndices, WHERE, 'data.trainIndices')
      : pick(data.train, TRAINING);
  const refuseTest = (ds: FaceDataset, idx: Int32Array, arg: string) => {
    if (!ds.usages) return;
    for (let k = 0; k < idx.length; k++) {
      if (ds.usages[idx[k]] === PRIVATE_TEST) {
        throw new RangeError(
          expected(
            WHERE,
            `${arg}[${k}]`,
            'not a PrivateTest image (the test split is for the final evaluation only)',
            idx[k],
          ),
        );
      }
    }
  };
  refuseTest(data.train, trainIdx, 'data.trainIndices');
  if (trainIdx.length === 0)
    throw new RangeError(expected(WHERE, 'data.train', 'at least one training image', 0));
  if (!data.validation) return { trainIdx, valIdx: null };
  const valIdx =
    data.validationIndices !== undefined || !data.validation.usages
      ? toIndexArray(data.validation, data.validationIndices, WHERE, 'data.validationIndices')
      : pick(data.validation, PUBLIC_TEST);
  refuseTest(data.validation, valIdx, 'data.validationIndices');
  if (valIdx.length === 0) {
    throw new RangeError(
      expected(WHERE, 'data.validation', 'at least one validation image (e.g. PublicTest rows)', 0),
    );
  }
  if (data.validation === data.train) {
    const inTrain = new Uint8Array(data.train.count);
    for (const i of trainIdx) inTrain[i] = 1;
    for (let k = 0; k < valIdx.length; k++) {
      if (inTrain[valIdx[k]]) {
        throw new RangeError(
          expected(WHERE, `data.validationIndices[${k}]`, 'an image not used for training', valIdx[k]),
        );
      }
    }
  }
  return { trainIdx, valIdx };
}

/** Count and FNV-1a hash of the (index, label) pairs used for training, to refuse a resume on other data. */
function fingerprint(ds: FaceDataset, indices: Int32Array): { count: number; hash: number } {
  let h = 0x811c9dc5;
  const mix = (v: number) => {
    for (let k = 0; k < 4; k++) {
      h ^= (v >>> (8 * k)) & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  };
  for (const i of indices) {
    mix(i);
    mix(ds.labels[i]);
  }
  return { count: indices.length, hash: h >>> 0 };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Trains a classifier with SGD (momentum 0.9, weight decay 5e-4 by default), a learning-rate
 * schedule, optional gradient clipping, per-epoch validation, atomic checkpoints and exact resume.
 *
 * A custom loop, not `model.fit`: each step computes softmax cross-entropy (from logits, or from
 * probabilities if the model ends in softmax; one-hot or soft labels) plus any layer regularisation
 * losses, its gradients, and an {@link SGD} update. Batches come from the data module's
 * `iterateBatches` (shuffled, augmented and normalised), deterministic per `(seed, epoch)`; with
 * `deterministic: true` dropout is too, so a run is a pure function of its seed, and a run
 * interrupted and resumed from its checkpoint ends with exactly the weights of an uninterrupted run.
 *
 * Every option is checked before anything is written. The model's preprocessing (image size, crop
 * size, normalisation, class names) is stored in its metadata with `setPreprocessing`, so every saved
 * `model.json` (checkpoints, `best/`) carries it. A loss that is not finite (divergence) stops the run
 * with a {@link NonFiniteLossError} naming the step, and a model with non-finite weights is never saved.
 *
 * With `checkpointDir`, after every epoch it writes a checkpoint (weights, optimizer state, epoch,
 * schedule, seed, best metric, history) atomically, appends a line to `log.jsonl`, and saves the best
 * model so far by the **validation** metric to `best/`. A stop request (the `signal`, or
 * `control.stop()` in a callback) ends the run after the current batch and writes a mid-epoch
 * checkpoint that `resume: true` continues exactly.
 *
 * @param model A compiled or uncompiled `LayersModel` with one output of `classNames.length` units.
 * @param data Training (and validation) images; see {@link TrainData}.
 * @param options See {@link TrainOptions}.
 * @returns The history, best result and whether the run was stopped.
 * @throws RangeError / TypeError naming the option for bad options, a model whose output size does not
 *   match the classes, PrivateTest images, overlapping splits, or a resume with different seed, batch
 *   size, schedule or optimizer settings; Error quoting the path if checkpoints cannot be written, if
 *   `checkpointDir` holds an earlier run (without `resume`/`overwrite`) or is locked by another
 *   training; {@link NonFiniteLossError} when the loss becomes NaN or infinite.
 * @example
 * ```ts
 * const fer = await loadFer2013('fer2013.csv.gz');
 * const model = resnetCbam({ depth: 18, classifierActivation: 'linear' });
 * const ac = new AbortController();
 * process.on('SIGINT', () => ac.abort());
 * const result = await train(model, { train: fer, validation: fer }, {
 *   epochs: 40, schedule: { type: 'onecycle', maxLearningRate: 0.05 }, nesterov: true,
 *   checkpointDir: 'runs/fer', resume: true, signal: ac.signal,
 * });
 * ```
 * @category Training
 */
export async function train(
  model: tfl.LayersModel,
  data: TrainData,
  options: TrainOptions = {},
): Promise<TrainResult> {
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

  const { trainIdx, valIdx } = resolveSplits(data);
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
  const stepsPerEpoch = countBatches(trainIdx.length, batchSize);
  const trainFingerprint = fingerprint(data.train, trainIdx);

  // Optimizer and variables.
  const sgd = new SGD({ momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov });
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);

  // Every option is checked: from here on the run directory is touched. Lock it first, so that two
  // trainings never write into one directory.
  let lock: RunLock | null = null;
  if (checkpointDir !== undefined) {
    const { acquireRunLock } = await import('../io/lock');
    lock = await acquireRunLock(checkpointDir, WHERE);
    if (lock.tookOver) {
      console.warn(
        `train: took over the lock of "${checkpointDir}" left by process ${lock.tookOver.pid}, which is no longer running.`,
      );
    }
  }
  try {
    return await trainLocked();
  } finally {
    await lock?.release();
  }

  async function trainLocked(): Promise<TrainResult> {
    // Fresh state, or the checkpoint's.
    let state: TrainingState | null = null;
    let resumed = false;
    if (checkpointDir !== undefined) {
      const checkpoint = await loadCheckpoint(checkpointDir);
      const earlier = checkpoint ? [] : await earlierRunFiles(checkpointDir);
      if (!checkpoint && earlier.length > 0 && !resume && !overwrite) {
        throw new Error(
          `train: "${checkpointDir}" holds files of an earlier run (${earlier.join(', ')}) but no checkpoint; pass overwrite: true to replace them, or use another directory.`,
        );
      }
      if (checkpoint && resume) {
        try {
          const s = checkpoint.state;
          const mismatch = (arg: string, ours: unknown, theirs: unknown) => {
            if (!sameJson(ours, theirs)) {
              throw new RangeError(
                expected(
                  WHERE,
                  arg,
                  `${JSON.stringify(theirs)} to resume the checkpoint in "${checkpoint.path}"`,
                  ours,
                ),
              );
            }
          };
          mismatch('seed', seed, s.seed);
          mismatch('batchSize', batchSize, s.batchSize);
          mismatch('schedule', schedule, s.schedule);
          mismatch('cropSize', cropSize, s.cropSize);
          if (s.augment !== undefined) mismatch('augment', augment, s.augment);
          mismatch('optimizer options', sgd.options, s.optimizer.options);
          mismatch('classNames', classNames, s.classNames);
          mismatch('data.train (its selected images and labels)', trainFingerprint, s.trainData);
          // Cosine and one-cycle are shaped by the run's length: changing it would change every rate.
          if (schedule.type === 'cosine' || schedule.type === 'onecycle')
            mismatch('epochs', epochs, s.epochs);
          if (s.epoch > epochs || (s.epoch === epochs && s.batch > 0)) {
            throw new RangeError(
              expected(WHERE, 'epochs', `at least ${s.epoch} (the checkpoint's epoch)`, epochs),
            );
          }
          restoreModelWeights(model, checkpoint.weights);
          sgd.setState(checkpoint.optimizer);
          sgd.checkVariables(variables);
        } finally {
          for (const w of checkpoint.weights) w.dispose();
        }
        state = { ...checkpoint.state, epochs };
        resumed = true;
        await truncateLog(checkpointDir, state.epoch);
      } else if (checkpoint && !overwrite) {
        for (const w of checkpoint.weights) w.dispose();
        throw new Error(
          `train: "${checkpointDir}" already holds a checkpoint (epoch ${checkpoint.state.epoch}); pass resume: true to continue it or overwrite: true to start again.`,
        );
      } else {
        if (checkpoint) for (const w of checkpoint.weights) w.dispose();
        // A fresh run: drop files of an earlier run (with overwrite) or of one that crashed before its
        // first checkpoint (a log line without a checkpoint).
        if (checkpoint || earlier.length > 0) await clearRun(checkpointDir);
        else await truncateLog(checkpointDir, 0);
      }
    }
    if (state === null) {
      let normalization: Normalization;
      if (o.normalization === 'dataset') {
        const stats = datasetStats(data.train, trainIdx);
        normalization = { mean: stats.mean, std: stats.std };
      } else {
        const given = o.normalization as Normalization;
        normalization = { mean: given.mean, std: given.std };
      }
      state = {
        format: 'fer-cbam-training-state',
        version: 1,
        epoch: 0,
        batch: 0,
        globalStep: 0,
        epochs,
        batchSize,
        seed,
        schedule,
        optimizer: { options: sgd.options, iterations: 0, shapes: [] },
        normalization,
        cropSize,
        augment,
        classNames,
        trainData: trainFingerprint,
        partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
        best: null,
        history: [],
      };
    }
    const st = state;
    // One source of truth for preprocessing: the saved models (checkpoints, best) carry it in model.json.
    setPreprocessing(model, {
      imageSize: data.train.height,
      cropSize,
      normalization: { mean: st.normalization.mean, std: st.normalization.std },
      classNames,
    });

    // Stop requests.
    let stopRequested = false;
    const control: TrainControl = {
      stop: () => {
        stopRequested = true;
      },
      get stopRequested() {
        return stopRequested || options.signal?.aborted === true;
      },
    };
    const call = async <K extends keyof TrainCallbacks>(name: K, ...args: unknown[]) => {
      for (const cb of callbacks) {
        const fn = cb[name] as ((...a: unknown[]) => unknown) | undefined;
        if (fn) await fn.call(cb, ...args, control);
      }
    };

    let lastCheckpoint: string | undefined;
    const writeCheckpoint = async () => {
      if (checkpointDir === undefined) return;
      assertFiniteWeights(model, `the checkpoint at epoch ${st.epoch}, batch ${st.batch}`);
      lastCheckpoint = await saveCheckpoint(checkpointDir, model, await sgd.getState(), st);
      await call('onCheckpoint', lastCheckpoint);
    };

    // Throughput and ETA, measured over this session's training steps and validations.
    let sessionImages = 0;
    let sessionTrainSeconds = 0;
    let lastValidationSeconds = -1;
    const valCount = valIdx?.length ?? 0;
    const trainRate = () => (sessionTrainSeconds > 0 ? sessionImages / sessionTrainSeconds : 0);
    /** Seconds left given the training images and whole validations still to do. */
    const eta = (trainImagesLeft: number, validationsLeft: number) => {
      const rate = trainRate();
      if (rate === 0) return 0;
      // Before the first validation, guess that inference runs three times faster than training.
      const validationSeconds = lastValidationSeconds >= 0 ? lastValidationSeconds : valCount / (3 * rate);
      return trainImagesLeft / rate + validationsLeft * validationSeconds;
    };

    await call('onTrainBegin', {
      epochs,
      stepsPerEpoch,
      startEpoch: st.epoch,
      startBatch: st.batch,
      trainCount: trainIdx.length,
      validationCount: valCount,
      resumed,
    });

    let stopped = false;
    try {
      while (st.epoch < epochs) {
        const epoch = st.epoch;
        if (st.batch === 0) await call('onEpochBegin', epoch);
        const epochStart = performance.now();
        const secondsBefore = st.partial.seconds;
        let trainSeconds = 0;
        let imagesThisSession = 0;
        let lr = learningRateAt(schedule, {
          epoch,
          step: Math.min(st.batch, stepsPerEpoch - 1),
          stepsPerEpoch,
          epochs,
        });
        let batchIndex = 0;
        const batches = iterateBatches(data.train, {
          batchSize,
          seed,
          epoch,
          shuffle: true,
          indices: trainIdx,
          cropSize,
          augment,
          normalization: st.normalization,
          balanced,
        });
        for (const batch of batches) {
          if (batchIndex < st.batch) {
            // Resuming mid-epoch: replay the epoch's deterministic order up to where it stopped.
            batch.xs.dispose();
            batch.ys.dispose();
            batchIndex++;
            continue;
          }
          if (batchIndex >= stepsPerEpoch) {
            batch.xs.dispose();
            batch.ys.dispose();
            throw new Error(
              `train: the batch iterator yielded more than ${stepsPerEpoch} batches in epoch ${epoch}.`,
            );
          }
          const stepStart = performance.now();
          lr = learningRateAt(schedule, { epoch, step: batchIndex, stepsPerEpoch, epochs });
          const size = batch.xs.shape[0];
          const run = () => trainStep(model, variables, sgd, batch.xs, batch.ys, lr, outputs, clipNorm);
          const { loss, correct } = deterministic
            ? withSeededRandom(deriveSeed(seed, epoch, batchIndex, 0x5eed), run)
            : run();
          batch.xs.dispose();
          batch.ys.dispose();
          const [lossValue, correctValue] = await Promise.all([loss.data(), correct.data()]);
          loss.dispose();
          correct.dispose();
          if (!Number.isFinite(lossValue[0])) {
            throw new NonFiniteLossError(
              `train: the loss became ${lossValue[0]} at step ${st.globalStep + 1} (epoch ${epoch + 1}, batch ${batchIndex + 1} of ${stepsPerEpoch}, learning rate ${lr}): training diverged, so it was stopped and nothing was saved from this step on; lower the learning rate (or set clipNorm) and start again${checkpointDir !== undefined ? ', or resume from the last checkpoint' : ''}.`,
              { step: st.globalStep + 1, epoch, batch: batchIndex, loss: lossValue[0] },
            );
          }
          const stepSeconds = (performance.now() - stepStart) / 1000;
          trainSeconds += stepSeconds;
          sessionTrainSeconds += stepSeconds;
          sessionImages += size;
          imagesThisSession += size;
          st.partial.lossSum += lossValue[0] * size;
          st.partial.correct += correctValue[0];
          st.partial.seen += size;
          st.globalStep++;
          batchIndex++;
          st.batch = batchIndex;
          const batchLog: BatchLog = {
            epoch,
            batch: batchIndex - 1,
            size,
            loss: lossValue[0],
            accuracy: correctValue[0] / size,
            lr,
          };
          await call('onBatchEnd', batchLog);
          const progress: TrainProgress = {
            phase: 'train',
            epoch,
            epochs,
            batch: batchIndex,
            batches: stepsPerEpoch,
            images: st.partial.seen,
            imagesTotal: trainIdx.length,
            imagesPerSec: trainRate(),
            etaSeconds: eta(
              (epochs - epoch) * trainIdx.length - st.partial.seen,
              valIdx ? epochs - epoch : 0,
            ),
            loss: st.partial.lossSum / st.partial.seen,
            accuracy: st.partial.correct / st.partial.seen,
            lr,
          };
          await call('onProgress', progress);
          // Training steps are synchronous: let timers and signal handlers (Ctrl-C, an AbortSignal's
          // timeout) run between batches, or a stop request would only be seen at the end.
          await yieldToEventLoop();
          if (control.stopRequested && batchIndex < stepsPerEpoch) {
            st.partial.seconds = secondsBefore + (performance.now() - epochStart) / 1000;
            await writeCheckpoint();
            stopped = true;
            break;
          }
        }
        if (stopped) break;
        if (batchIndex !== stepsPerEpoch) {
          throw new Error(
            `train: the batch iterator yielded ${batchIndex} batches in epoch ${epoch}, expected ${stepsPerEpoch}.`,
          );
        }

        // Validation.
        const log: EpochLog = {
          epoch: epoch + 1,
          loss: st.partial.lossSum / st.partial.seen,
          accuracy: st.partial.correct / st.partial.seen,
          lr,
          seconds: 0,
          imagesPerSec: trainSeconds > 0 ? imagesThisSession / trainSeconds : 0,
        };
        if (data.validation && valIdx) {
          const validationStart = performance.now();
          const valBatches = Math.ceil(valIdx.length / validationBatchSize);
          const result = await predictDataset(model, data.validation, {
            indices: valIdx,
            tenCrop: validationTenCrop,
            normalization: st.normalization,
            cropSize,
            batchSize: validationBatchSize,
            outputs,
            onProgress: (done, total) =>
              call('onProgress', {
                phase: 'validate',
                epoch,
                epochs,
                batch: Math.ceil(done / validationBatchSize),
                batches: valBatches,
                images: done,
                imagesTotal: total,
                imagesPerSec: trainRate(),
                etaSeconds: Math.max(
                  0,
                  eta((epochs - epoch - 1) * trainIdx.length, epochs - epoch - done / total),
                ),
                loss: log.loss,
                accuracy: log.accuracy,
                lr,
              } satisfies TrainProgress),
          });
          let correct = 0;
          for (let i = 0; i < result.count; i++) if (result.predictions[i] === result.labels[i]) correct++;
          log.valLoss = result.lossSum / result.count;
          log.valAccuracy = correct / result.count;
          lastValidationSeconds = (performance.now() - validationStart) / 1000;
        }
        log.seconds = secondsBefore + (performance.now() - epochStart) / 1000;
        st.history.push(log);
        st.epoch = epoch + 1;
        st.batch = 0;
        st.partial = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };

        // Best model (validation metric only), log line, checkpoint.
        const value = log[monitor];
        if (
          value !== undefined &&
          (st.best === null || (monitor === 'valLoss' ? value < st.best.value : value > st.best.value))
        ) {
          st.best = { monitor, value, epoch: log.epoch };
          if (checkpointDir !== undefined) {
            assertFiniteWeights(model, `the best model of epoch ${log.epoch}`);
            const path = await saveBestModel(checkpointDir, model, {
              monitor,
              value,
              epoch: log.epoch,
              normalization: st.normalization,
              cropSize,
              classNames,
            });
            await call('onBestModel', path, log);
          }
        }
        if (checkpointDir !== undefined) await appendLog(checkpointDir, log);
        await writeCheckpoint();
        await call('onEpochEnd', log);
        if (control.stopRequested && st.epoch < epochs) {
          stopped = true;
          break;
        }
      }
    } finally {
      sgd.dispose();
    }
    await call('onTrainEnd', stopped);
    return {
      history: st.history.slice(),
      best: st.best,
      epochsCompleted: st.epoch,
      stopped,
      globalStep: st.globalStep,
      normalization: st.normalization,
      cropSize,
      ...(lastCheckpoint !== undefined ? { checkpoint: lastCheckpoint } : {}),
    };
  }
}

/**
 * Thrown by {@link train} when the loss stops being finite (the run diverged): names the step.
 * Nothing is saved from that step on.
 * @example
 * ```ts
 * try {
 *   await train(model, data, { schedule: { type: 'constant', learningRate: 10 } });
 * } catch (e) {
 *   if (e instanceof NonFiniteLossError) console.log(`diverged at step ${e.detail.step}`);
 * }
 * ```
 * @category Training
 */
export class NonFiniteLossError extends Error {
  /** `'NonFiniteLossError'`. */
  override name = 'NonFiniteLossError';
  /** The failing step (1-based, counted over the whole run), its epoch and batch (0-based) and the loss. */
  readonly detail: { step: number; epoch: number; batch: number; loss: number };
  constructor(message: string, detail: { step: number; epoch: number; batch: number; loss: number }) {
    super(message);
    this.detail = detail;
  }
}

/** Throws naming `what` if a model weight holds NaN or Infinity (a diverged model is never saved). */
function assertFiniteWeights(model: tfl.LayersModel, what: string): void {
  const bad = model.weights.find((w) =>
    tf.tidy(() => {
      const v = w.read();
      return v.dtype === 'float32' && tf.any(tf.logicalNot(tf.isFinite(v))).dataSync()[0] === 1;
    }),
  );
  if (bad) {
    throw new Error(
      `train: refusing to save ${what}: the weight "${bad.originalName}" holds NaN or Infinity (training diverged; lower the learning rate).`,
    );
  }
}

/** Files of an earlier run in `dir` (without a checkpoint pointer): best model, log, checkpoints. */
async function earlierRunFiles(dir: string): Promise<string[]> {
  const { nodeFs } = await import('../io/node');
  const fs = await nodeFs(WHERE);
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    return [];
  }
  const { nodePath } = await import('../io/node');
  const p = await nodePath(WHERE);
  const found: string[] = [];
  for (const entry of entries.sort()) {
    if (entry === 'log.jsonl') {
      const text = await fs.readFile(p.join(dir, entry), 'utf8').catch(() => '');
      if (text.trim().length === 0) continue; // an empty log holds nothing worth keeping
      found.push(entry);
    } else if (RUN_ENTRY.test(entry)) {
      found.push(entry);
    }
  }
  return found;
}

/** Entries of a run directory that {@link train} (and the CLI) write. */
const RUN_ENTRY = /^(epoch-\d+.*|best|last|checkpoint\.json|log\.jsonl|final_validation\.json)$/;

/** One optimisation step; returns the batch's mean loss and number of correct predictions (tensors). */
function trainStep(
  model: tfl.LayersModel,
  variables: tf.Variable[],
  sgd: SGD,
  xs: tf.Tensor,
  ys: tf.Tensor,
  lr: number,
  outputs: OutputKind,
  clipNorm: number | undefined,
): { loss: tf.Scalar; correct: tf.Scalar } {
  let correct: tf.Scalar | null = null;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(xs, { training: true }) as tf.Tensor;
    correct = tf.keep(
      tf.sum(tf.cast(tf.equal(tf.argMax(out, -1), tf.argMax(ys, -1)), 'float32')) as tf.Scalar,
    );
    let loss = softmaxCrossEntropy(ys, out, outputs);
    const regularization = model.calculateLosses();
    if (regularization.length > 0) loss = tf.add(loss, tf.addN(regularization)) as tf.Scalar;
    return loss;
  }, variables);
  tf.tidy(() => {
    let list = variables.map((v) => grads[v.name] ?? tf.zerosLike(v));
    if (clipNorm !== undefined) list = clipByGlobalNorm(list, clipNorm).gradients;
    sgd.applyGradients(variables, list, lr);
  });
  for (const g of Object.values(grads)) g.dispose();
  return { loss: value, correct: correct! };
}

/** Removes the files of a previous run (checkpoints, best model, log). */
async function clearRun(dir: string): Promise<void> {
  const { nodeFs, nodePath } = await import('../io/node');
  const fs = await nodeFs(WHERE);
  const p = await nodePath(WHERE);
  for (const entry of await fs.readdir(dir)) {
    if (RUN_ENTRY.test(entry)) {
      await fs.rm(p.join(dir, entry), { recursive: true, force: true });
    }
  }
}

/** Resolves on the next turn of the event loop (a macrotask), so pending timers and signals run. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
