/**
 * Train the paper's network on FER2013 and report PublicTest ten-crop accuracy.
 *
 *   npx tsx examples/train-fer2013.ts                           # CPU smoke run (a few minutes)
 *   npx tsx examples/train-fer2013.ts --full --arch resnet18-cbam --backend webgpu
 *
 * The recipe (the paper's, after WuJie1010/Facial-Expression-Recognition.Pytorch): random 44x44 crops
 * and horizontal flips of the 48x48 faces, SGD with momentum 0.9 and weight decay 5e-4, lr 0.01 decayed
 * x0.9 every 5 epochs after epoch 80 (`--schedule paper`), ten-crop averaging at test time. The best
 * epoch is selected on PublicTest (the validation split); the PrivateTest split is never touched.
 * `--schedule onecycle --lr 0.05` is the PyTorch reference's faster recipe (40 epochs).
 *
 * `--arch` is a preset name (`resnet10w16-cbam`: ResNet-10, width 16, CBAM as in the paper; see
 * `createModel`). Defaults are sized for a smoke run on a laptop CPU: a subset, `resnet10w16-cbam`, one
 * epoch. `--full` switches to all rows, `resnet18-cbam` and 40 epochs. In your project import from 'fer-cbam'.
 */
import { parseArgs } from 'node:util';
import {
  type BackendName,
  createModel,
  datasetStats,
  evaluate,
  formatConfusionMatrix,
  loadFer2013,
  type ScheduleName,
  setPreprocessing,
  subsetDataset,
  train,
  usageIndices,
  useBackend,
} from '../src/index';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/fer2013/fer2013.csv.gz' },
    full: { type: 'boolean', default: false },
    arch: { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    schedule: { type: 'string' },
    lr: { type: 'string' },
    limit: { type: 'string', default: '3000' },
    'val-limit': { type: 'string', default: '600' },
    backend: { type: 'string', default: 'auto' },
    out: { type: 'string', default: 'runs/fer2013-example' },
    seed: { type: 'string', default: '1' },
  },
});
const full = args.full;
const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
const arch = args.arch ?? (full ? 'resnet18-cbam' : 'resnet10w16-cbam');
const epochs = num(args.epochs, full ? 40 : 1);
const batchSize = num(args['batch-size'], full ? 128 : 32);
const schedule = (args.schedule ?? (full ? 'onecycle' : 'constant')) as ScheduleName;
const lr = num(args.lr, schedule === 'onecycle' ? 0.05 : 0.01);

const backend = await useBackend(args.backend as BackendName);
console.log(`backend ${backend}; reading ${args.data}`);
const data = await loadFer2013(args.data!);
const trainIdx = usageIndices(data, 'Training');
const valIdx = usageIndices(data, 'PublicTest');
const limit = full ? trainIdx.length : Math.min(trainIdx.length, Number(args.limit));
const valLimit = full ? valIdx.length : Math.min(valIdx.length, Number(args['val-limit']));
const trainSet = subsetDataset(data, trainIdx.slice(0, limit));
const validation = subsetDataset(data, valIdx.slice(0, valLimit));

const model = createModel(arch, { classifierActivation: 'linear', seed: Number(args.seed) });
const normalization = datasetStats(trainSet);
setPreprocessing(model, { imageSize: 48, cropSize: 44, normalization, classNames: data.classNames });
console.log(
  `${arch}: ${model.countParams()} parameters; ${trainSet.count} training, ${validation.count} PublicTest images`,
);

const result = await train(
  model,
  { train: trainSet, validation },
  {
    epochs,
    batchSize,
    seed: Number(args.seed),
    schedule:
      schedule === 'onecycle'
        ? { type: 'onecycle', maxLearningRate: lr, pctStart: 0.15 }
        : { type: schedule, learningRate: lr },
    nesterov: schedule === 'onecycle',
    cropSize: 44,
    normalization,
    checkpointDir: args.out,
    overwrite: true,
    callbacks: {
      onEpochEnd: (log) =>
        console.log(
          `epoch ${log.epoch}/${epochs}: loss ${log.loss.toFixed(4)}, train ${(100 * log.accuracy).toFixed(1)} %, ` +
            `PublicTest ${log.valAccuracy === undefined ? '-' : (100 * log.valAccuracy).toFixed(2)} %, ${log.imagesPerSec.toFixed(1)} img/s`,
        ),
    },
  },
);
const report = await evaluate(model, validation, { tenCrop: true, cropSize: 44, normalization });
console.log(formatConfusionMatrix(report.confusionMatrix, data.classNames));
console.log(
  `PublicTest ten-crop accuracy (last epoch): ${(100 * report.accuracy).toFixed(2)} %; best epoch: ${JSON.stringify(result.best)}`,
);
