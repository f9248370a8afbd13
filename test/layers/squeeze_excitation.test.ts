import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { SQUEEZE_EXCITATION_DEFAULTS, SqueezeExcitation, squeezeExcitation } from '../../src/layers/index';
import { checkGradients, expectClose } from '../helpers/layer_contract';
import { channelGateRef, type Shape4, scaleChannels } from './attention_reference';

const S: Shape4 = [2, 4, 3, 16];

function setup(args: ConstructorParameters<typeof SqueezeExcitation>[0], seed = 1) {
  const layer = new SqueezeExcitation({ name: 'se', ...args });
  const x = tf.randomNormal(S, 0, 1, 'float32', seed);
  tf.dispose(layer.apply(x) as tf.Tensor);
  const values = layer.weights.map((w, i) =>
    tf.randomNormal(w.shape as number[], 0, 0.5, 'float32', seed * 10 + i),
  );
  layer.setWeights(values);
  const d = values.map((v) => v.dataSync());
  tf.dispose(values);
  const bias = layer.useBias;
  return {
    layer,
    x,
    ref: {
      kernel1: d[0]!,
      bias1: bias ? d[1]! : null,
      kernel2: d[bias ? 2 : 1]!,
      bias2: bias ? d[3]! : null,
      hidden: layer.units!,
    },
  };
}

describe('SqueezeExcitation', () => {
  it('has the documented defaults', () => {
    expect(SQUEEZE_EXCITATION_DEFAULTS).toEqual({
      reductionRatio: 16,
      hiddenUnits: null,
      minUnits: 1,
      useBias: true,
    });
    expect(new SqueezeExcitation().getConfig()).toMatchObject(SQUEEZE_EXCITATION_DEFAULTS);
    expect(squeezeExcitation()).toBeInstanceOf(SqueezeExcitation);
  });

  it('weights are fc1/kernel [C,h], fc1/bias, fc2/kernel [h,C], fc2/bias with h = max(minUnits, floor(C/r))', () => {
    expect(setup({ reductionRatio: 4 }).layer.weights.map((w) => [w.originalName, w.shape])).toEqual([
      ['se/fc1/kernel', [16, 4]],
      ['se/fc1/bias', [4]],
      ['se/fc2/kernel', [4, 16]],
      ['se/fc2/bias', [16]],
    ]);
    expect(setup({}).layer.units).toBe(1);
    expect(setup({ reductionRatio: 32, minUnits: 2 }).layer.units).toBe(2);
    expect(setup({ hiddenUnits: 6 }).layer.units).toBe(6);
    expect(setup({ useBias: false, reductionRatio: 4 }).layer.weights).toHaveLength(2);
  });

  for (const args of [{ reductionRatio: 4 }, { reductionRatio: 2, useBias: false }]) {
    it(`is x * sigmoid(fc2(relu(fc1(avgpool(x))))) (${JSON.stringify(args)})`, () => {
      const { layer, x, ref } = setup(args, 3);
      const xs = x.dataSync();
      const gate = channelGateRef(xs, S, ref, ['avg']);
      const y = layer.apply(x) as tf.Tensor;
      expectClose(y.dataSync(), scaleChannels(xs, S, gate));
      const { channel } = layer.computeAttention(x);
      expectClose(channel!.dataSync(), gate);
      tf.dispose([x, y, channel!]);
    });
  }

  it('has correct gradients with respect to the input and every weight', () => {
    const { layer, x } = setup({ reductionRatio: 4 }, 5);
    checkGradients(layer, x);
    x.dispose();
  });

  it('rejects bad options and non-4D input, naming the argument', () => {
    expect(() => new SqueezeExcitation({ reductionRatio: 0 })).toThrow(
      'SqueezeExcitation: expected `reductionRatio` to be a positive integer, but got 0.',
    );
    expect(() => new SqueezeExcitation({ hiddenUnits: 0 })).toThrow(/`hiddenUnits`/);
    expect(() => new SqueezeExcitation({ useBias: null as never })).not.toThrow(); // null = default
    expect(() => new SqueezeExcitation({ useBias: 0 as never })).toThrow(TypeError);
    expect(() => new SqueezeExcitation().apply(tfl.input({ shape: [3, 3, 3, 3] }))).toThrow(
      /SqueezeExcitation: expected `inputShape` to be a 4D shape.*but got \[null,3,3,3,3\]/,
    );
  });
});
