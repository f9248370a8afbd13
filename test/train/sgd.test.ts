import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { clipByGlobalNorm, SGD } from '../../src/train/sgd';

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '../fixtures/train/torch_sgd_schedules.json'), 'utf8'),
).sgd as {
  initial: number[][];
  shapes: number[][];
  gradients: number[][][];
  learningRates: number[];
  cases: { momentum: number; weightDecay: number; nesterov: boolean; after: number[][][] }[];
};

describe('SGD', () => {
  it('matches a hand computation with weight decay and momentum (two steps)', () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const sgd = new SGD({ momentum: 0.9, weightDecay: 0.1 });
    // Step 1, lr 0.5, g = [0.2, 0.4]: g' = g + 0.1 w = [0.3, 0.2]; v = g' ; w = w - 0.5 v = [0.85, -2.1]
    sgd.applyGradients([w], [tf.tensor1d([0.2, 0.4])], 0.5);
    expect(Array.from(w.dataSync())).toEqual([expect.closeTo(0.85, 6), expect.closeTo(-2.1, 6)]);
    // Step 2, lr 0.1, g = [-1, 1]: g' = [-1 + 0.085, 1 - 0.21] = [-0.915, 0.79]
    // v = 0.9 [0.3, 0.2] + g' = [-0.645, 0.97]; w = [0.85 + 0.0645, -2.1 - 0.097] = [0.9145, -2.197]
    sgd.applyGradients([w], [tf.tensor1d([-1, 1])], 0.1);
    expect(Array.from(w.dataSync())).toEqual([expect.closeTo(0.9145, 6), expect.closeTo(-2.197, 6)]);
    expect(sgd.iterations).toBe(2);
    sgd.dispose();
    w.dispose();
  });

  it('matches a hand computation with Nesterov momentum', () => {
    const w = tf.variable(tf.tensor1d([1]));
    const sgd = new SGD({ momentum: 0.5, weightDecay: 0, nesterov: true });
    // g = 2: v = 2; d = g + m v = 3; w = 1 - 0.1 * 3 = 0.7
    sgd.applyGradients([w], [tf.tensor1d([2])], 0.1);
    expect(w.dataSync()[0]).toBeCloseTo(0.7, 6);
    // g = 1: v = 0.5 * 2 + 1 = 2; d = 1 + 0.5 * 2 = 2; w = 0.7 - 0.2 = 0.5
    sgd.applyGradients([w], [tf.tensor1d([1])], 0.1);
    expect(w.dataSync()[0]).toBeCloseTo(0.5, 6);
    sgd.dispose();
    w.dispose();
  });

  it.each(fixture.cases)(
    'matches torch.optim.SGD (momentum $momentum, wd $weightDecay, nesterov $nesterov)',
    (c) => {
      const vars = fixture.initial.map((w, i) => tf.variable(tf.tensor(w, fixture.shapes[i])));
      const sgd = new SGD({ momentum: c.momentum, weightDecay: c.weightDecay, nesterov: c.nesterov });
      fixture.gradients.forEach((step, s) => {
        const grads = step.map((g, i) => tf.tensor(g, fixture.shapes[i]));
        sgd.applyGradients(vars, grads, fixture.learningRates[s]);
        for (const g of grads) g.dispose();
        vars.forEach((v, i) => {
          const got = Array.from(v.dataSync());
          c.after[s][i].forEach((want, k) => {
            expect(got[k]).toBeCloseTo(want, 5);
          });
        });
      });
      sgd.dispose();
      for (const v of vars) v.dispose();
    },
  );

  it('round-trips its state: a restored optimizer continues exactly like the original', async () => {
    const a = tf.variable(tf.tensor1d([1, 2, 3]));
    const b = tf.variable(tf.tensor1d([1, 2, 3]));
    const g1 = tf.tensor1d([0.1, -0.2, 0.3]);
    const g2 = tf.tensor1d([-0.5, 0.25, 0.125]);
    const original = new SGD();
    original.applyGradients([a], [g1], 0.1);
    const state = await original.getState();
    expect(state.iterations).toBe(1);
    expect(state.velocities[0].shape).toEqual([3]);
    const copy = new SGD();
    b.assign(a);
    copy.setState(state);
    original.applyGradients([a], [g2], 0.05);
    copy.applyGradients([b], [g2], 0.05);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(copy.iterations).toBe(2);
    expect(() => new SGD({ momentum: 0.5 }).setState(state)).toThrow(/options.momentum/);
    for (const t of [a, b, g1, g2]) t.dispose();
    original.dispose();
    copy.dispose();
  });

  it('does not leak tensors', () => {
    const w = tf.variable(tf.ones([4, 4]));
    const sgd = new SGD({ nesterov: true });
    const g = tf.ones([4, 4]);
    sgd.applyGradients([w], [g], 0.1); // creates the velocity buffer
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) sgd.applyGradients([w], [g], 0.1);
    expect(tf.memory().numTensors).toBe(before);
    sgd.dispose();
    expect(tf.memory().numTensors).toBe(before - 1);
    w.dispose();
    g.dispose();
  });

  it('rejects bad options and mismatched gradients, naming the argument', () => {
    expect(() => new SGD({ momentum: 1 })).toThrow(/`momentum` to be a number in \[0, 1\)/);
    expect(() => new SGD({ weightDecay: -1 })).toThrow(/`weightDecay`/);
    expect(() => new SGD({ momentum: 0, nesterov: true })).toThrow(
      /`momentum` to be positive when `nesterov` is true/,
    );
    const w = tf.variable(tf.ones([2]));
    const sgd = new SGD();
    expect(() => sgd.applyGradients([w], [], 0.1)).toThrow(/`gradients` to be 1 tensors/);
    expect(() => sgd.applyGradients([w], [tf.ones([3])], 0.1)).toThrow(
      /`gradients\[0\]` to be of shape \[2\]/,
    );
    expect(() => sgd.applyGradients([w], [tf.ones([2])], Number.NaN)).toThrow(/`learningRate`/);
    sgd.dispose();
    w.dispose();
  });
});

describe('clipByGlobalNorm', () => {
  it('scales by maxNorm / norm when the global norm is larger, and leaves small gradients alone', () => {
    const a = tf.tensor1d([3, 0]);
    const b = tf.tensor1d([0, 4]); // global norm 5
    const clipped = clipByGlobalNorm([a, b], 1);
    expect(clipped.norm.dataSync()[0]).toBeCloseTo(5, 5);
    expect(Array.from(clipped.gradients[0].dataSync())).toEqual([expect.closeTo(0.6, 5), 0]);
    expect(Array.from(clipped.gradients[1].dataSync())).toEqual([0, expect.closeTo(0.8, 5)]);
    const kept = clipByGlobalNorm([a, b], 10);
    expect(Array.from(kept.gradients[1].dataSync())).toEqual([0, 4]);
    expect(() => clipByGlobalNorm([a], 0)).toThrow(/`maxNorm`/);
  });
});
