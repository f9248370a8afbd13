/**
 * Training checkpoints on disk (Node only; `fs` is imported lazily). Layout of a checkpoint directory:
 * ```
 * checkpoint.json          pointer to the latest complete checkpoint (replaced atomically, last)
 * epoch-0003/              one complete checkpoint: model.json, weights.bin, optimizer.bin, state.json
 * best/                    the best model by the validation metric: model.json, weights.bin, training.json
 * log.jsonl                one JSON line per finished epoch
 * ```
 * Opening such a directory for a run (the checks a resume must pass, and the clearing of an earlier
 * run's files) is run_directory.ts's job.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Normalization } from '../data/stats';
import { expected, messageOf } from '../errors';
import { removeStaleTemporaries, writeFileAtomic } from '../io/atomic';
import { fileSystem } from '../io/file_handler';
import type { Preprocessing } from '../models/preprocessing';
import { nodeFs, nodePath } from '../node_env';
import type { ResolvedSchedule } from './schedules';
import type { SGDOptions, SGDState } from './sgd';

/** Name of the pointer file in a checkpoint directory. @category Training */
export const CHECKPOINT_POINTER = 'checkpoint.json';
/** Name of the best-model subdirectory. @category Training */
export const BEST_MODEL_DIR = 'best';
/** Name of the JSON-lines training log. @category Training */
export const TRAINING_LOG = 'log.jsonl';

/** One line of the training log (and of {@link TrainResult.history}). @category Training */
export interface EpochLog {
  /** Epoch number, from 1 (the number of epochs completed). */
  epoch: number;
  /** Mean training loss over the epoch. */
  loss: number;
  /** Training accuracy over the epoch (on augmented crops, in training mode). */
  accuracy: number;
  /** Validation loss, when there is a validation split. */
  valLoss?: number;
  /** Validation accuracy, when there is a validation split. */
  valAccuracy?: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Wall-clock seconds of the epoch (training and validation). */
  seconds: number;
  /** Training images per second. */
  imagesPerSec: number;
}

/**
 * Everything besides the weights that is needed to continue a run exactly (stored as `state.json`).
 * @category Training
 */
export interface TrainingState {
  /** File format tag. */
  format: 'fer-cbam-training-state';
  /** Format version. */
  version: 1;
  /** Epoch in progress (0-based); equals the number of completed epochs when `batch` is 0. */
  epoch: number;
  /** Batches already done in `epoch`. */
  batch: number;
  /** Optimizer steps taken in the whole run. */
  globalStep: number;
  /** Planned epochs. */
  epochs: number;
  /** Batch size of the run. */
  batchSize: number;
  /** Seed of the run: batch order, augmentation and dropout of step `(epoch, batch)` derive from it. */
  seed: number;
  /** The learning-rate schedule, resolved. */
  schedule: ResolvedSchedule;
  /** SGD options, step count and the shapes of its momentum buffers. */
  optimizer: {
    /** SGD options. */
    options: Required<SGDOptions>;
    /** Steps taken. */
    iterations: number;
    /** Shapes of the momentum buffers, in weight order. */
    shapes: number[][];
  };
  /** Input normalisation used by the run. */
  normalization: Normalization;
  /** Crop size of the run. */
  cropSize: number;
  /** Training augmentation (`true`, `false` or the data module's options). */
  augment?: unknown;
  /** Class names of the training data. */
  classNames: string[];
  /** Number and hash of the training (index, label) pairs, to refuse a resume on other data. */
  trainData: { count: number; hash: number };
  /**
   * Data-parallel gradient workers of the run: each batch is split into `workers + 1` parts whose
   * BatchNorm statistics differ, so an exact resume needs the same count. Absent in checkpoints of
   * versions before it was recorded.
   */
  workers?: number;
  /** Running sums of the epoch in progress (so a mid-epoch resume logs the same numbers). */
  partial: { lossSum: number; correct: number; seen: number; seconds: number };
  /** Best validation result so far. */
  best: { monitor: string; value: number; epoch: number } | null;
  /** Logs of the completed epochs. */
  history: EpochLog[];
}

/** A checkpoint read back by {@link loadCheckpoint}. @category Training */
export interface Checkpoint {
  /** Directory of this checkpoint (e.g. `run/epoch-0003`). */
  path: string;
  /** Training state at the checkpoint. */
  state: TrainingState;
  /** Model weights in `model.weights` order (dispose them, or pass them to {@link restoreModelWeights}). */
  weights: tf.Tensor[];
  /** The saved weight names, same order. */
  weightNames: string[];
  /** Optimizer state (momentum buffers). */
  optimizer: SGDState;
}

/** Metadata written next to the best model (`best/training.json`). @category Training */
export interface BestModelInfo extends Pick<Preprocessing, 'normalization' | 'cropSize' | 'classNames'> {
  /** Metric that selected the model (e.g. `valAccuracy`). */
  monitor: string;
  /** Its value. */
  value: number;
  /** Epoch (from 1) of the best model. */
  epoch: number;
}

interface Pointer {
  format: 'fer-cbam-checkpoint';
  version: 1;
  latest: string;
  epoch: number;
  batch: number;
}

const CHECKPOINT_DIR = /^epoch-\d+(-step-\d+)?(-\d+)?$/;

function checkpointName(epoch: number, batch: number): string {
  const e = `epoch-${String(epoch).padStart(4, '0')}`;
  return batch > 0 ? `${e}-step-${String(batch).padStart(6, '0')}` : e;
}

async function readPointer(dir: string): Promise<Pointer | null> {
  const fs = await nodeFs('loadCheckpoint');
  const p = await nodePath('loadCheckpoint');
  const file = p.join(dir, CHECKPOINT_POINTER);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`loadCheckpoint: cannot read "${file}": ${messageOf(error)}`, { cause: error });
  }
  let pointer: Pointer;
  try {
    pointer = JSON.parse(text) as Pointer;
  } catch (error) {
    throw new Error(`loadCheckpoint: "${file}" is not valid JSON: ${messageOf(error)}`, { cause: error });
  }
  if (
    pointer?.format !== 'fer-cbam-checkpoint' ||
    typeof pointer.latest !== 'string' ||
    !CHECKPOINT_DIR.test(pointer.latest)
  ) {
    throw new Error(`loadCheckpoint: "${file}" is not a fer-cbam checkpoint pointer.`);
  }
  return pointer;
}

/**
 * Writes a complete checkpoint into a fresh subdirectory of `dir`, then atomically points
 * `dir/checkpoint.json` at it, then deletes older checkpoints. A crash at any moment leaves
 * `checkpoint.json` pointing at a complete checkpoint (the previous one until the new one is whole).
 * @param dir The run's checkpoint directory (created if missing).
 * @param model The model (saved with `model.save`, so `epoch-N/model.json` loads with `loadLayersModel`).
 * @param optimizer The optimizer's state.
 * @param state The training state.
 * @returns The new checkpoint's directory.
 * @throws Error quoting the path if something cannot be written.
 * @category Training
 */
export async function saveCheckpoint(
  dir: string,
  model: tfl.LayersModel,
  optimizer: SGDState,
  state: TrainingState,
): Promise<string> {
  const fs = await nodeFs('saveCheckpoint');
  const p = await nodePath('saveCheckpoint');
  await fs.mkdir(dir, { recursive: true }).catch((error: unknown) => {
    throw new Error(`saveCheckpoint: cannot create directory "${dir}": ${messageOf(error)}`, {
      cause: error,
    });
  });
  const previous = await readPointer(dir).catch(() => null);
  const base = checkpointName(state.epoch, state.batch);
  let name = base;
  for (let k = 2; name === previous?.latest; k++) name = `${base}-${k}`;
  // A directory of that name not pointed at is a leftover of a crashed save: replace it.
  await fs.rm(p.join(dir, name), { recursive: true, force: true });
  const path = p.join(dir, name);
  await model.save(fileSystem(path));
  await writeFileAtomic(
    p.join(path, 'optimizer.bin'),
    concatFloat32(optimizer.velocities.map((v) => v.values)),
  );
  const fullState: TrainingState = {
    ...state,
    optimizer: {
      options: optimizer.options,
      iterations: optimizer.iterations,
      shapes: optimizer.velocities.map((v) => v.shape),
    },
  };
  await writeFileAtomic(p.join(path, 'state.json'), JSON.stringify(fullState, null, 1));
  const pointer: Pointer = {
    format: 'fer-cbam-checkpoint',
    version: 1,
    latest: name,
    epoch: state.epoch,
    batch: state.batch,
  };
  await writeFileAtomic(p.join(dir, CHECKPOINT_POINTER), JSON.stringify(pointer, null, 1));
  for (const entry of await fs.readdir(dir)) {
    if (entry !== name && CHECKPOINT_DIR.test(entry)) {
      await fs.rm(p.join(dir, entry), { recursive: true, force: true });
    }
  }
  await removeStaleTemporaries(dir);
  return path;
}

function concatFloat32(arrays: Float32Array[]): Uint8Array {
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return new Uint8Array(out.buffer);
}

/**
 * Reads the latest complete checkpoint of a run directory.
 * @param dir The run's checkpoint directory.
 * @returns The checkpoint, or `null` if `dir` holds none (no `checkpoint.json`).
 * @throws Error quoting the path if the checkpoint is unreadable or inconsistent.
 * @example
 * ```ts
 * const ckpt = await loadCheckpoint('runs/fer2013');
 * if (ckpt) console.log(`epoch ${ckpt.state.epoch}, best ${ckpt.state.best?.value}`);
 * ```
 * @category Training
 */
export async function loadCheckpoint(dir: string): Promise<Checkpoint | null> {
  const fs = await nodeFs('loadCheckpoint');
  const p = await nodePath('loadCheckpoint');
  const found = await readCheckpointState(dir);
  if (found === null) return null;
  const { path, state } = found;
  const artifacts = await fileSystem(path).load();
  const specs = artifacts.weightSpecs ?? [];
  const named = tf.io.decodeWeights(artifacts.weightData ?? new ArrayBuffer(0), specs);
  const weightNames = specs.map((s) => s.name);
  const weights = weightNames.map((n) => named[n]);
  const optimizerFile = p.join(path, 'optimizer.bin');
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(optimizerFile);
  } catch (error) {
    for (const w of weights) w.dispose();
    throw new Error(`loadCheckpoint: cannot read "${optimizerFile}": ${messageOf(error)}`, { cause: error });
  }
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const velocities: SGDState['velocities'] = [];
  let offset = 0;
  for (const shape of state.optimizer.shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    velocities.push({ shape, values: floats.slice(offset, offset + size) });
    offset += size;
  }
  if (offset !== floats.length) {
    for (const w of weights) w.dispose();
    throw new Error(
      `loadCheckpoint: "${optimizerFile}" holds ${floats.length} values but state.json describes ${offset}.`,
    );
  }
  return {
    path,
    state,
    weights,
    weightNames,
    optimizer: { options: state.optimizer.options, iterations: state.optimizer.iterations, velocities },
  };
}

/**
 * The latest checkpoint's directory and training state, without its weights: what a command line
 * checks before it resumes (the `workers` and the network the run was started with).
 * @param dir The run directory.
 * @returns `null` if `dir` holds no checkpoint (no `checkpoint.json`).
 * @throws Error quoting the path if the pointer or `state.json` is unreadable.
 * @example
 * ```ts
 * const found = await readCheckpointState('runs/fer2013');
 * if (found) console.log(found.path, found.state.workers);
 * ```
 * @category Training
 */
export async function readCheckpointState(
  dir: string,
): Promise<{ path: string; state: TrainingState } | null> {
  const fs = await nodeFs('loadCheckpoint');
  const p = await nodePath('loadCheckpoint');
  const pointer = await readPointer(dir);
  if (pointer === null) return null;
  const path = p.join(dir, pointer.latest);
  const stateFile = p.join(path, 'state.json');
  let state: TrainingState;
  try {
    state = JSON.parse(await fs.readFile(stateFile, 'utf8')) as TrainingState;
  } catch (error) {
    throw new Error(`loadCheckpoint: cannot read "${stateFile}": ${messageOf(error)}`, { cause: error });
  }
  if (state.format !== 'fer-cbam-training-state') {
    throw new Error(`loadCheckpoint: "${stateFile}" is not a fer-cbam training state.`);
  }
  return { path, state };
}

/**
 * Writes `weights` (in `model.weights` order, as saved by `model.save`) into `model`'s variables.
 * Names are not compared (layer-name counters differ between processes); count and shapes are.
 * @throws RangeError naming the first weight whose shape differs, or if the counts differ.
 * @category Training
 */
export function restoreModelWeights(model: tfl.LayersModel, weights: tf.Tensor[]): void {
  const where = 'restoreModelWeights';
  const targets = model.weights;
  if (targets.length !== weights.length) {
    throw new RangeError(
      expected(where, 'weights', `${targets.length} tensors (the model's weight count)`, weights.length),
    );
  }
  targets.forEach((target, i) => {
    if (!tf.util.arraysEqual(target.shape as number[], weights[i].shape)) {
      throw new RangeError(
        expected(
          where,
          `weights[${i}] (${target.originalName})`,
          `of shape [${target.shape}]`,
          weights[i].shape,
        ),
      );
    }
  });
  targets.forEach((target, i) => {
    target.write(weights[i]);
  });
}

/**
 * Saves `model` as the run's best model in `dir/best/` (model.json and weights.bin, each atomic,
 * weights first) with `training.json` describing it (metric, epoch, the normalisation and crop
 * size to use at inference).
 * @category Training
 */
export async function saveBestModel(
  dir: string,
  model: tfl.LayersModel,
  info: BestModelInfo,
): Promise<string> {
  const p = await nodePath('saveBestModel');
  const path = p.join(dir, BEST_MODEL_DIR);
  await model.save(fileSystem(path));
  await removeStaleTemporaries(path);
  await writeFileAtomic(p.join(path, 'training.json'), JSON.stringify(info, null, 1));
  return path;
}

/**
 * Reads `training.json` of a saved best model (normalisation, crop size, class names, metric).
 * @param modelDir The directory holding `model.json` (e.g. `runs/x/best`).
 * @returns The metadata, or `null` if the file does not exist.
 * @category Training
 */
export async function readBestModelInfo(modelDir: string): Promise<BestModelInfo | null> {
  const fs = await nodeFs('readBestModelInfo');
  const p = await nodePath('readBestModelInfo');
  const file = p.join(modelDir, 'training.json');
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as BestModelInfo;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`readBestModelInfo: cannot read "${file}": ${messageOf(error)}`, { cause: error });
  }
}

/**
 * Replaces the training log with the lines of epochs up to `keepEpochs` (used on resume, so that a
 * run interrupted after logging but before checkpointing does not log an epoch twice).
 * @internal
 */
export async function truncateLog(dir: string, keepEpochs: number): Promise<void> {
  const fs = await nodeFs('train');
  const p = await nodePath('train');
  const file = p.join(dir, TRAINING_LOG);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return;
  }
  const kept = text
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .filter((line) => {
      try {
        return (JSON.parse(line) as EpochLog).epoch <= keepEpochs;
      } catch {
        return false;
      }
    });
  await writeFileAtomic(file, kept.map((l) => `${l}\n`).join(''));
}

/** Appends one epoch's line to `dir/log.jsonl`. @internal */
export async function appendLog(dir: string, line: EpochLog): Promise<void> {
  const fs = await nodeFs('train');
  const p = await nodePath('train');
  await fs.mkdir(dir, { recursive: true });
  await fs.appendFile(p.join(dir, TRAINING_LOG), `${JSON.stringify(line)}\n`);
}

/**
 * Reads a training log (`log.jsonl`) back as an array.
 * @param dir The run directory (or the log file itself).
 * @throws Error naming the file and line if a line is not valid JSON.
 * @category Training
 */
export async function readTrainingLog(dir: string): Promise<EpochLog[]> {
  const fs = await nodeFs('readTrainingLog');
  const p = await nodePath('readTrainingLog');
  const file = dir.endsWith('.jsonl') ? dir : p.join(dir, TRAINING_LOG);
  const text = await fs.readFile(file, 'utf8').catch((error: unknown) => {
    throw new Error(`readTrainingLog: cannot read "${file}": ${messageOf(error)}`, { cause: error });
  });
  return text
    .split('\n')
    .map((line, i) => ({ line, i }))
    .filter(({ line }) => line.trim().length > 0)
    .map(({ line, i }) => {
      try {
        return JSON.parse(line) as EpochLog;
      } catch (error) {
        throw new Error(`readTrainingLog: "${file}" line ${i + 1} is not valid JSON: ${messageOf(error)}`);
      }
    });
}
