/**
 * CK+ with subject-independent 10-fold cross-validation: no person is ever in both the training and
 * the test folds (the common frame- or sequence-level split leaks identities and inflates accuracy).
 * Reports the accuracy of each fold and the mean and standard deviation over folds.
 *
 *   npx tsx examples/train-ckplus.ts                                   # from scratch, small and quick
 *   npx tsx examples/train-ckplus.ts --init runs/fer2013/best --epochs 20   # fine-tune a FER2013 model
 *
 * `--init` loads a saved fer-cbam model (e.g. the best FER2013 checkpoint) and replaces its
 * classifier for CK+'s 7 classes. In your project import from 'fer-cbam'.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  type BackendName,
  datasetStats,
  evaluate,
  loadCkPlus,
  resnetCbam,
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
    width: { type: 'string', default: '16' },
    depth: { type: 'string', default: '10' },
    'batch-size': { type: 'string', default: '32' },
    lr: { type: 'string', default: '0.05' },
    backend: { type: 'string', default: 'auto' },
    seed: { type: 'string', default: '0' },
    'max-folds': { type: 'string' },
  },
});

const backend = await useBackend(args.backend as BackendName);
const data = await loadCkPlus(args.data!);
const k = Number(args.folds);
const folds = subjectKFold(data.subjects, k, Number(args.seed), data.labels);
console.log(
  `backend ${backend}; CK+ ${data.count} images of ${new Set(data.subjects).size} subjects, ${k} subject-independent folds`,
);

async function buildModel(): Promise<tfl.LayersModel> {
  if (!args.init) {
    return resnetCbam({
      depth: Number(args.depth),
      width: Number(args.width),
      numClasses: data.classNames.length,
      classifierActivation: 'linear',
      seed: Number(args.seed),
    });
  }
  // Reuse everything up to the classifier of a FER2013 model; new 7-way classifier for CK+'s classes.
  const base = await tfl.loadLayersModel(`file://${args.init.replace(/\/model\.json$/, '')}/model.json`);
  const features = base.getLayer('avg_pool').output as tfl.SymbolicTensor;
  const logits = tfl.layers
    .dense({ units: data.classNames.length, name: 'ckplus_classifier' })
    .apply(features) as tfl.SymbolicTensor;
  return tfl.model({ inputs: base.inputs, outputs: logits });
}

const accuracies: number[] = [];
const maxFolds = args['max-folds'] ? Number(args['max-folds']) : folds.length;
for (const [i, fold] of folds.slice(0, maxFolds).entries()) {
  const trainSet = subsetDataset(data, fold.train);
  const testSet = subsetDataset(data, fold.test);
  const normalization = datasetStats(trainSet);
  const model = await buildModel();
  await train(
    model,
    { train: trainSet },
    {
      epochs: Number(args.epochs),
      batchSize: Number(args['batch-size']),
      schedule: { type: 'onecycle', maxLearningRate: Number(args.lr) },
      cropSize: 44,
      normalization,
      seed: Number(args.seed) + i,
    },
  );
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
tf.disposeVariables();
