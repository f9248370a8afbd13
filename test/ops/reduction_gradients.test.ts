import '@tensorflow/tfjs-backend-cpu';
// tfjs's gradients (registered by tfjs-layers' bundle on import), which the module then overrides.
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerReductionGradients } from '../../src/ops';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerReductionGradients();
});

/** d/dx of sum(reduce(x, axes) * r), by plain loops: r at the reduced index (divided by n for a mean). */
function expected(shape: number[], axes: number[], r: Float32Array, mean: boolean): number[] {
  const size = shape.reduce((a, b) => a * b, 1);
  const reducedShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const n = axes.reduce((a, i) => a * shape[i]!, 1);
  const out: number[] = [];
  for (let flat = 0; flat < size; flat++) {
    let rest = flat;
    const idx = new Array<number>(shape.length);
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = rest % shape[d]!;
      rest = Math.floor(rest / shape[d]!);
    }
    let k = 0;
    for (let d = 0; d < shape.length; d++) k = k * reducedShape[d]! + (axes.includes(d) ? 0 : idx[d]!);
    out.push(mean ? r[k]! / n : r[k]!);
  }
  return out;
}

describe('registerReductionGradients', () => {
  it('replaces the gradients of Mean and Sum in the registry', () => {
    registerReductionGradients();
    const mean = tf.getGradient('Mean')!;
    const sum = tf.getGradient('Sum')!;
    expect(mean.gradFunc.toString()).toContain('broadcastTo');
    expect(sum.gradFunc.toString()).toContain('broadcastTo');
  });

  it.each([
    [
      [2, 4, 5, 3],
      [1, 2],
    ], // CBAM's channel gate: average over the positions
    [[2, 4, 5, 3], [3]], // its spatial gate: average over the channels
    [[3, 7], [0]],
    [
      [2, 3, 4],
      [0, 2],
    ],
    [[6], [0]],
  ])('mean and sum of %j over %j: the broadcast gradient, by plain loops', (shape, axes) => {
    const x = tf.randomNormal(shape);
    const reduced = shape.map((d, i) => (axes.includes(i) ? 1 : d)).filter((_, i) => !axes.includes(i));
    const r = tf.reshape(tf.randomNormal(reduced.length ? reduced : [1]), reduced);
    const rv = r.dataSync() as Float32Array;
    for (const [name, reduce, mean] of [
      ['mean', tf.mean, true],
      ['sum', tf.sum, false],
    ] as const) {
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(reduce(a, axes), r)))(x);
      const want = expected(shape, axes, rv, mean);
      const got = Array.from(g.dataSync());
      expect(got.length, name).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(got[i], `${name} ${i}`).toBeCloseTo(want[i]!, 6);
    }
  });
});
