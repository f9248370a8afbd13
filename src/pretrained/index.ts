export * from './catalog';
export { float16Bits, toFloat16Artifacts } from './float16';
export * from './load';
export { sha256Hex } from './sha256';
