export {
  BATCH_NORM_GRAD_KERNEL,
  batchNormGradients,
  CHANNEL_MOMENTS_KERNEL,
  channelMoments,
} from './batch_norm';
export { LINEAR_COMBINATION_KERNEL, type LinearTerm, linearCombination } from './linear_combination';
export { registerReductionGradients } from './reduction_gradients';
