/**
 * The fer-cbam side of `npm run bench`: one process per backend and thread count, so that the wasm
 * thread pool is set once at start (tfjs cannot resize it) and the orchestrator (bench/run.ts) can
 * alternate it with the PyTorch worker (bench/torch_speed.py --serve) measurement by measurement.
 *
 *   tsx bench/step_worker.ts --backend wasm --threads 1 [--kernels native|direct|xnnpack] [--xnnpack-threads auto|N]
 *
 * Reads one JSON request per line on stdin and answers one JSON line on stdout (logs go to stderr):
 * - `{ op: 'step', model, batch, mode: 'train' | 'forward', steps, warmup }`: a bare step
 *   (src/diagnostics: `trainingStep` is tf.variableGrads + fer-cbam's SGD, `forwardStep` a predict);
 *   answers `{ imgPerSec, msPerStep, cpuMsPerStep }` (CPU time of this whole process).
 * - `{ op: 'loop', model, batch, batches, data, workers }`: fer-cbam's whole `train()` loop (batching, random
 *   crops and flips, normalisation, loss, metrics, callbacks) for one epoch of `batch * batches`
 *   FER2013 Training images (synthetic faces when `data` is absent), timed from the end of the first
 *   batch to the end of the last one (steady state, without set-up), and the bare training step on the
 *   same network and batch right after, in the same process. `workers` is `train()`'s data-parallel
 *   gradient workers (each a worker_thread with one wasm thread).
 * - `{ op: 'evaluate', model, batch, data, workers }`: `evaluate()` (centre crops) over 2,048
 *   images with `workers` worker threads (after a warm-up that starts them), as
 *   images per second including the workers' start-up.
 * - `{ op: 'profile', model, batch }`: the slowest kernels of one training step.
 * Models are built once per name (through the preset registry) and reused by later requests.
 */
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type BackendName, setupWasm, useBackend, type WasmSetupOptions } from '../src/backends';
import {
  type FaceDataset,
  loadFer2013,
  subsetDataset,
  syntheticExpressions,
  usageIndices,
} from '../src/data';
import { forwardStep, profileKernels, timeSteps, trainingStep } from '../src/diagnostics';
import { createModel } from '../src/models';
import { evaluate, train } from '../src/train';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string' },
    /**
     * `xnnpack`: wasm without fer-cbam's native kernels (registerWasmTrainingKernels' nativeKernels);
     * `direct`: with them but without Winograd (its `winograd` option).
     */
    kernels: { type: 'string', default: 'native' },
    /** XNNPACK's share of the threads (setupWasm's xnnpackThreads): auto or a number. */
    'xnnpack-threads': { type: 'string', default: 'auto' },
  },
});

export interface StepRequest {
  op: 'step' | 'loop' | 'evaluate' | 'profile';
  model: string;
  batch: number;
  mode?: 'train' | 'forward';
  steps?: number;
  warmup?: number;
  batches?: number;
  data?: string;
  /** `train()`'s data-parallel gradient workers (op 'loop'). */
  workers?: number;
}

const threads = args.threads === undefined ? 'auto' : Number(args.threads);
tf.env().set('PROD', true);
if (args.kernels !== 'native' && args.kernels !== 'xnnpack' && args.kernels !== 'direct') {
  throw new RangeError(`step_worker: --kernels takes native, direct or xnnpack, not "${args.kernels}"`);
}
const xnnpackThreads = args['xnnpack-threads'] === 'auto' ? 'auto' : Number(args['xnnpack-threads']);
const wasmOptions: WasmSetupOptions = {
  threads,
  xnnpackThreads,
  trainingKernels: { nativeKernels: args.kernels !== 'xnnpack', winograd: args.kernels === 'native' },
};
let threadCount: number | null = null;
let backend: string;
if (args.backend === 'wasm') {
  threadCount = (await setupWasm(wasmOptions)).threads;
  backend = 'wasm';
} else {
  backend = await useBackend(args.backend as BackendName, { wasm: wasmOptions });
}

const models = new Map<string, tfl.LayersModel>();
function model(name: string): tfl.LayersModel {
  let m = models.get(name);
  if (!m) {
    m = createModel(name, { inputShape: [44, 44, 1], numClasses: 7, classifierActivation: 'linear' });
    models.set(name, m);
  }
  return m;
}

function inputs(batch: number): { x: tf.Tensor; y: tf.Tensor } {
  return tf.tidy(() => ({
    x: tf.randomNormal([batch, 44, 44, 1], 0, 1, 'float32', 1),
    y: tf.oneHot(
      tf.tensor1d(
        Array.from({ length: batch }, (_, i) => i % 7),
        'int32',
      ),
      7,
    ),
  }));
}

async function bareStep(r: StepRequest): Promise<Record<string, number>> {
  const { x, y } = inputs(r.batch);
  const m = model(r.model);
  const step = r.mode === 'forward' ? forwardStep(m, x) : trainingStep(m, x, y);
  const t = await timeSteps(step.run, { batch: r.batch, steps: r.steps ?? 3, warmup: r.warmup ?? 1 });
  step.dispose();
  tf.dispose([x, y]);
  return { imgPerSec: t.imgPerSec, msPerStep: t.msPerStep, cpuMsPerStep: t.cpuMsPerStep };
}

let fer2013: { path: string; ds: FaceDataset } | null = null;
async function loopData(
  path: string | undefined,
  images: number,
): Promise<{ ds: FaceDataset; source: string }> {
  if (path && existsSync(path)) {
    if (fer2013?.path !== path) {
      const all = await loadFer2013(path);
      fer2013 = { path, ds: subsetDataset(all, usageIndices(all, 'Training')) };
    }
    const n = Math.min(images, fer2013.ds.count);
    return {
      ds: subsetDataset(
        fer2013.ds,
        Array.from({ length: n }, (_, i) => i),
      ),
      source: 'fer2013',
    };
  }
  return { ds: syntheticExpressions({ count: images, seed: 1, size: 48 }), source: 'synthetic' };
}

async function trainLoop(r: StepRequest): Promise<Record<string, number | string>> {
  const batches = Math.max(3, r.batches ?? 8);
  const { ds, source } = await loopData(r.data, r.batch * batches);
  const m = model(r.model);
  const stamps: number[] = [];
  let cpuAtFirst: NodeJS.CpuUsage | null = null;
  let cpuAtLast: NodeJS.CpuUsage | null = null;
  await train(
    m,
    { train: ds },
    {
      epochs: 1,
      batchSize: r.batch,
      schedule: 'constant',
      workers: r.workers ?? 0,
      cropSize: 44,
      callbacks: {
        onBatchEnd: () => {
          stamps.push(performance.now());
          if (stamps.length === 1) cpuAtFirst = process.cpuUsage();
          cpuAtLast = process.cpuUsage();
        },
      },
    },
  );
  const steady = stamps.length - 1;
  const loopMs = (stamps.at(-1)! - stamps[0]!) / steady;
  const c0 = cpuAtFirst as unknown as NodeJS.CpuUsage;
  const c1 = cpuAtLast as unknown as NodeJS.CpuUsage;
  const loopCpuMs = (c1.user - c0.user + c1.system - c0.system) / 1000 / steady;
  const bare = await bareStep({ ...r, op: 'step', mode: 'train', steps: Math.min(steady, 5), warmup: 1 });
  return {
    source,
    loopImgPerSec: (1000 * r.batch) / loopMs,
    loopMsPerStep: loopMs,
    loopCpuMsPerStep: loopCpuMs,
    stepImgPerSec: bare.imgPerSec!,
    stepMsPerStep: bare.msPerStep!,
    stepCpuMsPerStep: bare.cpuMsPerStep!,
  };
}

/** `evaluate()` (single centre crop) over `batch * batches` images, with `workers` gradient workers. */
async function evaluateLoop(r: StepRequest): Promise<Record<string, number | string>> {
  // Enough images that starting the workers (part of every evaluate() call) is a small share.
  const { ds, source } = await loopData(r.data, 2048);
  const m = model(r.model);
  await evaluate(m, ds, { batchSize: r.batch, cropSize: 44, workers: r.workers ?? 0, indices: [0] }); // warm-up
  const t0 = performance.now();
  await evaluate(m, ds, { batchSize: r.batch, cropSize: 44, workers: r.workers ?? 0 });
  return { source, evalImgPerSec: (1000 * ds.count) / (performance.now() - t0) };
}

async function handle(r: StepRequest): Promise<Record<string, unknown>> {
  if (r.op === 'step') return bareStep(r);
  if (r.op === 'evaluate') return evaluateLoop(r);
  if (r.op === 'loop') return trainLoop(r);
  if (r.op === 'profile') {
    const { x, y } = inputs(r.batch);
    const step = trainingStep(model(r.model), x, y);
    await step.run();
    const p = await profileKernels(step.run, 12);
    step.dispose();
    tf.dispose([x, y]);
    return { ...p };
  }
  throw new Error(`step_worker: unknown op ${JSON.stringify((r as { op: unknown }).op)}`);
}

process.stdout.write(`${JSON.stringify({ ready: true, backend, threads: threadCount })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    const result = await handle(JSON.parse(line) as StepRequest);
    process.stdout.write(`${JSON.stringify({ ok: true, ...result })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: (error as Error).message })}\n`);
  }
}
