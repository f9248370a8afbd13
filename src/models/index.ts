export * from './model_registry';
export * from './resnet_cbam';
export * from './preprocessing';
export * from './predict';
