import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  FUSED_BATCH_NORMALIZATION_DEFAULTS,
  FusedBatchNormalization,
  fusedBatchNormalization,
} from '../../src/layers/index';
import { checkGradients, expectClose, layerContract, maxRelativeError } from '../helpers/layer_contract';
import { batchNormRef } from './attention_reference';

const SHAPE = [3, 5, 4, 6];

/** A layer with non-trivial gamma, beta and moving statistics. */
function setup(seed = 1): FusedBatchNormalization {
  const layer = new FusedBatchNormalization({ name: 'bn' });
  tf.dispose(layer.apply(tf.zeros(SHAPE)) as tf.Tensor);
  const c = SHAPE[3]!;
  layer.setWeights([
    tf.randomUniform([c], 0.5, 1.5, 'float32', seed),
    tf.randomNormal([c], 0, 0.5, 'float32', seed + 1),
    tf.randomNormal([c], 0, 0.5, 'float32', seed + 2),
    tf.randomUniform([c], 0.5, 2, 'float32', seed + 3),
  ]);
  return layer;
}

/** The same math differentiated by tfjs op by op: moments + batchNorm. */
function autodiffBatchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta, gamma, epsilon);
}

describe('FusedBatchNormalization', () => {
  describe('layer contract', () => {
    layerContract({
      create: (extra) => fusedBatchNormalization({ ...extra }),
      inputShape: [5, 4, 6],
      trainableWeights: 2,
      nonTrainableWeights: 2,
      params: 24,
      trainingDependent: true,
    });
  });

  it('has the documented defaults and tfjs BatchNormalization weight names', () => {
    expect(FUSED_BATCH_NORMALIZATION_DEFAULTS).toEqual({
      momentum: 0.9,
      epsilon: 1e-5,
      zeroInitGamma: false,
    });
    const layer = setup();
    expect(layer.getConfig()).toMatchObject(FUSED_BATCH_NORMALIZATION_DEFAULTS);
    expect(layer.weights.map((w) => [w.originalName, w.trainable])).toEqual([
      ['bn/gamma', true],
      ['bn/beta', true],
      ['bn/moving_mean', false],
      ['bn/moving_variance', false],
    ]);
    const zero = fusedBatchNormalization({ zeroInitGamma: true });
    tf.dispose(zero.apply(tf.ones([2, 3])) as tf.Tensor);
    expect(Array.from(zero.getWeights()[0]!.dataSync())).toEqual([0, 0, 0]);
  });

  it('trains like PyTorch BatchNorm2d: batch statistics, moving stats with the unbiased variance', () => {
    const layer = setup(3);
    const x = tf.randomNormal(SHAPE, 1, 2, 'float32', 7);
    const [gamma, beta, movingMean, movingVariance] = layer.getWeights().map((w) => w.dataSync());
    const ref = batchNormRef(
      Float64Array.from(x.dataSync()),
      6,
      {
        gamma: gamma!,
        beta: beta!,
        movingMean: movingMean!,
        movingVariance: movingVariance!,
        epsilon: 1e-5,
        momentum: 0.9,
      },
      true,
    );
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    expectClose(y.dataSync(), ref.out, 1e-5, 1e-5);
    const after = layer.getWeights().map((w) => w.dataSync());
    expectClose(after[2]!, ref.movingMean, 1e-6, 1e-6);
    expectClose(after[3]!, ref.movingVariance, 1e-6, 1e-6);
    // Inference uses the (updated) moving statistics.
    const inference = layer.apply(x) as tf.Tensor;
    const refInf = batchNormRef(
      Float64Array.from(x.dataSync()),
      6,
      {
        gamma: gamma!,
        beta: beta!,
        movingMean: after[2]!,
        movingVariance: after[3]!,
        epsilon: 1e-5,
        momentum: 0.9,
      },
      false,
    );
    expectClose(inference.dataSync(), refInf.out, 1e-5, 1e-5);
    tf.dispose([x, y, inference]);
  });

  it('has the gradient of the op-by-op formulation (input, gamma, beta), within 1e-5', () => {
    const layer = setup(5);
    const x = tf.variable(tf.randomNormal(SHAPE, 0.3, 1.5, 'float32', 9));
    const r = tf.randomNormal(SHAPE, 0, 1, 'float32', 10);
    const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const fused = tf.variableGrads(
      () => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, r)),
      [x, gamma!, beta!],
    );
    const plain = tf.variableGrads(
      () => tf.sum(tf.mul(autodiffBatchNorm(x, gamma!, beta!, 1e-5), r)),
      [x, gamma!, beta!],
    );
    for (const v of [x, gamma!, beta!]) {
      const a = fused.grads[v.name]!;
      const b = plain.grads[v.name]!;
      expect(a.shape).toEqual(b.shape);
      expect(maxRelativeError(a.dataSync(), b.dataSync())).toBeLessThan(1e-5);
    }
    expectClose(fused.value.dataSync(), plain.value.dataSync(), 1e-4, 1e-5);
    tf.dispose([
      x,
      r,
      fused.value,
      plain.value,
      ...Object.values(fused.grads),
      ...Object.values(plain.grads),
    ]);
  });

  it('matches central finite differences in training mode', () => {
    const layer = setup(11);
    const x = tf.randomNormal([4, 3, 3, 6], 0, 1, 'float32', 12);
    const errors = checkGradients(layer, x, { training: true });
    expect(Math.max(...errors)).toBeLessThan(2e-3);
    x.dispose();
  });

  it('records far fewer kernels per gradient step than tf.layers.batchNormalization', async () => {
    const count = async (layer: tfl.layers.Layer): Promise<number> => {
      tf.dispose(layer.apply(tf.zeros(SHAPE)) as tf.Tensor);
      const x = tf.variable(tf.randomNormal(SHAPE, 0, 1, 'float32', 13));
      const vars = [x, ...layer.trainableWeights.map((w) => w.read() as tf.Variable)];
      const info = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(layer.apply(x, { training: true }) as tf.Tensor),
          vars,
        );
        tf.dispose([value, ...Object.values(grads)]);
      });
      x.dispose();
      return info.kernels.length;
    };
    // Gradients for the input too (as inside a network): tfjs then differentiates through `moments`.
    const fused = await count(new FusedBatchNormalization());
    const stock = await count(tfl.layers.batchNormalization({ axis: -1, epsilon: 1e-5 }));
    expect(fused).toBeLessThan(stock * 0.7);
  });

  it('takes weights from tf.layers.batchNormalization and gives its inference output', () => {
    const stock = tfl.layers.batchNormalization({ axis: -1, epsilon: 1e-5 });
    const x = tf.randomNormal(SHAPE, 0, 1, 'float32', 14);
    tf.dispose(stock.apply(x) as tf.Tensor);
    stock.setWeights(setup(15).getWeights());
    const fused = new FusedBatchNormalization();
    tf.dispose(fused.apply(x) as tf.Tensor);
    fused.setWeights(stock.getWeights());
    const a = stock.apply(x) as tf.Tensor;
    const b = fused.apply(x) as tf.Tensor;
    expectClose(b.dataSync(), a.dataSync(), 1e-6, 1e-6);
    tf.dispose([x, a, b]);
  });

  it('works on rank-2 inputs (after a dense layer)', () => {
    const layer = new FusedBatchNormalization();
    const x = tf.randomNormal([8, 3], 0, 1, 'float32', 16);
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    const { mean, variance } = tf.moments(y, 0);
    expectClose(mean.dataSync(), [0, 0, 0], 0, 1e-5);
    expectClose(variance.dataSync(), [1, 1, 1], 1e-3, 0);
    tf.dispose([x, y, mean, variance]);
  });

  it('does not leak tensors in a gradient step', () => {
    const layer = setup(17);
    const x = tf.randomNormal(SHAPE, 0, 1, 'float32', 18);
    const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const step = () => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(layer.apply(x, { training: true }) as tf.Tensor),
        vars,
      );
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    step();
    step();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('rejects bad options and inputs, naming the argument', () => {
    expect(() => new FusedBatchNormalization({ momentum: 2 })).toThrow(
      /FusedBatchNormalization: expected `momentum` to be a number in \[0, 1\], but got 2/,
    );
    expect(() => new FusedBatchNormalization({ epsilon: 0 })).toThrow(/`epsilon` to be a positive number/);
    expect(() => new FusedBatchNormalization({ zeroInitGamma: 1 as unknown as boolean })).toThrow(
      /`zeroInitGamma` to be a boolean/,
    );
    expect(() =>
      new FusedBatchNormalization().apply(tfl.input({ shape: [null as unknown as number] })),
    ).toThrow(/known channels/);
  });
});
