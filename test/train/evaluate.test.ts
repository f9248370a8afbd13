import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { tenCrop } from '../../src/data/augment';
import { evaluate } from '../../src/train/evaluate';
import { classificationMetrics, confusionMatrix } from '../../src/train/metrics';
import { blobDataset } from './helpers';

const ds = blobDataset(30, 11);
const normalization = { mean: 0.3, std: 0.2 };

/** flatten - dense(3), with fixed random weights. */
function linearModel(softmax: boolean): tfl.LayersModel {
  const input = tfl.input({ shape: [10, 10, 1] });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers
    .dense({ units: 3, activation: softmax ? 'softmax' : 'linear' })
    .apply(flat) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  model.setWeights(model.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.3, 'float32', 40 + i)));
  return model;
}

/** Every image of `ds`, full size, normalised like the batch iterator does: (x / 255 - mean) / std. */
function fullImages(indices: number[]): tf.Tensor4D {
  const n = ds.height * ds.width;
  const data = new Float32Array(indices.length * n);
  indices.forEach((img, k) => {
    for (let p = 0; p < n; p++)
      data[k * n + p] = (ds.images[img * n + p] / 255 - normalization.mean) / normalization.std;
  });
  return tf.tensor4d(data, [indices.length, ds.height, ds.width, 1]);
}

describe('evaluate', () => {
  it('centre crop: metrics equal those of hand-made predictions', async () => {
    const model = linearModel(false);
    const indices = [0, 3, 4, 7, 8, 9, 12, 20, 21, 29];
    const result = await evaluate(model, ds, { indices, normalization, batchSize: 4 });
    const x = fullImages(indices);
    const centre = tf.slice(x, [0, 1, 1, 0], [-1, 10, 10, -1]);
    const logits = model.predict(centre) as tf.Tensor;
    const predictions = Array.from(tf.argMax(logits, -1).dataSync());
    const labels = indices.map((i) => ds.labels[i]);
    expect(Array.from(result.predictions)).toEqual(predictions);
    expect(Array.from(result.labels)).toEqual(labels);
    const want = classificationMetrics(confusionMatrix(labels, predictions, 3), ds.classNames);
    expect(result.confusionMatrix).toEqual(want.confusionMatrix);
    expect(result.accuracy).toBe(want.accuracy);
    expect(result.meanClassAccuracy).toBe(want.meanClassAccuracy);
    expect(result.perClass).toEqual(want.perClass);
    const oneHot = tf.oneHot(labels, 3);
    const loss = tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1))).dataSync()[0];
    expect(result.loss).toBeCloseTo(loss, 5);
    expect(result.count).toBe(10);
  });

  it('ten crops: the mean softmax over the ten crops decides', async () => {
    for (const softmax of [false, true]) {
      const model = linearModel(softmax);
      const result = await evaluate(model, ds, { normalization, tenCrop: true, batchSize: 7 });
      const all = Array.from({ length: ds.count }, (_, i) => i);
      const crops = tenCrop(fullImages(all), 10);
      expect(crops).toHaveLength(10);
      const probs = tf.div(
        tf.addN(
          crops.map((c) =>
            softmax ? (model.predict(c) as tf.Tensor) : tf.softmax(model.predict(c) as tf.Tensor),
          ),
        ),
        10,
      );
      expect(Array.from(result.predictions)).toEqual(Array.from(tf.argMax(probs, -1).dataSync()));
      const loss = tf
        .neg(tf.mean(tf.sum(tf.mul(tf.oneHot(Array.from(ds.labels), 3), tf.log(probs)), -1)))
        .dataSync()[0];
      expect(result.loss).toBeCloseTo(loss, 5);
    }
  });

  it('does not leak tensors and rejects a model with the wrong number of classes', async () => {
    const model = linearModel(false);
    await evaluate(model, ds, { normalization });
    const before = tf.memory().numTensors;
    await evaluate(model, ds, { normalization, tenCrop: true });
    expect(tf.memory().numTensors).toBe(before);
    const seven = { ...ds, classNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] };
    await expect(evaluate(model, seven)).rejects.toThrow(
      /`model` to be a model with 7 outputs \(a, b, c, d, e, f, g\), but got 3/,
    );
    await expect(evaluate(model, ds, { indices: [0, 99] })).rejects.toThrow(/`indices\[1\]`/);
  });
});
