import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  type AttentionArgs,
  BUILTIN_ATTENTION,
  CBAM,
  ChannelAttention,
  CoordinateAttention,
  createAttention,
  EfficientChannelAttention,
  listAttention,
  registerAttention,
  SpatialAttention,
  SqueezeExcitation,
} from '../../src/layers/index';
import { type LayerContractSpec, layerContract, saveAndLoad } from '../helpers/layer_contract';

/** Per built-in: options for the contract run and what to expect for input [6, 5, 16]. */
const SPECS: Record<string, Partial<LayerContractSpec> & { args?: AttentionArgs }> = {
  cbam: {
    args: { reductionRatio: 4 },
    trainableWeights: 7,
    nonTrainableWeights: 2,
    params: 16 * 4 + 4 + 4 * 16 + 16 + 7 * 7 * 2 + 4,
    trainingDependent: true,
    mapShapes: { channel: [2, 1, 1, 16], spatial: [2, 6, 5, 1] },
  },
  channel: {
    args: { reductionRatio: 4 },
    trainableWeights: 4,
    nonTrainableWeights: 0,
    params: 16 * 4 + 4 + 4 * 16 + 16,
    mapShapes: { channel: [2, 1, 1, 16] },
  },
  spatial: {
    trainableWeights: 3,
    nonTrainableWeights: 2,
    params: 7 * 7 * 2 + 4,
    trainingDependent: true,
    mapShapes: { spatial: [2, 6, 5, 1] },
  },
  se: {
    args: { reductionRatio: 4 },
    trainableWeights: 4,
    nonTrainableWeights: 0,
    params: 16 * 4 + 4 + 4 * 16 + 16,
    mapShapes: { channel: [2, 1, 1, 16] },
  },
  eca: { trainableWeights: 1, nonTrainableWeights: 0, params: 3, mapShapes: { channel: [2, 1, 1, 16] } },
  coord: {
    trainableWeights: 8,
    nonTrainableWeights: 2,
    params: 16 * 8 + 8 + 4 * 8 + 2 * (8 * 16 + 16),
    trainingDependent: true,
    mapShapes: { height: [2, 6, 1, 16], width: [2, 1, 5, 16] },
  },
};

describe.each(listAttention())('layer contract: %s', (name) => {
  const { args, ...expectations } = SPECS[name] ?? {};
  layerContract({
    create: (extra) => createAttention(name, { ...args, ...extra })!,
    inputShape: [6, 5, 16],
    ...expectations,
  });
});

describe('attention registry', () => {
  it('lists the built-ins first, in order, mapped to their classes', () => {
    expect(listAttention().slice(0, 6)).toEqual(['cbam', 'channel', 'spatial', 'se', 'eca', 'coord']);
    expect(Object.keys(BUILTIN_ATTENTION)).toEqual(['cbam', 'channel', 'spatial', 'se', 'eca', 'coord']);
    const classes = [
      CBAM,
      ChannelAttention,
      SpatialAttention,
      SqueezeExcitation,
      EfficientChannelAttention,
      CoordinateAttention,
    ];
    for (const [i, n] of listAttention().slice(0, 6).entries())
      expect(createAttention(n)).toBeInstanceOf(classes[i]!);
  });

  it('passes options and names through', () => {
    const layer = createAttention('cbam', { reductionRatio: 8, kernelSize: 3, name: 'attention' }) as CBAM;
    expect(layer.name).toBe('attention');
    expect(layer.getConfig()).toMatchObject({ reductionRatio: 8, kernelSize: 3 });
  });

  it("returns null for null and 'none'", () => {
    expect(createAttention(null)).toBeNull();
    expect(createAttention('none')).toBeNull();
  });

  it('rejects unknown names, listing the registered ones', () => {
    expect(() => createAttention('bam')).toThrow(
      /createAttention: expected `name` to be one of cbam, channel, spatial, se, eca, coord.*but got "bam"/,
    );
  });

  it('rejects invalid options through the class, naming the argument', () => {
    expect(() => createAttention('se', { reductionRatio: 0 })).toThrow(
      'SqueezeExcitation: expected `reductionRatio` to be a positive integer, but got 0.',
    );
  });

  it('registers user modules, which models and createAttention can then build', () => {
    registerAttention('identityGate', (a) => tfl.layers.activation({ activation: 'linear', name: a.name }));
    expect(listAttention()).toContain('identityGate');
    const layer = createAttention('identityGate', { name: 'g' })!;
    const x = tf.ones([1, 2, 2, 3]);
    expect(Array.from((layer.apply(x) as tf.Tensor).dataSync())).toEqual(Array.from(x.dataSync()));
    expect(() => registerAttention('Bad_name', () => layer)).toThrow(/registerAttention: expected `name`/);
    expect(() => registerAttention('none', () => layer)).toThrow(/registerAttention: expected `name`/);
    expect(() => registerAttention('ok', 3 as never)).toThrow(/registerAttention: expected `factory`/);
  });

  it('a model holding all six built-ins round-trips through save/load with bit-identical predictions', async () => {
    const input = tfl.input({ shape: [6, 5, 16] });
    let x: tfl.SymbolicTensor = input;
    for (const name of ['cbam', 'channel', 'spatial', 'se', 'eca', 'coord']) {
      x = createAttention(name, { name: `att_${name}`, reductionRatio: 4 })!.apply(x) as tfl.SymbolicTensor;
    }
    const model = tfl.model({ inputs: input, outputs: x });
    tf.dispose(
      model.apply(tf.randomNormal([4, 6, 5, 16], 1, 2, 'float32', 1), { training: true }) as tf.Tensor,
    );
    const { loaded } = await saveAndLoad(model);
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
    expect(loaded.weights.map((w) => w.originalName)).toEqual(model.weights.map((w) => w.originalName));
    const probe = tf.randomNormal([3, 6, 5, 16], 0, 1, 'float32', 2);
    const a = model.predict(probe) as tf.Tensor;
    const b = loaded.predict(probe) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
  });
});
