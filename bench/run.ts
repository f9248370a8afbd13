/**
 * `npm run bench -- [--backends wasm,webgpu,tensorflow,cpu] [--batch 16] [--steps 3] [--warmup 1]
 *   [--models resnet18-paper,resnet18-none] [--modes train,forward] [--threads N] [--json FILE]
 *   [--torch auto|off] [--python PATH] [--data PATH|off] [--profile]`
 *
 * Times forward passes and training steps of resnetCbam (44x44x1 input, 7 classes) per backend after
 * warm-up, runs the PyTorch reference (bench/torch_speed.py) side by side in the same run when a python3
 * with torch is found, times the FER2013 loader (bench/fer2013_loader.ts, when the data is there), prints a
 * table with tfjs/PyTorch ratios and writes JSON rows
 * `{ backend, model, batch, mode: 'train' | 'forward', imgPerSec, ... }`.
 * A training step is a plain tfjs optimizer step (tf.variableGrads + momentum SGD), so it measures the
 * backend, not fer-cbam's training loop; the steps and their timing are src/backends/timing.ts. Numbers are benchmarks; nothing here is asserted by tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  type BackendName,
  countWebGPUCalls,
  detectBackends,
  forwardStep,
  type ModelStep,
  profileKernels,
  timeSteps,
  trainingStep,
  useBackend,
} from '../src/backends';
import { resnetCbam } from '../src/models';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

/** One measurement. */
export interface BenchRow {
  backend: string;
  model: string;
  batch: number;
  mode: 'train' | 'forward' | 'load';
  imgPerSec: number;
  msPerStep: number;
  /** CPU time of the whole process per step (all threads): robust to other load on the machine. */
  cpuMsPerStep: number;
  steps: number;
  [extra: string]: unknown;
}

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string' },
    batch: { type: 'string', default: '16' },
    steps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    models: { type: 'string', default: 'resnet18-paper,resnet18-none' },
    modes: { type: 'string', default: 'train,forward' },
    threads: { type: 'string' },
    json: { type: 'string' },
    torch: { type: 'string', default: 'auto' },
    python: { type: 'string' },
    data: { type: 'string' },
    profile: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

if (args.help) {
  console.log(
    [
      'npm run bench -- [options]',
      '  --backends LIST   comma-separated: wasm,webgpu,tensorflow,cpu (default: every available one but cpu)',
      '  --batch N         images per step (default 16)',
      '  --steps N         timed steps per measurement (default 3), after --warmup N untimed (default 1)',
      '  --models LIST     resnet<depth>-<paper|none|everyBlock> (default resnet18-paper,resnet18-none)',
      '  --modes LIST      train,forward (default both)',
      '  --threads N       wasm and PyTorch threads (default: all cores)',
      '  --json FILE       write the rows as a JSON array',
      '  --torch auto|off  run bench/torch_speed.py side by side (default auto: when python3 has torch)',
      '  --python PATH     python with torch (default /usr/bin/python3, then python3)',
      '  --data PATH|off   fer2013.csv(.gz) for the loader benchmark (default ../shared/data/fer2013/...)',
      '  --profile         print the slowest kernels of one training step per backend',
    ].join('\n'),
  );
  process.exit(0);
}

function positiveInt(value: string | undefined, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`bench: expected --${name} to be a positive integer, got ${value}`);
  return n;
}

const batch = positiveInt(args.batch, 'batch');
const steps = positiveInt(args.steps, 'steps');
const warmup = Number(args.warmup);
const modes = args.modes!.split(',') as ('train' | 'forward')[];
const models = args.models!.split(',').map((m) => {
  const match = /^resnet(\d+)-(paper|none|everyBlock)$/.exec(m.trim());
  if (!match) throw new RangeError(`bench: expected models like resnet18-paper, got ${m}`);
  return { name: m.trim(), depth: Number(match[1]), placement: match[2] as 'paper' | 'none' | 'everyBlock' };
});

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function inputs(): { x: tf.Tensor; y: tf.Tensor } {
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

/** Prints the slowest kernels of one (warmed-up) training step. */
async function profileStep(train: ModelStep): Promise<void> {
  const p = await profileKernels(train.run, 12);
  log(`  kernels in one training step: ${p.kernels}, ${p.kernelMs.toFixed(0)} ms in kernels`);
  for (const e of p.top)
    log(`    ${e.name.padEnd(30)} ${String(e.n).padStart(5)} ${e.ms.toFixed(1).padStart(9)} ms`);
}

async function benchBackend(backend: string): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const threads = args.threads != null ? positiveInt(args.threads, 'threads') : 'auto';
  try {
    await useBackend(backend as BackendName, { wasm: { threads } });
  } catch (err) {
    log(`${backend}: skipped (${(err as Error).message})`);
    return rows;
  }
  const extra: Record<string, unknown> = {};
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    extra.threads = wasm.getThreadsCount();
  }
  log(`${backend}: ready${extra.threads != null ? ` (${extra.threads} threads)` : ''}`);
  const { x, y } = inputs();
  for (const m of models) {
    const model = resnetCbam({ depth: m.depth, placement: m.placement, classifierActivation: 'linear' });
    for (const mode of modes) {
      const rowExtra: Record<string, unknown> = { ...extra };
      const step: ModelStep = mode === 'forward' ? forwardStep(model, x) : trainingStep(model, x, y);
      const { imgPerSec, msPerStep, cpuMsPerStep } = await timeSteps(step.run, { batch, steps, warmup });
      const result = { imgPerSec, msPerStep, cpuMsPerStep };
      if (mode === 'train') {
        if (backend === 'webgpu') {
          const counter = countWebGPUCalls();
          await step.run();
          Object.assign(rowExtra, { perStep: counter.stop() });
        }
        if (args.profile) await profileStep(step);
      }
      step.dispose();
      const row: BenchRow = { backend, model: m.name, batch, mode, ...result, steps, ...rowExtra };
      log(
        `  ${m.name} ${mode}: ${result.imgPerSec.toFixed(2)} img/s (${result.msPerStep.toFixed(0)} ms/step)`,
      );
      rows.push(row);
    }
    model.dispose();
  }
  tf.dispose([x, y]);
  return rows;
}

function findPython(): string | null {
  const candidates = args.python ? [args.python] : ['/usr/bin/python3', 'python3'];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

function benchTorch(): BenchRow[] {
  if (args.torch === 'off') return [];
  const python = findPython();
  if (python == null) {
    log('pytorch: skipped (no python3 with torch; Debian: apt-get install python3-torch)');
    return [];
  }
  const variants = [...new Set(models.filter((m) => m.depth === 18).map((m) => m.placement))];
  if (variants.length === 0) return [];
  log(`pytorch: ${python}, ${os.cpus().length} cores`);
  const out = execFileSync(
    python,
    [
      path.join(here, 'torch_speed.py'),
      '--variants',
      variants.join(','),
      '--batch',
      String(batch),
      '--steps',
      String(steps),
      '--warmup',
      String(Math.max(1, warmup)),
      '--threads',
      String(args.threads != null ? positiveInt(args.threads, 'threads') : os.cpus().length),
      '--modes',
      modes.join(','),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 60 * 60_000 },
  );
  const rows = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as BenchRow);
  for (const r of rows)
    log(`  ${r.model} ${r.mode}: ${r.imgPerSec.toFixed(2)} img/s (${r.msPerStep.toFixed(0)} ms/step)`);
  return rows;
}

/** loadFer2013 throughput through the data helper's bench/fer2013_loader.ts, with the pandas baseline. */
async function benchLoader(): Promise<Record<string, unknown> | null> {
  if (args.data === 'off') return null;
  const data = path.resolve(
    args.data ?? path.join(root, '..', 'shared', 'data', 'fer2013', 'fer2013.csv.gz'),
  );
  if (!existsSync(data)) {
    log(`fer2013 loader: skipped (no ${data})`);
    return null;
  }
  const loader = await import('./fer2013_loader');
  log(`fer2013 loader: ${data}`);
  const ours = await loader.benchFer2013Loader(data, 2);
  const result: Record<string, unknown> = {
    rows: ours.rows,
    seconds: ours.seconds,
    rowsPerSec: Math.round(ours.rowsPerSec),
    fileMBPerSec: Number(ours.fileMBPerSec.toFixed(1)),
  };
  if (args.torch !== 'off') {
    const pandas = await loader.benchPandasBaseline(data, 1, args.python ?? '/usr/bin/python3');
    if ('unavailable' in pandas) {
      result.pandas = `not run (${pandas.unavailable})`;
    } else {
      result.pandasSeconds = pandas.seconds;
      result.speedupVsPandas = Number((pandas.seconds / ours.seconds).toFixed(2));
    }
  }
  log(`  ${JSON.stringify(result)}`);
  return result;
}

function printTable(rows: BenchRow[]): void {
  const torch = new Map(
    rows.filter((r) => r.backend === 'pytorch').map((r) => [`${r.model}/${r.mode}/${r.batch}`, r.imgPerSec]),
  );
  const torchCpu = new Map(
    rows
      .filter((r) => r.backend === 'pytorch')
      .map((r) => [`${r.model}/${r.mode}/${r.batch}`, r.cpuMsPerStep]),
  );
  const header = [
    'backend',
    'model',
    'batch',
    'mode',
    'img/s',
    'ms/step',
    'CPU ms/step',
    'vs PyTorch',
    'by CPU time',
  ];
  const body = rows.map((r) => {
    const key = `${r.model}/${r.mode}/${r.batch}`;
    const ref = torch.get(key);
    const refCpu = torchCpu.get(key);
    const mine = r.backend !== 'pytorch';
    const ratio = mine && ref ? `${((100 * r.imgPerSec) / ref).toFixed(1)} %` : '';
    // Same work per step, so the ratio of CPU times is the throughput ratio per core-second.
    const cpuRatio =
      mine && refCpu && r.cpuMsPerStep ? `${((100 * refCpu) / r.cpuMsPerStep).toFixed(1)} %` : '';
    return [
      r.backend,
      r.model,
      String(r.batch),
      r.mode,
      r.imgPerSec.toFixed(2),
      r.msPerStep.toFixed(0),
      r.cpuMsPerStep != null ? r.cpuMsPerStep.toFixed(0) : '',
      ratio,
      cpuRatio,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const b of body) console.log(line(b));
}

async function main(): Promise<void> {
  let backends: string[];
  if (args.backends) {
    backends = args.backends.split(',').map((b) => b.trim());
  } else {
    const found = await detectBackends();
    backends = found
      .filter((b) => b.available && b.name !== 'cpu' && !(b.name === 'webgpu' && b.adapter?.software))
      .map((b) => b.name);
  }
  log(`bench: backends ${backends.join(', ')}; batch ${batch}; ${warmup} warm-up + ${steps} timed steps`);
  const rows: BenchRow[] = [];
  for (const b of backends) rows.push(...(await benchBackend(b)));
  rows.push(...benchTorch());
  const loader = await benchLoader();
  printTable(rows);
  if (loader != null) {
    console.log(`\nloadFer2013: ${JSON.stringify(loader)}`);
    // As a row too: images loaded (decoded into tensors-to-be) per second.
    rows.push({
      backend: 'node',
      model: 'loadFer2013',
      batch: loader.rows as number,
      mode: 'load',
      imgPerSec: loader.rowsPerSec as number,
      msPerStep: (loader.seconds as number) * 1000,
      cpuMsPerStep: Number.NaN,
      steps: 1,
      ...loader,
    });
  }
  if (args.json) {
    mkdirSync(path.dirname(path.resolve(args.json)), { recursive: true });
    writeFileSync(args.json, `${JSON.stringify(rows, null, 2)}\n`);
    log(`bench: wrote ${rows.length} rows to ${args.json}`);
  }
}

await main();
