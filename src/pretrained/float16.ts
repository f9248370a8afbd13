/**
 * IEEE 754 half-precision encoding of model weights, so the shipped pretrained models take half the
 * bytes. tfjs decodes such weights itself: a manifest entry with `quantization: { dtype: 'float16' }`
 * is expanded to float32 by `tf.io.decodeWeights` when the model loads, so a float16 model loads with
 * plain `tf.loadLayersModel` and needs no fer-cbam code to read.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The float16 bit pattern nearest to `value` (round to nearest, ties to even; overflow to infinity;
 * subnormals kept; NaN stays NaN).
 * @example
 * ```ts
 * float16Bits(1); // 0x3c00
 * float16Bits(65504); // 0x7bff, the largest finite half
 * ```
 * @category IO
 */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // Inf, NaN
  // Re-bias the exponent from float32 (127) to float16 (15).
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // too large: infinity
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit leading 1 into place.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (half + (rest > midpoint || (rest === midpoint && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // Rounding may carry into the exponent, which is still the right answer (up to infinity).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

/**
 * Rewrites model artifacts (as `model.save` hands them to an `IOHandler`) so that every float32
 * weight is stored as float16: half the `weightData`, manifest entries marked
 * `quantization: { dtype: 'float16' }`. Other dtypes are copied unchanged.
 * @param artifacts Artifacts with `weightSpecs` and a single `weightData` buffer.
 * @returns New artifacts; the input is not modified.
 * @example
 * ```ts
 * await model.save(tf.io.withSaveHandler(async (a) => fileSystem('out').save(toFloat16Artifacts(a))));
 * ```
 * @category IO
 */
export function toFloat16Artifacts(artifacts: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  const specs = artifacts.weightSpecs;
  const data = artifacts.weightData;
  if (!specs || !data || Array.isArray(data)) {
    throw new TypeError('toFloat16Artifacts: expected artifacts with weightSpecs and one weightData buffer.');
  }
  const source = new Uint8Array(data as ArrayBuffer);
  const parts: Uint8Array[] = [];
  const newSpecs: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.quantization)
      throw new TypeError(`toFloat16Artifacts: weight "${spec.name}" is already quantized.`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes =
      count * (spec.dtype === 'float32' || spec.dtype === 'int32' ? 4 : spec.dtype === 'bool' ? 1 : NaN);
    if (!Number.isFinite(bytes))
      throw new TypeError(`toFloat16Artifacts: unsupported dtype ${spec.dtype} of "${spec.name}".`);
    const chunk = source.slice(offset, offset + bytes);
    offset += bytes;
    if (spec.dtype !== 'float32') {
      parts.push(chunk);
      newSpecs.push({ ...spec });
      continue;
    }
    const values = new Float32Array(chunk.buffer, chunk.byteOffset, count);
    const halves = new Uint16Array(count);
    for (let i = 0; i < count; i++) halves[i] = float16Bits(values[i]!);
    parts.push(new Uint8Array(halves.buffer));
    newSpecs.push({ ...spec, quantization: { dtype: 'float16' } });
  }
  if (offset !== source.byteLength) {
    throw new TypeError(
      `toFloat16Artifacts: the weight specs cover ${offset} bytes but weightData has ${source.byteLength}.`,
    );
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return { ...artifacts, weightSpecs: newSpecs, weightData: out.buffer };
}
