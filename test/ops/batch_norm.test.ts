import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { batchNormGradients, CHANNEL_MOMENTS_KERNEL, channelMoments } from '../../src/ops/index';
import { expectClose, maxRelativeError } from '../helpers/layer_contract';

describe('channelMoments and batchNormGradients (tfjs ops where no kernel is registered)', () => {
  it('channelMoments gives the per-channel mean and biased variance of a plain loop', () => {
    expect(tf.getKernel(CHANNEL_MOMENTS_KERNEL, tf.getBackend())).toBeUndefined();
    const x = tf.randomNormal([3, 4, 5, 6], 2, 3, 'float32', 1);
    const v = x.dataSync();
    const c = 6;
    const n = v.length / c;
    const mean = new Float64Array(c);
    const variance = new Float64Array(c);
    for (let i = 0; i < v.length; i++) mean[i % c]! += v[i]! / n;
    for (let i = 0; i < v.length; i++) variance[i % c]! += (v[i]! - mean[i % c]!) ** 2 / n;
    const got = channelMoments(x);
    expect(got.mean.shape).toEqual([c]);
    expectClose(got.mean.dataSync(), mean, 1e-5, 1e-5);
    expectClose(got.variance.dataSync(), variance, 1e-5, 1e-5);
    tf.dispose([x, got.mean, got.variance]);
  });

  it('batchNormGradients equals the gradient tfjs derives op by op through moments and batchNorm', () => {
    const x = tf.randomNormal([4, 3, 3, 5], 0.5, 2, 'float32', 2);
    const gamma = tf.randomUniform([5], 0.5, 1.5, 'float32', 3);
    const beta = tf.randomNormal([5], 0, 1, 'float32', 4);
    const dy = tf.randomNormal(x.shape, 0, 1, 'float32', 5);
    const eps = 1e-5;
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(a, mean, variance, b, g, eps), dy));
    };
    const [dx, dgamma, dbeta] = tf.grads(f)([x, gamma, beta]);
    const { mean, variance } = channelMoments(x);
    const ours = batchNormGradients(x, dy, mean, variance, gamma, eps);
    expect(maxRelativeError(ours.dx.dataSync(), dx!.dataSync())).toBeLessThan(1e-5);
    expect(maxRelativeError(ours.dgamma.dataSync(), dgamma!.dataSync())).toBeLessThan(1e-5);
    expect(maxRelativeError(ours.dbeta.dataSync(), dbeta!.dataSync())).toBeLessThan(1e-5);
  });
});
