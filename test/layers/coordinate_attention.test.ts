import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  COORDINATE_ATTENTION_DEFAULTS,
  CoordinateAttention,
  coordinateAttention,
} from '../../src/layers/index';
import { checkGradients, expectClose } from '../helpers/layer_contract';
import { coordRef, type Shape4 } from './attention_reference';

const S: Shape4 = [2, 5, 6, 16];

function setup(args: ConstructorParameters<typeof CoordinateAttention>[0] = {}, seed = 1) {
  const layer = new CoordinateAttention({ name: 'ca', ...args });
  const x = tf.randomNormal(S, 0, 1, 'float32', seed);
  tf.dispose(layer.apply(x) as tf.Tensor);
  const values = layer.weights.map((w, i) => {
    const v = tf.randomNormal(w.shape as number[], 0, 0.5, 'float32', seed * 10 + i);
    return w.originalName.endsWith('moving_variance') ? tf.add(tf.abs(v), 0.5) : v;
  });
  layer.setWeights(values);
  const d = values.map((v) => v.dataSync());
  tf.dispose(values);
  const ref = (training: boolean) =>
    coordRef(x.dataSync(), S, {
      conv1: d[0]!,
      bias1: d[1]!,
      bn: {
        gamma: d[2]!,
        beta: d[3]!,
        movingMean: d[8]!,
        movingVariance: d[9]!,
        epsilon: 1e-5,
        momentum: 0.9,
      },
      convH: d[4]!,
      biasH: d[5]!,
      convW: d[6]!,
      biasW: d[7]!,
      mip: layer.units!,
      training,
    });
  return { layer, x, ref };
}

describe('CoordinateAttention', () => {
  it('has the documented defaults', () => {
    expect(COORDINATE_ATTENTION_DEFAULTS).toEqual({
      reductionRatio: 32,
      hiddenUnits: null,
      minUnits: 8,
      momentum: 0.9,
      epsilon: 1e-5,
    });
    expect(coordinateAttention().getConfig()).toMatchObject(COORDINATE_ATTENTION_DEFAULTS);
  });

  it('weights (trainable first) with mip = max(8, floor(C / r))', () => {
    const { layer } = setup();
    expect(layer.units).toBe(8);
    expect(layer.weights.map((w) => [w.originalName, w.shape])).toEqual([
      ['ca/conv1/kernel', [1, 1, 16, 8]],
      ['ca/conv1/bias', [8]],
      ['ca/bn/gamma', [8]],
      ['ca/bn/beta', [8]],
      ['ca/conv_h/kernel', [1, 1, 8, 16]],
      ['ca/conv_h/bias', [16]],
      ['ca/conv_w/kernel', [1, 1, 8, 16]],
      ['ca/conv_w/bias', [16]],
      ['ca/bn/moving_mean', [8]],
      ['ca/bn/moving_variance', [8]],
    ]);
    const wide = new CoordinateAttention({ reductionRatio: 4 });
    tf.dispose(wide.apply(tf.zeros([1, 2, 2, 64])) as tf.Tensor);
    expect(wide.units).toBe(16);
    const fixed = new CoordinateAttention({ hiddenUnits: 3 });
    tf.dispose(fixed.apply(tf.zeros([1, 2, 2, 64])) as tf.Tensor);
    expect(fixed.units).toBe(3);
  });

  for (const training of [false, true]) {
    it(`matches the plain-loop reference, maps and moving statistics included (training: ${training})`, () => {
      const { layer, x, ref } = setup({}, 2);
      const r = ref(training);
      const y = layer.apply(x, { training }) as tf.Tensor;
      expectClose(y.dataSync(), r.out);
      if (training) {
        expectClose(layer.weights[8]!.read().dataSync(), r.movingMean, 1e-5, 1e-7);
        expectClose(layer.weights[9]!.read().dataSync(), r.movingVariance, 1e-5, 1e-7);
      } else {
        const maps = layer.computeAttention(x);
        expect(maps.height!.shape).toEqual([2, 5, 1, 16]);
        expect(maps.width!.shape).toEqual([2, 1, 6, 16]);
        expectClose(maps.height!.dataSync(), r.aH);
        expectClose(maps.width!.dataSync(), r.aW);
        tf.dispose(maps);
      }
      tf.dispose([x, y]);
    });
  }

  it('builds with unknown height and width and runs on any spatial size', () => {
    const input = tfl.input({ shape: [null, null, 16] });
    const out = new CoordinateAttention().apply(input) as tfl.SymbolicTensor;
    expect(out.shape).toEqual([null, null, null, 16]);
    const model = tfl.model({ inputs: input, outputs: out });
    for (const [h, w] of [
      [3, 7],
      [8, 2],
    ]) {
      const y = model.predict(tf.ones([1, h!, w!, 16])) as tf.Tensor;
      expect(y.shape).toEqual([1, h, w, 16]);
    }
  });

  for (const training of [false, true]) {
    it(`has correct gradients with respect to the input and every weight (training: ${training})`, () => {
      const { layer, x } = setup({}, 3);
      checkGradients(layer, x, { training, samples: 8 });
      x.dispose();
    });
  }

  it('rejects bad options and non-4D input, naming the argument', () => {
    expect(() => new CoordinateAttention({ reductionRatio: 0 })).toThrow(
      'CoordinateAttention: expected `reductionRatio` to be a positive integer, but got 0.',
    );
    expect(() => new CoordinateAttention({ minUnits: 0 })).toThrow(/`minUnits`/);
    expect(() => new CoordinateAttention({ momentum: -0.1 })).toThrow(/`momentum`/);
    expect(() => new CoordinateAttention().apply(tfl.input({ shape: [16] }))).toThrow(
      /CoordinateAttention: expected `inputShape` to be a 4D shape.*\[null,16\]/,
    );
  });
});
