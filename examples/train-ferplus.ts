/**
 * Fine-tune a FER2013 model on the FER+ majority labels (8 classes: FER2013's 7 plus contempt), as
 * the pretrained `ferplus` model was made. Trains on the Training rows, selects the best epoch on the
 * PublicTest rows (the validation split), and saves the best model with its preprocessing.
 *
 *   npx tsx examples/train-ferplus.ts --init fer2013 --epochs 3 --out runs/ferplus
 *
 * `--init` is a pretrained name (`fer2013`) or a saved model directory; its classifier is replaced
 * by an 8-way one (`replaceClassifier`) and the whole network is trained with a one-cycle schedule.
 * Images keep the base model's normalisation. On a 2-core machine `--threads 1 --workers 1` uses both
 * cores (`train`'s gradient workers). In your project import from 'fer-cbam'.
 */
import { parseArgs } from 'node:util';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  type BackendName,
  evaluate,
  getPreprocessing,
  isPretrainedName,
  loadFer2013,
  loadFerPlus,
  loadPretrained,
  replaceClassifier,
  setPreprocessing,
  subsetDataset,
  train,
  usageIndices,
  useBackend,
} from '../src/index';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/fer2013/fer2013.csv.gz' },
    votes: { type: 'string', default: '../shared/data/ferplus/fer2013new.csv' },
    init: { type: 'string', default: 'fer2013' },
    epochs: { type: 'string', default: '3' },
    'batch-size': { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.02' },
    backend: { type: 'string', default: 'auto' },
    threads: { type: 'string' },
    workers: { type: 'string', default: '0' },
    out: { type: 'string', default: 'runs/ferplus' },
    seed: { type: 'string', default: '1' },
    resume: { type: 'boolean', default: false },
  },
});

const backend = await useBackend(args.backend as BackendName, {
  wasm: args.threads ? { threads: Number(args.threads) } : undefined,
});
const init = args.init!;
const base = isPretrainedName(init)
  ? await loadPretrained(init)
  : await tfl.loadLayersModel(`file://${init.replace(/\/model\.json$/, '')}/model.json`);
const basePre = getPreprocessing(base);
if (!basePre) throw new Error(`--init ${init}: the model has no stored preprocessing`);
console.log(`backend ${backend}; reading ${args.data} and ${args.votes}`);
const fer = await loadFerPlus(await loadFer2013(args.data!), args.votes!, { mode: 'majority' });
const trainSet = subsetDataset(fer, usageIndices(fer, 'Training'));
const validation = subsetDataset(fer, usageIndices(fer, 'PublicTest'));
const model = replaceClassifier(base, fer.classNames.length, { seed: Number(args.seed) });
setPreprocessing(model, { ...basePre, classNames: [...fer.classNames] });
console.log(
  `init ${init}; FER+ majority labels: ${trainSet.count} Training, ${validation.count} PublicTest images (${fer.dropped.length} dropped)`,
);
let last = performance.now();
const result = await train(
  model,
  { train: trainSet, validation },
  {
    epochs: Number(args.epochs),
    batchSize: Number(args['batch-size']),
    seed: Number(args.seed),
    schedule: { type: 'onecycle', maxLearningRate: Number(args.lr) },
    cropSize: basePre.cropSize,
    normalization: basePre.normalization,
    checkpointDir: args.out,
    workers: Number(args.workers),
    resume: args.resume,
    overwrite: !args.resume,
    callbacks: {
      onProgress: (p) => {
        if (performance.now() - last < 30_000) return;
        last = performance.now();
        console.log(`epoch ${p.epoch + 1}: ${p.images}/${trainSet.count} images, loss ${p.loss.toFixed(3)}`);
      },
      onEpochEnd: (log) =>
        console.log(
          `epoch ${log.epoch}: loss ${log.loss.toFixed(4)} val ${(100 * (log.valAccuracy ?? 0)).toFixed(2)} %`,
        ),
    },
  },
);
const best = await tfl.loadLayersModel(`file://${args.out}/best/model.json`);
const report = await evaluate(best, validation, {
  tenCrop: true,
  cropSize: basePre.cropSize,
  normalization: basePre.normalization,
});
console.log(
  `best epoch ${result.best?.epoch}: PublicTest (FER+ majority) ten-crop accuracy ${(100 * report.accuracy).toFixed(2)} %; model in ${args.out}/best`,
);
