/**
 * train() never loses or corrupts a run: divergence stops it (naming the step) before anything
 * non-finite is saved, a run directory is locked, an earlier run is not replaced without
 * `overwrite`, options are checked before the disk is touched, and every saved model carries its
 * preprocessing.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/io/index';
import { RUN_LOCK_FILE } from '../../src/io/lock';
import { getPreprocessing } from '../../src/models/preprocessing';
import { loadCheckpoint } from '../../src/train/checkpoint';
import { NonFiniteLossError, train } from '../../src/train/train';
import { blobDataset, tinyCnn } from './helpers';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fer-cbam-train-safety-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const data = blobDataset(32, 1);
const base = { batchSize: 16, seed: 3, schedule: { type: 'constant', learningRate: 0.05 } } as const;

describe('train safety', () => {
  it('stops with an error naming the step when the loss is not finite, and saves no non-finite model (item 6)', async () => {
    const dir = join(root, 'diverge');
    const model = tinyCnn();
    const error = await train(
      model,
      { train: data, validation: blobDataset(16, 2) },
      { ...base, epochs: 20, schedule: { type: 'constant', learningRate: 1e12 }, checkpointDir: dir },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(
      /train: (the loss became (NaN|Infinity|-Infinity) at step \d+ \(epoch \d+, batch \d+ of 2, learning rate 1000000000000\)|the model's outputs became NaN or infinite by the validation of epoch \d+ \(after step \d+, learning rate 1000000000000\): training diverged|refusing to save .* holds NaN or Infinity)/,
    );
    if (error instanceof NonFiniteLossError) expect(error.detail.step).toBeGreaterThan(0);
    // Whatever was saved before the divergence is finite.
    const checkpoint = await loadCheckpoint(dir);
    for (const w of checkpoint?.weights ?? []) {
      expect(tf.all(tf.isFinite(w)).dataSync()[0]).toBe(1);
      w.dispose();
    }
    if (existsSync(join(dir, 'best', 'model.json'))) {
      const best = await tfl.loadLayersModel(`file://${join(dir, 'best', 'model.json')}`);
      for (const w of best.getWeights()) expect(tf.all(tf.isFinite(w)).dataSync()[0]).toBe(1);
    }
    expect(existsSync(join(dir, RUN_LOCK_FILE))).toBe(false); // released on error too
  });

  it('stores the preprocessing in the best model and in every checkpoint model (issue 11)', async () => {
    const dir = join(root, 'pre');
    const model = tinyCnn();
    const result = await train(
      model,
      { train: data, validation: blobDataset(16, 2) },
      { ...base, epochs: 1, checkpointDir: dir },
    );
    const expected = {
      imageSize: 12,
      cropSize: 10,
      normalization: result.normalization,
      classNames: ['horizontal', 'vertical', 'cross'],
    };
    for (const sub of ['best', 'epoch-0001']) {
      const saved = await tfl.loadLayersModel(`file://${join(dir, sub, 'model.json')}`);
      expect(getPreprocessing(saved)).toEqual(expected);
    }
    expect(getPreprocessing(model)).toEqual(expected);
  });

  it('locks the run directory: a second training into it fails naming the pid (item 7)', async () => {
    const dir = join(root, 'locked');
    const first = train(tinyCnn(), { train: data }, { ...base, epochs: 2, checkpointDir: dir });
    // Let the first one take the lock.
    await new Promise((r) => setTimeout(r, 50));
    await expect(
      train(tinyCnn(), { train: data }, { ...base, epochs: 1, checkpointDir: dir, overwrite: true }),
    ).rejects.toThrow(new RegExp(`"${dir}" is in use by another training \\(pid ${process.pid}, since `));
    await first;
    expect(readdirSync(dir).sort()).toEqual(['checkpoint.json', 'epoch-0002', 'log.jsonl']);
  });

  it('refuses a directory with an earlier run that has no checkpoint, unless overwrite (item 1)', async () => {
    const dir = join(root, 'earlier');
    mkdirSync(join(dir, 'best'), { recursive: true });
    writeFileSync(join(dir, 'best', 'model.json'), '{}');
    writeFileSync(join(dir, 'log.jsonl'), '{"epoch":1}\n');
    await expect(
      train(tinyCnn(), { train: data }, { ...base, epochs: 1, checkpointDir: dir }),
    ).rejects.toThrow(
      /holds files of an earlier run \(best, log\.jsonl\) but no checkpoint; pass overwrite: true/,
    );
    expect(await readFile(join(dir, 'best', 'model.json'), 'utf8')).toBe('{}');
    await train(tinyCnn(), { train: data }, { ...base, epochs: 1, checkpointDir: dir, overwrite: true });
    expect(readdirSync(dir).sort()).toEqual(['checkpoint.json', 'epoch-0001', 'log.jsonl']);
  });

  it('checks the crop size and normalisation before touching the disk (items 1, 16)', async () => {
    const dir = join(root, 'untouched');
    await expect(
      train(tinyCnn({ crop: 10 }), { train: data }, { ...base, cropSize: 13, checkpointDir: dir }),
    ).rejects.toThrow(/`cropSize` to be at most the side of the data\.train images \(12x12\), but got 13/);
    await expect(
      train(tinyCnn(), { train: data }, { ...base, normalization: { mean: 0, std: 0 }, checkpointDir: dir }),
    ).rejects.toThrow(/`normalization`/);
    await expect(
      train(
        tinyCnn(),
        { train: data },
        { ...base, schedule: { type: 'constant', learningRate: -1 }, checkpointDir: dir },
      ),
    ).rejects.toThrow(/learningRate/);
    expect(existsSync(dir)).toBe(false);
  });
});
