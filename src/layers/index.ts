export {
  type AttentionLayer,
  AttentionMapCapture,
  type AttentionMapEntry,
  type AttentionMaps,
  captureAttentionMaps,
  findAttentionLayers,
  isAttentionLayer,
} from './attention_maps';
export {
  type AttentionArgs,
  type AttentionFactory,
  type AttentionName,
  BUILTIN_ATTENTION,
  createAttention,
  listAttention,
  registerAttention,
} from './attention_registry';
export {
  FUSED_BATCH_NORMALIZATION_DEFAULTS,
  FusedBatchNormalization,
  type FusedBatchNormalizationArgs,
  fusedBatchNormalization,
} from './batch_norm';
export { CBAM, CBAM_DEFAULTS, type CBAMArgs, cbam } from './cbam';
export {
  CHANNEL_ATTENTION_DEFAULTS,
  ChannelAttention,
  type ChannelAttentionArgs,
  type ChannelAttentionConfig,
  type ChannelAttentionOptions,
  channelAttention,
} from './channel_attention';
export * from './composite';
export {
  COORDINATE_ATTENTION_DEFAULTS,
  CoordinateAttention,
  type CoordinateAttentionArgs,
  type CoordinateAttentionOptions,
  coordinateAttention,
} from './coordinate_attention';
export {
  EFFICIENT_CHANNEL_ATTENTION_DEFAULTS,
  EfficientChannelAttention,
  type EfficientChannelAttentionArgs,
  type EfficientChannelAttentionOptions,
  ecaKernelSize,
  efficientChannelAttention,
} from './eca';
export { POOL_TYPES, type PoolType } from './reduction_mlp';
export {
  RESIDUAL_BLOCK_DEFAULTS,
  ResidualBlock,
  type ResidualBlockArgs,
  residualBlock,
} from './residual_block';
export {
  type PoolOrder,
  SPATIAL_ATTENTION_DEFAULTS,
  SpatialAttention,
  type SpatialAttentionArgs,
  type SpatialAttentionConfig,
  type SpatialAttentionOptions,
  spatialAttention,
} from './spatial_attention';
export {
  SQUEEZE_EXCITATION_DEFAULTS,
  SqueezeExcitation,
  type SqueezeExcitationArgs,
  type SqueezeExcitationOptions,
  squeezeExcitation,
} from './squeeze_excitation';
