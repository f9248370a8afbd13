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
  BACKEND_NAMES,
  type BackendAvailability,
  BackendMemoryError,
  type BackendName,
  detectBackends,
  USE_BACKEND_DEFAULTS,
  type UseBackendOptions,
  useBackend,
} from './backends/index';
export * from './data/index';
// Faces: a named list, so the detector's internals (anchors, NMS, the zoomed-out looks) stay off
// the root.
export {
  type AnnotateOptions,
  annotateImage,
  BLAZEFACE_WEIGHTS_PACKAGE,
  BLAZEFACE_WEIGHTS_PATH,
  BlazeFaceDetector,
  type BrowserImageSource,
  CROP_DEFAULTS,
  type CropFraming,
  type CropOptions,
  type CropPredictions,
  type CropSquare,
  classifyFaceCrops,
  cropFace,
  DETECT_DEFAULTS,
  DETECT_MODES,
  type DecodedImage,
  type DetectedFace,
  type DetectFacesOptions,
  type DetectMode,
  type DetectOptions,
  defaultFaceDetector,
  detectFaces,
  eyeAngle,
  type FaceAnnotation,
  type FaceBox,
  type FaceCrop,
  type FaceCrops,
  type FaceDetector,
  type FaceExpression,
  type FaceImageInput,
  type FaceKeypoints,
  FER2013_FRAMING,
  FIND_FACES_DEFAULTS,
  type FindFacesOptions,
  faceCropSquare,
  findBlazeFaceWeights,
  findFaceCrops,
  type GrayImage,
  ImageInputError,
  type LoadFaceDetectorOptions,
  loadFaceDetector,
  type Point,
  READ_IMAGE_DEFAULTS,
  type ReadImageOptions,
  type RecognizedFaces,
  type RecognizeOptions,
  readImage,
  recognizeExpressions,
  sampleSquare,
} from './faces/index';
export * from './layers/index';
export * from './models/index';
export {
  DEFAULT_PRETRAINED,
  isPretrainedName,
  type LoadPretrainedOptions,
  listPretrained,
  loadPretrained,
  PRETRAINED_MODELS,
  type PretrainedInfo,
  type PretrainedName,
  pretrainedModelPath,
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
  clipByGlobalNorm,
  confusionMatrix,
  confusionMatrixPng,
  confusionMatrixSvg,
  detectOutputKind,
  type EpochLog,
  type EvaluateOptions,
  type EvaluationResult,
  earlyStopping,
  evaluate,
  type FormatConfusionMatrixOptions,
  formatClassificationReport,
  formatConfusionMatrix,
  IDENTITY_NORMALIZATION,
  isPerStepSchedule,
  learningRateAt,
  NonFiniteLossError,
  type OneCycleSchedule,
  type OutputKind,
  type PaperSchedule,
  type ResolvedSchedule,
  readBestModelInfo,
  readTrainingLog,
  resolveSchedule,
  SCHEDULE_DEFAULTS,
  SCHEDULE_NAMES,
  type ScheduleName,
  type SchedulePosition,
  type ScheduleSpec,
  SGD,
  SGD_DEFAULTS,
  type SGDOptions,
  type SGDState,
  softmaxCrossEntropy,
  TRAIN_DEFAULTS,
  type TrainBeginInfo,
  type TrainCallbacks,
  type TrainControl,
  type TrainData,
  type TrainOptions,
  type TrainProgress,
  type TrainResult,
  train,
} from './train/index';
export {
  boxIoU,
  FaceTracker,
  TRACKER_DEFAULTS,
  type TrackableFace,
  type TrackedFace,
  type TrackerOptions,
  type TrackSummary,
} from './video/index';
export * from './visualize/index';
