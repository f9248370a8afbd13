export * from './attention_registry';
export * from './composite';
