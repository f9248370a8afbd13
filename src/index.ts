/**
 * fer-cbam: attention layers for TensorFlow.js and a facial-expression recognition system built on them.
 *
 * The root holds what users build with: layers, models, data, training and evaluation, pretrained
 * models, faces, visualisation and `useBackend`. The rest has subpaths, each with the same types for
 * ESM and CJS: `fer-cbam/backends` (wasm and WebGPU setup, training kernels), `fer-cbam/ops` (fused
 * ops and their kernel names), `fer-cbam/io` (the `file://` handler, atomic writes, run locks),
 * `fer-cbam/train` (checkpoint files and their names), `fer-cbam/pretrained` (float16 storage) and
 * `fer-cbam/diagnostics` (step timing, kernel profiles, WebGPU call counters).
 *
 * This file only re-exports; importing it registers the layer classes with tfjs serialization and
 * the `file://` IO handler (when no other handler claims it).
 * @module
 */
import './io/index';

export {
  type BackendAvailability,
  BackendMemoryError,
  type BackendName,
  detectBackends,
  USE_BACKEND_DEFAULTS,
  type UseBackendOptions,
  useBackend,
} from './backends/index';
// The root is a chosen list of runtime names (scripts/check-pack.sh compares it with
// docs/api-surface.txt); every public type of these folders is exported as a type. Low-level helpers
// live in the subpaths: fer-cbam/data (batches, augmentation primitives, seeded random, dataset
// statistics), fer-cbam/faces (detector weights, crop primitives), fer-cbam/models (preset grammar,
// placements, finiteness checks), fer-cbam/visualize (colour maps and image helpers) and the others.
export type * from './data/index';
export {
  AUGMENT_DEFAULTS,
  CKPLUS_CLASSES,
  DataFormatError,
  datasetStats,
  FER2013_CLASSES,
  FER2013_USAGES,
  FERPLUS_CLASSES,
  groupKFold,
  IMAGE_EXTENSIONS,
  iterateBatches,
  LOAD_CKPLUS_DEFAULTS,
  LOAD_FER2013_DEFAULTS,
  LOAD_FERPLUS_DEFAULTS,
  LOAD_GRAY_IMAGE_DEFAULTS,
  LOAD_IMAGE_FOLDER_DEFAULTS,
  loadCkPlus,
  loadFer2013,
  loadFerPlus,
  loadGrayImage,
  loadImageFolder,
  remapClasses,
  SYNTHETIC_DEFAULTS,
  sequenceKFold,
  stratifiedSplit,
  subjectKFold,
  subsetDataset,
  syntheticExpressions,
  tenCrop,
  usageIndices,
} from './data/index';
export type * from './faces/index';
export {
  annotateImage,
  classifyFaceCrops,
  DETECT_DEFAULTS,
  detectFaces,
  FER2013_FRAMING,
  FIND_FACES_DEFAULTS,
  faceCropSquare,
  findFaceCrops,
  ImageInputError,
  LOAD_FACE_FOLDER_DEFAULTS,
  loadFaceDetector,
  loadFaceFolder,
  READ_IMAGE_DEFAULTS,
  readImage,
  recognizeExpressions,
} from './faces/index';
export type * from './layers/index';
export {
  AttentionMapCapture,
  BUILTIN_ATTENTION,
  CBAM,
  CBAM_DEFAULTS,
  CHANNEL_ATTENTION_DEFAULTS,
  ChannelAttention,
  COORDINATE_ATTENTION_DEFAULTS,
  CompositeLayer,
  CoordinateAttention,
  captureAttentionMaps,
  cbam,
  channelAttention,
  coordinateAttention,
  createAttention,
  EFFICIENT_CHANNEL_ATTENTION_DEFAULTS,
  EfficientChannelAttention,
  ecaKernelSize,
  efficientChannelAttention,
  FUSED_BATCH_NORMALIZATION_DEFAULTS,
  FusedBatchNormalization,
  findAttentionLayers,
  fusedBatchNormalization,
  isAttentionLayer,
  listAttention,
  POOL_TYPES,
  RESIDUAL_BLOCK_DEFAULTS,
  ResidualBlock,
  registerAttention,
  residualBlock,
  SPATIAL_ATTENTION_DEFAULTS,
  SpatialAttention,
  SQUEEZE_EXCITATION_DEFAULTS,
  SqueezeExcitation,
  spatialAttention,
  squeezeExcitation,
  walkLayers,
} from './layers/index';
export type * from './models/index';
export {
  countTrainableParams,
  createModel,
  expectedCalibrationError,
  facesToInput,
  fitClassifierToClasses,
  fitTemperature,
  getModelPreset,
  getPreprocessing,
  listModels,
  matchClassNames,
  NonFiniteModelError,
  predictProbabilities,
  presetName,
  RESNET_CBAM_DEFAULTS,
  registerModel,
  replaceClassifier,
  resnetCbam,
  setPreprocessing,
  softmaxWithTemperature,
} from './models/index';
export {
  DEFAULT_PRETRAINED,
  isPretrainedName,
  type LoadPretrainedOptions,
  listPretrained,
  loadPretrained,
  type PretrainedInfo,
  type PretrainedName,
} from './pretrained/index';
export {
  type BatchLog,
  type BestModelInfo,
  type ClassificationMetrics,
  type ClassMetrics,
  type ConfusionMatrixPngOptions,
  type ConstantSchedule,
  type CosineSchedule,
  classificationMetrics,
  confusionMatrix,
  confusionMatrixPng,
  type EpochLog,
  type EvaluateOptions,
  type EvaluationResult,
  earlyStopping,
  evaluate,
  type FormatConfusionMatrixOptions,
  formatClassificationReport,
  formatConfusionMatrix,
  NonFiniteLossError,
  type OneCycleSchedule,
  type OutputKind,
  type PaperSchedule,
  type ResolvedSchedule,
  readBestModelInfo,
  readTrainingLog,
  SCHEDULE_DEFAULTS,
  type ScheduleName,
  type SchedulePosition,
  type ScheduleSpec,
  SGD,
  SGD_DEFAULTS,
  type SGDOptions,
  type SGDState,
  TEACHER_TARGETS_DEFAULTS,
  type TeacherTargetsOptions,
  TRAIN_DEFAULTS,
  type TrainBeginInfo,
  type TrainCallbacks,
  type TrainControl,
  type TrainData,
  type TrainOptions,
  type TrainProgress,
  type TrainResult,
  teacherTargets,
  train,
} from './train/index';
export {
  FaceTracker,
  TRACKER_DEFAULTS,
  type TrackableFace,
  type TrackedFace,
  type TrackerOptions,
  type TrackSummary,
} from './video/index';
export type * from './visualize/index';
export {
  encodePng,
  explainFaces,
  gradCam,
  overlayHeatmap,
  reliabilityDiagramSvg,
} from './visualize/index';
