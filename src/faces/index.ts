/**
 * Faces in photos and video: detection (BlazeFace, optional peers `@tensorflow/tfjs-converter` and
 * `@vladmandic/human` for its weights), aligned FER2013-style crops, expression recognition, and
 * (in Node) annotated pictures.
 * @module
 */

// The pictures the face functions take and the crop sampler live in src/image/; faces publishes them.
export {
  type BrowserImageSource,
  type DecodedImage,
  type FaceImageInput,
  ImageInputError,
  READ_IMAGE_DEFAULTS,
  type ReadImageOptions,
  readImage,
} from '../image/read_image';
export { type CropSquare, type GrayImage, sampleSquare } from '../image/sample';
export * from './align';
export * from './annotate';
export * from './blazeface';
export * from './face_folder';
export * from './recognize';
export * from './types';
