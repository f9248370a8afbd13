/**
 * Throughput and time-to-finish of a training run, and the {@link TrainProgress} records that
 * {@link train} sends to `onProgress` after every training and validation batch.
 * @module
 */
import type { TrainProgress } from './callbacks';

/**
 * Measures training throughput over this session's steps (a resumed run does not count the steps
 * before it) and estimates the seconds left from it and the last validation's duration.
 * @example
 * ```ts
 * const meter = new ProgressMeter(30, 28709, 3589);
 * meter.addTrainStep(128, 0.9);
 * const p = meter.trainProgress({
 *   epoch: 0, batch: 1, batches: 225, images: 128, loss: 1.9, accuracy: 0.2, lr: 0.01,
 * });
 * p.etaSeconds; // the images left at 142 images/s, plus 30 validations
 * ```
 * @internal
 */
export class ProgressMeter {
  private images = 0;
  private trainSeconds = 0;
  /** Seconds of the last validation pass, or -1 before the first. */
  private validationSeconds = -1;

  /**
   * @param epochs Planned epochs.
   * @param trainCount Training images per epoch.
   * @param validationCount Validation images (0 without validation).
   */
  constructor(
    private readonly epochs: number,
    private readonly trainCount: number,
    private readonly validationCount: number,
  ) {}

  /** Counts one training step of `images` images that took `seconds`. */
  addTrainStep(images: number, seconds: number): void {
    this.trainSeconds += seconds;
    this.images += images;
  }

  /** Records how long a whole validation pass took. */
  setValidationSeconds(seconds: number): void {
    this.validationSeconds = seconds;
  }

  /** Training images per second in this session so far (0 before the first step). */
  get imagesPerSec(): number {
    return this.trainSeconds > 0 ? this.images / this.trainSeconds : 0;
  }

  /** Seconds left given the training images and whole validations still to do. */
  eta(trainImagesLeft: number, validationsLeft: number): number {
    const rate = this.imagesPerSec;
    if (rate === 0) return 0;
    // Before the first validation, guess that inference runs three times faster than training.
    const validationSeconds =
      this.validationSeconds >= 0 ? this.validationSeconds : this.validationCount / (3 * rate);
    return trainImagesLeft / rate + validationsLeft * validationSeconds;
  }

  /**
   * The progress after a training batch: `images` of the epoch are done (counting those before a
   * resume), then the rest of this epoch and every later one, each with its validation.
   */
  trainProgress(p: {
    epoch: number;
    batch: number;
    batches: number;
    images: number;
    loss: number;
    accuracy: number;
    lr: number;
  }): TrainProgress {
    return {
      phase: 'train',
      epoch: p.epoch,
      epochs: this.epochs,
      batch: p.batch,
      batches: p.batches,
      images: p.images,
      imagesTotal: this.trainCount,
      imagesPerSec: this.imagesPerSec,
      etaSeconds: this.eta(
        (this.epochs - p.epoch) * this.trainCount - p.images,
        this.validationCount > 0 ? this.epochs - p.epoch : 0,
      ),
      loss: p.loss,
      accuracy: p.accuracy,
      lr: p.lr,
    };
  }

  /**
   * The progress during validation: `done` of `total` images validated in batches of `batchSize`;
   * left are the rest of this validation and every later epoch. `loss` and `accuracy` are the
   * epoch's training values.
   */
  validateProgress(p: {
    epoch: number;
    done: number;
    total: number;
    batchSize: number;
    loss: number;
    accuracy: number;
    lr: number;
  }): TrainProgress {
    return {
      phase: 'validate',
      epoch: p.epoch,
      epochs: this.epochs,
      batch: Math.ceil(p.done / p.batchSize),
      batches: Math.ceil(this.validationCount / p.batchSize),
      images: p.done,
      imagesTotal: p.total,
      imagesPerSec: this.imagesPerSec,
      etaSeconds: Math.max(
        0,
        this.eta((this.epochs - p.epoch - 1) * this.trainCount, this.epochs - p.epoch - p.done / p.total),
      ),
      loss: p.loss,
      accuracy: p.accuracy,
      lr: p.lr,
    };
  }
}
