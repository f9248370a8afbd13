import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  EFFICIENT_CHANNEL_ATTENTION_DEFAULTS,
  EfficientChannelAttention,
  ecaKernelSize,
  efficientChannelAttention,
} from '../../src/layers/index';
import { checkGradients, expectClose, saveAndLoad, wrapInModel } from '../helpers/layer_contract';
import { ecaGateRef, type Shape4, scaleChannels } from './attention_reference';

describe('EfficientChannelAttention', () => {
  it('chooses the kernel size from C as the paper (gamma 2, b 1)', () => {
    // t = int(|(log2 C + 1) / 2|), k = t if odd else t + 1 (official eca_layer; table from Python).
    const table: [number, number][] = [
      [1, 1],
      [2, 1],
      [4, 1],
      [8, 3],
      [16, 3],
      [32, 3],
      [64, 3],
      [128, 5],
      [256, 5],
      [512, 5],
      [1024, 5],
      [2048, 7],
    ];
    for (const [c, k] of table) expect([c, ecaKernelSize(c)]).toEqual([c, k]);
    expect(ecaKernelSize(64, 1, 1)).toBe(7);
    expect(() => ecaKernelSize(0)).toThrow(
      'ecaKernelSize: expected `channels` to be a positive integer, but got 0.',
    );
  });

  it('uses the adaptive size unless given one, and saves `null` for adaptive', async () => {
    expect(EFFICIENT_CHANNEL_ATTENTION_DEFAULTS).toEqual({ kernelSize: null });
    const adaptive = efficientChannelAttention({ name: 'eca' });
    tf.dispose(adaptive.apply(tf.zeros([1, 2, 2, 256])) as tf.Tensor);
    expect(adaptive.resolvedKernelSize).toBe(5);
    expect(adaptive.weights.map((w) => [w.originalName, w.shape])).toEqual([['eca/conv/kernel', [5, 1, 1]]]);
    expect(adaptive.getConfig().kernelSize).toBeNull();
    const fixed = new EfficientChannelAttention({ kernelSize: 7 });
    tf.dispose(fixed.apply(tf.zeros([1, 2, 2, 256])) as tf.Tensor);
    expect(fixed.weights[0]!.shape).toEqual([7, 1, 1]);
    const { loaded } = await saveAndLoad(wrapInModel(new EfficientChannelAttention(), [2, 2, 128]));
    expect((loaded.layers[1] as EfficientChannelAttention).kernelSize).toBeNull();
    expect((loaded.layers[1] as EfficientChannelAttention).resolvedKernelSize).toBe(5);
  });

  for (const [k, s] of [
    [3, [2, 3, 4, 8]],
    [5, [2, 2, 3, 12]],
    [1, [1, 2, 2, 4]],
  ] as [number, Shape4][]) {
    it(`is x * sigmoid(conv1d_k(avgpool(x))) with zero padding across channels (k = ${k})`, () => {
      const layer = new EfficientChannelAttention({ kernelSize: k });
      const x = tf.randomNormal(s, 0, 1, 'float32', k);
      tf.dispose(layer.apply(x) as tf.Tensor);
      const kernel = tf.randomNormal([k, 1, 1], 0, 1, 'float32', 10 + k);
      layer.setWeights([kernel]);
      const xs = x.dataSync();
      const gate = ecaGateRef(xs, s, kernel.dataSync());
      const y = layer.apply(x) as tf.Tensor;
      expectClose(y.dataSync(), scaleChannels(xs, s, gate));
      const { channel } = layer.computeAttention(x);
      expectClose(channel!.dataSync(), gate);
      tf.dispose([x, y, kernel, channel!]);
    });
  }

  it('has correct gradients with respect to the input and the kernel', () => {
    const layer = new EfficientChannelAttention({ kernelSize: 3 });
    checkGradients(layer, tf.randomNormal([2, 3, 3, 8], 0, 1, 'float32', 4));
  });

  it('rejects an even or non-positive kernel size and non-4D input', () => {
    expect(() => new EfficientChannelAttention({ kernelSize: 4 })).toThrow(
      'EfficientChannelAttention: expected `kernelSize` to be an odd positive integer, but got 4.',
    );
    expect(() => new EfficientChannelAttention({ kernelSize: -1 })).toThrow(/`kernelSize`/);
    expect(() => new EfficientChannelAttention().apply(tfl.input({ shape: [4, 4] }))).toThrow(
      /EfficientChannelAttention: expected `inputShape` to be a 4D shape.*\[null,4,4\]/,
    );
  });
});
