import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { resnetCbam } from '../../src/index';
import { float16Bits, toFloat16Artifacts } from '../../src/pretrained/index';

/** Plain decoding of a half, independent of the encoder: sign * 2^(e-15) * (1 + m/1024), subnormals, Inf/NaN. */
function decodeHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  if (e === 0) return sign * 2 ** -14 * (m / 1024);
  return sign * 2 ** (e - 15) * (1 + m / 1024);
}

describe('float16Bits', () => {
  it('encodes hand-computed values', () => {
    expect(float16Bits(1)).toBe(0x3c00);
    expect(float16Bits(-2)).toBe(0xc000);
    expect(float16Bits(0.1)).toBe(0x2e66); // 0.0999755859375
    expect(float16Bits(1 / 3)).toBe(0x3555);
    expect(float16Bits(65504)).toBe(0x7bff); // largest finite half
    expect(float16Bits(65520)).toBe(0x7c00); // halfway to the next step: rounds to even = infinity
    expect(float16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(float16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal: even is 0
    expect(float16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 ulps: even is 2
    expect(float16Bits(2 ** -14)).toBe(0x0400); // smallest normal
    expect(float16Bits(-0)).toBe(0x8000);
    expect(float16Bits(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(decodeHalf(float16Bits(Number.NaN))).toBeNaN();
  });

  it('gives the nearest half for random values over the whole range', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const worse: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const x = (rand() - 0.5) * 2 ** (Math.floor(rand() * 40) - 26);
      const f = Math.fround(x);
      const h = float16Bits(f);
      const d = decodeHalf(h);
      // No neighbouring half is closer.
      for (const n of [h - 1, h + 1]) {
        if ((n & 0x7fff) > 0x7bff || (n & 0x8000) !== (h & 0x8000)) continue;
        if (Math.abs(decodeHalf(n) - f) < Math.abs(d - f)) worse.push(f);
      }
    }
    expect(worse).toEqual([]);
  });
});

describe('toFloat16Artifacts', () => {
  it('halves the weights and loads with plain tfjs to the same predictions within float16 precision', async () => {
    const model = resnetCbam({ depth: 10, width: 8, placement: 'paper', inputShape: [20, 20, 1], seed: 3 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const half = toFloat16Artifacts(artifacts!);
    expect((half.weightData as ArrayBuffer).byteLength * 2).toBe(
      (artifacts!.weightData as ArrayBuffer).byteLength,
    );
    expect(half.weightSpecs!.every((s) => s.quantization?.dtype === 'float16')).toBe(true);
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(half));
    const x = tf.randomNormal([4, 20, 20, 1], 0, 1, 'float32', 1);
    const a = (await (model.predict(x) as tf.Tensor).data()) as Float32Array;
    const b = (await (loaded.predict(x) as tf.Tensor).data()) as Float32Array;
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < a.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(a[i]!));
    }
    expect(maxDiff).toBeGreaterThan(0); // it really was rounded
    expect(maxDiff).toBeLessThan(2e-2 * Math.max(1, maxAbs));
    // Weight by weight: each stored value is the float32 value rounded to half precision.
    const w0 = model.getWeights()[0]!.dataSync();
    const l0 = loaded.getWeights()[0]!.dataSync();
    for (let i = 0; i < w0.length; i++) expect(l0[i]).toBe(decodeHalf(float16Bits(w0[i]!)));
  });

  it('refuses artifacts whose specs do not cover the data', () => {
    expect(() =>
      toFloat16Artifacts({
        weightSpecs: [{ name: 'w', shape: [2], dtype: 'float32' }],
        weightData: new ArrayBuffer(12),
      }),
    ).toThrow(/cover 8 bytes but weightData has 12/);
  });
});
