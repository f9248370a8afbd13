/**
 * Per-convolution speed on the wasm backend, one thread: the forward convolution, the filter gradient
 * and the input gradient of the 3x3 layers of a ResNet at 44x44 input, with fer-cbam's native
 * kernels and without them (tfjs-backend-wasm's XNNPACK convolution and fer-cbam's XNNPACK
 * compositions for the gradients), alternating the two per repetition, and PyTorch's `F.conv2d` /
 * `torch.nn.grad.conv2d_weight` / `conv2d_input` on the same shapes with one thread in the same run.
 *
 *   npx tsx bench/conv_layers.ts [--batch 64] [--reps 5] [--python /usr/bin/python3] [--json FILE]
 *
 * Times are CPU milliseconds per call (process CPU time; one wasm thread), medians over repetitions.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels, useBackend } from '../src/backends';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '64' },
    reps: { type: 'string', default: '5' },
    python: { type: 'string', default: '/usr/bin/python3' },
    json: { type: 'string' },
  },
});
const batch = Number(args.batch);
const reps = Number(args.reps);
if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`conv_layers: bad --batch "${args.batch}"`);
if (!Number.isInteger(reps) || reps < 1) throw new RangeError(`conv_layers: bad --reps "${args.reps}"`);

/** [size, in channels, out channels, stride]: the 3x3 convolutions of ResNet-10 width 16 at 44x44. */
const LAYERS: [number, number, number, number][] = [
  [44, 1, 16, 1],
  [44, 16, 16, 1],
  [44, 16, 32, 2],
  [22, 32, 32, 1],
  [11, 64, 64, 1],
  [6, 128, 128, 1],
];

tf.env().set('PROD', true);
await useBackend('wasm', { wasm: { threads: 1 } });

function cpuMs(fn: () => tf.Tensor): number {
  fn().dispose();
  const start = process.cpuUsage();
  fn().dispose();
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

type Times = { forward: number[]; filterGrad: number[]; inputGrad: number[] };
const results = new Map<string, Record<'native' | 'xnnpack', Times>>();
for (const [size, ci, co, stride] of LAYERS) {
  const x = tf.randomNormal([batch, size, size, ci]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, ci, co]) as tf.Tensor4D;
  const out = Math.ceil(size / stride);
  const dy = tf.randomNormal([batch, out, out, co]) as tf.Tensor4D;
  const attrs = { strides: [stride, stride], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
  const key = `${size}x${size}x${ci} -> ${co}${stride > 1 ? `, stride ${stride}` : ''}`;
  const entry = {
    native: { forward: [], filterGrad: [], inputGrad: [] } as Times,
    xnnpack: { forward: [], filterGrad: [], inputGrad: [] } as Times,
  };
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? (['native', 'xnnpack'] as const) : (['xnnpack', 'native'] as const);
    for (const kind of order) {
      registerWasmTrainingKernels({ nativeKernels: kind === 'native' });
      const t = entry[kind];
      t.forward.push(cpuMs(() => tf.conv2d(x, w, stride, 'same')));
      t.filterGrad.push(
        cpuMs(
          () =>
            tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
              ...attrs,
              filterShape: w.shape,
            } as unknown as tf.NamedAttrMap) as tf.Tensor,
        ),
      );
      if (ci > 1) {
        t.inputGrad.push(
          cpuMs(
            () =>
              tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
                ...attrs,
                inputShape: x.shape,
              } as unknown as tf.NamedAttrMap) as tf.Tensor,
          ),
        );
      }
    }
  }
  registerWasmTrainingKernels();
  results.set(key, entry);
  tf.dispose([x, w, dy]);
}

// PyTorch on the same shapes, one thread, in the same run.
const torchScript = `
import json, sys, time, torch
import torch.nn.functional as F
torch.set_num_threads(1)
batch, reps, layers = json.loads(sys.argv[1])
def cpu_ms(fn):
    fn()
    t = time.process_time(); fn(); return (time.process_time() - t) * 1000
out = []
for size, ci, co, stride in layers:
    x = torch.randn(batch, ci, size, size); w = torch.randn(co, ci, 3, 3)
    y = F.conv2d(x, w, stride=stride, padding=1); dy = torch.randn_like(y)
    with torch.no_grad():
        f = sorted(cpu_ms(lambda: F.conv2d(x, w, stride=stride, padding=1)) for _ in range(reps))
        g = sorted(cpu_ms(lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride=stride, padding=1)) for _ in range(reps))
        i = sorted(cpu_ms(lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride=stride, padding=1)) for _ in range(reps))
    out.append({"forward": f[reps // 2], "filterGrad": g[reps // 2], "inputGrad": i[reps // 2]})
print(json.dumps({"torch": torch.__version__, "layers": out}))
`;
const py = spawnSync(args.python!, ['-c', torchScript, JSON.stringify([batch, reps, LAYERS])], {
  encoding: 'utf8',
  timeout: 600_000,
});
const torch =
  py.status === 0
    ? (JSON.parse(py.stdout.trim().split('\n').pop()!) as { torch: string; layers: Times[] })
    : null;
if (!torch)
  console.error(`conv_layers: PyTorch not run (${py.error?.message ?? py.stderr.trim().split('\n').pop()})`);

const rows: Record<string, unknown>[] = [];
console.log(
  `\nPer convolution, 3x3, batch ${batch}, one thread, CPU ms per call (medians of ${reps}); PyTorch ${torch?.torch ?? 'not run'}:\n`,
);
console.log(
  '| layer | forward native | forward XNNPACK | PyTorch | filter grad native | filter grad XNNPACK | PyTorch | input grad native | input grad XNNPACK | PyTorch |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
const f1 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : v.toFixed(1));
let i = 0;
for (const [key, e] of results) {
  const p = torch?.layers[i++];
  const m = (t: Times, k: keyof Times) => (t[k].length ? median(t[k]) : Number.NaN);
  const row = {
    layer: key,
    native: {
      forward: m(e.native, 'forward'),
      filterGrad: m(e.native, 'filterGrad'),
      inputGrad: m(e.native, 'inputGrad'),
    },
    xnnpack: {
      forward: m(e.xnnpack, 'forward'),
      filterGrad: m(e.xnnpack, 'filterGrad'),
      inputGrad: m(e.xnnpack, 'inputGrad'),
    },
    pytorch: p ?? null,
  };
  rows.push(row);
  console.log(
    `| ${key} | ${f1(row.native.forward)} | ${f1(row.xnnpack.forward)} | ${f1(p?.forward as unknown as number)} | ${f1(row.native.filterGrad)} | ${f1(row.xnnpack.filterGrad)} | ${f1(p?.filterGrad as unknown as number)} | ${f1(row.native.inputGrad)} | ${f1(row.xnnpack.inputGrad)} | ${!Number.isNaN(row.native.inputGrad) ? f1(p?.inputGrad as unknown as number) : ''} |`,
  );
}
if (args.json)
  writeFileSync(
    args.json,
    `${JSON.stringify({ batch, reps, torch: torch?.torch ?? null, rows }, null, 1)}\n`,
  );
