/**
 * WebGPU benchmark for the GPU machine (no Node.js or npm there): bundled with
 * `../shared/device/prepare.sh bench/gpu_entry.ts` and run with the command in docs/backends.md.
 * Also runs here on lavapipe: `npx tsx bench/gpu_entry.ts --quick`.
 *
 * Prints one JSON line per measurement (and writes them to $OUT/gpu_bench.jsonl when OUT is set):
 * - a correctness check of fer-cbam's WebGPU kernels (convolution gradients, BatchNorm moments and
 *   gradient, linearCombination) against the cpu backend;
 * - the time per training step where kernels are negligible (ResNet-18 at width 4 on 8x8, batch 1):
 *   the per-dispatch overhead;
 * - resnetCbam depth 18, placements none and paper, batch 128: training and forward img/s with
 *   fer-cbam's kernels; training with tfjs's stock kernels; submit batching 15 (tfjs default), 64, 256;
 * - WebGPU calls per training step (dispatches, submits, uniform writes, bind groups, readbacks);
 * - the slowest kernels of one training step by GPU time (timestamp queries) when the adapter has them.
 */
import { appendFileSync } from 'node:fs';
import path from 'node:path';
// A used binding: esbuild drops a bare import of this package (its package.json lists no side effects).
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
// Static import so that the bundle contains it; dawn.node is found beside the bundle.
import { create, globals } from 'webgpu';
import { setupWebGPU } from '../src/backends/webgpu';
import {
  registerWebGPUTrainingKernels,
  unregisterWebGPUTrainingKernels,
} from '../src/backends/webgpu_kernels';
// By path, like '../src/backends/webgpu': the bundle then leaves out the wasm and tensorflow backends.
import { forwardStep, profileKernels, timeSteps, trainingStep } from '../src/diagnostics/timing';
import { countWebGPUCalls } from '../src/diagnostics/webgpu_counter';
import { createModel } from '../src/models/model_registry';
import { batchNormGradients, channelMoments } from '../src/ops/batch_norm';
import { linearCombination } from '../src/ops/linear_combination';

const quick = process.argv.includes('--quick');
const batch = quick ? 4 : 128;
const warmup = quick ? 1 : 3;
const trainSteps = quick ? 1 : 10;
const forwardSteps = quick ? 1 : 20;
const outFile = process.env.OUT ? path.join(process.env.OUT, 'gpu_bench.jsonl') : null;
const t0 = performance.now();

function emit(row: Record<string, unknown>): void {
  const line = JSON.stringify({ ...row, t: Math.round((performance.now() - t0) / 1000) });
  console.log(line);
  if (outFile) appendFileSync(outFile, `${line}\n`);
}

Object.assign(globalThis, globals);
(globalThis as { navigator?: unknown }).navigator = { gpu: create([]) };
const { adapter } = await setupWebGPU({ deferredSubmitBatchSize: 64 });
emit({ event: 'adapter', ...adapter, batch, tfjs: tf.version_core, cpuBackend: version_cpu });

// 1. Correctness on this GPU: conv gradients against the cpu backend (small: the cpu backend is slow).
async function valuesOn(backend: string, fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(fn);
  const vals = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(out);
  return vals;
}
/** max |a - b| / max |b|: relative to the reference's scale. */
function relError(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let j = 0; j < b.length; j++) {
    d = Math.max(d, Math.abs(a[j]! - b[j]!));
    s = Math.max(s, Math.abs(b[j]!));
  }
  return d / s;
}
for (const [xs, ws, strides] of [
  [[2, 22, 22, 16], [3, 3, 16, 32], 2],
  [[2, 11, 11, 32], [3, 3, 32, 32], 1],
  [[2, 44, 44, 1], [3, 3, 1, 16], 1],
] as [[number, number, number, number], [number, number, number, number], number][]) {
  const fn = () => {
    const x = tf.randomNormal(xs, 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal(ws, 0, 1, 'float32', 2) as tf.Tensor4D;
    const r = tf.randomNormal(tf.conv2d(x, w, strides, 'same').shape, 0, 1, 'float32', 3);
    return tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, 'same'), r)),
    )([x, w]);
  };
  const cpu = await valuesOn('cpu', fn);
  const gpu = await valuesOn('webgpu', fn);
  const rel = cpu.map((c, i) => relError(gpu[i]!, c));
  emit({ event: 'check', x: xs, filter: ws, strides, relErrDx: rel[0], relErrDw: rel[1] });
}
// fer-cbam's BatchNorm kernels (moments, gradient) and the fused SGD update against the cpu ops.
{
  const shape = [8, 22, 22, 64];
  const fn = () => {
    const xb = tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 4), 2), 3);
    const dy = tf.randomNormal(shape, 0, 1, 'float32', 5);
    const { mean, variance } = channelMoments(xb);
    const g = batchNormGradients(xb, dy, mean, variance, tf.randomNormal([64], 1, 0.2, 'float32', 6), 1e-5);
    const sgd = linearCombination([
      [xb, 0.9],
      [dy, 1],
      [xb, 5e-4],
    ]);
    return [mean, variance, g.dx, g.dgamma, g.dbeta, sgd];
  };
  const cpu = await valuesOn('cpu', fn);
  const gpu = await valuesOn('webgpu', fn);
  const names = ['mean', 'variance', 'dx', 'dgamma', 'dbeta', 'linearCombination'];
  const relErr = Object.fromEntries(cpu.map((c, i) => [names[i]!, relError(gpu[i]!, c)]));
  emit({ event: 'check', kernels: 'batchNorm+linearCombination', shape, relErr });
}
await tf.setBackend('webgpu');

// 2. Throughput.
const x = tf.randomNormal([batch, 44, 44, 1], 0, 1, 'float32', 1);
const y = tf.oneHot(
  tf.tensor1d(
    Array.from({ length: batch }, (_, i) => i % 7),
    'int32',
  ),
  7,
);

async function measure(
  name: 'resnet18' | 'resnet18-cbam',
  label: string,
  modes: ('train' | 'forward')[],
  extra = {},
) {
  const model = createModel(name, { classifierActivation: 'linear' });
  for (const mode of modes) {
    const step = mode === 'train' ? trainingStep(model, x, y) : forwardStep(model, x);
    const steps = mode === 'train' ? trainSteps : forwardSteps;
    const { imgPerSec, msPerStep } = await timeSteps(step.run, { batch, steps, warmup });
    const counter = countWebGPUCalls();
    await step.run();
    const calls = counter.stop();
    step.dispose();
    emit({
      event: 'speed',
      backend: 'webgpu',
      model: name,
      batch,
      mode,
      imgPerSec: Math.round(imgPerSec),
      msPerStep: Math.round(msPerStep),
      variant: label,
      perStep: calls,
      ...extra,
    });
  }
  model.dispose();
}

async function profileTrainingStep(name: 'resnet18' | 'resnet18-cbam'): Promise<void> {
  const model = createModel(name, { classifierActivation: 'linear' });
  const train = trainingStep(model, x, y);
  await train.run(); // warm-up: compiles the shaders
  const p = await profileKernels(train.run, 15);
  emit({
    event: 'profile',
    model: name,
    kernels: p.kernels,
    kernelMs: Math.round(p.kernelMs),
    top: p.top.map(({ name, n, ms }) => ({ name, n, ms: Math.round(ms * 10) / 10 })),
  });
  train.dispose();
  model.dispose();
}

// Overhead per step with negligible kernel time: resnet18w4-cbam on 8x8 inputs, batch 1.
{
  const tiny = createModel('resnet18w4-cbam', { inputShape: [8, 8, 1], classifierActivation: 'linear' });
  const xt = tf.randomNormal([1, 8, 8, 1]);
  const step = trainingStep(tiny, xt, tf.slice(y, [0, 0], [1, 7]));
  const { msPerStep } = await timeSteps(step.run, { batch: 1, steps: quick ? 5 : 50, warmup: 2 });
  const counter = countWebGPUCalls();
  await step.run();
  emit({
    event: 'overhead',
    model: 'resnet18w4-cbam, 8x8, batch 1',
    msPerStep,
    perStep: counter.stop(),
  });
  step.dispose();
  tiny.dispose();
}

await measure('resnet18', 'fer-cbam kernels, submit 64', ['train', 'forward']);
await measure('resnet18-cbam', 'fer-cbam kernels, submit 64', ['train', 'forward']);
for (const batchSize of [15, 256]) {
  tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', batchSize);
  await measure('resnet18', `fer-cbam kernels, submit ${batchSize}`, ['train']);
}
tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 64);
registerWebGPUTrainingKernels({ replaceConv2DBackpropInput: true });
await measure('resnet18', 'fer-cbam kernels + stride-phase Conv2DBackpropInput', ['train']);
registerWebGPUTrainingKernels();
await profileTrainingStep('resnet18');
unregisterWebGPUTrainingKernels();
// Without any fer-cbam WebGPU kernel (tfjs's own, and fer-cbam's BatchNorm and SGD as tfjs ops).
await measure('resnet18', 'tfjs stock kernels', ['train']);
emit({ event: 'done' });
