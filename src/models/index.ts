export * from './model_registry';
export * from './predict';
export * from './preprocessing';
export * from './resnet_cbam';
export * from './transfer';
