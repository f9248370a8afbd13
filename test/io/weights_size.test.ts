import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/io/index';
import { fileSystem } from '../../src/io/file_handler';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fer-cbam-weights-size-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function saved(name: string, units = 3): Promise<string> {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units, inputShape: [2] })] });
  const dir = join(root, name);
  await model.save(fileSystem(dir));
  return dir;
}

describe('file:// load checks weights.bin against the manifest (item 9)', () => {
  it('a truncated weights.bin names the file and both sizes', async () => {
    const dir = await saved('truncated');
    truncateSync(join(dir, 'weights.bin'), 10);
    await expect(tfl.loadLayersModel(`file://${join(dir, 'model.json')}`)).rejects.toThrow(
      `fileSystem: "${join(dir, 'weights.bin')}" is truncated: it holds 10 bytes, but model.json describes 36 bytes (2 weights in the manifest of "${join(dir, 'model.json')}").`,
    );
  });

  it('trailing bytes, and the larger weights.bin of another model, are refused', async () => {
    const dir = await saved('trailing');
    const bytes = readFileSync(join(dir, 'weights.bin'));
    writeFileSync(join(dir, 'weights.bin'), Buffer.concat([bytes, Buffer.from([1])]));
    await expect(tfl.loadLayersModel(fileSystem(dir))).rejects.toThrow(
      /weights\.bin" holds 37 bytes, 1 more than the 36 bytes .*: trailing bytes, or the weights of another model\./,
    );
    const other = await saved('other', 5);
    writeFileSync(join(dir, 'weights.bin'), readFileSync(join(other, 'weights.bin')));
    await expect(tfl.loadLayersModel(fileSystem(dir))).rejects.toThrow(
      /holds 60 bytes, 24 more than the 36 bytes/,
    );
  });

  it('an intact model still loads', async () => {
    const dir = await saved('intact');
    const model = await tfl.loadLayersModel(fileSystem(dir));
    expect(model.countParams()).toBe(9);
  });
});
