import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import '../../src/io/index';
import { atomicWriteHooks } from '../../src/io/atomic';
import { withSeededRandom } from '../../src/random';
import { loadCheckpoint, readBestModelInfo, readTrainingLog } from '../../src/train/checkpoint';
import { evaluate } from '../../src/train/evaluate';
import { train } from '../../src/train/train';
import { blobDataset, strokeNet, tinyCnn, twinModels, weightsOf } from './helpers';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fer-cbam-train-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
afterEach(() => {
  atomicWriteHooks.beforeRename = undefined;
});

const trainSet = blobDataset(60, 1);
const valSet = blobDataset(48, 2);
/** For the mechanics tests (resume, crash, progress): fewer images, same shapes. */
const smallSet = blobDataset(48, 6);
const base = { batchSize: 16, seed: 3, schedule: { type: 'constant', learningRate: 0.05 } } as const;

describe('train', () => {
  it('learns a small synthetic problem well above chance, and validation picks the best model', async () => {
    // Reaches 0.92-1.00 validation accuracy for every seed tried (3-11); chance is 1/3.
    const model = withSeededRandom(1, strokeNet);
    const dir = join(root, 'learn');
    const epochLogs: number[] = [];
    const result = await train(
      model,
      { train: trainSet, validation: valSet },
      {
        ...base,
        batchSize: 8,
        epochs: 6,
        schedule: { type: 'onecycle', maxLearningRate: 0.1 },
        nesterov: true,
        checkpointDir: dir,
        callbacks: { onEpochEnd: (log) => void epochLogs.push(log.epoch) },
      },
    );
    expect(epochLogs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(result.epochsCompleted).toBe(6);
    expect(result.stopped).toBe(false);
    expect(result.globalStep).toBe(6 * 8); // 60 images in batches of 8: 8 steps per epoch
    const last = result.history.at(-1)!;
    expect(last.valAccuracy).toBeGreaterThan(0.8); // chance is 1/3
    expect(result.best?.monitor).toBe('valAccuracy');
    expect(result.best?.value).toBe(Math.max(...result.history.map((h) => h.valAccuracy!)));

    const metrics = await evaluate(model, valSet, { normalization: result.normalization });
    expect(metrics.accuracy).toBeCloseTo(last.valAccuracy!, 10);
    expect(metrics.loss).toBeCloseTo(last.valLoss!, 5);

    // Files: checkpoint pointer + one checkpoint dir, best model with its metadata, the JSON-lines log.
    expect((await readdir(dir)).sort()).toEqual(['best', 'checkpoint.json', 'epoch-0006', 'log.jsonl']);
    const log = await readTrainingLog(dir);
    expect(log).toHaveLength(6);
    expect(Object.keys(log[0]).sort()).toEqual(
      ['accuracy', 'epoch', 'imagesPerSec', 'loss', 'lr', 'seconds', 'valAccuracy', 'valLoss'].sort(),
    );
    expect(log.map((l) => l.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(log[0].imagesPerSec).toBeGreaterThan(0);
    const info = await readBestModelInfo(join(dir, 'best'));
    expect(info).toMatchObject({
      monitor: 'valAccuracy',
      value: result.best!.value,
      epoch: result.best!.epoch,
      cropSize: 10,
    });
    expect(info!.normalization.std).toBeGreaterThan(0);
    const best = await tfl.loadLayersModel(`file://${join(dir, 'best', 'model.json')}`);
    const bestMetrics = await evaluate(best, valSet, { normalization: info!.normalization });
    expect(bestMetrics.accuracy).toBeCloseTo(result.best!.value, 10);
  });

  it('one step equals a hand-computed SGD step on the softmax cross-entropy', async () => {
    const [model, reference] = twinModels();
    const data = blobDataset(8, 9);
    const normalization = { mean: 0.4, std: 0.2 };
    const lr = 0.1;
    await train(
      model,
      { train: data },
      {
        epochs: 1,
        batchSize: 8,
        schedule: { type: 'constant', learningRate: lr },
        momentum: 0,
        weightDecay: 0.01,
        augment: false,
        normalization,
      },
    );
    // By hand: the centre-crop batch in shuffled order does not matter for a full batch mean.
    const { iterateBatches } = await import('../../src/data/batches');
    const [batch] = [...iterateBatches(data, { batchSize: 8, cropSize: 10, normalization })];
    const vars = reference.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => {
      const logits = reference.apply(batch.xs, { training: true }) as tf.Tensor;
      return tf.neg(tf.mean(tf.sum(tf.mul(batch.ys, tf.logSoftmax(logits)), -1))) as tf.Scalar;
    }, vars);
    const expected = vars.map((v) => tf.sub(v, tf.mul(lr, tf.add(grads[v.name], tf.mul(0.01, v)))));
    const got = model.trainableWeights.map((w) => w.read());
    got.forEach((g, i) => {
      const a = g.dataSync();
      const b = expected[i].dataSync();
      for (let k = 0; k < a.length; k++) expect(a[k]).toBeCloseTo(b[k], 5);
    });
  });

  it('resume: 1 epoch + resume 1 epoch ends bit-identical to 2 epochs straight (BN and dropout)', async () => {
    const [straight, interrupted] = twinModels({ dropout: 0.3 });
    const fresh = tinyCnn({ dropout: 0.3 }); // a new process would build a new model: weights come from the checkpoint
    const data = { train: smallSet, validation: valSet };
    const options = { ...base, nesterov: true, weightDecay: 1e-3, schedule: 'paper' } as const;
    const a = await train(straight, data, { ...options, epochs: 2, checkpointDir: join(root, 'straight') });
    const dir = join(root, 'resumed');
    await train(interrupted, data, { ...options, epochs: 1, checkpointDir: dir });
    const b = await train(fresh, data, { ...options, epochs: 2, checkpointDir: dir, resume: true });
    expect(weightsOf(fresh)).toEqual(weightsOf(straight));
    const strip = (h: typeof a.history) => h.map(({ seconds: _s, imagesPerSec: _i, ...rest }) => rest);
    expect(strip(b.history)).toEqual(strip(a.history));
    expect(strip(await readTrainingLog(dir))).toEqual(strip(a.history));
    expect(b.best).toEqual(a.best);
  });

  it('resume with a per-step schedule (cosine): stopped after epoch 1 of 2, resumed, bit-identical', async () => {
    const [straight, interrupted] = twinModels({ dropout: 0.3 });
    const data = { train: smallSet };
    const options = { ...base, epochs: 2, schedule: 'cosine' } as const;
    await train(straight, data, options);
    const dir = join(root, 'cosine');
    const first = await train(interrupted, data, {
      ...options,
      checkpointDir: dir,
      callbacks: { onEpochEnd: (_log, control) => control.stop() },
    });
    expect(first).toMatchObject({ stopped: true, epochsCompleted: 1 });
    // The schedule's shape depends on the planned length, so a different `epochs` is refused.
    await expect(
      train(tinyCnn({ dropout: 0.3 }), data, { ...options, epochs: 3, checkpointDir: dir, resume: true }),
    ).rejects.toThrow(/`epochs` to be 2 to resume/);
    const fresh = tinyCnn({ dropout: 0.3 });
    await train(fresh, data, { ...options, checkpointDir: dir, resume: true });
    expect(weightsOf(fresh)).toEqual(weightsOf(straight));
  });

  it('a stop mid-epoch (abort signal) saves a checkpoint that resumes exactly', async () => {
    const [straight, interrupted] = twinModels({ dropout: 0.3 });
    const data = { train: smallSet, validation: valSet };
    const options = { ...base, epochs: 2, schedule: { type: 'onecycle' } } as const;
    await train(straight, data, options);
    const dir = join(root, 'aborted');
    const controller = new AbortController();
    let batches = 0;
    const first = await train(interrupted, data, {
      ...options,
      checkpointDir: dir,
      signal: controller.signal,
      callbacks: {
        onBatchEnd: (log) => {
          if (++batches === 5) controller.abort(); // epoch 1 after its batch 2 (3 batches per epoch)
          expect(log.lr).toBeGreaterThan(0);
        },
      },
    });
    expect(first.stopped).toBe(true);
    expect(first.epochsCompleted).toBe(1);
    const checkpoint = await loadCheckpoint(dir);
    expect(checkpoint!.state).toMatchObject({ epoch: 1, batch: 2, globalStep: 5 });
    expect(checkpoint!.path.endsWith('epoch-0001-step-000002')).toBe(true);
    for (const w of checkpoint!.weights) w.dispose();
    const fresh = tinyCnn({ dropout: 0.3 });
    const second = await train(fresh, data, { ...options, checkpointDir: dir, resume: true });
    expect(second.stopped).toBe(false);
    expect(weightsOf(fresh)).toEqual(weightsOf(straight));
  });

  it('an abort from a timer (as Ctrl-C would send) is seen between batches, not only at the end', async () => {
    const model = tinyCnn();
    const controller = new AbortController();
    // The timer can only fire if the loop yields to the event loop between (synchronous) steps.
    setTimeout(() => controller.abort(), 0);
    const result = await train(
      model,
      { train: blobDataset(96, 11) },
      { epochs: 3, batchSize: 8, cropSize: 10, signal: controller.signal },
    );
    expect(result.stopped).toBe(true);
    expect(result.globalStep).toBeLessThan(3);
  });

  it('a crash while writing a checkpoint leaves the previous one loadable, and resuming from it is exact', async () => {
    const [straight, crashed] = twinModels();
    const data = { train: smallSet };
    const options = { ...base, epochs: 3 } as const;
    await train(straight, data, options);
    const dir = join(root, 'crash');
    atomicWriteHooks.beforeRename = (target) => {
      // Epoch 2's checkpoint: its files are written, the crash comes before the pointer moves.
      if (target.endsWith('checkpoint.json') && crashed.getWeights().length > 0 && pointerWrites++ === 1) {
        throw new Error('simulated crash');
      }
    };
    let pointerWrites = 0;
    await expect(train(crashed, data, { ...options, checkpointDir: dir })).rejects.toThrow(/simulated crash/);
    atomicWriteHooks.beforeRename = undefined;
    const checkpoint = await loadCheckpoint(dir);
    expect(checkpoint!.state.epoch).toBe(1);
    for (const w of checkpoint!.weights) w.dispose();
    // The half-written epoch-0002 is never pointed at; the model of epoch 1 loads.
    const model1 = await tfl.loadLayersModel(`file://${join(dir, 'epoch-0001', 'model.json')}`);
    expect(model1.countParams()).toBe(straight.countParams());
    const fresh = tinyCnn();
    await train(fresh, data, { ...options, checkpointDir: dir, resume: true });
    expect(weightsOf(fresh)).toEqual(weightsOf(straight));
    expect((await readdir(dir)).filter((n) => n.startsWith('epoch-'))).toEqual(['epoch-0003']);
  });

  it('FER2013 splits: Training rows train, PublicTest rows validate, PrivateTest is refused', async () => {
    const fer = blobDataset(60, 4, true);
    const model = tinyCnn({ softmax: true });
    const seen = { train: 0, validation: 0 };
    await train(
      model,
      { train: fer, validation: fer },
      {
        ...base,
        epochs: 1,
        callbacks: {
          onTrainBegin: (info) => {
            seen.train = info.trainCount;
            seen.validation = info.validationCount;
          },
        },
      },
    );
    expect(seen).toEqual({ train: 36, validation: 12 });
    const privateRows = [4, 9];
    await expect(
      train(model, { train: fer, validation: fer, validationIndices: privateRows }, base),
    ).rejects.toThrow(/`data.validationIndices\[0\]` to be not a PrivateTest image/);
    await expect(train(model, { train: fer, trainIndices: [0, 4] }, base)).rejects.toThrow(
      /`data.trainIndices\[1\]`/,
    );
    await expect(
      train(
        model,
        { train: trainSet, validation: trainSet, trainIndices: [0, 1, 2], validationIndices: [2, 3] },
        base,
      ),
    ).rejects.toThrow(/`data.validationIndices\[0\]` to be an image not used for training/);
  });

  it('refuses bad options, a mismatched model, and a resume with another seed', async () => {
    const model = tinyCnn();
    await expect(train(model, { train: trainSet }, { epochs: 0 })).rejects.toThrow(
      /`epochs` to be a positive integer/,
    );
    await expect(train(model, { train: trainSet }, { clipNorm: -1 })).rejects.toThrow(/`clipNorm`/);
    await expect(train(model, { train: trainSet }, { monitor: 'loss' as 'valLoss' })).rejects.toThrow(
      /`monitor`/,
    );
    const seven = { ...trainSet, classNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] };
    await expect(train(model, { train: seven }, base)).rejects.toThrow(
      /`model` to be a model with one output of 7 units/,
    );
    const dir = join(root, 'mismatch');
    await train(model, { train: trainSet }, { ...base, epochs: 1, checkpointDir: dir });
    await expect(
      train(model, { train: trainSet }, { ...base, seed: 4, epochs: 2, checkpointDir: dir, resume: true }),
    ).rejects.toThrow(/`seed` to be 3 to resume the checkpoint/);
    // The workers count shapes each batch's BatchNorm statistics: recorded, and another is refused.
    const pointer = JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8'));
    expect(JSON.parse(await readFile(join(dir, pointer.latest, 'state.json'), 'utf8')).workers).toBe(0);
    await expect(
      train(model, { train: trainSet }, { ...base, workers: 1, epochs: 2, checkpointDir: dir, resume: true }),
    ).rejects.toThrow(/`workers` to be 0 to resume the checkpoint/);
    await expect(
      train(
        model,
        { train: trainSet, trainIndices: [0, 1, 2, 3] },
        { ...base, epochs: 2, checkpointDir: dir, resume: true },
      ),
    ).rejects.toThrow(/`data.train \(its selected images and labels\)` to be \{"count":60,/);
    await expect(
      train(model, { train: trainSet }, { ...base, epochs: 2, checkpointDir: dir }),
    ).rejects.toThrow(/already holds a checkpoint/);
    const again = await train(
      model,
      { train: trainSet },
      { ...base, epochs: 1, checkpointDir: dir, overwrite: true },
    );
    expect(again.epochsCompleted).toBe(1);
    expect(await readFile(join(dir, 'log.jsonl'), 'utf8')).toMatch(/^\{"epoch":1,[^\n]*\}\n$/);
  });

  it('clips gradients by global norm: one plain SGD step moves the weights by lr * clipNorm', async () => {
    const model = tinyCnn();
    const before = model.trainableWeights.map((w) => w.read().clone());
    await train(
      model,
      { train: blobDataset(8, 5) },
      {
        epochs: 1,
        batchSize: 8,
        momentum: 0,
        weightDecay: 0,
        clipNorm: 1e-3,
        schedule: { type: 'constant', learningRate: 0.5 },
      },
    );
    const delta = tf.tidy(
      () =>
        tf
          .sqrt(tf.addN(model.trainableWeights.map((w, i) => tf.sum(tf.square(tf.sub(w.read(), before[i]))))))
          .dataSync()[0],
    );
    expect(delta).toBeCloseTo(0.5e-3, 6);
  });

  it('reports progress with images/s and ETA, and does not leak tensors', async () => {
    const model = tinyCnn();
    const data = { train: smallSet, validation: valSet };
    await train(model, data, { ...base, epochs: 1 }); // warm-up: creates the weights' gradients paths
    const before = tf.memory().numTensors;
    const phases: string[] = [];
    let lastEta = Number.POSITIVE_INFINITY;
    await train(model, data, {
      ...base,
      epochs: 2,
      callbacks: {
        onProgress: (p) => {
          phases.push(p.phase);
          expect(p.imagesPerSec).toBeGreaterThan(0);
          expect(p.etaSeconds).toBeGreaterThanOrEqual(0);
          if (p.phase === 'train') lastEta = p.etaSeconds;
        },
      },
    });
    expect(phases.filter((p) => p === 'train')).toHaveLength(6);
    expect(phases.filter((p) => p === 'validate')).toHaveLength(6);
    expect(lastEta).toBeLessThan(60);
    expect(tf.memory().numTensors).toBe(before);
  });
});
