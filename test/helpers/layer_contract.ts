/**
 * The layer contract (an analogue of Keras's `run_layer_test`) and shared checks for layer tests:
 * output shapes (symbolic and concrete), weight counts, config round trips, in-memory save/load,
 * `training` forwarding, no leaked tensors, one training step; plus a finite-difference gradient
 * check and closeness assertions.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect, it } from 'vitest';
import { isAttentionLayer } from '../../src/layers/attention_maps';

type Layer = tfl.layers.Layer;

/** What {@link layerContract} checks for one layer configuration. */
export interface LayerContractSpec {
  /** A fresh layer; `extra` carries tfjs layer args such as `name` or `inputShape`. */
  create: (extra?: Record<string, unknown>) => Layer;
  /** Input shape without the batch dimension. */
  inputShape: number[];
  /** Expected output shape without the batch dimension. Defaults to `inputShape`. */
  outputShape?: number[];
  /** Batch size of the concrete checks. Defaults to 2. */
  batch?: number;
  /** Expected number of trainable / non-trainable weight tensors (unchecked when omitted). */
  trainableWeights?: number;
  nonTrainableWeights?: number;
  /** Expected trainable + non-trainable parameter count (unchecked when omitted). */
  params?: number;
  /** Whether the layer behaves differently when `training` (BatchNorm). */
  trainingDependent?: boolean;
  /** Expected `computeAttention` map shapes, for attention layers (batch included). */
  mapShapes?: Record<string, number[]>;
}

/** In-memory save (through tfjs's real serialisation, including snake_casing) and load. */
export async function saveAndLoad(
  model: tfl.LayersModel,
): Promise<{ artifacts: tf.io.ModelArtifacts; loaded: tfl.LayersModel }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const copy: tf.io.ModelArtifacts = JSON.parse(JSON.stringify({ ...artifacts!, weightData: undefined }));
  copy.weightData = artifacts!.weightData;
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(copy));
  return { artifacts: artifacts!, loaded };
}

/** A functional model `input -> layer -> output`. */
export function wrapInModel(layer: Layer, inputShape: number[]): tfl.LayersModel {
  const input = tfl.input({ shape: inputShape });
  return tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
}

/** Asserts `actual` matches `expected` elementwise within `atol + rtol * |expected|`; reports the worst. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-5,
  atol = 1e-6,
): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i]! - expected[i]!) - (atol + rtol * Math.abs(expected[i]!));
    if (!(excess <= worst)) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      worstAt = i;
    }
  }
  if (worstAt >= 0) {
    expect.fail(
      `element ${worstAt}: got ${actual[worstAt]}, expected ${expected[worstAt]} (rtol ${rtol}, atol ${atol})`,
    );
  }
}

/** The largest `|a - b| / max |b|` (a relative error normalised by the reference's scale). */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    err = Math.max(err, Math.abs(actual[i]! - expected[i]!));
  }
  return err / scale;
}

/** Options of {@link checkGradients}. */
export interface GradientCheckOptions {
  /** Call with `training: true`. Defaults to false. */
  training?: boolean;
  /** Finite-difference step. Defaults to 1e-2 (float32). */
  eps?: number;
  /** Coordinates checked per tensor (all if fewer). Defaults to 24. */
  samples?: number;
  /** Elementwise tolerance `atol + rtol * max(|numeric|, |analytic|)`. Defaults 2e-3, 3e-2. */
  atol?: number;
  rtol?: number;
  /** Bound on `||numeric - analytic|| / ||analytic||` over all sampled coordinates. Defaults to 2e-3. */
  relL2?: number;
}

/**
 * Compares `tf.variableGrads` with central finite differences of `loss = sum(layer(x) * r)`
 * (fixed random `r`), with respect to the input and to every trainable weight. Returns the
 * relative L2 error per tensor (input first) for reporting.
 */
export function checkGradients(layer: Layer, x: tf.Tensor, opts: GradientCheckOptions = {}): number[] {
  const { training = false, eps = 1e-2, samples = 24, atol = 2e-3, rtol = 3e-2, relL2 = 2e-3 } = opts;
  const kwargs = { training };
  tf.dispose(layer.apply(x, kwargs) as tf.Tensor); // build
  const xVar = tf.variable(x.clone(), true);
  const weights = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const r = tf.randomNormal(x.shape, 0, 1, 'float32', 99);
  const lossFn = (): tf.Scalar => tf.sum(tf.mul(layer.apply(xVar, kwargs) as tf.Tensor, r));
  const { grads } = tf.variableGrads(lossFn, [xVar, ...weights]);
  const vars = [xVar, ...weights];
  const names = ['input', ...layer.trainableWeights.map((w) => w.originalName)];
  const errors: number[] = [];
  vars.forEach((v, k) => {
    const analytic = grads[v.name]!.dataSync();
    const base = v.dataSync().slice();
    const step = Math.max(1, Math.floor(base.length / samples));
    let num2 = 0;
    let den2 = 0;
    for (let i = 0; i < base.length; i += step) {
      const evalAt = (delta: number): number => {
        const values = base.slice();
        values[i] = base[i]! + delta;
        tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
        return tf.tidy(() => lossFn().dataSync()[0]!);
      };
      const numeric = (evalAt(eps) - evalAt(-eps)) / (2 * eps);
      const a = analytic[i]!;
      const tol = atol + rtol * Math.max(Math.abs(numeric), Math.abs(a));
      if (!(Math.abs(numeric - a) <= tol)) {
        expect.fail(`d loss / d ${names[k]}[${i}]: numeric ${numeric}, analytic ${a}`);
      }
      num2 += (numeric - a) ** 2;
      den2 += a ** 2;
    }
    tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
    const rel = Math.sqrt(num2 / Math.max(den2, 1e-12));
    if (den2 > 1e-10) expect(rel, `relative L2 error of d loss / d ${names[k]}`).toBeLessThan(relL2);
    errors.push(rel);
  });
  tf.dispose([xVar, r, ...Object.values(grads)]);
  return errors;
}

/**
 * Registers the contract tests (vitest `it`s) for one layer configuration in the current
 * `describe`. Run it for every registry entry with `describe.each(listAttention())`.
 */
export function layerContract(spec: LayerContractSpec): void {
  const batch = spec.batch ?? 2;
  const inShape = spec.inputShape;
  const outShape = spec.outputShape ?? inShape;
  const sample = (seed: number, n = batch) => tf.randomNormal([n, ...inShape], 0, 1, 'float32', seed);

  it('has symbolic and concrete output shapes matching computeOutputShape', () => {
    const layer = spec.create();
    const sym = layer.apply(tfl.input({ shape: inShape })) as tfl.SymbolicTensor;
    expect(sym.shape).toEqual([null, ...outShape]);
    expect(layer.computeOutputShape([null, ...inShape])).toEqual([null, ...outShape]);
    const x = sample(1);
    const y = layer.apply(x) as tf.Tensor;
    expect(y.shape).toEqual([batch, ...outShape]);
    expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, y]);
  });

  it('creates the expected weights, uniquely named', () => {
    const model = wrapInModel(spec.create(), inShape);
    const layer = model.layers[1]!;
    if (spec.trainableWeights !== undefined)
      expect(layer.trainableWeights).toHaveLength(spec.trainableWeights);
    if (spec.nonTrainableWeights !== undefined) {
      expect(layer.nonTrainableWeights).toHaveLength(spec.nonTrainableWeights);
    }
    if (spec.params !== undefined) expect(layer.countParams()).toBe(spec.params);
    const names = model.weights.map((w) => w.originalName);
    expect(new Set(names).size).toBe(names.length);
    expect(layer.getWeights()).toHaveLength(layer.weights.length);
    model.dispose();
  });

  it('round-trips getConfig -> fromConfig -> getConfig', () => {
    const layer = spec.create({ name: 'contract_layer' });
    const config = layer.getConfig();
    const cls = tf.serialization.SerializationMap.getMap().classNameMap[layer.getClassName()]!;
    expect(cls, `${layer.getClassName()} is registered`).toBeDefined();
    const copy = cls[1](cls[0], config) as Layer;
    expect(copy.getClassName()).toBe(layer.getClassName());
    expect(copy.getConfig()).toEqual(config);
  });

  it('saves and loads (snake_cased JSON) with the same config, unique weight names and identical predictions', async () => {
    const model = wrapInModel(spec.create(), inShape);
    // Make BatchNorm moving statistics (if any) non-trivial first.
    tf.dispose(model.layers[1]!.apply(sample(2, 4), { training: true }) as tf.Tensor);
    const { artifacts, loaded } = await saveAndLoad(model);
    const specs = artifacts.weightSpecs!.map((w) => w.name);
    expect(new Set(specs).size).toBe(specs.length);
    expect(specs).toHaveLength(model.weights.length);
    expect(loaded.layers[1]!.getClassName()).toBe(model.layers[1]!.getClassName());
    expect(loaded.layers[1]!.getConfig()).toEqual(model.layers[1]!.getConfig());
    const x = sample(3);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it('works in tf.sequential and eagerly, giving the same result as in a functional model', () => {
    const seq = tfl.sequential({ layers: [spec.create({ inputShape: inShape })] });
    const x = sample(4);
    const viaSeq = seq.predict(x) as tf.Tensor;
    const eager = seq.layers[0]!.apply(x) as tf.Tensor;
    const viaModel = tfl.model({ inputs: seq.inputs, outputs: seq.outputs }).predict(x) as tf.Tensor;
    expect(viaSeq.shape).toEqual([batch, ...outShape]);
    expect(Array.from(eager.dataSync())).toEqual(Array.from(viaSeq.dataSync()));
    expect(Array.from(viaModel.dataSync())).toEqual(Array.from(viaSeq.dataSync()));
    tf.dispose([x, viaSeq, eager, viaModel]);
    seq.dispose();
  });

  it('forwards `training` (batch statistics only when training)', () => {
    const layer = spec.create();
    const x = sample(5, 4);
    const inference = layer.apply(x, { training: false }) as tf.Tensor;
    const before = layer.getWeights().map((w) => Array.from(w.dataSync()));
    const again = layer.apply(x) as tf.Tensor;
    expect(Array.from(again.dataSync())).toEqual(Array.from(inference.dataSync()));
    expect(layer.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    const training = layer.apply(x, { training: true }) as tf.Tensor;
    const after = layer.getWeights().map((w) => Array.from(w.dataSync()));
    const diff = maxRelativeError(training.dataSync(), inference.dataSync());
    if (spec.trainingDependent) {
      expect(diff).toBeGreaterThan(1e-4);
      expect(after).not.toEqual(before);
    } else {
      expect(diff).toBe(0);
      expect(after).toEqual(before);
    }
    tf.dispose([x, inference, again, training]);
  });

  it('does not leak tensors over repeated calls (inference, training, predict, maps)', () => {
    const model = wrapInModel(spec.create(), inShape);
    const layer = model.layers[1]!;
    const x = sample(6);
    const run = () => {
      tf.dispose(model.predict(x) as tf.Tensor);
      tf.dispose(layer.apply(x, { training: true }) as tf.Tensor);
      tf.dispose(layer.apply(x, { training: false }) as tf.Tensor);
      if (isAttentionLayer(layer)) tf.dispose(layer.computeAttention(x));
    };
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it('trains for a step with model.fit (all trainable weights move, loss finite)', async () => {
    const model = wrapInModel(spec.create(), inShape);
    model.compile({ optimizer: tf.train.sgd(0.5), loss: 'meanSquaredError' });
    const x = sample(7, 4);
    const y = tf.randomNormal([4, ...outShape], 0, 1, 'float32', 8);
    const before = model.layers[1]!.trainableWeights.map((w) => Array.from(w.read().dataSync()));
    const history = await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    expect(Number.isFinite(history.history.loss![0] as number)).toBe(true);
    const after = model.layers[1]!.trainableWeights.map((w) => Array.from(w.read().dataSync()));
    for (const [i, w] of after.entries()) expect(w, `trainable weight ${i} moved`).not.toEqual(before[i]);
    tf.dispose([x, y]);
    model.dispose();
  });

  if (spec.mapShapes) {
    const mapShapes = spec.mapShapes;
    it('exposes attention maps whose product with the input is the output; capture matches', () => {
      const layer = spec.create();
      if (!isAttentionLayer(layer)) throw new Error('not an attention layer');
      const x = sample(9);
      const maps = layer.computeAttention(x);
      expect(Object.fromEntries(Object.entries(maps).map(([k, m]) => [k, m.shape]))).toEqual(mapShapes);
      for (const m of Object.values(maps)) {
        const v = m.dataSync();
        expect(v.every((e) => e > 0 && e < 1)).toBe(true);
      }
      const y = layer.apply(x) as tf.Tensor;
      const product = tf.tidy(() => Object.values(maps).reduce((acc: tf.Tensor, m) => tf.mul(acc, m), x));
      expectClose(product.dataSync(), y.dataSync(), 1e-6, 1e-7);
      const before = tf.memory().numTensors;
      layer.captureMaps = true;
      tf.dispose(layer.apply(x) as tf.Tensor);
      const captured = layer.takeCapturedMaps()!;
      expect(Object.keys(captured).sort()).toEqual(Object.keys(maps).sort());
      for (const k of Object.keys(maps))
        expect(Array.from(captured[k]!.dataSync())).toEqual(Array.from(maps[k]!.dataSync()));
      tf.dispose(captured);
      tf.dispose(layer.apply(x) as tf.Tensor); // kept until capture is turned off
      layer.captureMaps = false;
      expect(layer.takeCapturedMaps()).toBeNull();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, y, product, maps]);
    });
  }
}
