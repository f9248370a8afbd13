import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LINEAR_COMBINATION_KERNEL, linearCombination } from '../../src/ops/index';

describe('linearCombination (element-wise ops where no fused kernel is registered)', () => {
  it('computes sum(coefficient * tensor) for one to three terms, keeping the shape', () => {
    expect(tf.getKernel(LINEAR_COMBINATION_KERNEL, tf.getBackend())).toBeUndefined();
    const x = tf.tensor2d([
      [1, -2],
      [3, 0.5],
    ]);
    const y = tf.tensor2d([
      [4, 5],
      [-6, 7],
    ]);
    const z = tf.tensor2d([
      [0.25, 1],
      [2, -8],
    ]);
    expect(linearCombination([[x, 3]]).arraySync()).toEqual([
      [3, -6],
      [9, 1.5],
    ]);
    expect(
      linearCombination([
        [x, 1],
        [y, -0.5],
      ]).arraySync(),
    ).toEqual([
      [-1, -4.5],
      [6, -3],
    ]);
    const three = linearCombination([
      [x, 2],
      [y, 1],
      [z, -4],
    ]);
    expect(three.shape).toEqual([2, 2]);
    expect(three.arraySync()).toEqual([
      [2 * 1 + 4 - 1, 2 * -2 + 5 - 4],
      [2 * 3 - 6 - 8, 2 * 0.5 + 7 + 32],
    ]);
    tf.dispose([x, y, z, three]);
  });

  it('leaves no intermediate tensors behind', () => {
    const x = tf.ones([3]);
    const before = tf.memory().numTensors;
    const out = linearCombination([
      [x, 2],
      [x, 3],
      [x, 4],
    ]);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(Array.from(out.dataSync())).toEqual([9, 9, 9]);
    tf.dispose([x, out]);
  });

  it('rejects bad terms, naming them', () => {
    const a = tf.zeros([2]);
    const b = tf.zeros([3]);
    expect(() => linearCombination([])).toThrow(/linearCombination: expected `terms` to be one to three/);
    expect(() =>
      linearCombination([
        [a, 1],
        [a, 1],
        [a, 1],
        [a, 1],
      ]),
    ).toThrow(/one to three/);
    expect(() =>
      linearCombination([
        [a, 1],
        [b, 1],
      ]),
    ).toThrow(/`terms\[1\]\[0\]` to be of shape \[2\]/);
    expect(() => linearCombination([[a, Number.NaN]])).toThrow(/`terms\[0\]\[1\]` to be a finite number/);
    const i = tf.zeros([2], 'int32');
    expect(() => linearCombination([[i, 1]])).toThrow(/`terms\[0\]\[0\]` to be float32/);
    tf.dispose([a, b, i]);
  });
});
