import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadCkPlus } from '../data/ckplus';
import type { FaceDataset } from '../data/dataset';
import { FER2013_CLASSES } from '../data/dataset';
import { loadFer2013 } from '../data/fer2013';
import { loadFerPlus } from '../data/ferplus';
import { loadImageFolder } from '../data/image_folder';
import { getPreprocessing, type Preprocessing } from '../models/preprocessing';

/** Dataset kinds the CLI reads. */
export const DATASET_KINDS = ['auto', 'fer2013', 'ferplus', 'ckplus', 'folder'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];

/** An error whose message is shown to the user without a stack trace. */
export class CliError extends Error {
  override name = 'CliError';
}

/** Guesses the dataset kind from a path: a CSV is FER2013, a folder with CK+ names is CK+, else an image folder. */
export function detectDatasetKind(path: string): Exclude<DatasetKind, 'auto' | 'ferplus'> {
  if (!existsSync(path)) throw new CliError(`--data: no such file or directory: ${path}`);
  if (statSync(path).isFile()) return 'fer2013';
  if (existsSync(resolve(path, 'cohn-kanade-images')) || /ck\+?/i.test(path)) return 'ckplus';
  return 'folder';
}

/** Loads a dataset for the CLI, with a progress line for FER2013. */
export async function loadDataset(
  path: string,
  kind: DatasetKind,
  options: { ferPlusVotes?: string; ferPlusMode?: 'majority' | 'probability'; size?: number } = {},
): Promise<FaceDataset> {
  const resolved = kind === 'auto' ? (options.ferPlusVotes ? 'ferplus' : detectDatasetKind(path)) : kind;
  switch (resolved) {
    case 'fer2013':
    case 'ferplus': {
      let last = 0;
      const fer = await loadFer2013(path, {
        onProgress: (p) => {
          const now = performance.now();
          if (now - last > 1000) {
            last = now;
            process.stderr.write(`reading ${path}: ${p.rows} rows\n`);
          }
        },
      });
      if (resolved === 'fer2013') return fer;
      if (!options.ferPlusVotes)
        throw new CliError('--dataset ferplus needs --ferplus-votes <fer2013new.csv>.');
      return loadFerPlus(fer, options.ferPlusVotes, { mode: options.ferPlusMode ?? 'majority' });
    }
    case 'ckplus':
      return loadCkPlus(path);
    case 'folder':
      return loadImageFolder(path, { size: options.size ?? 48 });
  }
}

/** Loads a saved model (a directory holding model.json, or the model.json path) with its preprocessing. */
export async function loadModel(
  path: string,
): Promise<{ model: tfl.LayersModel; preprocessing: Preprocessing }> {
  const file = path.endsWith('.json') ? path : resolve(path, 'model.json');
  if (!existsSync(file)) throw new CliError(`--model: no model.json at ${file}`);
  const model = await tfl.loadLayersModel(`file://${resolve(file)}`);
  const inputSide = model.inputs[0]!.shape[1] ?? 44;
  const preprocessing = getPreprocessing(model) ?? {
    imageSize: 48,
    cropSize: inputSide,
    normalization: { mean: 0.5, std: 0.25 },
    classNames: [...FER2013_CLASSES],
  };
  return { model, preprocessing };
}

/** Parses a positive integer option, naming it in the error. */
export function intOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new CliError(`${name}: expected a positive integer, but got "${value}".`);
    return n;
  };
}

/** Parses a finite number option, naming it in the error. */
export function numberOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new CliError(`${name}: expected a number, but got "${value}".`);
    return n;
  };
}
