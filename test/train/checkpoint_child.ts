// Run by checkpoint.test.ts in a child process: writes checkpoint 1, then starts checkpoint 2 and is
// killed (SIGKILL, no clean-up of any kind) just before one of its files would be renamed into place.
// Usage: node --import tsx checkpoint_child.ts <dir> <file-to-die-on>
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { atomicWriteHooks } from '../../src/io/atomic';
import { saveCheckpoint, type TrainingState } from '../../src/train/checkpoint';
import { SGD } from '../../src/train/sgd';

const [dir, dieOn] = process.argv.slice(2);
await tf.setBackend('cpu');
const input = tfl.input({ shape: [4] });
const model = tfl.model({
  inputs: input,
  outputs: tfl.layers.dense({ units: 3 }).apply(input) as tfl.SymbolicTensor,
});
const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
const sgd = new SGD();
const state = (epoch: number): TrainingState => ({
  format: 'fer-cbam-training-state',
  version: 1,
  epoch,
  batch: 0,
  globalStep: epoch,
  epochs: 5,
  batchSize: 2,
  seed: 0,
  schedule: { type: 'constant', learningRate: 0.1 },
  optimizer: { options: sgd.options, iterations: 0, shapes: [] },
  normalization: { mean: 0.5, std: 0.25 },
  cropSize: 4,
  classNames: ['a', 'b', 'c'],
  trainData: { count: 10, hash: 123 },
  partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
  best: null,
  history: [],
});
sgd.applyGradients(
  vars,
  vars.map((v) => tf.onesLike(v)),
  0.1,
);
model.setWeights(model.getWeights().map((w) => tf.fill(w.shape, 1)));
await saveCheckpoint(dir, model, await sgd.getState(), state(1));
model.setWeights(model.getWeights().map((w) => tf.fill(w.shape, 2)));
atomicWriteHooks.beforeRename = (target) => {
  if (target.endsWith(dieOn)) process.kill(process.pid, 'SIGKILL');
};
await saveCheckpoint(dir, model, await sgd.getState(), state(2));
process.exit(0);
