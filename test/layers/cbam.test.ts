import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { CBAM, CBAM_DEFAULTS, ChannelAttention, cbam, SpatialAttention } from '../../src/layers/index';
import { checkGradients, expectClose, saveAndLoad, wrapInModel } from '../helpers/layer_contract';
import {
  type BnRef,
  channelGateRef,
  type Shape4,
  scaleChannels,
  scalePositions,
  spatialGateRef,
  tieFreeData,
} from './attention_reference';

const S: Shape4 = [2, 5, 6, 16];
const CANONICAL = [
  ['cbam/channel/fc1/kernel', [16, 4]],
  ['cbam/channel/fc1/bias', [4]],
  ['cbam/channel/fc2/kernel', [4, 16]],
  ['cbam/channel/fc2/bias', [16]],
  ['cbam/spatial/conv/kernel', [7, 7, 2, 1]],
  ['cbam/spatial/bn/gamma', [1]],
  ['cbam/spatial/bn/beta', [1]],
  ['cbam/spatial/bn/moving_mean', [1]],
  ['cbam/spatial/bn/moving_variance', [1]],
];

function built(args: ConstructorParameters<typeof CBAM>[0] = {}) {
  const layer = new CBAM({ name: 'cbam', reductionRatio: 4, ...args });
  tf.dispose(layer.apply(tf.zeros(S)) as tf.Tensor);
  return layer;
}

/** Random weights in the canonical order (positive moving variance); returns their values. */
function randomise(layer: CBAM, seed: number): Float32Array[] {
  const values = layer.weights.map((w, i) => {
    const v = tf.randomNormal(w.shape as number[], 0, 0.5, 'float32', seed * 10 + i);
    return w.originalName.endsWith('moving_variance') ? tf.add(tf.abs(v), 0.5) : v;
  });
  layer.setWeights(values);
  const data = values.map((v) => v.dataSync() as Float32Array);
  tf.dispose(values);
  return data;
}

function reference(
  x: Float32Array,
  w: Float32Array[],
  training: boolean,
  order: 'meanMax' | 'maxMean' = 'meanMax',
) {
  const gate = channelGateRef(
    x,
    S,
    { kernel1: w[0]!, bias1: w[1]!, kernel2: w[2]!, bias2: w[3]!, hidden: 4 },
    ['avg', 'max'],
  );
  const refined = scaleChannels(x, S, gate);
  const bn: BnRef = {
    gamma: w[5]!,
    beta: w[6]!,
    movingMean: w[7]!,
    movingVariance: w[8]!,
    epsilon: 1e-5,
    momentum: 0.9,
  };
  const spatial = spatialGateRef(refined, S, { kernel: w[4]!, k: 7, order, bn, training });
  return { out: scalePositions(refined, S, spatial.gate), channel: gate, spatial };
}

describe('CBAM', () => {
  it('has the documented defaults (both gates)', () => {
    expect(CBAM_DEFAULTS).toEqual({
      reductionRatio: 16,
      hiddenUnits: null,
      minUnits: 1,
      useBias: true,
      poolTypes: ['avg', 'max'],
      kernelSize: 7,
      useBatchNorm: true,
      poolOrder: 'meanMax',
      momentum: 0.9,
      epsilon: 1e-5,
      zeroInitGamma: false,
    });
    expect(new CBAM().getConfig()).toMatchObject(CBAM_DEFAULTS);
    expect(cbam()).toBeInstanceOf(CBAM);
  });

  it('is a composite of a ChannelAttention named channel and a SpatialAttention named spatial', () => {
    const layer = built({ kernelSize: 5, poolOrder: 'maxMean', useBias: false, momentum: 0.99 });
    expect(layer.sublayers.map((l) => [l.name, l.getClassName()])).toEqual([
      ['channel', 'ChannelAttention'],
      ['spatial', 'SpatialAttention'],
    ]);
    expect(layer.channel).toBeInstanceOf(ChannelAttention);
    expect(layer.spatial).toBeInstanceOf(SpatialAttention);
    expect(layer.channel.useBias).toBe(false);
    expect(layer.spatial.kernelSize).toBe(5);
    expect(layer.spatial.poolOrder).toBe('maxMean');
    expect(layer.spatial.momentum).toBe(0.99);
  });

  it("getWeights()/setWeights() order is the channel gate's then the spatial gate's", () => {
    const layer = built();
    expect(layer.weights.map((w) => [w.originalName, w.shape])).toEqual(CANONICAL);
    expect(layer.getWeights().map((w) => w.shape)).toEqual(CANONICAL.map((c) => c[1]));
    expect(layer.trainableWeights).toHaveLength(7);
    expect(layer.nonTrainableWeights).toHaveLength(2);
  });

  it('keeps that order when a gate or the whole layer is frozen', () => {
    const layer = built();
    const values = randomise(layer, 5);
    layer.channel.trainable = false; // the tfjs default order would now start with the spatial kernel
    expect(layer.weights.map((w) => w.originalName)).toEqual(CANONICAL.map((c) => c[0]));
    expect(layer.trainableWeights.map((w) => w.originalName)).toEqual(CANONICAL.slice(4, 7).map((c) => c[0]));
    expect(layer.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(values.map((v) => Array.from(v)));
    layer.setWeights(layer.getWeights().map((w) => tf.neg(w)));
    expect(Array.from(layer.channel.getWeights()[0]!.dataSync())).toEqual(
      Array.from(values[0]!).map((v) => -v),
    );
    layer.channel.trainable = true;
    layer.trainable = false;
    expect(layer.trainableWeights).toHaveLength(0);
    expect(layer.nonTrainableWeights).toHaveLength(9);
    expect(layer.weights.map((w) => w.originalName)).toEqual(CANONICAL.map((c) => c[0]));
  });

  for (const training of [false, true]) {
    it(`equals spatial(channel(x)) of the plain-loop reference (training: ${training})`, () => {
      const layer = built();
      const w = randomise(layer, 7);
      const x = tf.randomNormal(S, 0, 1, 'float32', 3);
      const ref = reference(x.dataSync() as Float32Array, w, training);
      const y = layer.apply(x, { training }) as tf.Tensor;
      expectClose(y.dataSync(), ref.out);
      if (training) {
        expectClose(layer.weights[7]!.read().dataSync(), ref.spatial.movingMean!, 1e-5, 1e-7);
        expectClose(layer.weights[8]!.read().dataSync(), ref.spatial.movingVariance!, 1e-5, 1e-7);
      }
      tf.dispose([x, y]);
    });
  }

  it('computeAttention gives the channel map and the spatial map of the refined input', () => {
    const layer = built({ poolOrder: 'maxMean' });
    const w = randomise(layer, 8);
    const x = tf.randomNormal(S, 0, 1, 'float32', 4);
    const ref = reference(x.dataSync() as Float32Array, w, false, 'maxMean');
    const maps = layer.computeAttention(x);
    expect(maps.channel!.shape).toEqual([2, 1, 1, 16]);
    expect(maps.spatial!.shape).toEqual([2, 5, 6, 1]);
    expectClose(maps.channel!.dataSync(), ref.channel);
    expectClose(maps.spatial!.dataSync(), ref.spatial.gate);
    tf.dispose([x, maps]);
  });

  for (const training of [false, true]) {
    it(`has correct gradients with respect to the input and all 7 trainable weights (training: ${training})`, () => {
      const layer = built({ kernelSize: 3 });
      randomise(layer, 9);
      const x = tf.tensor(tieFreeData(S, ['hw', 'c'], 1).data, S);
      const errors = checkGradients(layer, x, { training, samples: 10 });
      expect(errors).toHaveLength(8);
      x.dispose();
    });
  }

  it('two CBAMs in one model and the same model built twice have unique, deterministic weight names', async () => {
    const build = () => {
      const input = tfl.input({ shape: [5, 6, 16] });
      const a = new CBAM({ name: 'first', reductionRatio: 4 }).apply(input) as tfl.SymbolicTensor;
      const b = new CBAM({ name: 'second', reductionRatio: 4, poolOrder: 'maxMean' }).apply(
        a,
      ) as tfl.SymbolicTensor;
      return tfl.model({ inputs: input, outputs: b });
    };
    const m1 = build();
    const names = m1.weights.map((w) => w.originalName);
    expect(new Set(names).size).toBe(18);
    expect(build().weights.map((w) => w.originalName)).toEqual(names);
    tf.dispose(
      m1.layers[1]!.apply(tf.randomNormal([4, 5, 6, 16], 0, 1, 'float32', 1), {
        training: true,
      }) as tf.Tensor,
    );
    const { loaded } = await saveAndLoad(m1);
    expect((loaded.layers[2] as CBAM).spatial.poolOrder).toBe('maxMean');
    const x = tf.randomNormal([2, 5, 6, 16], 0, 1, 'float32', 2);
    const a = m1.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
  });

  it('round-trips every non-default option through save and load', async () => {
    const options = {
      reductionRatio: 2,
      hiddenUnits: 3,
      minUnits: 2,
      useBias: false,
      poolTypes: ['max' as const],
      kernelSize: 3,
      useBatchNorm: true,
      poolOrder: 'maxMean' as const,
      momentum: 0.99,
      epsilon: 1e-3,
      zeroInitGamma: true,
    };
    const model = wrapInModel(new CBAM(options), [5, 6, 16]);
    const { loaded } = await saveAndLoad(model);
    expect(loaded.layers[1]!.getConfig()).toMatchObject(options);
    expect(loaded.layers[1]!.getConfig()).toEqual(model.layers[1]!.getConfig());
  });

  it('reports errors as CBAM, naming the argument', () => {
    expect(() => new CBAM({ reductionRatio: 0 })).toThrow(
      'CBAM: expected `reductionRatio` to be a positive integer, but got 0.',
    );
    expect(() => new CBAM({ kernelSize: 6 })).toThrow(
      'CBAM: expected `kernelSize` to be an odd positive integer, but got 6.',
    );
    expect(() => new CBAM({ poolTypes: ['mean' as never] })).toThrow(/^CBAM: expected `poolTypes`/);
    expect(() => new CBAM({ poolOrder: 'max' as never })).toThrow(/^CBAM: expected `poolOrder`/);
    expect(() => new CBAM().apply(tfl.input({ shape: [6, 16] }))).toThrow(
      'CBAM: expected `inputShape` to be a 4D shape [batch, height, width, channels], but got [null,6,16].',
    );
  });
});
