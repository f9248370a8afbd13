import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import { afterAll } from 'vitest';
import '../../src/io/index';
import { runCli } from '../../src/cli/program';
import { type Preprocessing, setPreprocessing } from '../../src/models/preprocessing';

/**
 * A temporary folder for one test file (`prefix` in its name), removed after the file's tests, which
 * also put the cpu backend back. Returns the folder and a `join` below it.
 */
export function testFolder(prefix: string): { root: string; at: (...parts: string[]) => string } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  afterAll(async () => {
    rmSync(root, { recursive: true, force: true });
    await tf.setBackend('cpu');
  });
  return { root, at: (...parts) => join(root, ...parts) };
}

/**
 * The preprocessing of {@link brightnessModel}'s test models: 16x16 in, identity normalisation, and
 * output order dark, bright (NOT the alphabetical order a folder gets: bright, dark).
 */
export const BRIGHTNESS_PREPROCESSING: Preprocessing = {
  imageSize: 16,
  cropSize: 16,
  normalization: { mean: 0, std: 1 },
  classNames: ['dark', 'bright'],
};

/** Runs the CLI in-process; returns the exit status, the stderr text and the stdout text. */
export async function cli(...args: string[]): Promise<{ status: number; err: string; out: string }> {
  const err: string[] = [];
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => {
    out.push(String(s));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    err.push(String(s));
    return true;
  }) as typeof process.stderr.write;
  try {
    const status = await runCli(['node', 'fer-cbam', '--backend', 'cpu', ...args], '9.9.9', {
      writeErr: (s) => void err.push(s),
    });
    return { status, err: err.join(''), out: out.join('') };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}

/**
 * A model whose class decision is the mean brightness of its input crop: GAP, then
 * `dark` if the mean pixel (0-1) is below 0.6, else `bright`. Classes in output order: dark, bright.
 */
export function brightnessModel(crop: number, outputs = 2): tfl.LayersModel {
  const input = tfl.input({ shape: [crop, crop, 1] });
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(input) as tfl.SymbolicTensor;
  const dense = tfl.layers.dense({ units: outputs });
  const out = dense.apply(pooled) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const w = new Float32Array(outputs);
  const b = new Float32Array(outputs);
  w[0] = -10;
  b[0] = 6;
  w[1] = 10;
  b[1] = -6;
  for (let k = 2; k < outputs; k++) b[k] = -100;
  dense.setWeights([tf.tensor2d(w, [1, outputs]), tf.tensor1d(b)]);
  return model;
}

/** Saves `model` (with `preprocessing` unless null) into `dir`. */
export async function saveModel(
  model: tfl.LayersModel,
  dir: string,
  preprocessing: Preprocessing | null,
): Promise<string> {
  if (preprocessing) setPreprocessing(model, preprocessing);
  await model.save(`file://${dir}`);
  return dir;
}

/**
 * A 64x64 PNG: a white centre square of side `square` on black. Its mean brightness is
 * (square/64)^2 over the whole image, 1 inside the square.
 */
export async function squareFace(file: string, square = 32): Promise<void> {
  mkdirSync(join(file, '..'), { recursive: true });
  const side = 64;
  const px = Buffer.alloc(side * side);
  const lo = (side - square) / 2;
  for (let y = lo; y < lo + square; y++) for (let x = lo; x < lo + square; x++) px[y * side + x] = 255;
  await sharp(px, { raw: { width: side, height: side, channels: 1 } })
    .png()
    .toFile(file);
}
