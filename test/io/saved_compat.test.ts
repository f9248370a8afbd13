import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { getPreprocessing } from '../../src/index';

// Models saved by fer-cbam 0.1.0 (scripts/make-compat-fixture.ts, run before the layout refactor of
// issue 15 and never regenerated): every registered layer class, random weights including the
// moving BatchNorm statistics, and their outputs on the cpu backend as float32 bit patterns.
const ROOT = resolve(import.meta.dirname, '../fixtures/saved-0.1.0');
const expected = JSON.parse(readFileSync(resolve(ROOT, 'expected.json'), 'utf8')) as {
  outputBits: Record<string, number[]>;
};

/** The fixture script's input generator, restated (an independent copy, not imported). */
function hashValue(seed: number, i: number): number {
  let x = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed + 7, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 31 - 1;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('models saved by fer-cbam 0.1.0', () => {
  const names = Object.keys(expected.outputBits);
  it('cover every attention module', () => {
    expect(names.sort()).toEqual(
      [
        'cbam-every',
        'cbam-paper',
        'channel-every',
        'coord-every',
        'eca-every',
        'se-every',
        'spatial-every',
      ].sort(),
    );
  });
  it.each(names)(
    '%s loads and predicts as 0.1.0 did (within 4 ulp), with its preprocessing',
    async (name) => {
      const model = await tfl.loadLayersModel(`file://${resolve(ROOT, name)}/model.json`);
      expect(getPreprocessing(model)).toEqual({
        imageSize: 24,
        cropSize: 20,
        normalization: { mean: 0.5, std: 0.25 },
        classNames: ['a', 'b', 'c'],
      });
      const input = tf.tensor4d(
        Array.from({ length: 2 * 20 * 20 }, (_, i) => hashValue(99, i)),
        [2, 20, 20, 1],
      );
      const out = model.predict(input) as tf.Tensor;
      const bits = Array.from(new Uint32Array((await out.data()).slice().buffer));
      // Bit patterns of positive floats are ordered, so their difference counts units in the last
      // place. Not bit-identical since inference folds BatchNorm into the convolutions (0.1.0 ran
      // them one by one), which rounds differently; a weight loaded wrongly moves the outputs by far
      // more than 4 ulp.
      const want = expected.outputBits[name]!;
      expect(bits).toHaveLength(want.length);
      const ulps = bits.map((b, i) => Math.abs(b - want[i]!));
      expect(Math.max(...ulps), `ulps ${ulps}`).toBeLessThanOrEqual(4);
      // Not a constant model: the fixture's outputs differ between the two inputs and the three classes.
      expect(new Set(bits).size).toBe(6);
      tf.dispose([input, out]);
      model.dispose();
    },
  );
});
