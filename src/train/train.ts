/**
 * The training loop of {@link train} and its step. Options are resolved in `train_options.ts`, the
 * checkpoints, log and best model are `checkpoint.ts`'s, opening the run directory (resume checks,
 * clearing an earlier run) is `run_directory.ts`'s, throughput and ETA are `progress.ts`'s.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { countBatches, iterateBatches } from '../data/batches';
import type { FaceDataset } from '../data/dataset';
import { datasetStats, type Normalization } from '../data/stats';
import { acquireRunLock, type RunLock } from '../io/lock';
import { NonFiniteModelError } from '../models/finite';
import { setPreprocessing } from '../models/preprocessing';
import { deriveSeed, withSeededRandom } from '../random';
import type { BatchLog, TrainCallbacks, TrainControl } from './callbacks';
import { appendLog, type EpochLog, saveBestModel, saveCheckpoint, type TrainingState } from './checkpoint';
import type { GradientWorkers } from './data_parallel';
import { predictDataset } from './evaluate';
import { batchGradients } from './gradients';
import type { OutputKind } from './loss';
import { ProgressMeter } from './progress';
import { newTrainingState, openRunDirectory, type RunSettings, trainDataFingerprint } from './run_directory';
import { learningRateAt } from './schedules';
import { clipByGlobalNorm, SGD } from './sgd';
import {
  type ResolvedTrainOptions,
  resolveTrainOptions,
  type TrainData,
  type TrainOptions,
} from './train_options';

/** What {@link train} returns. @category Training */
export interface TrainResult {
  /** Logs of all completed epochs (including those before a resume). */
  history: EpochLog[];
  /** The best validation result, or `null` without validation. */
  best: { monitor: string; value: number; epoch: number } | null;
  /** Epochs completed. */
  epochsCompleted: number;
  /**
   * Batches done in the epoch in progress when the run stopped (0 when it ended at an epoch's end):
   * a run stopped in epoch 2 after 37 batches has `epochsCompleted` 1 and `batch` 37.
   */
  batch: number;
  /** Batches per epoch. */
  stepsPerEpoch: number;
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

const WHERE = 'train';

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
  const o = resolveTrainOptions(model, data, options);
  const stepsPerEpoch = countBatches(o.trainIdx.length, o.batchSize);
  const trainData = trainDataFingerprint(data.train, o.trainIdx);
  const sgd = new SGD(o.sgd);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const settings: RunSettings = {
    epochs: o.epochs,
    batchSize: o.batchSize,
    seed: o.seed,
    schedule: o.schedule,
    optimizer: sgd.options,
    cropSize: o.cropSize,
    augment: o.augment,
    classNames: o.classNames,
    trainData,
    workers: o.workers,
  };

  // Every option is checked: from here on the run directory is touched. Lock it first, so that two
  // trainings never write into one directory.
  let lock: RunLock | null = null;
  if (o.checkpointDir !== undefined) {
    lock = await acquireRunLock(o.checkpointDir, WHERE);
    if (lock.tookOver) {
      console.warn(
        `train: took over the lock of "${o.checkpointDir}" left by process ${lock.tookOver.pid}, which is no longer running.`,
      );
    }
  }
  try {
    return await trainLocked({ model, data, o, sgd, variables, stepsPerEpoch }, settings);
  } finally {
    await lock?.release();
  }
}

/** What the loop of one run works on; `st` is the state checkpoints save, updated as it goes. */
interface Loop {
  model: tfl.LayersModel;
  data: TrainData;
  o: ResolvedTrainOptions;
  sgd: SGD;
  variables: tf.Variable[];
  stepsPerEpoch: number;
  st: TrainingState;
  hooks: Hooks;
  meter: ProgressMeter;
  /** Directory of the last checkpoint written. */
  lastCheckpoint?: string;
  /** The data-parallel gradient workers (`workers > 0`). */
  workers?: GradientWorkers;
}

/** The run, with the directory locked: restore or start the state, then the epochs. */
async function trainLocked(
  setup: Omit<Loop, 'st' | 'hooks' | 'meter'>,
  settings: RunSettings,
): Promise<TrainResult> {
  const { model, data, o, sgd, variables, stepsPerEpoch } = setup;
  // Fresh state, or the checkpoint's.
  const into = { model, optimizer: sgd, variables };
  const mode = { resume: o.resume, overwrite: o.overwrite };
  const resumedState =
    o.checkpointDir === undefined ? null : await openRunDirectory(o.checkpointDir, settings, into, mode);
  const st = resumedState ?? newTrainingState(settings, initialNormalization(data.train, o));
  // One source of truth for preprocessing: the saved models (checkpoints, best) carry it in model.json.
  setPreprocessing(model, {
    imageSize: data.train.height,
    cropSize: o.cropSize,
    normalization: { mean: st.normalization.mean, std: st.normalization.std },
    classNames: o.classNames,
  });
  const valCount = o.valIdx?.length ?? 0;
  const loop: Loop = {
    ...setup,
    st,
    hooks: new Hooks(o.callbacks, o.signal),
    meter: new ProgressMeter(o.epochs, o.trainIdx.length, valCount),
  };
  const { hooks } = loop;

  await hooks.call('onTrainBegin', {
    epochs: o.epochs,
    stepsPerEpoch,
    startEpoch: st.epoch,
    startBatch: st.batch,
    trainCount: o.trainIdx.length,
    validationCount: valCount,
    resumed: resumedState !== null,
  });

  let stopped = false;
  try {
    if (o.workers > 0) {
      const { GradientWorkers } = await import('./data_parallel');
      loop.workers = await GradientWorkers.start(model, o.workers, o.outputs);
    }
    while (st.epoch < o.epochs) {
      const epoch = st.epoch;
      if (st.batch === 0) await hooks.call('onEpochBegin', epoch);
      const epochStart = performance.now();
      const secondsBefore = st.partial.seconds;
      const trained = await trainEpoch(loop, epoch, epochStart, secondsBefore);
      if (trained.stopped) {
        stopped = true;
        break;
      }
      const log: EpochLog = {
        epoch: epoch + 1,
        loss: st.partial.lossSum / st.partial.seen,
        accuracy: st.partial.correct / st.partial.seen,
        lr: trained.lr,
        seconds: 0,
        imagesPerSec: trained.seconds > 0 ? trained.images / trained.seconds : 0,
      };
      if (data.validation && o.valIdx) await validateEpoch(loop, data.validation, o.valIdx, epoch, log);
      log.seconds = secondsBefore + (performance.now() - epochStart) / 1000;
      st.history.push(log);
      st.epoch = epoch + 1;
      st.batch = 0;
      st.partial = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };

      // Best model (validation metric only), log line, checkpoint.
      await saveIfBest(loop, log);
      if (o.checkpointDir !== undefined) await appendLog(o.checkpointDir, log);
      await writeCheckpoint(loop);
      await hooks.call('onEpochEnd', log);
      if (hooks.control.stopRequested && st.epoch < o.epochs) {
        stopped = true;
        break;
      }
    }
  } finally {
    sgd.dispose();
    await loop.workers?.dispose();
  }
  await hooks.call('onTrainEnd', stopped);
  return {
    history: st.history.slice(),
    best: st.best,
    epochsCompleted: st.epoch,
    batch: st.batch,
    stepsPerEpoch,
    stopped,
    globalStep: st.globalStep,
    normalization: st.normalization,
    cropSize: o.cropSize,
    ...(loop.lastCheckpoint !== undefined ? { checkpoint: loop.lastCheckpoint } : {}),
  };
}

/**
 * The training batches of one epoch, from `st.batch` on. Returns early with `stopped` after writing a
 * mid-epoch checkpoint when a stop is requested; otherwise with the epoch's last learning rate and
 * this session's training seconds and images in it.
 */
async function trainEpoch(
  loop: Loop,
  epoch: number,
  epochStart: number,
  secondsBefore: number,
): Promise<{ stopped: boolean; lr: number; seconds: number; images: number }> {
  const { model, o, st, stepsPerEpoch, hooks, meter } = loop;
  let trainSeconds = 0;
  let imagesThisSession = 0;
  let lr = learningRateAt(o.schedule, {
    epoch,
    step: Math.min(st.batch, stepsPerEpoch - 1),
    stepsPerEpoch,
    epochs: o.epochs,
  });
  let batchIndex = 0;
  const batches = iterateBatches(loop.data.train, {
    batchSize: o.batchSize,
    seed: o.seed,
    epoch,
    shuffle: true,
    indices: o.trainIdx,
    cropSize: o.cropSize,
    augment: o.augment,
    normalization: st.normalization,
    balanced: o.balanced,
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
    lr = learningRateAt(o.schedule, { epoch, step: batchIndex, stepsPerEpoch, epochs: o.epochs });
    const size = batch.xs.shape[0];
    let loss: tf.Scalar;
    let correct: tf.Scalar;
    if (loop.workers) {
      // One seed per part of the batch: part 0 (this thread) has the single-thread run's seed.
      const seeds = Array.from({ length: loop.workers.count + 1 }, (_, k) =>
        o.deterministic ? deriveSeed(o.seed, epoch, batchIndex, 0x5eed + k) : null,
      );
      const g = await loop.workers.batchGradients(
        model,
        loop.variables,
        batch.xs,
        batch.ys,
        o.outputs,
        seeds,
      );
      applyStep(loop.variables, loop.sgd, g.grads, lr, o.clipNorm);
      ({ loss, correct } = g);
    } else {
      const run = () =>
        trainStep(model, loop.variables, loop.sgd, batch.xs, batch.ys, lr, o.outputs, o.clipNorm);
      ({ loss, correct } = o.deterministic
        ? withSeededRandom(deriveSeed(o.seed, epoch, batchIndex, 0x5eed), run)
        : run());
    }
    batch.xs.dispose();
    batch.ys.dispose();
    const [lossValue, correctValue] = await Promise.all([loss.data(), correct.data()]);
    loss.dispose();
    correct.dispose();
    if (!Number.isFinite(lossValue[0])) {
      throw new NonFiniteLossError(
        `train: the loss became ${lossValue[0]} at step ${st.globalStep + 1} (epoch ${epoch + 1}, batch ${batchIndex + 1} of ${stepsPerEpoch}, learning rate ${lr}): training diverged, so it was stopped and nothing was saved from this step on; lower the learning rate (or set clipNorm) and start again${o.checkpointDir !== undefined ? ', or resume from the last checkpoint' : ''}.`,
        { step: st.globalStep + 1, epoch, batch: batchIndex, loss: lossValue[0] },
      );
    }
    const stepSeconds = (performance.now() - stepStart) / 1000;
    trainSeconds += stepSeconds;
    meter.addTrainStep(size, stepSeconds);
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
    await hooks.call('onBatchEnd', batchLog);
    await hooks.call(
      'onProgress',
      meter.trainProgress({
        epoch,
        batch: batchIndex,
        batches: stepsPerEpoch,
        images: st.partial.seen,
        loss: st.partial.lossSum / st.partial.seen,
        accuracy: st.partial.correct / st.partial.seen,
        lr,
      }),
    );
    // Training steps are synchronous: let timers and signal handlers (Ctrl-C, an AbortSignal's
    // timeout) run between batches, or a stop request would only be seen at the end.
    await yieldToEventLoop();
    if (hooks.control.stopRequested && batchIndex < stepsPerEpoch) {
      st.partial.seconds = secondsBefore + (performance.now() - epochStart) / 1000;
      await writeCheckpoint(loop);
      return { stopped: true, lr, seconds: trainSeconds, images: imagesThisSession };
    }
  }
  if (batchIndex !== stepsPerEpoch) {
    throw new Error(
      `train: the batch iterator yielded ${batchIndex} batches in epoch ${epoch}, expected ${stepsPerEpoch}.`,
    );
  }
  return { stopped: false, lr, seconds: trainSeconds, images: imagesThisSession };
}

/**
 * `predictDataset` for validation, where non-finite outputs mean training diverged in the epoch's last
 * step (a step's loss precedes its update): said as a divergence, not a damaged model file.
 */
async function predictDatasetOrDiverged(
  loop: Loop,
  epoch: number,
  log: EpochLog,
  ...args: Parameters<typeof predictDataset>
): ReturnType<typeof predictDataset> {
  try {
    return await predictDataset(...args);
  } catch (e) {
    if (!(e instanceof NonFiniteModelError)) throw e;
    throw new Error(
      `train: the model's outputs became NaN or infinite by the validation of epoch ${epoch + 1} (after step ${loop.st.globalStep}, learning rate ${log.lr}): training diverged, so it was stopped and nothing was saved from this epoch on; lower the learning rate (or set clipNorm) and start again${loop.o.checkpointDir !== undefined ? ', or resume from the last checkpoint' : ''}.`,
      { cause: e },
    );
  }
}

/** Validates the epoch's model on `indices` of `validation`, filling `log.valLoss` and `log.valAccuracy`. */
async function validateEpoch(
  loop: Loop,
  validation: FaceDataset,
  indices: Int32Array,
  epoch: number,
  log: EpochLog,
): Promise<void> {
  const { o, hooks, meter } = loop;
  const validationStart = performance.now();
  const result = await predictDatasetOrDiverged(loop, epoch, log, loop.model, validation, {
    indices,
    tenCrop: o.validationTenCrop,
    normalization: loop.st.normalization,
    cropSize: o.cropSize,
    batchSize: o.validationBatchSize,
    outputs: o.outputs,
    workers: loop.workers,
    onProgress: (done, total) =>
      hooks.call(
        'onProgress',
        meter.validateProgress({
          epoch,
          done,
          total,
          batchSize: o.validationBatchSize,
          loss: log.loss,
          accuracy: log.accuracy,
          lr: log.lr,
        }),
      ),
  });
  let correct = 0;
  for (let i = 0; i < result.count; i++) if (result.predictions[i] === result.labels[i]) correct++;
  log.valLoss = result.lossSum / result.count;
  log.valAccuracy = correct / result.count;
  meter.setValidationSeconds((performance.now() - validationStart) / 1000);
}

/** Records the epoch as the best so far if its validation metric beats the best, saving `best/`. */
async function saveIfBest(loop: Loop, log: EpochLog): Promise<void> {
  const { o, st } = loop;
  const value = log[o.monitor];
  if (value === undefined) return;
  if (st.best !== null && !(o.monitor === 'valLoss' ? value < st.best.value : value > st.best.value)) return;
  st.best = { monitor: o.monitor, value, epoch: log.epoch };
  if (o.checkpointDir === undefined) return;
  assertFiniteWeights(loop.model, `the best model of epoch ${log.epoch}`);
  const path = await saveBestModel(o.checkpointDir, loop.model, {
    monitor: o.monitor,
    value,
    epoch: log.epoch,
    normalization: st.normalization,
    cropSize: o.cropSize,
    classNames: o.classNames,
  });
  await loop.hooks.call('onBestModel', path, log);
}

/** Writes a checkpoint of the run's state (with a checkpoint directory) and tells the callbacks. */
async function writeCheckpoint(loop: Loop): Promise<void> {
  const dir = loop.o.checkpointDir;
  if (dir === undefined) return;
  const { st } = loop;
  assertFiniteWeights(loop.model, `the checkpoint at epoch ${st.epoch}, batch ${st.batch}`);
  loop.lastCheckpoint = await saveCheckpoint(dir, loop.model, await loop.sgd.getState(), st);
  await loop.hooks.call('onCheckpoint', loop.lastCheckpoint);
}

/** The normalisation of a fresh run: the given values, or the training images' statistics. */
function initialNormalization(ds: FaceDataset, o: ResolvedTrainOptions): Normalization {
  if (o.normalization === 'dataset') {
    const stats = datasetStats(ds, o.trainIdx);
    return { mean: stats.mean, std: stats.std };
  }
  return { mean: o.normalization.mean, std: o.normalization.std };
}

/** The run's callbacks and the {@link TrainControl} they receive (a stop request, or the abort signal). */
class Hooks {
  readonly control: TrainControl;
  private stopRequested = false;

  constructor(
    private readonly callbacks: TrainCallbacks[],
    signal: AbortSignal | undefined,
  ) {
    const hooks = this;
    this.control = {
      stop: () => {
        hooks.stopRequested = true;
      },
      get stopRequested() {
        return hooks.stopRequested || signal?.aborted === true;
      },
    };
  }

  /** Calls hook `name` of every callback in order, awaiting each, with the control appended. */
  async call<K extends keyof TrainCallbacks>(name: K, ...args: unknown[]): Promise<void> {
    for (const cb of this.callbacks) {
      const fn = cb[name] as ((...a: unknown[]) => unknown) | undefined;
      if (fn) await fn.call(cb, ...args, this.control);
    }
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
  const { loss, correct, grads } = batchGradients(model, variables, xs, ys, outputs);
  applyStep(variables, sgd, grads, lr, clipNorm);
  return { loss, correct };
}

/** Clips (when asked) and applies `grads` (one per variable, disposed here) with `sgd`. */
function applyStep(
  variables: tf.Variable[],
  sgd: SGD,
  grads: tf.Tensor[],
  lr: number,
  clipNorm: number | undefined,
): void {
  tf.tidy(() => {
    let list = grads;
    if (clipNorm !== undefined) list = clipByGlobalNorm(list, clipNorm).gradients;
    sgd.applyGradients(variables, list, lr);
  });
  tf.dispose(grads);
}

/** Resolves on the next turn of the event loop (a macrotask), so pending timers and signals run. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
