/**
 * `train({ workers })`: the data-parallel step. Without BatchNorm it is the single-thread step (the
 * weighted mean of the parts' gradients is the batch's gradient); with BatchNorm it trains, leaks
 * nothing and is reproducible; bad values are refused.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticExpressions } from '../../src/data/synthetic';
import { resnetCbam } from '../../src/models/resnet_cbam';
import { evaluate } from '../../src/train/evaluate';
import { train } from '../../src/train/train';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const data = syntheticExpressions({ count: 24, seed: 3, size: 48 });
const heldOut = syntheticExpressions({ count: 12, seed: 9, size: 48 });

/** A small network without BatchNorm or dropout, with fixed initial weights. */
function plainModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [44, 44, 1] });
  let x = tfl.layers
    .conv2d({
      filters: 4,
      kernelSize: 3,
      strides: 2,
      activation: 'relu',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
    })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers
    .dense({ units: 7, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: x });
}

const options = {
  epochs: 2,
  batchSize: 8,
  seed: 5,
  schedule: { type: 'constant', learningRate: 0.05 } as const,
};

describe('train with gradient workers', () => {
  it('without BatchNorm, takes the same steps as the single-thread loop', async () => {
    const single = plainModel();
    const parallel = plainModel();
    const a = await train(single, { train: data }, options);
    const b = await train(parallel, { train: data }, { ...options, workers: 2 });
    for (const [i, w] of single.getWeights().entries()) {
      const x = w.dataSync();
      const y = parallel.getWeights()[i]!.dataSync();
      let worst = 0;
      for (let k = 0; k < x.length; k++)
        worst = Math.max(worst, Math.abs(x[k]! - y[k]!) / (Math.abs(x[k]!) + 1e-3));
      expect(worst).toBeLessThan(1e-4);
    }
    expect(b.history.map((h) => h.loss)).toEqual(a.history.map((h) => expect.closeTo(h.loss, 5)));
    expect(b.history.map((h) => h.accuracy)).toEqual(a.history.map((h) => h.accuracy));
  }, 120_000);

  it('trains a ResNet with BatchNorm reproducibly and frees every tensor', async () => {
    const run = async () => {
      const model = resnetCbam({ depth: 10, width: 4, inputShape: [44, 44, 1], numClasses: 7, seed: 1 });
      const before = tf.memory().numTensors;
      const result = await train(model, { train: data }, { ...options, epochs: 1, workers: 1 });
      expect(tf.memory().numTensors).toBe(before);
      const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
      model.dispose();
      return { loss: result.history[0]!.loss, weights };
    };
    const first = await run();
    const second = await run();
    expect(Number.isFinite(first.loss)).toBe(true);
    expect(second.weights).toEqual(first.weights);
  }, 120_000);

  it('evaluates with workers exactly as without, single and ten-crop (moving statistics included)', async () => {
    const model = resnetCbam({ depth: 10, width: 4, inputShape: [44, 44, 1], numClasses: 7, seed: 2 });
    // Moving statistics away from their initial 0 / 1, so that a worker without them would differ.
    await train(model, { train: data }, { ...options, epochs: 1 });
    for (const tenCrop of [false, true]) {
      const one = await evaluate(model, data, { tenCrop, batchSize: 10 });
      const two = await evaluate(model, data, { tenCrop, batchSize: 10, workers: 2 });
      expect(Array.from(two.predictions)).toEqual(Array.from(one.predictions));
      expect(two.loss).toBeCloseTo(one.loss, 5);
    }
    // Validation inside train() goes through the same workers.
    const result = await train(
      model,
      { train: data, validation: heldOut },
      { ...options, epochs: 1, workers: 1 },
    );
    const check = await evaluate(model, heldOut, { normalization: result.normalization });
    expect(result.history[0]!.valAccuracy).toBeCloseTo(check.accuracy, 10);
    model.dispose();
  }, 180_000);

  it('trains through a batch of one image (one part, no worker answer): issue 31, defect 1', async () => {
    // 9 images in batches of 8: the last batch holds one image, which goes to this thread alone.
    const nine = syntheticExpressions({ count: 9, seed: 4, size: 48 });
    const model = resnetCbam({ depth: 10, width: 4, inputShape: [44, 44, 1], numClasses: 7, seed: 3 });
    const before = tf.memory().numTensors;
    const result = await train(model, { train: nine }, { ...options, epochs: 1, workers: 1 });
    expect(result.epochsCompleted).toBe(1);
    expect(Number.isFinite(result.history[0]!.loss)).toBe(true);
    expect(result.history[0]!.accuracy).toBeGreaterThanOrEqual(0);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  }, 120_000);

  it('refuses a worker count that is not a non-negative integer', async () => {
    await expect(train(plainModel(), { train: data }, { ...options, workers: -1 })).rejects.toThrow(
      /`workers`/,
    );
    await expect(train(plainModel(), { train: data }, { ...options, workers: 1.5 })).rejects.toThrow(
      /`workers`/,
    );
  });
});
