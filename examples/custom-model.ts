/**
 * CBAM inside your own model: a small functional CNN with a CBAM block after each conv stage,
 * trained briefly on the built-in synthetic faces with plain `model.fit`, saved and loaded again.
 *
 *   npx tsx examples/custom-model.ts
 *
 * In your project, import from 'fer-cbam' instead of '../src/index'.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  cbam,
  datasetStats,
  iterateBatches,
  squeezeExcitation,
  syntheticExpressions,
  useBackend,
} from '../src/index';

await useBackend('auto');

const input = tfl.input({ shape: [44, 44, 1] });
let x = tfl.layers
  .conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' })
  .apply(input) as tfl.SymbolicTensor;
x = cbam({ reductionRatio: 4 }).apply(x) as tfl.SymbolicTensor; // channel then spatial attention
x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
x = tfl.layers
  .conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' })
  .apply(x) as tfl.SymbolicTensor;
x = squeezeExcitation({ reductionRatio: 8 }).apply(x) as tfl.SymbolicTensor; // any attention layer fits
x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
const output = tfl.layers.dense({ units: 7, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
const model = tfl.model({ inputs: input, outputs: output });
model.summary();

const data = syntheticExpressions({ count: 700, seed: 1 });
const test = syntheticExpressions({ count: 210, seed: 2 });
const normalization = datasetStats(data);
model.compile({ optimizer: tf.train.adam(3e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

for (let epoch = 0; epoch < 3; epoch++) {
  for (const { xs, ys } of iterateBatches(data, {
    batchSize: 32,
    epoch,
    cropSize: 44,
    augment: true,
    normalization,
  })) {
    await model.trainOnBatch(xs, ys);
    tf.dispose([xs, ys]);
  }
  let correct = 0;
  for (const { xs, ys } of iterateBatches(test, {
    batchSize: 70,
    shuffle: false,
    cropSize: 44,
    augment: false,
    normalization,
  })) {
    const hits = tf.tidy(() =>
      tf.sum(tf.equal(tf.argMax(model.predict(xs) as tf.Tensor, 1), tf.argMax(ys, 1))),
    );
    correct += (await hits.data())[0]!;
    tf.dispose([xs, ys, hits]);
  }
  console.log(`epoch ${epoch + 1}: held-out accuracy ${((100 * correct) / test.count).toFixed(1)} %`);
}

// Custom layers save and load like built-in ones once fer-cbam is imported (file:// works without tfjs-node).
const dir = `${process.env.TMPDIR ?? '/tmp'}/fer-cbam-custom-model`;
await model.save(`file://${dir}`);
const loaded = await tfl.loadLayersModel(`file://${dir}/model.json`);
const probe = tf.randomNormal([1, 44, 44, 1]);
const same = tf.tidy(() =>
  tf.max(tf.abs(tf.sub(model.predict(probe) as tf.Tensor, loaded.predict(probe) as tf.Tensor))),
);
console.log(`saved to ${dir}; max difference after reload: ${(await same.data())[0]}`);
