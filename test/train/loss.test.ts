import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { detectOutputKind, softmaxCrossEntropy } from '../../src/train/loss';

function head(activation?: string, extra?: tfl.layers.Layer): tfl.LayersModel {
  const input = tfl.input({ shape: [4] });
  let y = tfl.layers
    .dense({ units: 3, ...(activation ? { activation: activation as 'linear' } : {}) })
    .apply(input) as tfl.SymbolicTensor;
  if (extra) y = extra.apply(y) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: y });
}

describe('loss', () => {
  it('detects logits or probabilities from the last layer', () => {
    expect(detectOutputKind(head())).toBe('logits');
    expect(detectOutputKind(head('linear'))).toBe('logits');
    expect(detectOutputKind(head('softmax'))).toBe('probabilities');
    expect(detectOutputKind(head(undefined, tfl.layers.softmax()))).toBe('probabilities');
    expect(detectOutputKind(head(undefined, tfl.layers.activation({ activation: 'softmax' })))).toBe(
      'probabilities',
    );
    expect(() => detectOutputKind(head('sigmoid'))).toThrow(
      /to end in a linear or softmax layer .* but got "sigmoid"/,
    );
    const input = tfl.input({ shape: [4] });
    const two = tfl.model({
      inputs: input,
      outputs: [
        tfl.layers.dense({ units: 2 }).apply(input),
        tfl.layers.dense({ units: 2 }).apply(input),
      ] as tfl.SymbolicTensor[],
    });
    expect(() => detectOutputKind(two)).toThrow(/a model with one output, but got 2/);
  });

  it('equals hand values for logits with soft labels and for probabilities with one-hot labels', () => {
    const z = [1, 2, 3];
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    const y = [0.2, 0.3, 0.5];
    const want1 = -y.reduce((s, yi, i) => s + yi * (z[i] - lse), 0);
    // Second row: one-hot on class 0 with logits [0, 0, 0]: log(3).
    const logits = tf.tensor2d([z, [0, 0, 0]]);
    const labels = tf.tensor2d([y, [1, 0, 0]]);
    expect(softmaxCrossEntropy(labels, logits, 'logits').dataSync()[0]).toBeCloseTo(
      (want1 + Math.log(3)) / 2,
      5,
    );
    const probs = tf.tensor2d([[0.1, 0.7, 0.2]]);
    expect(softmaxCrossEntropy(tf.tensor2d([[0, 1, 0]]), probs, 'probabilities').dataSync()[0]).toBeCloseTo(
      -Math.log(0.7),
      5,
    );
    // A zero probability is clipped, not infinite.
    expect(
      softmaxCrossEntropy(tf.tensor2d([[1, 0]]), tf.tensor2d([[0, 1]]), 'probabilities').dataSync()[0],
    ).toBeCloseTo(-Math.log(1e-7), 3);
  });

  it('has the gradient softmax(z) - y for logits', () => {
    const y = tf.tensor2d([[0.2, 0.3, 0.5]]);
    const z = tf.tensor2d([[1, -1, 0.5]]);
    const g = tf.grad((zz: tf.Tensor) => softmaxCrossEntropy(y, zz, 'logits'))(z);
    const want = tf.sub(tf.softmax(z), y);
    expect(Array.from(g.dataSync()).map((v) => +v.toFixed(5))).toEqual(
      Array.from(want.dataSync()).map((v) => +v.toFixed(5)),
    );
  });
});
