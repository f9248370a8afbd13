/**
 * `fer-cbam train` end to end, in-process on the cpu backend with a tiny ResNet-10 and a handful of
 * images: an earlier run is never replaced without --overwrite, --limit takes a subset, the saved
 * best model carries its preprocessing, and a run without validation says it has no best model.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPreprocessing } from '../../src/models/preprocessing';
import { cli, squareFace } from './helpers';

const root = mkdtempSync(join(tmpdir(), 'fer-cbam-cli-train-'));
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  await tf.setBackend('cpu');
});
const at = (...parts: string[]) => join(root, ...parts);

beforeAll(async () => {
  for (const [cls, square] of [
    ['bright', 48],
    ['dark', 16],
  ] as const) {
    for (const f of ['a', 'b', 'c']) {
      await squareFace(at('train', cls, `${f}.png`), square);
      await squareFace(at('val', cls, `${f}.png`), square);
    }
  }
}, 30_000);

const tiny = ['--depth', '10', '--width', '4', '--epochs', '1', '--batch-size', '4', '--crop', '40'];

describe('fer-cbam train', () => {
  it('trains, stores the preprocessing in best/, refuses to replace the run, and --overwrite replaces it', async () => {
    const out = at('run');
    const first = await cli(
      'train',
      '--data',
      at('train'),
      '--validation',
      at('val'),
      '--out',
      out,
      '--limit',
      '4',
      ...tiny,
    );
    expect(first.status, first.err).toBe(0);
    expect(first.err).toMatch(/4 training and 4 validation images/);
    expect(first.out).toMatch(/best: valAccuracy [\d.]+ at epoch 1; models in .*\/best and .*\/last/);
    const best = await tfl.loadLayersModel(`file://${join(out, 'best', 'model.json')}`);
    expect(getPreprocessing(best)).toMatchObject({
      imageSize: 48,
      cropSize: 40,
      classNames: ['bright', 'dark'],
    });
    const before = readdirSync(out).sort();
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8');

    // Item 1: a second run into the same --out is refused before anything is loaded or written.
    const second = await cli('train', '--data', at('train'), '--out', out, ...tiny);
    expect(second.status).toBe(1);
    expect(second.err).toMatch(
      /^fer-cbam: --out: ".*run" already holds a run \(.*\); pass --resume to continue it, --overwrite to replace it, or choose another --out\.\n$/,
    );
    expect(readdirSync(out).sort()).toEqual(before);
    expect(readFileSync(join(out, 'log.jsonl'), 'utf8')).toBe(log);

    // A bad option with --overwrite still leaves the run alone (checked before the disk is touched).
    const typo = await cli(
      'train',
      '--data',
      at('train'),
      '--out',
      out,
      '--overwrite',
      ...tiny,
      '--crop',
      '100',
    );
    expect(typo.status).toBe(1);
    expect(readdirSync(out).sort()).toEqual(before);

    // Item 16: without validation there is no best model, and the message says so.
    const third = await cli(
      'train',
      '--data',
      at('train'),
      '--out',
      out,
      '--overwrite',
      '--limit',
      '2',
      ...tiny,
    );
    expect(third.status, third.err).toBe(0);
    expect(third.err).toMatch(/2 training and 0 validation images/);
    expect(third.out).toMatch(
      /no validation images, so no best model was chosen; the last model is in .*\/last/,
    );
    expect(third.out).not.toMatch(/best: null/);
    expect(existsSync(join(out, 'best'))).toBe(false);
    expect(existsSync(join(out, 'final_validation.json'))).toBe(false);
  }, 120_000);

  it('--init continues a saved model (its weights and normalisation), and --arch names the network', async () => {
    const base = at('base');
    const first = await cli(
      'train',
      '--data',
      at('train'),
      '--out',
      base,
      '--arch',
      'resnet10w4-cbam',
      '--epochs',
      '1',
      '--batch-size',
      '4',
      '--crop',
      '40',
    );
    expect(first.status, first.err).toBe(0);
    const start = await tfl.loadLayersModel(`file://${join(base, 'last', 'model.json')}`);
    // A constant, vanishing learning rate: what comes out is what went in, if it started from --init.
    const still = [
      '--epochs',
      '1',
      '--batch-size',
      '4',
      '--crop',
      '40',
      '--schedule',
      'constant',
      '--lr',
      '1e-12',
    ];
    const tune = await cli(
      'train',
      '--data',
      at('train'),
      '--out',
      at('tuned'),
      '--init',
      join(base, 'last'),
      ...still,
    );
    expect(tune.status, tune.err).toBe(0);
    expect(tune.err).toMatch(/\(from .*base\/last\)/);
    const tuned = await tfl.loadLayersModel(`file://${join(at('tuned'), 'last', 'model.json')}`);
    expect(getPreprocessing(tuned)?.normalization).toEqual(getPreprocessing(start)?.normalization);
    const kernel = (m: tfl.LayersModel) => m.getLayer('stem_conv').getWeights()[0]!.dataSync();
    const a = kernel(start);
    const b = kernel(tuned);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    expect(maxDiff).toBeLessThan(1e-6);
    // The same command without --init starts from new weights (seeded), which differ.
    const fresh = await cli(
      'train',
      '--data',
      at('train'),
      '--out',
      at('fresh'),
      '--arch',
      'resnet10w4-cbam',
      '--seed',
      '7',
      ...still,
    );
    expect(fresh.status, fresh.err).toBe(0);
    const other = kernel(await tfl.loadLayersModel(`file://${join(at('fresh'), 'last', 'model.json')}`));
    expect(Math.max(...a.map((v, i) => Math.abs(v - other[i]!)))).toBeGreaterThan(1e-3);
  }, 120_000);
});

describe('fer-cbam train --resume (issue 31, items 6, 7 and 14)', () => {
  // A constant rate, so that the resume may raise --epochs (one-cycle is shaped by the epoch count).
  const small = [
    '--epochs',
    '1',
    '--batch-size',
    '4',
    '--crop',
    '40',
    '--limit',
    '4',
    '--schedule',
    'constant',
  ];

  it('reads the architecture from the checkpoint, refuses other flags, and records --workers', async () => {
    const out = at('resume-arch');
    const first = await cli(
      'train',
      '--data',
      at('train'),
      '--out',
      out,
      '--depth',
      '10',
      '--width',
      '8',
      ...small,
    );
    expect(first.status, first.err).toBe(0);
    const pointer = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8'));
    const state = JSON.parse(readFileSync(join(out, pointer.latest, 'state.json'), 'utf8'));
    expect(state.workers).toBe(0);
    const params = (await tfl.loadLayersModel(`file://${join(out, 'last', 'model.json')}`)).countParams();
    // No architecture flags: the checkpoint's ResNet-10 of width 8, not the default resnet18-cbam.
    const more = [
      '--epochs',
      '2',
      '--batch-size',
      '4',
      '--crop',
      '40',
      '--limit',
      '4',
      '--schedule',
      'constant',
    ];
    const other = await cli(
      'train',
      '--data',
      at('train'),
      '--out',
      out,
      '--resume',
      '--width',
      '4',
      ...more,
    );
    expect(other.status).toBe(1);
    expect(other.err).toMatch(
      /--width: the checkpoint in ".*" is another network .*; --resume reads the architecture from the checkpoint: drop --width/,
    );
    const workers = await cli(
      'train',
      '--data',
      at('train'),
      '--out',
      out,
      '--resume',
      '--workers',
      '1',
      ...more,
    );
    expect(workers.status).toBe(1);
    expect(workers.err).toMatch(
      /fer-cbam: --workers: the run in ".*" was trained with --workers 0, and an exact resume needs the same .*: resume with --workers 0\.\n$/,
    );
    const resumed = await cli('train', '--data', at('train'), '--out', out, '--resume', ...more);
    expect(resumed.status, resumed.err).toBe(0);
    expect(resumed.err).toMatch(/\(from the checkpoint .*epoch-0001/);
    expect(readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    // The resumed run is the checkpoint's ResNet-10 of width 8, not the default resnet18-cbam.
    const last = await tfl.loadLayersModel(`file://${join(out, 'last', 'model.json')}`);
    expect(last.countParams()).toBe(params);
  }, 480_000);

  it('Ctrl-C in epoch 2 says where it stopped and exits 130', async () => {
    const out = at('interrupted');
    // The first checkpoint appears after epoch 1; the SIGINT then lands in epoch 2 (3 batches of 2).
    const poll = setInterval(() => {
      if (existsSync(join(out, 'checkpoint.json'))) {
        clearInterval(poll);
        process.emit('SIGINT');
      }
    }, 5);
    const run = await cli(
      'train',
      '--data',
      at('train'),
      '--out',
      out,
      '--depth',
      '10',
      '--width',
      '4',
      '--epochs',
      '3',
      '--batch-size',
      '2',
      '--crop',
      '40',
    ).finally(() => clearInterval(poll));
    expect(run.status, run.err).toBe(130);
    const epochs = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').length;
    expect(run.err).toMatch(
      new RegExp(
        `fer-cbam: train: stopped (in epoch ${epochs + 1} of 3, after batch [12] of 3|after epoch ${epochs} of 3), with a checkpoint there; resume with --resume --out .*interrupted\\n$`,
      ),
    );
    expect(run.err).not.toMatch(/stopped after epoch 1;/);
  }, 240_000);
});
