export {
  expectedCalibrationError,
  fitTemperature,
  type ReliabilityBin,
  type ScoreRows,
  softmaxWithTemperature,
  temperatureNll,
} from './calibration';
export * from './class_match';
export { checkFiniteScores, checkFiniteWeights, NonFiniteModelError } from './finite';
export * from './model_registry';
export * from './predict';
export * from './preprocessing';
export * from './resnet_cbam';
export * from './transfer';
