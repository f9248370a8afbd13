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
