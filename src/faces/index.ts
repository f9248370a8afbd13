/**
 * Faces in photos and video: detection (BlazeFace, optional peers `@tensorflow/tfjs-converter` and
 * `@vladmandic/human` for its weights), aligned FER2013-style crops, expression recognition, and
 * (in Node) annotated pictures.
 * @module
 */
export * from './align';
export * from './annotate';
export * from './blazeface';
export * from './face_folder';
export * from './image_input';
export * from './recognize';
export * from './types';
