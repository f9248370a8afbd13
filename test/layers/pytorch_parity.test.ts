/**
 * Parity with PyTorch: test/fixtures/layers.json is written by scripts/make_layer_fixtures.py
 * (PyTorch 1.13, float64 computation on float32 inputs and weights). Each case gives the layer and
 * options, the NHWC input, the weights in tfjs layout and getWeights() order, the inference output
 * and, for layers with BatchNorm, the training-mode output and the moving statistics after it.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import '../../src/layers/index';
import { expectClose, maxRelativeError } from '../helpers/layer_contract';

interface Encoded {
  shape: number[];
  data: string;
}
interface Case {
  name: string;
  layer: string;
  options: Record<string, unknown>;
  note: string;
  input: Encoded;
  weights: Encoded[];
  inference: Encoded;
  training?: Encoded;
  movingAfterTraining?: [Encoded, Encoded];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/layers.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

function decode(e: Encoded): tf.Tensor {
  const bytes = Buffer.from(e.data, 'base64');
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return tf.tensor(values, e.shape);
}

function makeLayer(c: Case): tfl.layers.Layer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[c.layer];
  if (!entry) throw new Error(`unknown layer ${c.layer}`);
  return entry[1](entry[0], { ...c.options } as tf.serialization.ConfigDict) as tfl.layers.Layer;
}

const TOLERANCE = 1e-5; // max |tfjs - torch| / max |torch|

/** Both the scale-normalised error and every element (relative 1e-5, absolute 1e-7 near zero). */
function expectParity(actual: tf.Tensor, expected: tf.Tensor): void {
  expect(actual.shape).toEqual(expected.shape);
  expect(maxRelativeError(actual.dataSync(), expected.dataSync())).toBeLessThan(TOLERANCE);
  expectClose(actual.dataSync(), expected.dataSync(), TOLERANCE, 1e-7);
}

describe('PyTorch parity (test/fixtures/layers.json)', () => {
  it('covers every layer class', () => {
    expect(new Set(fixture.cases.map((c) => c.layer))).toEqual(
      new Set([
        'CBAM',
        'ChannelAttention',
        'SpatialAttention',
        'SqueezeExcitation',
        'EfficientChannelAttention',
        'CoordinateAttention',
      ]),
    );
  });

  for (const c of fixture.cases) {
    it(`${c.name}: ${c.note}`, () => {
      const layer = makeLayer(c);
      const x = decode(c.input);
      tf.dispose(layer.apply(x) as tf.Tensor);
      const weights = c.weights.map(decode);
      expect(layer.weights.map((w) => w.shape)).toEqual(weights.map((w) => w.shape));
      layer.setWeights(weights);

      const y = layer.apply(x, { training: false }) as tf.Tensor;
      const expected = decode(c.inference);
      expectParity(y, expected);

      if (c.training) {
        const yt = layer.apply(x, { training: true }) as tf.Tensor;
        const et = decode(c.training);
        expectParity(yt, et);
        // tfjs lists trainable weights first, so the moving statistics are the last two.
        const n = layer.weights.length;
        const [mean, variance] = c.movingAfterTraining!.map(decode);
        expect(maxRelativeError(layer.weights[n - 2]!.read().dataSync(), mean!.dataSync())).toBeLessThan(
          TOLERANCE,
        );
        expect(maxRelativeError(layer.weights[n - 1]!.read().dataSync(), variance!.dataSync())).toBeLessThan(
          TOLERANCE,
        );
        tf.dispose([yt, et, mean!, variance!]);
      }
      tf.dispose([x, y, expected, ...weights]);
    });
  }
});
