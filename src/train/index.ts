export * from './callbacks';
export {
  BEST_MODEL_DIR,
  type BestModelInfo,
  CHECKPOINT_POINTER,
  type Checkpoint,
  type EpochLog,
  loadCheckpoint,
  readBestModelInfo,
  readCheckpointState,
  readTrainingLog,
  restoreModelWeights,
  saveBestModel,
  saveCheckpoint,
  TRAINING_LOG,
  type TrainingState,
} from './checkpoint';
export * from './confusion_png';
export { type EvaluateOptions, type EvaluationResult, evaluate, IDENTITY_NORMALIZATION } from './evaluate';
export * from './loss';
export * from './metrics';
export * from './schedules';
export * from './sgd';
export { TEACHER_TARGETS_DEFAULTS, type TeacherTargetsOptions, teacherTargets } from './teacher_targets';
export * from './train';
export { TRAIN_DEFAULTS, type TrainData, type TrainOptions } from './train_options';
