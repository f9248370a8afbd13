import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from '../../src/backends/wasm_kernels';
import { FusedBatchNormalization } from '../../src/layers/batch_norm';
import type { Layer } from '../../src/layers/composite';
import { disposeInference, planInference, runInference } from '../../src/layers/conv_bn';
import { ResidualBlock } from '../../src/layers/residual_block';
import { relError, seeded, valuesOn } from '../backends/helpers';

beforeAll(() => registerWasmTrainingKernels());
afterAll(async () => {
  unregisterWasmTrainingKernels();
  await tf.setBackend('cpu');
});

const bn = (name: string) => new FusedBatchNormalization({ name, epsilon: 1e-5 });

/**
 * Every form the folding takes: zero padding + strided 'valid' conv with a bias + BN + ReLU; a 'same'
 * conv + BN without a ReLU; then a layer it must leave alone (a sigmoid), a conv + BN + a non-ReLU
 * activation (folded without it), and a dilated conv (not folded).
 */
function chain(): Layer[] {
  return [
    tfl.layers.zeroPadding2d({ name: 'pad', padding: 1 }),
    tfl.layers.conv2d({ name: 'c1', filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: true }),
    bn('b1'),
    tfl.layers.activation({ name: 'r1', activation: 'relu' }),
    tfl.layers.conv2d({ name: 'c2', filters: 12, kernelSize: 3, padding: 'same', useBias: false }),
    bn('b2'),
    tfl.layers.activation({ name: 's', activation: 'sigmoid' }),
    tfl.layers.conv2d({ name: 'c3', filters: 8, kernelSize: 1, useBias: false }),
    bn('b3'),
    tfl.layers.activation({ name: 't', activation: 'tanh' }),
    tfl.layers.conv2d({
      name: 'c4',
      filters: 4,
      kernelSize: 3,
      dilationRate: 2,
      padding: 'same',
      useBias: false,
    }),
    bn('b4'),
  ];
}

/** Builds the chain on [2, 9, 9, 3] and gives every weight (moving statistics too) seeded values. */
function built(): Layer[] {
  const layers = chain();
  let y: tfl.SymbolicTensor = tfl.input({ shape: [9, 9, 3] });
  for (const l of layers) y = l.apply(y) as tfl.SymbolicTensor;
  let seed = 10;
  for (const l of layers) {
    l.setWeights(
      l.getWeights().map((w, i) => {
        const v = seeded(w.size, seed++);
        // Moving variances (the 4th BatchNorm weight) must be positive.
        return tf.tensor(
          l instanceof FusedBatchNormalization && i === 3 ? v.map((a) => a + 1.5) : v,
          w.shape,
        );
      }),
    );
  }
  return layers;
}

describe('planInference / runInference: BatchNorm folded into convolutions', () => {
  it('groups pad + conv + BN + ReLU runs and leaves everything else as it is', () => {
    const steps = planInference(built());
    expect(
      steps.map((s) => (s.kind === 'folded' ? `fold:${s.conv.name}${s.relu ? '+relu' : ''}` : s.layer.name)),
    ).toEqual(['fold:c1+relu', 'fold:c2', 's', 'fold:c3', 't', 'c4', 'b4']);
    const first = steps[0]!;
    expect(first.kind === 'folded' && first.pad).toEqual([
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
  });

  it.each(['cpu', 'wasm'])('on %s equals the layers applied one by one on cpu', async (backend) => {
    const layers = built();
    const x = seeded(2 * 9 * 9 * 3, 1);
    const reference = await valuesOn('cpu', () => {
      let y = tf.tensor4d(x, [2, 9, 9, 3]);
      for (const l of layers) y = l.apply(y) as tf.Tensor4D;
      return y;
    });
    const steps = planInference(layers);
    // The weights live on cpu; reading them on another backend moves them, as a model's would.
    const folded = await valuesOn(backend, () => runInference(steps, tf.tensor4d(x, [2, 9, 9, 3]), {}));
    expect(relError(folded[0]!, reference[0]!)).toBeLessThan(1e-5);
  });

  it('folds again after the weights change, and frees its cache', async () => {
    await tf.setBackend('cpu');
    const layers = built();
    const steps = planInference(layers);
    const x = tf.tensor4d(seeded(2 * 9 * 9 * 3, 1), [2, 9, 9, 3]);
    const sequential = () =>
      tf.tidy(() => {
        let y: tf.Tensor = x;
        for (const l of layers) y = l.apply(y) as tf.Tensor;
        return y;
      });
    tf.dispose(tf.tidy(() => runInference(steps, x, {})));
    const cached = tf.memory().numTensors;
    // New moving statistics and a new kernel: a stale cache would give the old outputs.
    tf.tidy(() => {
      const b2 = layers[5]!;
      const [g, b, m, v] = b2.getWeights();
      b2.setWeights([g!, b!, tf.add(m!, 0.7), tf.mul(v!, 3)]);
      const c1 = layers[1]!;
      c1.setWeights(c1.getWeights().map((w) => tf.neg(w)));
    });
    const folded = tf.tidy(() => runInference(steps, x, {}));
    const reference = sequential();
    expect(relError(await folded.data(), await reference.data())).toBeLessThan(1e-5);
    tf.dispose([folded, reference]);
    // Re-folding replaced the cached tensors instead of adding to them.
    expect(tf.memory().numTensors).toBe(cached);
    disposeInference(steps);
    expect(tf.memory().numTensors).toBe(cached - 2 * steps.filter((s) => s.kind === 'folded').length);
  });

  it('ResidualBlock uses it only in inference: training still normalises with batch statistics', async () => {
    await tf.setBackend('cpu');
    const block = new ResidualBlock({ filters: 8, strides: 2, attention: 'cbam' });
    const x = tf.tensor4d(seeded(2 * 8 * 8 * 4, 3), [2, 8, 8, 4]);
    block.apply(x);
    // Non-trivial moving statistics, so inference and training differ.
    for (const l of block.sublayers) {
      if (l instanceof FusedBatchNormalization) {
        const [g, b, m, v] = l.getWeights();
        l.setWeights([tf.add(g!, 0.5), tf.add(b!, 0.1), tf.fill(m!.shape, 0.3), tf.fill(v!.shape, 2)]);
      }
    }
    const before = tf.memory().numTensors;
    const inference = block.apply(x) as tf.Tensor;
    const training = block.apply(x, { training: true }) as tf.Tensor;
    expect(relError(await inference.data(), await training.data())).toBeGreaterThan(1e-2);
    tf.dispose([inference, training]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
