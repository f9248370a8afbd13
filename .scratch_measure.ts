// Scratch (not committed): how fast ResNet-10+CBAM reaches 90 % on syntheticExpressions.
import { useBackend } from './src/backends/select';
import { datasetStats } from './src/data/stats';
import { syntheticExpressions, type SyntheticVariation } from './src/data/synthetic';
import { resnetCbam } from './src/models/resnet_cbam';
import { evaluate } from './src/train/evaluate';
import { train } from './src/train/train';

const [size, crop, width, count, epochs, variationArg] = [Number(process.argv[2] ?? 32), Number(process.argv[3] ?? 28), Number(process.argv[4] ?? 8), Number(process.argv[5] ?? 1400), Number(process.argv[6] ?? 3), process.argv[7]];
const variation: SyntheticVariation | undefined = variationArg ? JSON.parse(variationArg) : undefined;
const backend = await useBackend('auto');
const trainSet = syntheticExpressions({ count, seed: 1, size, variation });
const testSet = syntheticExpressions({ count: 350, seed: 7920, size, variation });
const model = resnetCbam({ depth: 10, width, inputShape: [crop, crop, 1], placement: 'paper', dropout: 0, classifierActivation: 'linear' });
const normalization = datasetStats(trainSet);
const t0 = performance.now();
const marks: string[] = [];
await train(model, { train: trainSet }, {
  epochs, batchSize: Number(process.env.BS ?? 32), seed: 1, schedule: { type: 'onecycle', maxLearningRate: 0.2, pctStart: 0.25 }, cropSize: crop, normalization, augment: true,
  callbacks: { onEpochEnd: async () => {
    const secs = (performance.now() - t0) / 1000;
    const r = await evaluate(model, testSet, { tenCrop: false, cropSize: crop, normalization });
    marks.push(`after epoch: ${secs.toFixed(0)} s train-time, acc ${(100 * r.accuracy).toFixed(1)} %`);
    console.log(marks.at(-1));
  } } as never,
});
const r = await evaluate(model, testSet, { tenCrop: true, cropSize: crop, normalization });
console.log(JSON.stringify({ backend, size, crop, width, count, epochs, variation: variation ?? 'defaults', tenCropAccuracy: r.accuracy, seconds: (performance.now() - t0) / 1000 }));
