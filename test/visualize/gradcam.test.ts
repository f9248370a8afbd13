import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { gradCam } from '../../src/visualize/gradcam';

/** input -> conv (linear, 3 filters) -> GAP -> dense (linear, 2 classes). */
function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [4, 4, 1] });
  const conv = tfl.layers
    .conv2d({ name: 'features', filters: 3, kernelSize: 1, useBias: false })
    .apply(input);
  const gap = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(conv);
  const out = tfl.layers
    .dense({ name: 'classifier', units: 2, useBias: true })
    .apply(gap) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  model.getLayer('features').setWeights([tf.tensor4d([1, -2, 0.5], [1, 1, 1, 3])]);
  model
    .getLayer('classifier')
    .setWeights([tf.tensor2d([0.3, -1, 0.7, 0.2, -0.4, 0.9], [3, 2]), tf.tensor1d([0.1, -0.1])]);
  return model;
}

describe('gradCam', () => {
  it('equals the hand-derived map for conv -> GAP -> dense', () => {
    const model = tinyModel();
    const pixels = Array.from({ length: 16 }, (_, i) => (i % 5) - 1.5);
    const x = tf.tensor4d(pixels, [1, 4, 4, 1]);
    // Warm-up: tfjs-layers caches a few constants on first use.
    const warm = gradCam(model, x, { classIndex: 1 });
    tf.dispose([warm.maps, warm.scores]);
    const before = tf.memory().numTensors;
    const { maps, scores, classIndices, layerName } = gradCam(model, x, { classIndex: 1 });
    expect(layerName).toBe('features');
    expect(classIndices).toEqual([1]);
    // A_k(p) = pixel(p) * conv_k; d score_1 / d A_k(p) = W[k,1] / 16, so alpha_k = W[k,1] / 16
    // and the map is relu(sum_k alpha_k * conv_k * pixel(p)).
    const conv = [1, -2, 0.5];
    const w1 = [-1, 0.2, 0.9];
    const coef = conv.reduce((s, c, k) => s + (c * w1[k]!) / 16, 0);
    const expected = pixels.map((p) => Math.max(0, coef * p));
    const got = Array.from(maps.dataSync());
    for (let i = 0; i < 16; i++) expect(got[i]).toBeCloseTo(expected[i]!, 6);
    expect(scores.shape).toEqual([1, 2]);
    tf.dispose([maps, scores]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('explains the predicted class by default and validates arguments', () => {
    const model = tinyModel();
    const x = tf.randomNormal([3, 4, 4, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const r = gradCam(model, x);
    const predicted = Array.from(tf.argMax(r.scores, 1).dataSync());
    expect(r.classIndices).toEqual(predicted);
    expect(r.maps.shape).toEqual([3, 4, 4]);
    expect(() => gradCam(model, x, { layerName: 'nope' })).toThrow(/`layerName` to name a layer/);
    expect(() => gradCam(model, x, { layerName: 'gap' })).toThrow(/4D output/);
    expect(() => gradCam(model, x, { classIndex: 5 })).toThrow(/`classIndex` to be an integer in \[0, 1\]/);
  });
});
