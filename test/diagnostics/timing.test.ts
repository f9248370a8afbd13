import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { forwardStep, profileKernels, timeSteps, trainingStep } from '../../src/diagnostics/timing';
import { resnetCbam } from '../../src/models/resnet_cbam';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A linear classifier 4 -> 3 without bias: one weight tensor, so an update can be computed by hand. */
function linear(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [4], units: 3, useBias: false, kernelInitializer: 'glorotNormal' }),
    ],
  });
}

function batch(n: number, features: number[], classes: number): { x: tf.Tensor; y: tf.Tensor } {
  return tf.tidy(() => ({
    x: tf.randomNormal([n, ...features], 0, 1, 'float32', 7),
    y: tf.oneHot(
      tf.tensor1d(
        Array.from({ length: n }, (_, i) => i % classes),
        'int32',
      ),
      classes,
    ),
  }));
}

describe('timeSteps', () => {
  it('calls the step warmup + steps times and times only the timed ones', async () => {
    let calls = 0;
    const t = await timeSteps(
      async () => {
        calls++;
        // The warm-up step is slow; the timed ones take ~20 ms each.
        await sleep(calls === 1 ? 500 : 20);
      },
      { batch: 8, steps: 3, warmup: 1 },
    );
    expect(calls).toBe(4);
    expect(t.steps).toBe(3);
    expect(t.seconds).toBeGreaterThanOrEqual(3 * 0.018); // the promises were awaited
    expect(t.seconds).toBeLessThan(0.5); // the warm-up was not timed
    expect(t.imgPerSec).toBeCloseTo((8 * 3) / t.seconds, 6);
    expect(t.msPerStep).toBeCloseTo((1000 * t.seconds) / 3, 6);
    expect(t.imgPerSec * t.msPerStep).toBeCloseTo(8 * 1000, 6);
    expect(Number.isFinite(t.cpuMsPerStep)).toBe(true);
    expect(t.cpuMsPerStep).toBeGreaterThanOrEqual(0);
  });

  it('defaults to one warm-up step and accepts none', async () => {
    let calls = 0;
    await timeSteps(() => calls++, { batch: 1, steps: 2 });
    expect(calls).toBe(3);
    calls = 0;
    await timeSteps(() => calls++, { batch: 1, steps: 2, warmup: 0 });
    expect(calls).toBe(2);
  });

  it('counts process CPU time of busy steps', async () => {
    const t = await timeSteps(
      () => {
        const end = performance.now() + 30;
        while (performance.now() < end) {
          // busy
        }
      },
      { batch: 1, steps: 2, warmup: 0 },
    );
    // 30 ms of wall time per step spent spinning on this thread: most of it is CPU time.
    expect(t.msPerStep).toBeGreaterThanOrEqual(29);
    expect(t.cpuMsPerStep).toBeGreaterThan(10);
  });

  it('rejects bad counts before running the step', async () => {
    let calls = 0;
    const step = () => calls++;
    await expect(timeSteps(step, { batch: 1, steps: 0 })).rejects.toThrow(
      'timeSteps: expected `steps` to be a positive integer, but got 0.',
    );
    await expect(timeSteps(step, { batch: 1.5, steps: 1 })).rejects.toThrow(RangeError);
    await expect(timeSteps(step, { batch: 1, steps: 1, warmup: -1 })).rejects.toThrow(
      'timeSteps: expected `warmup` to be a non-negative integer, but got -1.',
    );
    expect(calls).toBe(0);
  });
});

describe('trainingStep', () => {
  it('is one momentum SGD step on softmax cross-entropy', async () => {
    const model = linear();
    const { x, y } = batch(6, [4], 3);
    const kernel = model.getWeights()[0]!;
    const w0 = kernel.clone();
    const lr = 0.1;
    const momentum = 0.9;
    // The gradient at w0, computed independently of the step.
    const g0 = tf.grad((w: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, tf.matMul(x, w)))(w0);
    const train = trainingStep(model, x, y, { learningRate: lr, momentum });
    await train.run();
    const w1 = model.getWeights()[0]!.clone();
    const maxDiff = (a: tf.Tensor, b: tf.Tensor) =>
      tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
    const first = tf.sub(w0, tf.mul(lr, g0));
    expect(maxDiff(w1, first)).toBeLessThan(1e-6);
    // Second step: the accumulator is momentum * g0 + g1.
    const g1 = tf.grad((w: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, tf.matMul(x, w)))(w1);
    await train.run();
    const expected = tf.sub(w1, tf.mul(lr, tf.add(tf.mul(momentum, g0), g1)));
    const got = model.getWeights()[0]!;
    expect(maxDiff(got, expected)).toBeLessThan(1e-6);
    expect(maxDiff(got, w0)).toBeGreaterThan(1e-3); // it did move
    train.dispose();
    tf.dispose([x, y, w0, g0, first, w1, g1, expected]);
    model.dispose();
  });

  it('leaks no tensors through timeSteps on a small ResNet+CBAM (batch norm in training mode)', async () => {
    const start = tf.memory().numTensors;
    const model = resnetCbam({
      blocks: [1],
      width: 4,
      inputShape: [8, 8, 1],
      numClasses: 3,
      dropout: 0,
      classifierActivation: 'linear',
    });
    const { x, y } = batch(2, [8, 8, 1], 3);
    const before = tf.memory().numTensors;
    const train = trainingStep(model, x, y);
    let calls = 0;
    const run = async () => {
      calls++;
      await train.run();
    };
    const t = await timeSteps(run, { batch: 2, steps: 2, warmup: 1 });
    // The optimizer's velocities (one per weight) exist until dispose; nothing else may remain.
    const slots = tf.memory().numTensors - before;
    expect(slots).toBe(model.trainableWeights.length);
    await run();
    expect(tf.memory().numTensors - before).toBe(slots); // steady state: no growth per step
    train.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(calls).toBe(4);
    expect(t.imgPerSec).toBeCloseTo((2 * 2) / t.seconds, 6);

    const forward = forwardStep(model, x);
    await forward.run();
    // Inference keeps each block's folded conv + BatchNorm weights (src/layers/conv_bn.ts), two
    // tensors per folded convolution, until the model is disposed.
    const folded = tf.memory().numTensors - before;
    expect(folded).toBe(4);
    await timeSteps(forward.run, { batch: 2, steps: 2 });
    forward.dispose();
    expect(tf.memory().numTensors - before).toBe(folded); // steady state: no growth per call
    tf.dispose([x, y]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});

describe('profileKernels', () => {
  it('sums kernel time per name, slowest first, without op entries', async () => {
    const model = linear();
    const { x, y } = batch(6, [4], 3);
    const train = trainingStep(model, x, y);
    await train.run();
    const before = tf.memory().numTensors;
    const p = await profileKernels(train.run, 3);
    expect(tf.memory().numTensors).toBe(before);
    expect(p.top.length).toBe(3);
    expect(p.kernels).toBeGreaterThan(p.top.reduce((s, k) => s + k.n, 0) - 1);
    for (const k of p.top) {
      expect(k.name.endsWith('__op')).toBe(false);
      expect(k.n).toBeGreaterThan(0);
    }
    for (let i = 1; i < p.top.length; i++) expect(p.top[i - 1]!.ms).toBeGreaterThanOrEqual(p.top[i]!.ms);
    expect(p.kernelMs).toBeGreaterThanOrEqual(p.top.reduce((s, k) => s + k.ms, 0) - 1e-9);
    const all = await profileKernels(train.run, 1000);
    // The linear model's forward pass and its gradient are matrix products.
    expect(all.top.find((k) => k.name === 'BatchMatMul')?.n ?? 0).toBeGreaterThanOrEqual(2);
    train.dispose();
    tf.dispose([x, y]);
    model.dispose();
  });
});
