/**
 * `fer-cbam eval` end to end (in-process, cpu backend, tiny hand-made models and folders): class
 * labels matched by name, the model's own image size, explicit class maps, FER+ votes, and where
 * the preprocessing comes from.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { detectDatasetKind } from '../../src/cli/common';
import { FERPLUS_CLASSES } from '../../src/data/ferplus';
import { BRIGHTNESS_PREPROCESSING, brightnessModel, cli, saveModel, squareFace, testFolder } from './helpers';

const { at } = testFolder('fer-cbam-eval-');
const PRE = BRIGHTNESS_PREPROCESSING;

beforeAll(async () => {
  await tf.setBackend('cpu');
  await saveModel(brightnessModel(16), at('model'), PRE);
  // Each face is a white square of half the side on black: mean 0.25 over the whole image (dark),
  // 1.0 inside the centre third (what a 16-pixel crop of a 48-pixel image sees: bright).
  for (const f of ['a', 'b', 'c']) await squareFace(at('faces/dark', `${f}.png`));
  await squareFace(at('faces/bright/mislabelled.png'));
  for (const f of ['a', 'b']) await squareFace(at('dark_only/dark', `${f}.png`));
  await squareFace(at('ck/anger/x.png'));
  await squareFace(at('ck/contempt/y.png'));
}, 30_000);

const accuracyOf = (out: string) => Number(/accuracy ([\d.]+) %/.exec(out)?.[1]);

describe('fer-cbam eval', () => {
  it('matches labels by class name, not by the folder order (item 2)', async () => {
    // Every face is dark at the model's size, so 3 of 4 are right; by index order it would be 1 of 4.
    const { status, out, err } = await cli(
      'eval',
      '--model',
      at('model'),
      '--data',
      at('faces'),
      '--no-ten-crop',
    );
    expect(status, err).toBe(0);
    expect(accuracyOf(out)).toBe(75);
    expect(out).toMatch(/4 images/);
  });

  it("resizes the images to the model's stored imageSize (item 3)", async () => {
    // At 48 pixels with a 16-pixel centre crop every face would look bright (0 %).
    const { status, out } = await cli(
      'eval',
      '--model',
      at('model'),
      '--data',
      at('dark_only'),
      '--no-ten-crop',
    );
    expect(status).toBe(0);
    expect(out).toMatch(/2 images/);
    expect(accuracyOf(out)).toBe(100);
  });

  it('--limit evaluates the first N images', async () => {
    // bright/mislabelled.png, dark/a.png, dark/b.png: two right.
    const { status, out } = await cli(
      'eval',
      '--model',
      at('model'),
      '--data',
      at('faces'),
      '--no-ten-crop',
      '--limit',
      '3',
    );
    expect(status).toBe(0);
    expect(out).toMatch(/3 images/);
    expect(accuracyOf(out)).toBeCloseTo(66.67, 2);
  });

  it('refuses classes the model does not have, and accepts an explicit --class-map', async () => {
    const refused = await cli('eval', '--model', at('model'), '--data', at('ck'), '--dataset', 'folder');
    expect(refused.status).toBe(1);
    expect(refused.err).toMatch(/\["anger","contempt"\] are not classes of the model \(dark, bright\)/);
    const mapped = await cli(
      'eval',
      '--model',
      at('model'),
      '--data',
      at('ck'),
      '--dataset',
      'folder',
      '--class-map',
      'anger=dark,contempt=-',
      '--no-ten-crop',
      '--json',
      at('metrics.json'),
    );
    expect(mapped.status, mapped.err).toBe(0);
    expect(mapped.out).toMatch(/1 images/);
    const metrics = JSON.parse(readFileSync(at('metrics.json'), 'utf8'));
    expect(metrics.accuracy).toBe(1);
  });

  it('reads an old run whose preprocessing is only in training.json, and says so (issue 11)', async () => {
    const dir = await saveModel(brightnessModel(16), at('old_run/best'), null);
    writeFileSync(
      join(dir, 'training.json'),
      JSON.stringify({ monitor: 'valAccuracy', value: 1, epoch: 1, ...PRE }),
    );
    const { status, out, err } = await cli(
      'eval',
      '--model',
      dir,
      '--data',
      at('faces'),
      '--no-ten-crop',
      '--image-size',
      '16',
    );
    expect(status, err).toBe(0);
    expect(err).toMatch(
      /stores no preprocessing; read it from ".*training\.json" \(a run saved by an older version\)/,
    );
    expect(accuracyOf(out)).toBe(75);
  });

  it('uses --image-size and --normalization for a model without stored preprocessing', async () => {
    const dir = await saveModel(brightnessModel(16), at('bare'), null);
    const { status, out, err } = await cli(
      'eval',
      '--model',
      dir,
      '--data',
      at('faces'),
      '--no-ten-crop',
      '--image-size',
      '16',
      '--normalization',
      '0,1',
      '--class-names',
      'dark,bright',
    );
    expect(status, err).toBe(0);
    expect(accuracyOf(out)).toBe(75);
  });

  it('accepts --ferplus-votes and scores against the FER+ labels (item 12)', async () => {
    // Three 48x48 FER2013 rows (all black, so the model says "neutral", class 0), FER+ votes
    // neutral, happiness, neutral: 2 of 3 right.
    const row = (label: number) => `${label},${Array(2304).fill(0).join(' ')},Training`;
    writeFileSync(at('fer.csv'), `emotion,pixels,Usage\n${row(0)}\n${row(3)}\n${row(6)}\n`);
    const header =
      'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF';
    writeFileSync(
      at('votes.csv'),
      `${header}\nTraining,a.png,10,0,0,0,0,0,0,0,0,0\nTraining,b.png,0,10,0,0,0,0,0,0,0,0\nTraining,c.png,9,1,0,0,0,0,0,0,0,0\n`,
    );
    await saveModel(brightnessModel(44, 8), at('ferplus_model'), {
      imageSize: 48,
      cropSize: 44,
      normalization: { mean: 0, std: 1 },
      classNames: [...FERPLUS_CLASSES],
    });
    const { status, out, err } = await cli(
      'eval',
      '--model',
      at('ferplus_model'),
      '--data',
      at('fer.csv'),
      '--ferplus-votes',
      at('votes.csv'),
      '--split',
      'Training',
    );
    expect(status, err).toBe(0);
    expect(out).toMatch(/3 images/);
    expect(accuracyOf(out)).toBeCloseTo(66.67, 2);
  });
});

describe('dataset auto-detection (item 11)', () => {
  it('does not take a path containing "ck" for CK+; detects CK+ by its layout', () => {
    mkdirSync(at('jack/quickdata/happy'), { recursive: true });
    mkdirSync(at('jack/quickdata/sad'), { recursive: true });
    expect(detectDatasetKind(at('jack/quickdata'))).toBe('folder');
    mkdirSync(at('CK+48/anger'), { recursive: true });
    mkdirSync(at('CK+48/sadness'), { recursive: true });
    expect(detectDatasetKind(at('CK+48'))).toBe('ckplus');
    mkdirSync(at('plain/cohn-kanade-images'), { recursive: true });
    expect(detectDatasetKind(at('plain'))).toBe('ckplus');
    mkdirSync(at('kaggle/angry'), { recursive: true });
    mkdirSync(at('kaggle/happy'), { recursive: true });
    expect(detectDatasetKind(at('kaggle'))).toBe('folder');
  });
});
