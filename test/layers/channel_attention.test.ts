import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { CHANNEL_ATTENTION_DEFAULTS, ChannelAttention, channelAttention } from '../../src/layers/index';
import { checkGradients, expectClose } from '../helpers/layer_contract';
import { channelGateRef, type MlpRef, type Shape4, scaleChannels, tieFreeData } from './attention_reference';

const S: Shape4 = [2, 4, 5, 8];

/** Builds the layer on S and gives it random weights; returns them in reference form. */
function setup(args: ConstructorParameters<typeof ChannelAttention>[0], seed = 1) {
  const layer = new ChannelAttention(args);
  const x = tf.randomNormal(S, 0, 1, 'float32', seed);
  tf.dispose(layer.apply(x) as tf.Tensor);
  const weights = layer.weights.map((w, i) =>
    tf.randomNormal(w.shape as number[], 0, 0.6, 'float32', seed * 10 + i),
  );
  layer.setWeights(weights);
  const data = weights.map((w) => w.dataSync());
  const bias = layer.useBias;
  const ref: MlpRef = {
    kernel1: data[0]!,
    bias1: bias ? data[1]! : null,
    kernel2: data[bias ? 2 : 1]!,
    bias2: bias ? data[3]! : null,
    hidden: layer.units!,
  };
  return { layer, x, ref };
}

describe('ChannelAttention', () => {
  it('has the documented defaults', () => {
    const layer = new ChannelAttention();
    expect(CHANNEL_ATTENTION_DEFAULTS).toEqual({
      reductionRatio: 16,
      hiddenUnits: null,
      minUnits: 1,
      useBias: true,
      poolTypes: ['avg', 'max'],
    });
    expect(layer.getConfig()).toMatchObject(CHANNEL_ATTENTION_DEFAULTS);
    expect(channelAttention()).toBeInstanceOf(ChannelAttention);
  });

  it('weights are [fc1/kernel [C,h], fc1/bias [h], fc2/kernel [h,C], fc2/bias [C]] with h = max(minUnits, floor(C/r))', () => {
    const shapes = (args: ConstructorParameters<typeof ChannelAttention>[0], c = 8) => {
      const layer = new ChannelAttention({ name: 'ca', ...args });
      tf.dispose(layer.apply(tf.zeros([1, 3, 3, c])) as tf.Tensor);
      return layer.weights.map((w) => [w.originalName, w.shape]);
    };
    expect(shapes({ reductionRatio: 2 })).toEqual([
      ['ca/fc1/kernel', [8, 4]],
      ['ca/fc1/bias', [4]],
      ['ca/fc2/kernel', [4, 8]],
      ['ca/fc2/bias', [8]],
    ]);
    expect(shapes({}, 40).map((s) => s[1])).toEqual([[40, 2], [2], [2, 40], [40]]); // floor(40 / 16)
    expect(shapes({ reductionRatio: 16 }).map((s) => s[1])).toEqual([[8, 1], [1], [1, 8], [8]]); // at least 1
    expect(shapes({ reductionRatio: 16, minUnits: 3 }).map((s) => s[1])[0]).toEqual([8, 3]);
    expect(shapes({ reductionRatio: 2, hiddenUnits: 5 }).map((s) => s[1])[0]).toEqual([8, 5]);
    expect(shapes({ reductionRatio: 2, useBias: false }).map((s) => s[1])).toEqual([
      [8, 4],
      [4, 8],
    ]);
  });

  for (const [label, args] of [
    ['avg + max, biases', { reductionRatio: 2 }],
    ['no biases', { reductionRatio: 2, useBias: false }],
    ['max only', { reductionRatio: 4, poolTypes: ['max'] }],
    ['avg only', { reductionRatio: 4, poolTypes: ['avg'] }],
    ['max then avg', { reductionRatio: 2, poolTypes: ['max', 'avg'] }],
  ] as const) {
    it(`matches the plain-loop reference (${label})`, () => {
      const { layer, x, ref } = setup({
        ...args,
        poolTypes: args.poolTypes ? [...args.poolTypes] : undefined,
      });
      const xs = x.dataSync();
      const gate = channelGateRef(xs, S, ref, layer.poolTypes as ('avg' | 'max')[]);
      const y = layer.apply(x) as tf.Tensor;
      expectClose(y.dataSync(), scaleChannels(xs, S, gate));
      const { channel } = layer.computeAttention(x);
      expect(channel!.shape).toEqual([2, 1, 1, 8]);
      expectClose(channel!.dataSync(), gate);
      tf.dispose([x, y, channel!]);
    });
  }

  it('has correct gradients with respect to the input and every weight', () => {
    const { layer } = setup({ reductionRatio: 2 }, 3);
    const x = tf.tensor(tieFreeData(S, ['hw'], 1).data, S); // no max ties within the FD step
    checkGradients(layer, x);
    x.dispose();
  });

  it('rejects bad options, naming the argument and value', () => {
    expect(() => new ChannelAttention({ reductionRatio: 0 })).toThrow(
      'ChannelAttention: expected `reductionRatio` to be a positive integer, but got 0.',
    );
    expect(() => new ChannelAttention({ reductionRatio: 1.5 })).toThrow(/`reductionRatio`.*but got 1\.5/);
    expect(() => new ChannelAttention({ minUnits: 0 })).toThrow(/`minUnits` to be a positive integer/);
    expect(() => new ChannelAttention({ hiddenUnits: -2 })).toThrow(/`hiddenUnits`.*but got -2/);
    expect(() => new ChannelAttention({ useBias: 'yes' as never })).toThrow(TypeError);
    expect(() => new ChannelAttention({ poolTypes: ['avg', 'lse' as never] })).toThrow(
      `ChannelAttention: expected \`poolTypes\` to be a non-empty array of distinct values from 'avg', 'max', but got ["avg","lse"].`,
    );
    expect(() => new ChannelAttention({ poolTypes: [] })).toThrow(/`poolTypes`.*but got \[\]/);
    expect(() => new ChannelAttention({ poolTypes: ['max', 'max'] })).toThrow(/`poolTypes`/);
  });

  it('rejects non-4D input when building, printing the shape', () => {
    expect(() => new ChannelAttention().apply(tfl.input({ shape: [5, 8] }))).toThrow(
      'ChannelAttention: expected `inputShape` to be a 4D shape [batch, height, width, channels], but got [null,5,8].',
    );
    expect(() => new ChannelAttention().apply(tf.zeros([2, 3, 4, 5, 6]))).toThrow(/but got \[2,3,4,5,6\]/);
  });

  it('rejects a different channel count after building', () => {
    const layer = new ChannelAttention();
    tf.dispose(layer.apply(tf.zeros([1, 2, 2, 8])) as tf.Tensor);
    expect(() => layer.apply(tf.zeros([1, 2, 2, 6]))).toThrow(/incompatible/);
  });
});
