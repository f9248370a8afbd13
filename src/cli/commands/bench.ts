import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { BACKEND_NAMES, type BackendName, useBackend } from '../../backends/select';
import { type Placement, resnetCbam } from '../../models/resnet_cbam';
import { CliError, intOption } from '../common';

/** One benchmark measurement (the same row format as `npm run bench`). */
export interface BenchRow {
  backend: string;
  model: string;
  batch: number;
  mode: 'train' | 'forward';
  imgPerSec: number;
}

/** Mean images/s of `step` over `steps` runs after one warm-up run (`step` must block until done). */
async function imagesPerSecond(batch: number, steps: number, step: () => void): Promise<number> {
  step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  return (batch * steps * 1000) / (performance.now() - t0);
}

/** Times forward and plain-SGD training steps of resnetCbam on the current backend. */
export async function benchModels(
  backend: string,
  options: { depth: number; placements: Placement[]; batch: number; steps: number },
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const x = tf.randomNormal([options.batch, 44, 44, 1], 0, 1, 'float32', 1);
  const y = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: options.batch }, (_, i) => i % 7),
      'int32',
    ),
    7,
  );
  for (const placement of options.placements) {
    const name = `resnet${options.depth}-${placement}`;
    const model = resnetCbam({ depth: options.depth, placement, classifierActivation: 'linear' });
    const optimizer = tf.train.sgd(0.001);
    const forward = await imagesPerSecond(options.batch, options.steps, () => {
      tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    });
    const trainStep = await imagesPerSecond(options.batch, options.steps, () => {
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () =>
            tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        );
        optimizer.applyGradients(grads);
        value.dataSync();
      });
    });
    rows.push({ backend, model: name, batch: options.batch, mode: 'forward', imgPerSec: round(forward) });
    rows.push({ backend, model: name, batch: options.batch, mode: 'train', imgPerSec: round(trainStep) });
    optimizer.dispose();
    model.dispose();
  }
  tf.dispose([x, y]);
  return rows;
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

/** Registers `fer-cbam bench`. */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(
      'time forward and training steps of ResNet+CBAM per backend (the full harness with PyTorch side by side is `npm run bench` in the repository)',
    )
    .option('--backends <list>', 'comma-separated backends to compare', 'wasm')
    .option('--batch <n>', 'batch size', intOption('--batch'), 16)
    .option('--steps <n>', 'timed steps after one warm-up step', intOption('--steps'), 3)
    .option('--depth <n>', 'ResNet depth', intOption('--depth'), 18)
    .option('--placements <list>', 'comma-separated placements', 'paper,none')
    .option('--json <file>', 'also write the rows as JSON')
    .action(async (opts) => {
      const backends = String(opts.backends).split(',') as BackendName[];
      for (const b of backends) {
        if (!BACKEND_NAMES.includes(b)) {
          throw new CliError(`--backends: expected names from ${BACKEND_NAMES.join(', ')}, but got "${b}".`);
        }
      }
      const rows: BenchRow[] = [];
      for (const requested of backends) {
        const backend = await useBackend(requested);
        process.stderr.write(`benchmarking on ${backend} ...\n`);
        rows.push(
          ...(await benchModels(backend, {
            depth: opts.depth,
            placements: String(opts.placements).split(',') as Placement[],
            batch: opts.batch,
            steps: opts.steps,
          })),
        );
      }
      process.stdout.write('backend   model               batch  mode      img/s\n');
      for (const r of rows) {
        process.stdout.write(
          `${r.backend.padEnd(9)} ${r.model.padEnd(19)} ${String(r.batch).padStart(5)}  ${r.mode.padEnd(8)} ${r.imgPerSec.toFixed(1).padStart(7)}\n`,
        );
      }
      if (opts.json) await writeFile(opts.json, `${JSON.stringify(rows, null, 2)}\n`);
    });
}
