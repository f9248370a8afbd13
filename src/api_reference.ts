/**
 * Every public name of fer-cbam in one place, for the TypeDoc site only (it is not a package entry
 * point): the root (`fer-cbam`) and the subpaths `fer-cbam/backends`, `fer-cbam/diagnostics`,
 * `fer-cbam/io`, `fer-cbam/ops`, `fer-cbam/pretrained` and `fer-cbam/train`. A name's category says
 * where it is imported from: Backends, Diagnostics, IO and Ops are subpaths; checkpoint files are in
 * `fer-cbam/train` and float16 storage in `fer-cbam/pretrained`; everything else is in the root.
 * @module
 */
export * from './backends/index';
export * from './diagnostics/index';
export * from './index';
export * from './io/index';
export * from './ops/index';
export * from './pretrained/index';
export * from './train/index';
