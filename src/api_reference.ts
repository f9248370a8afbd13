/**
 * Every public name of fer-cbam in one place, for the TypeDoc site only (it is not a package entry
 * point): the root (`fer-cbam`) and the subpaths `fer-cbam/backends`, `fer-cbam/diagnostics`,
 * `fer-cbam/export`, `fer-cbam/io`, `fer-cbam/ops`, `fer-cbam/pretrained`, `fer-cbam/train` and
 * `fer-cbam/video`. A name's category says where it is imported from: Backends, Diagnostics, Export, IO
 * and Ops are subpaths; checkpoint files are in `fer-cbam/train`, float16 storage in
 * `fer-cbam/pretrained`, video files (ffmpeg) in `fer-cbam/video` (which also has the tracker);
 * everything else is in the root.
 * @module
 */
export * from './backends/index';
export * from './diagnostics/index';
export * from './export/index';
export * from './index';
export * from './io/index';
export * from './ops/index';
export * from './pretrained/index';
export * from './train/index';
export * from './video/index';
