/**
 * `npm run bench -- [options]` (`--help` lists them): training and forward speed of fer-cbam's networks
 * side by side with the PyTorch reference, in one run.
 *
 * Each measurement is a bare step (bench/step_worker.ts: `trainingStep` = tf.variableGrads + fer-cbam's
 * SGD, `forwardStep` = predict) or the PyTorch reference's step (bench/torch_speed.py --serve), on the
 * same network (a preset name such as `resnet10w16-cbam`), batch, input (44x44x1, 7 classes) and thread
 * count. Both sides run as long-lived worker processes (one fer-cbam worker per thread count, since
 * the wasm thread pool is fixed at start) and are called one after the other, never at once,
 * alternating which goes first on every repetition so that drift of the machine (thermal, other load)
 * hits both; the tables report medians over repetitions. CPU time is the whole worker process's (all
 * threads), so "by CPU time" compares work per core-second, and the thread-scaling factor is the wall
 * throughput at N threads over 1 thread on each side.
 *
 * It also times fer-cbam's whole `train()` loop (batching, augmentation, normalisation, metrics,
 * callbacks) on FER2013 images against the bare step on the same network and batch, so the loop's own
 * overhead shows, and the FER2013 loader against pandas. Numbers are benchmarks: nothing here is
 * asserted by tests.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getModelPreset } from '../src/models/model_registry';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

/** One measurement (the JSON rows of `--json`). */
export interface BenchRow {
  /** `fer-cbam` or `pytorch`. */
  side: 'fer-cbam' | 'pytorch';
  backend: string;
  model: string;
  batch: number;
  mode: 'train' | 'forward';
  threads: number | null;
  rep: number;
  imgPerSec: number;
  msPerStep: number;
  /** CPU time of the worker process per step (all threads). */
  cpuMsPerStep: number;
}

const DEFAULT_MODELS = 'resnet10w16,resnet10w16-cbam,resnet10w32-cbam,resnet18w32-cbam';
const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: DEFAULT_MODELS },
    batches: { type: 'string', default: '64' },
    threads: { type: 'string', default: '1,2' },
    modes: { type: 'string', default: 'train,forward' },
    reps: { type: 'string', default: '2' },
    steps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    backends: { type: 'string', default: 'wasm' },
    loop: { type: 'string', default: 'on' },
    'loop-batches': { type: 'string', default: '8' },
    torch: { type: 'string', default: 'auto' },
    python: { type: 'string' },
    data: { type: 'string' },
    profile: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

if (args.help) {
  console.log(
    [
      'npm run bench -- [options]',
      `  --models LIST        preset names, resnet<depth>[w<width>][-<attention>[-every]] (default ${DEFAULT_MODELS})`,
      '  --batches LIST       batch sizes (default 64; the issue table uses 32,64,128)',
      '  --threads LIST       wasm and PyTorch thread counts (default 1,2)',
      '  --modes LIST         train,forward (default both)',
      '  --reps N             repetitions, alternating which side goes first; also of the train()/evaluate() runs (default 2)',
      '  --steps N            timed steps per measurement (default 3), after --warmup N untimed (default 1)',
      "  --backends LIST      fer-cbam backends: wasm, wasm-xnnpack (wasm without fer-cbam's native kernels, for",
      '                       before/after in one run), wasm-direct (native kernels without Winograd), wasm-pool',
      "                       (XNNPACK's pool on every thread, beside the native kernels' helpers), webgpu,",
      '                       tensorflow, cpu (default wasm; threads apply to wasm)',
      "  --loop on|off        time train()'s whole loop against the bare step (default on)",
      '  --loop-batches N     batches of the train() measurement (default 8)',
      '  --torch auto|off     the PyTorch reference side by side (default auto: when python3 has torch)',
      '  --python PATH        python with torch (default /usr/bin/python3, then python3)',
      '  --data PATH|off      fer2013.csv(.gz) for the loop and loader (default ../shared/data/fer2013/fer2013.csv.gz)',
      '  --profile            print the slowest kernels of one training step per model',
      '  --baseline DIR       another checkout of fer-cbam (its own npm install): adds the backend',
      "                       'baseline', its wasm, for before/after in one run",
      '  --json FILE          write every measurement and the summary as JSON',
    ].join('\n'),
  );
  process.exit(0);
}

function positiveInt(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`bench: expected --${name} to hold positive integers, but got "${value}"`);
  }
  return n;
}
const list = (value: string | undefined) =>
  String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const models = list(args.models).map((name) => {
  const o = getModelPreset(name).options; // throws naming the grammar for a bad name
  return {
    name,
    depth: o.depth ?? 18,
    width: o.width ?? 64,
    // The reference has CBAM only: other attention modules are timed on fer-cbam's side alone.
    torchPlacement:
      o.attention === null || o.attention === 'none' || o.placement === 'none'
        ? 'none'
        : o.attention === 'cbam' && (o.placement ?? 'paper') === 'paper'
          ? 'paper'
          : o.attention === 'cbam' && o.placement === 'everyBlock'
            ? 'everyBlock'
            : null,
  };
});
const batches = list(args.batches).map((b) => positiveInt(b, 'batches'));
const threadCounts = list(args.threads).map((t) => positiveInt(t, 'threads'));
const modes = list(args.modes) as ('train' | 'forward')[];
for (const m of modes) {
  if (m !== 'train' && m !== 'forward')
    throw new RangeError(`bench: --modes takes train,forward, not "${m}"`);
}
const reps = positiveInt(String(args.reps), 'reps');
const steps = positiveInt(String(args.steps), 'steps');
const warmup = Number(args.warmup);
const backends = list(args.backends);
if (args.baseline !== undefined) {
  if (!existsSync(path.join(args.baseline, 'bench', 'step_worker.ts'))) {
    throw new Error(
      `bench: --baseline ${args.baseline}: no bench/step_worker.ts there (a fer-cbam checkout?)`,
    );
  }
  if (!backends.includes('baseline')) backends.push('baseline');
} else if (backends.includes('baseline')) {
  throw new Error('bench: --backends baseline needs --baseline DIR');
}
const dataPath =
  args.data === 'off'
    ? undefined
    : path.resolve(args.data ?? path.join(root, '..', 'shared', 'data', 'fer2013', 'fer2013.csv.gz'));

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** A long-lived process answering one JSON line per JSON request line. */
class LineWorker {
  private readonly child: ChildProcess;
  private readonly waiting: ((line: string) => void)[] = [];
  readonly ready: Promise<Record<string, unknown>>;

  constructor(
    readonly label: string,
    command: string,
    argv: string[],
  ) {
    this.child = spawn(command, argv, { stdio: ['pipe', 'pipe', 'inherit'], cwd: root });
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('{')) this.waiting.shift()?.(line);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.splice(0))
        w(JSON.stringify({ ok: false, error: `${label} exited (${code})` }));
    });
    this.ready = new Promise((resolve) => this.waiting.push((l) => resolve(JSON.parse(l))));
  }

  async request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    await this.ready;
    const answer = new Promise<string>((resolve) => this.waiting.push(resolve));
    this.child.stdin!.write(`${JSON.stringify(body)}\n`);
    const result = JSON.parse(await answer) as Record<string, unknown>;
    if (result.ok === false) throw new Error(`${this.label}: ${String(result.error)}`);
    return result;
  }

  close(): void {
    this.child.stdin!.end();
    setTimeout(() => this.child.kill(), 5000).unref();
  }
}

function findPython(): string | null {
  if (args.torch === 'off') return null;
  const candidates = args.python ? [args.python] : ['/usr/bin/python3', 'python3'];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

/**
 * wasm; wasm with tfjs's and the XNNPACK kernels only (`wasm-xnnpack`); without Winograd
 * (`wasm-direct`); with XNNPACK's pool on every thread (`wasm-pool`); another checkout's wasm
 * (`baseline`, from `--baseline DIR`).
 */
const WASM_VARIANTS: Record<string, string[]> = {
  wasm: [],
  'wasm-xnnpack': ['--kernels', 'xnnpack'],
  'wasm-direct': ['--kernels', 'direct'],
  'wasm-pool': [],
  baseline: [],
};
const isWasm = (backend: string) => Object.hasOwn(WASM_VARIANTS, backend);
function ferWorker(backend: string, threads: number | null): LineWorker {
  // The baseline runs its own checkout's step worker with that checkout's tsx and dependencies.
  const dir = backend === 'baseline' ? path.resolve(args.baseline!) : root;
  const argv = [
    path.join(dir, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
    path.join(dir, 'bench', 'step_worker.ts'),
    '--backend',
    isWasm(backend) ? 'wasm' : backend,
    ...(WASM_VARIANTS[backend] ?? []),
  ];
  if (threads !== null) argv.push('--threads', String(threads));
  if (backend === 'wasm-pool' && threads !== null) argv.push('--xnnpack-threads', String(threads));
  return new LineWorker(`fer-cbam ${backend}${threads ? ` ${threads}t` : ''}`, process.execPath, argv);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** One row per distinct `keys`, its numeric fields the medians over the rows that share them. */
function medianRows(raw: Record<string, unknown>[], keys: string[]): Record<string, unknown>[] {
  const groups = new Map<string, Record<string, unknown>[]>();
  for (const r of raw) {
    const k = JSON.stringify(keys.map((key) => r[key]));
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const out: Record<string, unknown> = { ...g[0]!, reps: g.length };
    for (const [field, v] of Object.entries(g[0]!)) {
      if (typeof v === 'number' && !keys.includes(field))
        out[field] = median(g.map((r) => r[field] as number));
    }
    return out;
  });
}
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)} %` : '');
const fixed = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '' : x.toFixed(d));

function table(header: string[], body: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const b of body) console.log(line(b));
}

async function benchLoader(python: string | null): Promise<Record<string, unknown> | null> {
  if (dataPath === undefined || !existsSync(dataPath)) return null;
  const loader = await import('./fer2013_loader');
  const ours = await loader.benchFer2013Loader(dataPath, 2);
  const result: Record<string, unknown> = {
    rows: ours.rows,
    seconds: ours.seconds,
    rowsPerSec: Math.round(ours.rowsPerSec),
    fileMBPerSec: Number(ours.fileMBPerSec.toFixed(1)),
  };
  if (python) {
    const pandas = await loader.benchPandasBaseline(dataPath, 1, python);
    if ('unavailable' in pandas) result.pandas = `not run (${pandas.unavailable})`;
    else {
      result.pandasSeconds = pandas.seconds;
      result.speedupVsPandas = Number((pandas.seconds / ours.seconds).toFixed(2));
    }
  }
  return result;
}

async function main(): Promise<void> {
  const python = findPython();
  if (args.torch !== 'off' && python === null) {
    log('pytorch: not run (no python3 with torch; Debian: apt-get install python3-torch)');
  }
  const torch = python
    ? new LineWorker('pytorch', python, [path.join(here, 'torch_speed.py'), '--serve'])
    : null;
  const fer = new Map<string, LineWorker>();
  const workerFor = (backend: string, threads: number) => {
    const key = isWasm(backend) ? `${backend}/${threads}` : backend;
    if (!fer.has(key)) fer.set(key, ferWorker(backend, isWasm(backend) ? threads : null));
    return fer.get(key)!;
  };
  const torchInfo = torch ? await torch.ready : null;
  log(
    `bench: ${os.cpus().length} cores; fer-cbam ${backends.join(', ')}; ${torchInfo ? `PyTorch ${String(torchInfo.torch)}` : 'no PyTorch'}; ` +
      `models ${models.map((m) => m.name).join(', ')}; batches ${batches.join(', ')}; threads ${threadCounts.join(', ')}; ` +
      `${reps} reps of ${warmup} warm-up + ${steps} timed steps`,
  );
  const rows: BenchRow[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const m of models) {
      for (const batch of batches) {
        for (const threads of threadCounts) {
          for (const mode of modes) {
            for (const backend of backends) {
              const sides = ['fer-cbam', 'pytorch'] as const;
              // Alternate which side goes first, so slow drift of the machine hits both.
              const order = (rep + threadCounts.indexOf(threads)) % 2 === 0 ? sides : [...sides].reverse();
              for (const side of order) {
                if (
                  side === 'pytorch' &&
                  (torch === null || m.torchPlacement === null || backend !== backends[0])
                )
                  continue;
                const request = { model: m.name, batch, mode, steps, warmup };
                const r =
                  side === 'pytorch'
                    ? await torch!.request({
                        ...request,
                        depth: m.depth,
                        width: m.width,
                        placement: m.torchPlacement,
                        threads,
                      })
                    : await workerFor(backend, threads).request({ op: 'step', ...request });
                const row: BenchRow = {
                  side,
                  backend: side === 'pytorch' ? 'pytorch' : backend,
                  model: m.name,
                  batch,
                  mode,
                  threads: side === 'pytorch' || isWasm(backend) ? threads : null,
                  rep,
                  imgPerSec: r.imgPerSec as number,
                  msPerStep: r.msPerStep as number,
                  cpuMsPerStep: r.cpuMsPerStep as number,
                };
                rows.push(row);
                log(
                  `  rep ${rep + 1}/${reps} ${side.padEnd(8)} ${m.name} batch ${batch} ${threads}t ${mode}: ${row.imgPerSec.toFixed(1)} img/s, CPU ${row.cpuMsPerStep.toFixed(0)} ms/step`,
                );
              }
            }
          }
        }
      }
    }
  }

  // The train() loop against the bare step, per model, batch and thread count (fer-cbam side),
  // `reps` times with the order of the variants reversed every other repetition; medians.
  const loopRaw: Record<string, unknown>[] = [];
  const loopReps = args.loop !== 'off' ? reps : 0;
  for (let rep = 0; rep < loopReps && modes.includes('train'); rep++) {
    for (const m of models) {
      for (const batch of batches) {
        // Each thread count with one process, and (wasm) one thread per process with train()'s
        // data-parallel gradient workers making up the other threads.
        const variants = threadCounts.map((threads) => ({ threads, workers: 0 }));
        const most = Math.max(...threadCounts);
        if (threadCounts.includes(1) && most > 1) variants.push({ threads: 1, workers: most - 1 });
        for (const { threads, workers } of rep % 2 ? variants.reverse() : variants) {
          for (const backend of backends) {
            if (workers > 0 && backend !== 'wasm') continue;
            const r = await workerFor(backend, threads).request({
              op: 'loop',
              model: m.name,
              batch,
              batches: positiveInt(String(args['loop-batches']), 'loop-batches'),
              data: dataPath,
              workers,
            });
            loopRaw.push({ backend, model: m.name, batch, threads, workers, ...r });
            log(
              `  rep ${rep + 1}/${loopReps} train() loop ${backend} ${m.name} batch ${batch} ${threads}t${workers ? ` + ${workers} gradient worker(s)` : ''}: ${fixed(r.loopImgPerSec as number)} img/s vs bare step ${fixed(r.stepImgPerSec as number)} img/s (${String(r.source)})`,
            );
          }
        }
      }
    }
  }
  const loopRows = medianRows(loopRaw, ['backend', 'model', 'batch', 'threads', 'workers']);
  // evaluate() (the forward pass over a dataset) the same three ways.
  const evalRaw: Record<string, unknown>[] = [];
  for (let rep = 0; rep < loopReps && modes.includes('forward'); rep++) {
    const most = Math.max(...threadCounts);
    const variants = threadCounts.map((threads) => ({ threads, workers: 0 }));
    if (threadCounts.includes(1) && most > 1) variants.push({ threads: 1, workers: most - 1 });
    for (const m of models) {
      for (const batch of batches) {
        for (const { threads, workers } of rep % 2 ? variants.reverse() : variants) {
          const r = await workerFor('wasm', threads).request({
            op: 'evaluate',
            model: m.name,
            batch,
            data: dataPath,
            workers,
          });
          evalRaw.push({ model: m.name, batch, threads, workers, ...r });
          log(
            `  rep ${rep + 1}/${loopReps} evaluate() ${m.name} batch ${batch} ${threads}t${workers ? ` + ${workers} worker(s)` : ''}: ${fixed(r.evalImgPerSec as number)} img/s`,
          );
        }
      }
    }
  }
  const evalRows = medianRows(evalRaw, ['model', 'batch', 'threads', 'workers']);
  if (args.profile) {
    for (const m of models) {
      const t = Math.max(...threadCounts);
      const p = await workerFor(backends[0]!, t).request({ op: 'profile', model: m.name, batch: batches[0] });
      log(
        `  kernels in one training step of ${m.name} (batch ${batches[0]}, ${t}t): ${String(p.kernels)}, ${fixed(p.kernelMs as number, 0)} ms`,
      );
      for (const e of p.top as { name: string; n: number; ms: number }[]) {
        log(`    ${e.name.padEnd(30)} ${String(e.n).padStart(5)} ${e.ms.toFixed(1).padStart(9)} ms`);
      }
    }
  }
  for (const w of fer.values()) w.close();
  torch?.close();
  const loader = await benchLoader(python);

  // Summary: medians per cell.
  const cell = (
    side: string,
    backend: string,
    model: string,
    batch: number,
    mode: string,
    threads: number,
  ) => {
    const xs = rows.filter(
      (r) =>
        r.side === side &&
        (side === 'pytorch' || r.backend === backend) &&
        r.model === model &&
        r.batch === batch &&
        r.mode === mode &&
        (r.threads === threads || r.threads === null),
    );
    if (xs.length === 0) return undefined;
    return {
      imgPerSec: median(xs.map((x) => x.imgPerSec)),
      cpuMsPerStep: median(xs.map((x) => x.cpuMsPerStep)),
    };
  };
  const summary: Record<string, unknown>[] = [];
  const body: string[][] = [];
  for (const backend of backends) {
    for (const m of models) {
      for (const batch of batches) {
        for (const mode of modes) {
          for (const threads of threadCounts) {
            const a = cell('fer-cbam', backend, m.name, batch, mode, threads);
            const b = cell('pytorch', backend, m.name, batch, mode, threads);
            if (!a) continue;
            const wall = b ? a.imgPerSec / b.imgPerSec : Number.NaN;
            const cpu = b ? b.cpuMsPerStep / a.cpuMsPerStep : Number.NaN;
            summary.push({
              backend,
              model: m.name,
              batch,
              mode,
              threads,
              fer: a,
              pytorch: b ?? null,
              wallRatio: wall,
              cpuRatio: cpu,
            });
            body.push([
              backend,
              m.name,
              String(batch),
              mode,
              String(threads),
              fixed(a.imgPerSec),
              fixed(b?.imgPerSec),
              pct(wall),
              fixed(a.cpuMsPerStep, 0),
              fixed(b?.cpuMsPerStep, 0),
              pct(cpu),
            ]);
          }
        }
      }
    }
  }
  console.log('\nSpeed, side by side (medians over repetitions):\n');
  table(
    [
      'backend',
      'model',
      'batch',
      'mode',
      'threads',
      'img/s',
      'PyTorch img/s',
      'wall ratio',
      'CPU ms/step',
      'PyTorch CPU ms',
      'by CPU time',
    ],
    body,
  );
  const one = threadCounts.includes(1) ? 1 : null;
  if (one !== null && threadCounts.length > 1) {
    console.log('\nThread scaling (wall-time img/s at N threads over 1 thread):\n');
    const scale: string[][] = [];
    for (const s of summary.filter((s) => s.threads !== 1)) {
      const base = summary.find(
        (x) =>
          x.backend === s.backend &&
          x.model === s.model &&
          x.batch === s.batch &&
          x.mode === s.mode &&
          x.threads === 1,
      );
      if (!base) continue;
      const fer = (s.fer as { imgPerSec: number }).imgPerSec / (base.fer as { imgPerSec: number }).imgPerSec;
      const pt =
        s.pytorch && base.pytorch
          ? (s.pytorch as { imgPerSec: number }).imgPerSec / (base.pytorch as { imgPerSec: number }).imgPerSec
          : Number.NaN;
      Object.assign(s, { ferScaling: fer, pytorchScaling: pt });
      scale.push([
        String(s.backend),
        String(s.model),
        String(s.batch),
        String(s.mode),
        `${s.threads} / 1`,
        `${fer.toFixed(2)}x`,
        Number.isFinite(pt) ? `${pt.toFixed(2)}x` : '',
      ]);
    }
    table(['backend', 'model', 'batch', 'mode', 'threads', 'fer-cbam', 'PyTorch'], scale);
  }
  if (loopRows.length > 0) {
    console.log(
      "\nfer-cbam's train() loop against the bare training step (same network, batch and threads):\n",
    );
    table(
      [
        'backend',
        'model',
        'batch',
        'threads',
        'workers',
        'data',
        'train() img/s',
        'bare step img/s',
        'loop overhead',
        'train() CPU ms',
        'step CPU ms',
      ],
      loopRows.map((r) => [
        String(r.backend),
        String(r.model),
        String(r.batch),
        String(r.threads),
        String(r.workers),
        String(r.source),
        fixed(r.loopImgPerSec as number),
        fixed(r.stepImgPerSec as number),
        pct((r.stepImgPerSec as number) / (r.loopImgPerSec as number) - 1),
        fixed(r.loopCpuMsPerStep as number, 0),
        fixed(r.stepCpuMsPerStep as number, 0),
      ]),
    );
  }
  if (loopRows.length > 0) {
    // train()'s scaling over its one-thread, one-process throughput, per network and batch.
    const base = (r: Record<string, unknown>) =>
      loopRows.find(
        (x) =>
          x.backend === r.backend &&
          x.model === r.model &&
          x.batch === r.batch &&
          x.threads === 1 &&
          x.workers === 0,
      );
    const scaled = loopRows.filter((r) => base(r) && !(r.threads === 1 && r.workers === 0));
    if (scaled.length > 0) {
      console.log('\ntrain() scaling (wall img/s over one thread in one process):\n');
      table(
        ['backend', 'model', 'batch', 'how', 'scaling'],
        scaled.map((r) => [
          String(r.backend),
          String(r.model),
          String(r.batch),
          r.workers ? `1 wasm thread + ${r.workers} gradient worker(s)` : `${r.threads} wasm threads`,
          `${((r.loopImgPerSec as number) / (base(r)!.loopImgPerSec as number)).toFixed(2)}x`,
        ]),
      );
    }
  }
  if (evalRows.length > 0) {
    console.log('\nevaluate() (centre crops, 2,048 images, worker start-up included), wasm:\n');
    const base = (r: Record<string, unknown>) =>
      evalRows.find((x) => x.model === r.model && x.batch === r.batch && x.threads === 1 && x.workers === 0);
    table(
      ['model', 'batch', 'how', 'img/s', 'scaling'],
      evalRows.map((r) => [
        String(r.model),
        String(r.batch),
        r.workers ? `1 wasm thread + ${r.workers} worker(s)` : `${r.threads} wasm thread(s)`,
        fixed(r.evalImgPerSec as number),
        base(r) ? `${((r.evalImgPerSec as number) / (base(r)!.evalImgPerSec as number)).toFixed(2)}x` : '',
      ]),
    );
  }
  if (loader) console.log(`\nloadFer2013: ${JSON.stringify(loader)}`);
  if (args.json) {
    mkdirSync(path.dirname(path.resolve(args.json)), { recursive: true });
    writeFileSync(
      args.json,
      `${JSON.stringify({ date: new Date().toISOString(), cores: os.cpus().length, torch: torchInfo?.torch ?? null, rows, summary, loop: loopRows, evaluate: evalRows, loopRuns: loopRaw, evaluateRuns: evalRaw, loader }, null, 2)}\n`,
    );
    log(`bench: wrote ${rows.length} measurements to ${args.json}`);
  }
}

await main();
