/**
 * Opening a run directory for {@link train}: resume its checkpoint (after the checks a resume must
 * pass), or clear an earlier run's files. The checkpoints themselves are checkpoint.ts's.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { FaceDataset } from '../data/dataset';
import type { Normalization } from '../data/stats';
import { expected } from '../errors';
import { nodeFs, nodePath } from '../node_env';
import {
  type Checkpoint,
  loadCheckpoint,
  restoreModelWeights,
  TRAINING_LOG,
  type TrainingState,
  truncateLog,
} from './checkpoint';
import type { ResolvedSchedule } from './schedules';
import type { SGD, SGDOptions } from './sgd';

/** Errors from here are met through {@link train}, so they name it. */
const RUN_WHERE = 'train';

/** Entries of a run directory that {@link train} (and the CLI) write. */
const RUN_ENTRY = /^(epoch-\d+.*|best|last|checkpoint\.json|log\.jsonl|final_validation\.json)$/;

/**
 * What a run is started with and a checkpoint records; resuming needs the same values (the epoch
 * count may grow, except for schedules shaped by it). @internal
 */
export interface RunSettings {
  /** Planned epochs. */
  epochs: number;
  /** Batch size. */
  batchSize: number;
  /** Seed of batch order, augmentation and dropout. */
  seed: number;
  /** The resolved learning-rate schedule. */
  schedule: ResolvedSchedule;
  /** The SGD options (resolved). */
  optimizer: Required<SGDOptions>;
  /** Crop size. */
  cropSize: number;
  /** Training augmentation (`true`, `false` or the data module's options). */
  augment: unknown;
  /** Class names of the training data. */
  classNames: string[];
  /** {@link trainDataFingerprint} of the training images. */
  trainData: { count: number; hash: number };
  /** Data-parallel gradient workers. */
  workers: number;
}

/**
 * Count and FNV-1a hash of the (index, label) pairs used for training, stored in the checkpoint so
 * that a resume on other data is refused.
 * @param ds The training dataset.
 * @param indices The training images.
 * @example
 * ```ts
 * const { count, hash } = trainDataFingerprint(fer, trainIdx); // count: 28709
 * ```
 * @internal
 */
export function trainDataFingerprint(ds: FaceDataset, indices: Int32Array): { count: number; hash: number } {
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

/**
 * The training state of a run at its start (epoch 0, no steps, no history).
 * @param run The run's settings.
 * @param normalization The input normalisation the run uses.
 * @example
 * ```ts
 * const state = newTrainingState(settings, datasetStats(fer, trainIdx));
 * ```
 * @internal
 */
export function newTrainingState(run: RunSettings, normalization: Normalization): TrainingState {
  // Key order is the order of state.json.
  return {
    format: 'fer-cbam-training-state',
    version: 1,
    epoch: 0,
    batch: 0,
    globalStep: 0,
    epochs: run.epochs,
    batchSize: run.batchSize,
    seed: run.seed,
    schedule: run.schedule,
    optimizer: { options: run.optimizer, iterations: 0, shapes: [] },
    normalization,
    cropSize: run.cropSize,
    augment: run.augment,
    classNames: run.classNames,
    trainData: run.trainData,
    workers: run.workers,
    partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
    best: null,
    history: [],
  };
}

/**
 * Prepares a run directory for {@link train}. With a checkpoint and `resume`, checks that it was
 * written with the same settings, restores the model's weights and the optimizer's state from it,
 * drops log lines past it, and returns its state. Otherwise, for a fresh run, removes the files of an
 * earlier run (a checkpoint needs `overwrite`; files without one need `resume` or `overwrite`) and
 * returns `null`.
 * @param dir The run directory.
 * @param run The settings of the run about to start.
 * @param into The model, optimizer and trainable variables a resumed checkpoint is restored into.
 * @param mode `resume` and `overwrite`, as given to {@link train}.
 * @example
 * ```ts
 * const state = await openRunDirectory('runs/fer', settings, { model, optimizer: sgd, variables }, {
 *   resume: true,
 *   overwrite: false,
 * });
 * ```
 * @throws RangeError naming the setting that differs from the checkpoint's; Error quoting the path
 *   if the directory holds a run that may not be replaced.
 * @internal
 */
export async function openRunDirectory(
  dir: string,
  run: RunSettings,
  into: { model: tfl.LayersModel; optimizer: SGD; variables: tf.Variable[] },
  mode: { resume: boolean; overwrite: boolean },
): Promise<TrainingState | null> {
  const checkpoint = await loadCheckpoint(dir);
  const earlier = checkpoint ? [] : await earlierRunFiles(dir);
  if (!checkpoint && earlier.length > 0 && !mode.resume && !mode.overwrite) {
    throw new Error(
      `train: "${dir}" holds files of an earlier run (${earlier.join(', ')}) but no checkpoint; pass overwrite: true to replace them, or use another directory.`,
    );
  }
  if (checkpoint && mode.resume) {
    try {
      checkResumable(checkpoint, run);
      restoreModelWeights(into.model, checkpoint.weights);
      into.optimizer.setState(checkpoint.optimizer);
      into.optimizer.checkVariables(into.variables);
    } finally {
      for (const w of checkpoint.weights) w.dispose();
    }
    const state = { ...checkpoint.state, epochs: run.epochs };
    await truncateLog(dir, state.epoch);
    return state;
  }
  if (checkpoint && !mode.overwrite) {
    for (const w of checkpoint.weights) w.dispose();
    throw new Error(
      `train: "${dir}" already holds a checkpoint (epoch ${checkpoint.state.epoch}); pass resume: true to continue it or overwrite: true to start again.`,
    );
  }
  if (checkpoint) for (const w of checkpoint.weights) w.dispose();
  // A fresh run: drop files of an earlier run (with overwrite) or of one that crashed before its
  // first checkpoint (a log line without a checkpoint).
  if (checkpoint || earlier.length > 0) await clearRun(dir);
  else await truncateLog(dir, 0);
  return null;
}

/** Throws a RangeError naming the first setting of `run` that differs from the checkpoint's. */
function checkResumable(checkpoint: Checkpoint, run: RunSettings): void {
  const s = checkpoint.state;
  const mismatch = (arg: string, ours: unknown, theirs: unknown) => {
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
      throw new RangeError(
        expected(
          RUN_WHERE,
          arg,
          `${JSON.stringify(theirs)} to resume the checkpoint in "${checkpoint.path}"`,
          ours,
        ),
      );
    }
  };
  mismatch('seed', run.seed, s.seed);
  mismatch('batchSize', run.batchSize, s.batchSize);
  mismatch('schedule', run.schedule, s.schedule);
  mismatch('cropSize', run.cropSize, s.cropSize);
  if (s.augment !== undefined) mismatch('augment', run.augment, s.augment);
  mismatch('optimizer options', run.optimizer, s.optimizer.options);
  mismatch('classNames', run.classNames, s.classNames);
  mismatch('data.train (its selected images and labels)', run.trainData, s.trainData);
  // Each worker's part of a batch has its own BatchNorm statistics: another count is another run.
  if (s.workers !== undefined) mismatch('workers', run.workers, s.workers);
  else {
    console.warn(
      `train: the checkpoint in "${checkpoint.path}" does not record \`workers\` (written by an older version); the resume is exact only with the value the run was started with.`,
    );
  }
  // Cosine and one-cycle are shaped by the run's length: changing it would change every rate.
  if (run.schedule.type === 'cosine' || run.schedule.type === 'onecycle')
    mismatch('epochs', run.epochs, s.epochs);
  if (s.epoch > run.epochs || (s.epoch === run.epochs && s.batch > 0)) {
    throw new RangeError(
      expected(RUN_WHERE, 'epochs', `at least ${s.epoch} (the checkpoint's epoch)`, run.epochs),
    );
  }
}

/** Files of an earlier run in `dir` (without a checkpoint pointer): best model, log, checkpoints. */
async function earlierRunFiles(dir: string): Promise<string[]> {
  const fs = await nodeFs(RUN_WHERE);
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    return [];
  }
  const p = await nodePath(RUN_WHERE);
  const found: string[] = [];
  for (const entry of entries.sort()) {
    if (entry === TRAINING_LOG) {
      const text = await fs.readFile(p.join(dir, entry), 'utf8').catch(() => '');
      if (text.trim().length === 0) continue; // an empty log holds nothing worth keeping
      found.push(entry);
    } else if (RUN_ENTRY.test(entry)) {
      found.push(entry);
    }
  }
  return found;
}

/** Removes the files of a previous run (checkpoints, best model, log). */
async function clearRun(dir: string): Promise<void> {
  const fs = await nodeFs(RUN_WHERE);
  const p = await nodePath(RUN_WHERE);
  for (const entry of await fs.readdir(dir)) {
    if (RUN_ENTRY.test(entry)) {
      await fs.rm(p.join(dir, entry), { recursive: true, force: true });
    }
  }
}
