/**
 * fer-cbam: attention layers for TensorFlow.js and a facial-expression recognition system built on them.
 * This file only re-exports; importing it registers the layer classes with tfjs serialization and
 * the `file://` IO handler (when no other handler claims it).
 * @module
 */
export * from './backends/index';
export * from './data/index';
export * from './faces/index';
export * from './io/index';
export * from './layers/index';
export * from './models/index';
export * from './ops/index';
export * from './pretrained/index';
export * from './train/index';
export * from './visualize/index';
