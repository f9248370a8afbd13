import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/io/index';
import { runDemo } from '../../src/cli/commands/demo';
import { getPreprocessing } from '../../src/models/preprocessing';

describe('fer-cbam demo (end to end, tiny settings)', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    await tf.setBackend('cpu');
  });

  it('trains, evaluates, saves a loadable model with its preprocessing, and writes summary.json and heatmaps', async () => {
    dir = await mkdtemp(join(tmpdir(), 'fer-cbam-demo-'));
    const summary = await runDemo({
      out: dir,
      backend: 'wasm',
      seed: 3,
      trainCount: 70,
      testCount: 14,
      epochs: 1,
      batchSize: 35,
      width: 4,
      maxSeconds: 120,
      quiet: true,
    });
    const written = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
    expect(written).toEqual(summary);
    expect(summary.backend).toBe('wasm');
    expect(summary.accuracy).toBeGreaterThanOrEqual(0);
    expect(summary.accuracy).toBeLessThanOrEqual(1);
    expect(summary.trainImages).toBe(70);
    expect(summary.testImages).toBe(14);
    expect(summary.heatmaps).toHaveLength(7);
    for (const file of summary.heatmaps) {
      const meta = await sharp(file).metadata();
      // face | CBAM after the stem | CBAM after the last stage | Grad-CAM, 28 px each with 2 px gaps, x6
      expect(meta.width).toBe((4 * 28 + 3 * 2) * 6);
      expect(meta.height).toBe(28 * 6);
    }
    const model = await tfl.loadLayersModel(`file://${join(dir, 'model', 'model.json')}`);
    const pre = getPreprocessing(model)!;
    expect(pre.imageSize).toBe(32);
    expect(pre.cropSize).toBe(28);
    expect(pre.classNames).toHaveLength(7);
    expect(pre.normalization.std).toBeGreaterThan(0);
  });
});
