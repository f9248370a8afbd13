/**
 * CK+ with subject-independent 10-fold cross-validation: no person is ever in both the training and
 * the test folds (the common frame- or sequence-level split leaks identities and inflates accuracy).
 * Reports the accuracy of each fold and the mean and standard deviation over folds.
 *
 *   npx tsx examples/train-ckplus.ts                                   # from scratch, small and quick
 *   npx tsx examples/train-ckplus.ts --init fer2013 --epochs 20 --lr 0.02 # fine-tune the pretrained FER2013 model
 *   npx tsx examples/train-ckplus.ts --init fer2013 --epochs 20 --lr 0.02 --save runs/ckplus   # + a final model on all of CK+
 *
 * The second line is the recipe of the shipped `ckplus` model (see docs/models.md#ckplus): about 5 min
 * per fold on one wasm thread.
 *
 * `--init` is a pretrained name (`fer2013`) or a saved fer-cbam model directory; its classifier is
 * replaced for CK+'s 7 classes (`replaceClassifier`) and images keep the base model's normalisation.
 * Every fold is scored after the last epoch (a fixed epoch, never the per-fold best, which would
 * select on the test fold). `--save DIR` then trains the same recipe on all of CK+ and saves the model
 * with its preprocessing; `--json FILE` writes the per-fold results. In your project import from 'fer-cbam'.
 */

import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  type BackendName,
  createModel,
  datasetStats,
  evaluate,
  type FaceDataset,
  getPreprocessing,
  isPretrainedName,
  loadCkPlus,
  loadPretrained,
  type Normalization,
  replaceClassifier,
  setPreprocessing,
  subjectKFold,
  subsetDataset,
  train,
  useBackend,
} from '../src/index';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/ckplus/CK+48' },
    init: { type: 'string' },
    folds: { type: 'string', default: '10' },
    epochs: { type: 'string', default: '8' },
    arch: { type: 'string', default: 'resnet10w16-cbam' },
    'batch-size': { type: 'string', default: '32' },
    lr: { type: 'string', default: '0.05' },
    backend: { type: 'string', default: 'auto' },
    threads: { type: 'string' },
    workers: { type: 'string', default: '0' },
    seed: { type: 'string', default: '0' },
    'max-folds': { type: 'string' },
    save: { type: 'string' },
    json: { type: 'string' },
  },
});

const backend = await useBackend(args.backend as BackendName, {
  wasm: args.threads ? { threads: Number(args.threads) } : undefined,
});
const data = await loadCkPlus(args.data!);
const k = Number(args.folds);
const folds = subjectKFold(data.subjects, k, Number(args.seed), data.labels);
console.log(
  `backend ${backend}; CK+ ${data.count} images of ${new Set(data.subjects).size} subjects, ${k} subject-independent folds`,
);

async function buildModel(
  trainSet: FaceDataset,
  seed: number,
): Promise<{ model: tfl.LayersModel; normalization: Normalization }> {
  if (!args.init) {
    const model = createModel(args.arch!, {
      numClasses: data.classNames.length,
      classifierActivation: 'linear',
      seed,
    });
    return { model, normalization: datasetStats(trainSet) };
  }
  // Everything up to the classifier of a FER2013 model, a new 7-way classifier for CK+'s classes.
  const base = isPretrainedName(args.init)
    ? await loadPretrained(args.init)
    : await tfl.loadLayersModel(`file://${args.init.replace(/\/model\.json$/, '')}/model.json`);
  const normalization = getPreprocessing(base)?.normalization ?? datasetStats(trainSet);
  return { model: replaceClassifier(base, data.classNames.length, { seed }), normalization };
}

async function trainRecipe(trainSet: FaceDataset, seed: number) {
  const { model, normalization } = await buildModel(trainSet, seed);
  await train(
    model,
    { train: trainSet },
    {
      epochs: Number(args.epochs),
      batchSize: Number(args['batch-size']),
      schedule: { type: 'onecycle', maxLearningRate: Number(args.lr) },
      cropSize: 44,
      normalization,
      seed,
      workers: Number(args.workers),
    },
  );
  return { model, normalization };
}

const started = performance.now();
const accuracies: number[] = [];
const maxFolds = args['max-folds'] ? Number(args['max-folds']) : folds.length;
for (const [i, fold] of folds.slice(0, maxFolds).entries()) {
  const trainSet = subsetDataset(data, fold.train);
  const testSet = subsetDataset(data, fold.test);
  const { model, normalization } = await trainRecipe(trainSet, Number(args.seed) + i);
  const report = await evaluate(model, testSet, { tenCrop: true, cropSize: 44, normalization });
  accuracies.push(report.accuracy);
  console.log(
    `fold ${i + 1}/${folds.length}: ${testSet.count} test images, ten-crop accuracy ${(100 * report.accuracy).toFixed(2)} %`,
  );
  model.dispose();
}
const mean = accuracies.reduce((s, a) => s + a, 0) / accuracies.length;
const std = Math.sqrt(
  accuracies.reduce((s, a) => s + (a - mean) ** 2, 0) / Math.max(1, accuracies.length - 1),
);
console.log(
  `subject-independent ${accuracies.length}-fold accuracy: ${(100 * mean).toFixed(2)} % ± ${(100 * std).toFixed(2)} (mean ± std over folds)`,
);
if (args.json) {
  const seconds = (performance.now() - started) / 1000;
  await writeFile(args.json, `${JSON.stringify({ args, accuracies, mean, std, seconds }, null, 1)}\n`);
}
if (args.save) {
  // The shipped model: the same recipe on every CK+ image (seed after the folds').
  const { model, normalization } = await trainRecipe(data, Number(args.seed) + folds.length);
  setPreprocessing(model, { imageSize: 48, cropSize: 44, normalization, classNames: [...data.classNames] });
  await model.save(`file://${args.save}`);
  console.log(`model trained on all ${data.count} CK+ images saved to ${args.save}`);
}
tf.disposeVariables();
