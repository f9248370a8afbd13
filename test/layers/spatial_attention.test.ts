import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { SPATIAL_ATTENTION_DEFAULTS, SpatialAttention, spatialAttention } from '../../src/layers/index';
import { checkGradients, expectClose, saveAndLoad, wrapInModel } from '../helpers/layer_contract';
import { type BnRef, type Shape4, scalePositions, spatialGateRef, tieFreeData } from './attention_reference';

const S: Shape4 = [2, 5, 4, 8];

function setup(args: ConstructorParameters<typeof SpatialAttention>[0], seed = 1) {
  const layer = new SpatialAttention(args);
  const x = tf.randomNormal(S, 0, 1, 'float32', seed);
  tf.dispose(layer.apply(x) as tf.Tensor);
  const values = layer.weights.map((w, i) => {
    const v = tf.randomNormal(w.shape as number[], 0, 0.4, 'float32', seed * 10 + i);
    return i === 4 ? tf.add(tf.abs(v), 0.5) : v; // a positive moving variance
  });
  layer.setWeights(values);
  const data = values.map((w) => w.dataSync());
  tf.dispose(values);
  const bn: BnRef | null = layer.useBatchNorm
    ? {
        gamma: data[1]!,
        beta: data[2]!,
        movingMean: data[3]!,
        movingVariance: data[4]!,
        epsilon: layer.epsilon,
        momentum: layer.momentum,
      }
    : null;
  return { layer, x, kernel: data[0]!, bn };
}

describe('SpatialAttention', () => {
  it('has the documented defaults', () => {
    expect(SPATIAL_ATTENTION_DEFAULTS).toEqual({
      kernelSize: 7,
      useBatchNorm: true,
      poolOrder: 'meanMax',
      momentum: 0.9,
      epsilon: 1e-5,
      zeroInitGamma: false,
    });
    expect(new SpatialAttention().getConfig()).toMatchObject(SPATIAL_ATTENTION_DEFAULTS);
    expect(spatialAttention({ kernelSize: 3 }).kernelSize).toBe(3);
  });

  it('weights are [conv/kernel [k,k,2,1], bn/gamma, bn/beta, bn/moving_mean, bn/moving_variance]', () => {
    const layer = new SpatialAttention({ name: 'sa', kernelSize: 5 });
    tf.dispose(layer.apply(tf.zeros([1, 4, 4, 3])) as tf.Tensor);
    expect(layer.weights.map((w) => [w.originalName, w.shape, w.trainable])).toEqual([
      ['sa/conv/kernel', [5, 5, 2, 1], true],
      ['sa/bn/gamma', [1], true],
      ['sa/bn/beta', [1], true],
      ['sa/bn/moving_mean', [1], false],
      ['sa/bn/moving_variance', [1], false],
    ]);
    const plain = new SpatialAttention({ useBatchNorm: false });
    tf.dispose(plain.apply(tf.zeros([1, 4, 4, 3])) as tf.Tensor);
    expect(plain.weights.map((w) => w.shape)).toEqual([[7, 7, 2, 1]]);
  });

  for (const [label, args] of [
    ['7x7, BN, [mean, max]', {}],
    ['5x5, BN, [max, mean]', { kernelSize: 5, poolOrder: 'maxMean' }],
    ['3x3, no BN', { kernelSize: 3, useBatchNorm: false }],
    ['1x1, BN, momentum 0.99', { kernelSize: 1, momentum: 0.99 }],
  ] as const) {
    it(`matches the plain-loop reference in inference and training (${label})`, () => {
      const { layer, x, kernel, bn } = setup(args);
      const xs = x.dataSync();
      for (const training of [false, true]) {
        const ref = spatialGateRef(xs, S, {
          kernel,
          k: layer.kernelSize,
          order: layer.poolOrder,
          bn,
          training,
        });
        const y = layer.apply(x, { training }) as tf.Tensor;
        expectClose(y.dataSync(), scalePositions(xs, S, ref.gate), 1e-5, 1e-6);
        if (bn && training) {
          // Moving statistics: momentum * old + (1 - momentum) * batch (unbiased variance, as PyTorch).
          expectClose(layer.weights[3]!.read().dataSync(), ref.movingMean!, 1e-5, 1e-7);
          expectClose(layer.weights[4]!.read().dataSync(), ref.movingVariance!, 1e-5, 1e-7);
        }
        y.dispose();
      }
      x.dispose();
    });
  }

  it('uses moving statistics unless training, and batch statistics when training', () => {
    const { layer, x, kernel, bn } = setup({ kernelSize: 3 }, 4);
    const xs = x.dataSync();
    const stats = () => [layer.weights[3]!.read().dataSync()[0], layer.weights[4]!.read().dataSync()[0]];
    const initial = stats();
    const a = layer.apply(x) as tf.Tensor;
    const b = layer.apply(x, { training: false }) as tf.Tensor;
    expect(stats()).toEqual(initial);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const t = layer.apply(x, { training: true }) as tf.Tensor;
    expect(stats()).not.toEqual(initial);
    // The training output is independent of the moving statistics, the inference output is not.
    const refTrain = spatialGateRef(xs, S, { kernel, k: 3, order: 'meanMax', bn, training: true });
    expectClose(t.dataSync(), scalePositions(xs, S, refTrain.gate));
    const t2 = layer.apply(x, { training: true }) as tf.Tensor;
    expectClose(t2.dataSync(), t.dataSync(), 1e-6, 1e-7);
    const c = layer.apply(x) as tf.Tensor;
    expect(Array.from(c.dataSync())).not.toEqual(Array.from(a.dataSync()));
    // Repeated training steps on one batch drive the moving statistics to its statistics.
    for (let i = 0; i < 150; i++) tf.dispose(layer.apply(x, { training: true }) as tf.Tensor);
    const bnNow = { ...bn!, momentum: 0 }; // one step with momentum 0 gives the batch statistics
    const converged = spatialGateRef(xs, S, { kernel, k: 3, order: 'meanMax', bn: bnNow, training: true });
    expectClose(stats(), [converged.movingMean![0]!, converged.movingVariance![0]!], 1e-4, 1e-5);
    tf.dispose([a, b, t, t2, c, x]);
  });

  it('zeroInitGamma starts as a constant 0.5 gate', () => {
    const layer = new SpatialAttention({ zeroInitGamma: true });
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 3);
    for (const training of [false, true]) {
      const { spatial } = layer.computeAttention(x, { training });
      expectClose(spatial!.dataSync(), new Array(32).fill(0.5), 0, 1e-6);
      spatial!.dispose();
    }
    x.dispose();
  });

  it('saves poolOrder through the snake_cased JSON and reads it back', async () => {
    const model = wrapInModel(new SpatialAttention({ poolOrder: 'maxMean', kernelSize: 3 }), [4, 4, 3]);
    const { artifacts, loaded } = await saveAndLoad(model);
    expect(JSON.stringify(artifacts.modelTopology)).toContain('"pool_order":"max_mean"');
    expect((loaded.layers[1] as SpatialAttention).poolOrder).toBe('maxMean');
    expect(loaded.layers[1]!.getConfig()).toEqual(model.layers[1]!.getConfig());
  });

  for (const training of [false, true]) {
    it(`has correct gradients with respect to the input and every weight (training: ${training})`, () => {
      const { layer } = setup({ kernelSize: 3 }, 2);
      const x = tf.tensor(tieFreeData(S, ['c'], 1).data, S);
      checkGradients(layer, x, { training });
      x.dispose();
    });
  }

  it('rejects bad options, naming the argument and value', () => {
    expect(() => new SpatialAttention({ kernelSize: 4 })).toThrow(
      'SpatialAttention: expected `kernelSize` to be an odd positive integer, but got 4.',
    );
    expect(() => new SpatialAttention({ kernelSize: 0 })).toThrow(/`kernelSize`.*but got 0/);
    expect(() => new SpatialAttention({ poolOrder: 'mean_max' as never })).toThrow(
      'SpatialAttention: expected `poolOrder` to be one of "meanMax", "maxMean", but got "mean_max".',
    );
    expect(() => new SpatialAttention({ momentum: 1.5 })).toThrow(/`momentum` to be a number in \[0, 1\]/);
    expect(() => new SpatialAttention({ epsilon: 0 })).toThrow(/`epsilon` to be a positive number/);
    expect(() => new SpatialAttention({ useBatchNorm: 1 as never })).toThrow(TypeError);
    expect(() => new SpatialAttention().apply(tfl.input({ shape: [8] }))).toThrow(
      'SpatialAttention: expected `inputShape` to be a 4D shape [batch, height, width, channels], but got [null,8].',
    );
  });
});
