import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/io/index';
import {
  CBAM,
  ChannelAttention,
  CoordinateAttention,
  EfficientChannelAttention,
  SpatialAttention,
  SqueezeExcitation,
} from '../../src/layers/index';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fer-cbam-attn-io-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('file:// round trip of a model holding all six attention layers', () => {
  it('loads with the same classes, weights and bit-identical predictions on cpu', async () => {
    const input = tfl.input({ shape: [12, 12, 1] });
    let x = tfl.layers
      .conv2d({ filters: 32, kernelSize: 3, padding: 'same' })
      .apply(input) as tfl.SymbolicTensor;
    const layers = [
      new ChannelAttention({ reductionRatio: 8 }),
      new SpatialAttention({ kernelSize: 5 }),
      new CBAM({ reductionRatio: 4 }),
      new SqueezeExcitation({ reductionRatio: 4 }),
      new EfficientChannelAttention({}),
      new CoordinateAttention({ reductionRatio: 8 }),
    ];
    for (const layer of layers) x = layer.apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
    const output = tfl.layers.dense({ units: 7 }).apply(x) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: output });
    // Random values everywhere, BatchNorm moving statistics included (positive, for the variances).
    model.setWeights(
      model.getWeights().map((w, i) => tf.randomUniform(w.shape, 0.2, 1.2, 'float32', 100 + i)),
    );

    await model.save(`file://${join(root, 'attn')}`);
    const loaded = await tfl.loadLayersModel(`file://${join(root, 'attn', 'model.json')}`);

    const names = (m: tfl.LayersModel) => m.layers.map((l) => l.getClassName());
    expect(names(loaded)).toEqual(names(model));
    for (const cls of [
      'ChannelAttention',
      'SpatialAttention',
      'CBAM',
      'SqueezeExcitation',
      'EfficientChannelAttention',
      'CoordinateAttention',
    ]) {
      expect(names(loaded)).toContain(cls);
    }
    expect(loaded.weights.map((w) => w.originalName)).toEqual(model.weights.map((w) => w.originalName));
    const x0 = tf.randomNormal([3, 12, 12, 1], 0, 1, 'float32', 5);
    const a = (model.predict(x0) as tf.Tensor).dataSync();
    const b = (loaded.predict(x0) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
  });
});
