import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { BACKEND_NAMES, type BackendName } from '../../backends/select';
import { forwardStep, timeSteps, trainingStep } from '../../diagnostics/timing';
import { createModel, getModelPreset, PRESET_GRAMMAR } from '../../models/model_registry';
import { CliError, intOption, selectBackend } from '../common';

/** One benchmark measurement (the same row format as `npm run bench`). */
export interface BenchRow {
  backend: string;
  model: string;
  batch: number;
  mode: 'train' | 'forward';
  imgPerSec: number;
}

/**
 * Times forward and training steps (`tf.variableGrads` and momentum SGD, as `npm run bench` does) of
 * preset networks (`resnet18-cbam`, `resnet10w16-cbam`, ...) on the current backend: one warm-up step,
 * then `steps` timed ones.
 */
export async function benchModels(
  backend: string,
  options: { models: string[]; batch: number; steps: number },
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
  for (const name of options.models) {
    const model = createModel(name, {
      inputShape: [44, 44, 1],
      numClasses: 7,
      classifierActivation: 'linear',
    });
    const timing = { batch: options.batch, steps: options.steps, warmup: 1 };
    for (const mode of ['forward', 'train'] as const) {
      const step = mode === 'forward' ? forwardStep(model, x) : trainingStep(model, x, y);
      const { imgPerSec } = await timeSteps(step.run, timing);
      step.dispose();
      rows.push({ backend, model: name, batch: options.batch, mode, imgPerSec: round(imgPerSec) });
    }
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
    .option(
      '--models <list>',
      `comma-separated preset names (registered ones, or ${PRESET_GRAMMAR})`,
      'resnet18-cbam,resnet18',
    )
    .option('--json <file>', 'also write the rows as JSON')
    .action(async (opts, cmd: Command) => {
      const backends = String(opts.backends).split(',') as BackendName[];
      for (const b of backends) {
        if (!BACKEND_NAMES.includes(b)) {
          throw new CliError(`--backends: expected names from ${BACKEND_NAMES.join(', ')}, but got "${b}".`);
        }
      }
      const models = String(opts.models).split(',');
      for (const name of models) {
        try {
          getModelPreset(name);
        } catch (error) {
          throw new CliError(
            `--models: ${(error as Error).message.replace(/^getModelPreset: expected `name` to be /, 'expected each name to be ')}`,
          );
        }
      }
      const rows: BenchRow[] = [];
      for (const requested of backends) {
        const backend = await selectBackend({ backend: requested, threads: cmd.optsWithGlobals().threads });
        process.stderr.write(`benchmarking on ${backend} ...\n`);
        rows.push(
          ...(await benchModels(backend, {
            models,
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
