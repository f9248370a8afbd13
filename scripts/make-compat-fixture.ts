/**
 * Writes test/fixtures/saved-0.1.0/: small models saved by fer-cbam 0.1.0 (one per attention module,
 * every layer class the library registers), with random weights (moving BatchNorm statistics too) and
 * their cpu-backend outputs on a fixed input. test/io/saved_compat.test.ts loads them with the current
 * code and asserts bit-identical outputs, so a refactor that renames a class, a config key or a weight
 * fails there. Run once per format version; never regenerate it to make that test pass.
 *
 *   npx tsx scripts/make-compat-fixture.ts
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { resnetCbam, setPreprocessing } from '../src/index';
import { writeFileAtomic } from '../src/io/atomic';

export const COMPAT_MODELS = [
  { name: 'cbam-paper', attention: 'cbam', placement: 'paper' },
  { name: 'cbam-every', attention: 'cbam', placement: 'everyBlock' },
  { name: 'channel-every', attention: 'channel', placement: 'everyBlock' },
  { name: 'spatial-every', attention: 'spatial', placement: 'everyBlock' },
  { name: 'se-every', attention: 'se', placement: 'everyBlock' },
  { name: 'eca-every', attention: 'eca', placement: 'everyBlock' },
  { name: 'coord-every', attention: 'coord', placement: 'everyBlock' },
] as const;

/** A deterministic value in [-1, 1) per index (no tfjs random: its generator may change). */
function hashValue(seed: number, i: number): number {
  let x = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed + 7, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 31 - 1;
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const root = resolve(import.meta.dirname, '../test/fixtures/saved-0.1.0');
  const input = tf.tensor4d(
    Array.from({ length: 2 * 20 * 20 }, (_, i) => hashValue(99, i)),
    [2, 20, 20, 1],
  );
  const expected: Record<string, number[]> = {};
  for (const [m, spec] of COMPAT_MODELS.entries()) {
    const model = resnetCbam({
      depth: 10,
      width: 4,
      attention: spec.attention,
      placement: spec.placement,
      inputShape: [20, 20, 1],
      numClasses: 3,
      seed: m,
    });
    for (const [w, weight] of model.weights.entries()) {
      const v = weight.read();
      const positive = /moving_variance|variance/.test(weight.name);
      const values = Array.from({ length: v.size }, (_, i) => {
        const r = hashValue(1000 * m + w, i);
        return positive ? 0.5 + Math.abs(r) : 0.5 * r;
      });
      weight.write(tf.tensor(values, v.shape, 'float32'));
    }
    setPreprocessing(model, {
      imageSize: 24,
      cropSize: 20,
      normalization: { mean: 0.5, std: 0.25 },
      classNames: ['a', 'b', 'c'],
    });
    const dir = resolve(root, spec.name);
    mkdirSync(dir, { recursive: true });
    await model.save(`file://${dir}`);
    const out = model.predict(input) as tf.Tensor;
    expected[spec.name] = Array.from(new Uint32Array((await out.data()).slice().buffer));
    out.dispose();
  }
  await writeFileAtomic(
    resolve(root, 'expected.json'),
    `${JSON.stringify({ input: 'hashValue(99, i), [2, 20, 20, 1]', outputBits: expected })}\n`,
  );
  console.log(`wrote ${COMPAT_MODELS.length} models to ${root}`);
}

await main();
