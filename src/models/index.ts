export * from './model_registry';
export * from './resnet_cbam';
