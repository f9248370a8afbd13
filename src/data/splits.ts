/**
 * Which images of a dataset a run trains and validates on: index arrays checked against the dataset,
 * and FER2013's split rules (Training / PublicTest by default, PrivateTest never).
 * @module
 */
import { expected } from '../errors';
import { type FaceDataset, FER2013_USAGES, type Fer2013Usage } from './dataset';
import { usageIndices } from './stats';

/** The datasets and optional subsets a run uses (the shape of `train`'s `data`). @internal */
export interface SplitData {
  /** The training images. */
  train: FaceDataset;
  /** Validation images. */
  validation?: FaceDataset;
  /** Training subset. */
  trainIndices?: ArrayLike<number>;
  /** Validation subset. */
  validationIndices?: ArrayLike<number>;
}

/** Converts `indices` (or all images) to an Int32Array, checking the range. @internal */
export function toIndexArray(
  dataset: FaceDataset,
  indices: ArrayLike<number> | undefined,
  where: string,
  arg: string,
): Int32Array {
  if (indices === undefined) return Int32Array.from({ length: dataset.count }, (_, i) => i);
  const out = Int32Array.from(indices);
  for (let i = 0; i < out.length; i++) {
    if (!(out[i] >= 0 && out[i] < dataset.count && out[i] === indices[i])) {
      throw new RangeError(
        expected(where, `${arg}[${i}]`, `an image index in [0, ${dataset.count - 1}]`, indices[i]),
      );
    }
  }
  return out;
}

/**
 * The training and validation indices of a {@link SplitData}, as Int32Arrays: the given indices
 * (checked), else every image, or FER2013's `Training` and `PublicTest` rows for a dataset with
 * usages. PrivateTest rows are refused (the test split is for the final evaluation only), and so is a
 * validation image that is also a training image of the same dataset.
 * @param data The datasets and optional indices.
 * @param where The function name for messages.
 * @returns `valIdx` is `null` without validation data.
 * @throws RangeError naming the argument and index that breaks a rule; TypeError for a malformed `data`.
 * @example
 * ```ts
 * const { trainIdx, valIdx } = resolveSplits({ train: fer, validation: fer }, 'train');
 * ```
 * @internal
 */
export function resolveSplits(
  data: SplitData,
  where: string,
): { trainIdx: Int32Array; valIdx: Int32Array | null } {
  if (data === null || typeof data !== 'object' || data.train == null) {
    throw new TypeError(
      expected(where, 'data', 'an object { train, validation?, trainIndices?, validationIndices? }', data),
    );
  }
  const pick = (ds: FaceDataset, usage: Fer2013Usage) => Int32Array.from(usageIndices(ds, usage));
  const trainIdx =
    data.trainIndices !== undefined || !data.train.usages
      ? toIndexArray(data.train, data.trainIndices, where, 'data.trainIndices')
      : pick(data.train, 'Training');
  const privateTest = FER2013_USAGES.indexOf('PrivateTest');
  const refuseTest = (ds: FaceDataset, idx: Int32Array, arg: string) => {
    if (!ds.usages) return;
    for (let k = 0; k < idx.length; k++) {
      if (ds.usages[idx[k]] === privateTest) {
        throw new RangeError(
          expected(
            where,
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
    throw new RangeError(expected(where, 'data.train', 'at least one training image', 0));
  if (!data.validation) return { trainIdx, valIdx: null };
  const valIdx =
    data.validationIndices !== undefined || !data.validation.usages
      ? toIndexArray(data.validation, data.validationIndices, where, 'data.validationIndices')
      : pick(data.validation, 'PublicTest');
  refuseTest(data.validation, valIdx, 'data.validationIndices');
  if (valIdx.length === 0) {
    throw new RangeError(
      expected(where, 'data.validation', 'at least one validation image (e.g. PublicTest rows)', 0),
    );
  }
  if (data.validation === data.train) {
    const inTrain = new Uint8Array(data.train.count);
    for (const i of trainIdx) inTrain[i] = 1;
    for (let k = 0; k < valIdx.length; k++) {
      if (inTrain[valIdx[k]]) {
        throw new RangeError(
          expected(where, `data.validationIndices[${k}]`, 'an image not used for training', valIdx[k]),
        );
      }
    }
  }
  return { trainIdx, valIdx };
}
