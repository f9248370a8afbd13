import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { facesToInput } from '../../src/models/predict';
import { type Preprocessing, setPreprocessing } from '../../src/models/preprocessing';
import { teacherTargets } from '../../src/train/teacher_targets';
import { blobDataset } from './helpers';

const ds = blobDataset(20, 5);
const pre = (mean: number, std: number): Preprocessing => ({
  imageSize: 12,
  cropSize: 10,
  normalization: { mean, std },
  classNames: [...ds.classNames],
});

/** flatten - dense(3) with fixed random weights and stored preprocessing. */
function teacher(seed: number, softmax = false, preprocessing = pre(0.3, 0.2)): tfl.LayersModel {
  const input = tfl.input({ shape: [10, 10, 1] });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers
    .dense({ units: 3, activation: softmax ? 'softmax' : 'linear' })
    .apply(flat) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out, name: `teacher${seed}` });
  model.setWeights(model.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.3, 'float32', seed + i)));
  setPreprocessing(model, preprocessing);
  return model;
}

/** Logits of every image through the inference path (`facesToInput`, centre crop), as plain rows. */
function logitsOf(model: tfl.LayersModel, p: Preprocessing): number[][] {
  const px = 144;
  const faces = Array.from({ length: ds.count }, (_, i) => ds.images.subarray(i * px, (i + 1) * px));
  const x = facesToInput(faces, p);
  const logits = model.predict(x) as tf.Tensor;
  const rows = logits.arraySync() as number[][];
  tf.dispose([x, logits]);
  return rows;
}

/** softmax(z / T) with plain arithmetic. */
const softmax = (z: number[], t = 1) => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp((v - m) / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

describe('teacherTargets', () => {
  it('blends the one-hot label with the mean softened probabilities of the teachers (plain loops)', async () => {
    const a = teacher(11);
    const b = teacher(23, false, pre(0.5, 0.3)); // each teacher uses its own normalisation
    const out = await teacherTargets([a, b], ds, { weight: 0.6, temperature: 2, batchSize: 7 });
    const za = logitsOf(a, pre(0.3, 0.2));
    const zb = logitsOf(b, pre(0.5, 0.3));
    expect(out.images).toBe(ds.images);
    expect(out.labels).toBe(ds.labels);
    expect(out.softLabels).toHaveLength(ds.count * 3);
    for (let i = 0; i < ds.count; i++) {
      const pa = softmax(za[i]!, 2);
      const pb = softmax(zb[i]!, 2);
      let rowSum = 0;
      for (let c = 0; c < 3; c++) {
        const want = 0.4 * (ds.labels[i] === c ? 1 : 0) + 0.6 * ((pa[c]! + pb[c]!) / 2);
        expect(out.softLabels![i * 3 + c]).toBeCloseTo(want, 5);
        rowSum += out.softLabels![i * 3 + c]!;
      }
      expect(rowSum).toBeCloseTo(1, 5);
    }
    expect(ds.softLabels).toBeUndefined(); // the input is not changed
  });

  it('a softmax-ending teacher at temperature T gives what its logits would (p^(1/T) renormalised)', async () => {
    const logits = teacher(31);
    const probs = teacher(31, true);
    const fromLogits = await teacherTargets([logits], ds, { weight: 1, temperature: 3 });
    const fromProbs = await teacherTargets([probs], ds, { weight: 1, temperature: 3 });
    for (let k = 0; k < ds.count * 3; k++) {
      expect(fromProbs.softLabels![k]).toBeCloseTo(fromLogits.softLabels![k]!, 5);
    }
  });

  it('weight 0 keeps the dataset own soft labels; ten crops average the ten softmaxes', async () => {
    const own = new Float32Array(ds.count * 3).map((_, k) => (k % 3 === 0 ? 0.5 : 0.25));
    const kept = await teacherTargets([teacher(3)], { ...ds, softLabels: own }, { weight: 0 });
    expect(Array.from(kept.softLabels!)).toEqual(Array.from(own));

    const model = teacher(41);
    const p = pre(0.3, 0.2);
    const ten = await teacherTargets([model], ds, { weight: 1, tenCrop: true });
    // The ten crops by hand: four corners and the centre of the 12x12 image, and their mirrors.
    const full = tf.tidy(() => {
      const x = tf.tensor4d(
        Float32Array.from(ds.images, (v) => v / 255),
        [ds.count, 12, 12, 1],
      );
      return tf.div(tf.sub(x, p.normalization.mean), p.normalization.std) as tf.Tensor4D;
    });
    const want = new Float64Array(ds.count * 3);
    for (const [y, x] of [
      [0, 0],
      [0, 2],
      [2, 0],
      [2, 2],
      [1, 1],
    ]) {
      for (const mirror of [false, true]) {
        const rows = tf.tidy(() => {
          let crop = tf.slice(full, [0, y!, x!, 0], [-1, 10, 10, -1]);
          if (mirror) crop = tf.reverse(crop, 2);
          return (model.predict(crop) as tf.Tensor).arraySync() as number[][];
        });
        for (const [i, z] of rows.entries()) {
          for (const [c, v] of softmax(z).entries()) want[i * 3 + c]! += v / 10;
        }
      }
    }
    full.dispose();
    for (let k = 0; k < ds.count * 3; k++) expect(ten.softLabels![k]).toBeCloseTo(want[k]!, 5);
  });

  it('reports progress over all teachers', async () => {
    const seen: number[][] = [];
    await teacherTargets([teacher(1), teacher(2)], ds, {
      batchSize: 8,
      onProgress: (done, total) => void seen.push([done, total]),
    });
    expect(seen).toEqual([
      [8, 40],
      [16, 40],
      [20, 40],
      [28, 40],
      [36, 40],
      [40, 40],
    ]);
  });

  it('names the teacher and the fix for classes, image size, preprocessing and options that do not fit', async () => {
    const reordered = teacher(5, false, { ...pre(0.3, 0.2), classNames: [...ds.classNames].reverse() });
    await expect(teacherTargets([reordered], ds)).rejects.toThrow(
      /teacher 0 \(teacher5\) answers.*remapClasses/,
    );
    const big = teacher(6, false, { ...pre(0.3, 0.2), imageSize: 48 });
    await expect(teacherTargets([teacher(7), big], ds)).rejects.toThrow(
      /teacher 1 \(teacher6\) takes 48x48 images/,
    );
    const bare = teacher(8);
    bare.setUserDefinedMetadata({});
    await expect(teacherTargets([bare], ds)).rejects.toThrow(
      /no stored preprocessing; store it with setPreprocessing/,
    );
    await expect(teacherTargets([], ds)).rejects.toThrow(/teachers/);
    await expect(teacherTargets([teacher(9)], ds, { weight: 1.5 })).rejects.toThrow(/weight/);
    await expect(teacherTargets([teacher(9)], ds, { temperature: 0 })).rejects.toThrow(/temperature/);
  });
});
