// Output parity with the PyTorch reference (../shared/reference/resnet_cbam_reference.py), on the
// fixture written by scripts/make_resnet_fixture.py (see that script for the cases and layouts).
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { CompositeLayer, type Layer } from '../../src/layers/composite';
import { type ResNetCbamOptions, resnetCbam } from '../../src/models/resnet_cbam';

interface Encoded {
  shape: number[];
  data: string;
}
interface Fixture {
  inputs: Encoded;
  weights: Record<string, Record<string, Encoded[]>>;
  cases: { name: string; options: ResNetCbamOptions; weights: string[]; logits: Encoded }[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/resnet_parity.json', import.meta.url), 'utf8'),
) as Fixture;

function decode(e: Encoded): Float32Array {
  const bytes = Buffer.from(e.data, 'base64');
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const out = new Float32Array(copy.buffer);
  expect(out.length).toBe(e.shape.reduce((a, b) => a * b, 1));
  return out;
}

/** The layer at `path` (`stage1_block1/conv1`): a model layer, then composite children by name. */
function layerAt(model: tfl.LayersModel, path: string): Layer {
  const [first, ...rest] = path.split('/');
  let layer: Layer = model.getLayer(first!);
  for (const name of rest) {
    const next = layer instanceof CompositeLayer ? layer.sublayers.find((l) => l.name === name) : undefined;
    if (!next) throw new Error(`no layer ${path} in ${model.name}`);
    layer = next;
  }
  return layer;
}

/** Sets every listed layer's weights (in its getWeights() order); returns the variables assigned. */
function loadFixtureWeights(model: tfl.LayersModel, groups: string[]): Set<string> {
  const assigned = new Set<string>();
  for (const group of groups) {
    for (const [path, arrays] of Object.entries(fixture.weights[group]!)) {
      const layer = layerAt(model, path);
      const tensors = arrays.map((a) => tf.tensor(decode(a), a.shape));
      expect(
        tensors.map((t) => t.shape),
        path,
      ).toEqual(layer.weights.map((w) => w.shape));
      layer.setWeights(tensors);
      tf.dispose(tensors);
      for (const w of layer.weights) {
        expect(assigned.has(w.originalName), `${w.originalName} set twice`).toBe(false);
        assigned.add(w.originalName);
      }
    }
  }
  return assigned;
}

/** max |a - b| / max |b|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/** Logits minus their mean over the batch: what depends on the input image. */
function centered(values: Float32Array, batch: number, classes: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let k = 0; k < classes; k++) {
    let mean = 0;
    for (let i = 0; i < batch; i++) mean += values[i * classes + k]! / batch;
    for (let i = 0; i < batch; i++) out[i * classes + k] = values[i * classes + k]! - mean;
  }
  return out;
}

describe('resnetCbam: parity with the PyTorch reference', () => {
  const x = tf.tensor(decode(fixture.inputs), fixture.inputs.shape);

  it('fixture covers the three reference variants and the extensions', () => {
    expect(fixture.cases.map((c) => c.name)).toEqual([
      'depth10_w8_none',
      'depth10_w8_paper',
      'depth10_w8_every',
      'imagenet_w4_paper',
      'bottleneck_w4_every',
    ]);
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s: same logits in inference mode', (_, c) => {
    const model = resnetCbam(c.options);
    const assigned = loadFixtureWeights(model, c.weights);
    // Every weight of the model came from PyTorch.
    expect([...assigned].sort()).toEqual(model.weights.map((w) => w.originalName).sort());
    const wanted = decode(c.logits);
    const logits = model.predict(x) as tf.Tensor;
    expect(logits.shape).toEqual(c.logits.shape);
    const got = logits.dataSync() as Float32Array;
    expect(relativeError(got, wanted)).toBeLessThan(1e-4);
    // The input-dependent part agrees too (it is small next to the classifier bias in random nets).
    const [batch, classes] = c.logits.shape as [number, number];
    expect(relativeError(centered(got, batch, classes), centered(wanted, batch, classes))).toBeLessThan(1e-3);
    tf.dispose(logits);
    model.dispose();
  });
});
