/**
 * Every public name of fer-cbam in one place, for the TypeDoc site only (it is not a package entry
 * point): the root (`fer-cbam`) and the subpaths `fer-cbam/backends`, `fer-cbam/data`,
 * `fer-cbam/diagnostics`, `fer-cbam/export`, `fer-cbam/faces`, `fer-cbam/io`, `fer-cbam/models`,
 * `fer-cbam/ops`, `fer-cbam/pretrained`, `fer-cbam/train`, `fer-cbam/video` and `fer-cbam/visualize`.
 * The root holds what users build with (its list: docs/api-surface.txt); each subpath holds its
 * folder's whole public API, the root's names included, so a helper not in the root (a colour map, an
 * augmentation primitive, the detector's weights path) is imported from its folder's subpath:
 * Backends, Diagnostics, Export, IO and Ops are subpaths only; checkpoint files are in
 * `fer-cbam/train`, float16 storage in `fer-cbam/pretrained`, video files in `fer-cbam/video`.
 * @module
 */
export * from './backends/index';
export * from './data/index';
export * from './diagnostics/index';
export * from './export/index';
export * from './faces/index';
export * from './index';
export * from './io/index';
export * from './models/index';
export * from './ops/index';
export * from './pretrained/index';
export * from './train/index';
export * from './video/index';
export * from './visualize/index';
