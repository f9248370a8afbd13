/**
 * Calibration: temperature scaling against a brute-force scan of the NLL, on data whose best
 * temperature is known by construction; ECE against hand-computed bins.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  expectedCalibrationError,
  fitTemperature,
  softmaxWithTemperature,
  temperatureNll,
} from '../../src/models/calibration';
import { predictProbabilities } from '../../src/models/predict';
import { setPreprocessing } from '../../src/models/preprocessing';
import { Random } from '../../src/random';

/** Labels drawn from softmax(z / t0), reported with logits z: the NLL's minimum is near t0. */
function sample(n: number, t0: number, seed: number) {
  const r = new Random(seed);
  const logits: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const z = [r.normal(0, 3), r.normal(0, 3), r.normal(0, 3), r.normal(0, 3)];
    const p = softmaxWithTemperature(z, t0);
    let u = r.next();
    let y = 0;
    while (y < 3 && u > p[y]!) u -= p[y++]!;
    logits.push(z);
    labels.push(y);
  }
  return { logits, labels };
}

describe('fitTemperature', () => {
  it('finds the minimum of the NLL (a brute-force scan agrees) and recovers the true temperature', () => {
    for (const t0 of [0.7, 1, 2.5]) {
      const { logits, labels } = sample(2000, t0, 11);
      const fit = fitTemperature(logits, labels);
      let best = { t: 0, nll: Number.POSITIVE_INFINITY };
      for (let t = 0.3; t <= 5; t += 0.01) {
        const nll = temperatureNll(logits, labels, t);
        if (nll < best.nll) best = { t, nll };
      }
      expect(Math.abs(fit.temperature - best.t)).toBeLessThan(0.011);
      expect(fit.nllAfter).toBeLessThanOrEqual(best.nll + 1e-9);
      expect(fit.nllAfter).toBeLessThanOrEqual(fit.nllBefore);
      expect(fit.temperature).toBeGreaterThan(t0 * 0.85);
      expect(fit.temperature).toBeLessThan(t0 * 1.15);
    }
  });

  it('refuses rows of different lengths, non-finite logits and bad labels, naming them', () => {
    expect(() => fitTemperature([], [])).toThrow(/rows/);
    expect(() => fitTemperature([[1, 2], [1]], [0, 0])).toThrow(/rows\[1\]/);
    expect(() => fitTemperature([[1, Number.NaN]], [0])).toThrow(/rows\[0\]\[1\].*finite/);
    expect(() => fitTemperature([[1, 2]], [2])).toThrow(/labels\[0\]/);
    expect(() => fitTemperature([[1, 2]], [0, 1])).toThrow(/labels/);
  });
});

describe('softmaxWithTemperature', () => {
  it('matches the formula and stays finite for large logits', () => {
    const p = softmaxWithTemperature([1, 2, 3], 2);
    const e = [Math.exp(0.5), Math.exp(1), Math.exp(1.5)];
    const s = e[0]! + e[1]! + e[2]!;
    p.forEach((v, i) => {
      expect(v).toBeCloseTo(e[i]! / s, 12);
    });
    expect(softmaxWithTemperature([1000, 0], 1)).toEqual([1, 0]);
  });
});

describe('expectedCalibrationError', () => {
  it('bins by top probability and weights |accuracy - confidence| by count (hand-computed)', () => {
    // 4 bins. Rows: top 0.9 right, top 0.9 wrong, top 0.6 right, top 0.3 (of 4 classes) wrong.
    const probs = [
      [0.9, 0.1, 0, 0],
      [0.9, 0.1, 0, 0],
      [0.6, 0.4, 0, 0],
      [0.3, 0.25, 0.25, 0.2],
    ];
    const labels = [0, 1, 0, 1];
    const { ece, bins } = expectedCalibrationError(probs, labels, 4);
    expect(bins.map((b) => b.count)).toEqual([0, 1, 1, 2]);
    expect(bins[3]!.confidence).toBeCloseTo(0.9, 12);
    expect(bins[3]!.accuracy).toBe(0.5);
    expect(bins[2]!.accuracy).toBe(1);
    expect(bins[1]!.accuracy).toBe(0);
    // (2/4)|0.5-0.9| + (1/4)|1-0.6| + (1/4)|0-0.3| = 0.2 + 0.1 + 0.075
    expect(ece).toBeCloseTo(0.375, 12);
    // A probability exactly on an edge goes to the lower bin; 1.0 to the last.
    const edges = expectedCalibrationError(
      [
        [0.5, 0.5],
        [1, 0],
      ],
      [0, 0],
      2,
    );
    expect(edges.bins.map((b) => b.count)).toEqual([1, 1]);
  });

  it('is 0 for a perfectly calibrated bin and refuses bad bins', () => {
    const probs = [
      [0.75, 0.25],
      [0.75, 0.25],
      [0.75, 0.25],
      [0.75, 0.25],
    ];
    expect(expectedCalibrationError(probs, [0, 0, 0, 1]).ece).toBeCloseTo(0, 12);
    expect(() => expectedCalibrationError(probs, [0, 0, 0, 1], 0)).toThrow(/bins/);
  });
});

describe('predictProbabilities with a stored temperature', () => {
  const model = (activation: 'linear' | 'softmax') => {
    const input = tfl.input({ shape: [2, 2, 1] });
    const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
    const out = tfl.layers
      .dense({
        units: 3,
        activation,
        kernelInitializer: tfl.initializers.randomNormal({ seed: 4, stddev: 2 }),
      })
      .apply(flat) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: out });
  };
  const x = tf.tensor4d([0.5, -1, 2, 0.3, -0.7, 1.1, 0.2, -2], [2, 2, 2, 1]);
  const pre = { imageSize: 2, cropSize: 2, normalization: { mean: 0, std: 1 }, classNames: ['a', 'b', 'c'] };

  it('gives softmax(logits / T) for logit and softmax models, and the raw softmax on request', () => {
    for (const activation of ['linear', 'softmax'] as const) {
      const m = model(activation);
      const logitModel = model('linear');
      logitModel.setWeights(m.getWeights());
      const z = (logitModel.predict(x) as tf.Tensor2D).arraySync();
      setPreprocessing(m, { ...pre, temperature: 2 });
      const calibrated = predictProbabilities(m, x).arraySync();
      const raw = predictProbabilities(m, x, { calibrated: false }).arraySync();
      z.forEach((row, i) => {
        softmaxWithTemperature(row, 2).forEach((v, c) => {
          expect(calibrated[i]![c]).toBeCloseTo(v, 5);
        });
        softmaxWithTemperature(row, 1).forEach((v, c) => {
          expect(raw[i]![c]).toBeCloseTo(v, 5);
        });
      });
      m.dispose();
      logitModel.dispose();
    }
  });

  it('refuses a stored temperature that is not a positive number', () => {
    const m = model('linear');
    setPreprocessing(m, { ...pre, temperature: 0 });
    expect(() => predictProbabilities(m, x)).toThrow(/temperature is 0.*calibrated: false/);
    expect(() => predictProbabilities(m, x, { calibrated: false })).not.toThrow();
    m.dispose();
  });
});
