/**
 * Writes the browser demo's default model: a small ResNet-10 with CBAM in the paper's placement
 * (after the stem and after the last stage), width 8, input 44x44x1, 7 classes, with weights drawn
 * from a seeded generator, so every run writes the same `model.json` + `weights.bin`. It is
 * untrained: its probabilities mean nothing, but the page, the backends and the attention maps can be
 * checked against Node with it. A trained model (`npm run demo -- --out DIR` writes `DIR/model/`)
 * is loaded with `?model=` instead.
 *
 * Usage: `npx tsx scripts/make-demo-model.ts [--out examples/browser/public/model] [--seed 7]`
 */
import '@tensorflow/tfjs-backend-cpu';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { mulberry32 } from '../src/random';
import '../src/io/index'; // registers file:// in Node
import '../src/layers/index'; // registers the layer classes
import { FER2013_CLASSES } from '../src/data/dataset';
import {
  type Preprocessing,
  type ResNetCbamOptions,
  resnetCbam,
  setPreprocessing,
} from '../src/models/index';

/** The architecture of the demo model. */
export const DEMO_MODEL_OPTIONS: ResNetCbamOptions = {
  depth: 10,
  width: 8,
  inputShape: [44, 44, 1],
  numClasses: 7,
  placement: 'paper',
  name: 'fer_cbam_browser_demo',
};

/** How the page prepares faces for it (stored in model.json): pixels / 255, centre 44x44 of 48x48. */
export const DEMO_PREPROCESSING: Preprocessing = {
  imageSize: 48,
  cropSize: 44,
  normalization: { mean: 0, std: 1 },
  classNames: [...FER2013_CLASSES],
};

/** Where the page looks for its default model. */
export const DEMO_MODEL_DIR = 'examples/browser/public/model';

/**
 * Builds the demo model with seeded weights: He-normal convolution and dense kernels, small random
 * biases, and BatchNorm parameters and moving statistics away from their identity values (so that
 * the inference-mode normalisation is exercised), and {@link DEMO_PREPROCESSING} in its metadata.
 */
export function makeDemoModel(seed = 7): tfl.LayersModel {
  const model = resnetCbam(DEMO_MODEL_OPTIONS);
  const uniform = mulberry32(seed);
  const normal = (): number => {
    const u = 1 - uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  const values = model.weights.map((w) => {
    const shape = w.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const kind = w.name.split('/').pop()!.replace(/_\d+$/, '');
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < size; i++) {
      if (kind === 'kernel') data[i] = normal() * Math.sqrt(2 / fanIn);
      else if (kind === 'gamma') data[i] = 0.8 + 0.4 * uniform();
      else if (kind === 'moving_variance') data[i] = 0.5 + uniform();
      else data[i] = 0.1 * normal(); // bias, beta, moving_mean
    }
    return tf.tensor(data, shape);
  });
  model.setWeights(values);
  tf.dispose(values);
  setPreprocessing(model, DEMO_PREPROCESSING);
  return model;
}

/** Builds the demo model and saves it into `dir` (`model.json`, `weights.bin`). */
export async function saveDemoModel(dir: string, seed = 7): Promise<string> {
  const model = makeDemoModel(seed);
  try {
    await model.save(`file://${resolve(dir)}`);
  } finally {
    model.dispose();
  }
  return resolve(dir, 'model.json');
}

async function main(argv: string[]): Promise<void> {
  let out = DEMO_MODEL_DIR;
  let seed = 7;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--out' && argv[i + 1]) out = argv[++i]!;
    else if (arg === '--seed' && argv[i + 1]) seed = Number(argv[++i]);
    else if (arg === '--help' || arg === '-h') {
      console.log('Usage: npx tsx scripts/make-demo-model.ts [--out DIR] [--seed N]');
      return;
    } else throw new Error(`make-demo-model: unknown argument ${JSON.stringify(arg)} (see --help).`);
  }
  if (!Number.isInteger(seed)) throw new RangeError(`make-demo-model: expected \`--seed\` to be an integer.`);
  await tf.setBackend('cpu');
  console.log(`wrote ${await saveDemoModel(out, seed)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main(process.argv.slice(2));
}
