import type { EpochLog } from './checkpoint';

/** Lets a callback end training early (after the current batch; a checkpoint is saved). @category Training */
export interface TrainControl {
  /** Requests a stop; {@link train} returns with `stopped: true` after saving a checkpoint. */
  stop(): void;
  /** Whether a stop has been requested (by {@link TrainControl.stop} or the abort signal). */
  readonly stopRequested: boolean;
}

/** Passed to `onTrainBegin`. @category Training */
export interface TrainBeginInfo {
  /** Planned epochs. */
  epochs: number;
  /** Batches per epoch. */
  stepsPerEpoch: number;
  /** Epoch training starts at (0-based; > 0 when resuming). */
  startEpoch: number;
  /** Batch within `startEpoch` training starts at (> 0 when resuming mid-epoch). */
  startBatch: number;
  /** Training images per epoch. */
  trainCount: number;
  /** Validation images (0 without validation). */
  validationCount: number;
  /** Whether the run continues a checkpoint. */
  resumed: boolean;
}

/** Passed to `onBatchEnd`. @category Training */
export interface BatchLog {
  /** Epoch, from 0. */
  epoch: number;
  /** Batch within the epoch, from 0. */
  batch: number;
  /** Images in the batch. */
  size: number;
  /** Mean loss of the batch. */
  loss: number;
  /** Accuracy on the batch. */
  accuracy: number;
  /** Learning rate used for this step. */
  lr: number;
}

/**
 * Progress of a run, for progress bars: sent after every training batch (`phase: 'train'`) and every
 * validation batch (`phase: 'validate'`).
 * @category Training
 */
export interface TrainProgress {
  /** Training batches or the validation pass. */
  phase: 'train' | 'validate';
  /** Epoch, from 0. */
  epoch: number;
  /** Planned epochs. */
  epochs: number;
  /** Batches done in this phase of this epoch. */
  batch: number;
  /** Batches in this phase of an epoch. */
  batches: number;
  /** Images done in this phase of this epoch. */
  images: number;
  /** Images in this phase of an epoch. */
  imagesTotal: number;
  /** Training throughput of this session so far (images per second). */
  imagesPerSec: number;
  /** Estimated seconds until the whole run ends (training and validation). */
  etaSeconds: number;
  /** Running mean loss of the epoch (training phase). */
  loss: number;
  /** Running accuracy of the epoch (training phase). */
  accuracy: number;
  /** Current learning rate. */
  lr: number;
}

/**
 * Hooks called by {@link train}. Every hook may be async (training waits for it) and receives a
 * {@link TrainControl} to stop the run.
 * @example
 * ```ts
 * await train(model, data, {
 *   callbacks: { onEpochEnd: (log) => console.log(log.epoch, log.valAccuracy) },
 * });
 * ```
 * @category Training
 */
export interface TrainCallbacks {
  /** Called once before the first batch. */
  onTrainBegin?(info: TrainBeginInfo, control: TrainControl): void | Promise<void>;
  /** Called at the start of each epoch. */
  onEpochBegin?(epoch: number, control: TrainControl): void | Promise<void>;
  /** Called after each training batch. */
  onBatchEnd?(log: BatchLog, control: TrainControl): void | Promise<void>;
  /** Called after each epoch (after validation and checkpointing). */
  onEpochEnd?(log: EpochLog, control: TrainControl): void | Promise<void>;
  /** After each training or validation batch: counts, throughput and ETA for progress bars. */
  onProgress?(progress: TrainProgress, control: TrainControl): void | Promise<void>;
  /** After a checkpoint is written, with its directory. */
  onCheckpoint?(path: string, control: TrainControl): void | Promise<void>;
  /** After a new best model is saved to `best/`. */
  onBestModel?(path: string, log: EpochLog, control: TrainControl): void | Promise<void>;
  /** Called once at the end; `stopped` tells whether training stopped early. */
  onTrainEnd?(stopped: boolean, control: TrainControl): void | Promise<void>;
}

/**
 * Stops training when the monitored validation metric has not improved for `patience` epochs.
 * @param patience Epochs without improvement tolerated. Defaults to `10`.
 * @param monitor The metric. Defaults to `'valAccuracy'` (higher is better; `'valLoss'`: lower).
 * @example
 * ```ts
 * await train(model, data, { callbacks: [earlyStopping(5)] });
 * ```
 * @category Training
 */
export function earlyStopping(
  patience = 10,
  monitor: 'valAccuracy' | 'valLoss' = 'valAccuracy',
): TrainCallbacks {
  let best = Number.NaN;
  let wait = 0;
  return {
    onEpochEnd(log, control) {
      const value = log[monitor];
      if (value === undefined) return;
      const better = Number.isNaN(best) || (monitor === 'valLoss' ? value < best : value > best);
      if (better) {
        best = value;
        wait = 0;
      } else if (++wait >= patience) {
        control.stop();
      }
    },
  };
}
