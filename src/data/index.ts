/**
 * Data: loaders (FER2013, FER+, CK+, image folders), the built-in synthetic faces, folds,
 * augmentation and batches. The loaders that read files (`loadFer2013`, `loadFerPlus`, `loadCkPlus`,
 * `loadImageFolder`, `loadGrayImage`) import `node:fs`, `node:zlib` and `sharp` lazily, inside the
 * functions, so a browser bundle of the library never loads them; everything else is browser-safe.
 * @module
 */

export { IMAGE_EXTENSIONS } from '../image/files';
export { deriveSeed, mulberry32, Random } from '../random';
export {
  AUGMENT_DEFAULTS,
  type AugmentOptions,
  augmentBatch,
  type CropParams,
  centerCrop,
  cropBatch,
  type EraseBox,
  eraseBoxes,
  fiveCrop,
  normalizeImages,
  type RandomSource,
  randomAffine,
  randomBrightness,
  randomCrop,
  randomErase,
  randomFlip,
  tenCrop,
  transformCrops,
} from './augment';
export {
  BATCH_DEFAULTS,
  type Batch,
  type BatchOptions,
  countBatches,
  epochOrder,
  type FitBatch,
  type FitDataset,
  iterateBatches,
  toFitDataset,
} from './batches';
export {
  CKPLUS_CLASSES,
  CKPLUS_CLASSES_WITH_NEUTRAL,
  type CkPlusDataset,
  LOAD_CKPLUS_DEFAULTS,
  type LoadCkPlusOptions,
  loadCkPlus,
} from './ckplus';
export { DataFormatError, type SkippedInput } from './data_error';
export { type FaceDataset, FER2013_CLASSES, FER2013_USAGES, type Fer2013Usage } from './dataset';
export {
  type Fer2013Progress,
  LOAD_FER2013_DEFAULTS,
  type LoadFer2013Options,
  loadFer2013,
} from './fer2013';
export type { Fer2013Dataset } from './fer2013_parser';
export {
  FERPLUS_CLASSES,
  FERPLUS_VOTE_COLUMNS,
  type FerPlusDataset,
  type FerPlusDropReason,
  LOAD_FERPLUS_DEFAULTS,
  type LoadFerPlusOptions,
  loadFerPlus,
} from './ferplus';
export {
  type Fold,
  groupKFold,
  type HoldoutSplit,
  sequenceKFold,
  stratifiedSplit,
  subjectKFold,
} from './folds';
export {
  type ImageFolderDataset,
  LOAD_IMAGE_FOLDER_DEFAULTS,
  type LoadImageFolderOptions,
  loadImageFolder,
} from './image_folder';
export { LOAD_GRAY_IMAGE_DEFAULTS, type LoadGrayImageOptions, loadGrayImage } from './image_io';
export { parseClassMap, remapClasses, resizeDataset } from './remap';
export { classCounts, datasetStats, type Normalization, subsetDataset, usageIndices } from './stats';
export {
  SYNTHETIC_DEFAULTS,
  type SyntheticOptions,
  type SyntheticVariation,
  syntheticExpressions,
} from './synthetic';
