import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/io/index';
import {
  loadCheckpoint,
  readTrainingLog,
  restoreModelWeights,
  saveCheckpoint,
  type TrainingState,
} from '../../src/train/checkpoint';
import { SGD } from '../../src/train/sgd';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fer-cbam-ckpt-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function denseModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [4] });
  const hidden = tfl.layers.dense({ units: 5, activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
  const bn = tfl.layers.batchNormalization().apply(hidden) as tfl.SymbolicTensor;
  return tfl.model({
    inputs: input,
    outputs: tfl.layers.dense({ units: 3 }).apply(bn) as tfl.SymbolicTensor,
  });
}

function stateAt(epoch: number, batch = 0): TrainingState {
  return {
    format: 'fer-cbam-training-state',
    version: 1,
    epoch,
    batch,
    globalStep: 10 * epoch + batch,
    epochs: 5,
    batchSize: 2,
    seed: 7,
    schedule: { type: 'cosine', learningRate: 0.05, minLearningRate: 0, warmupEpochs: 0 },
    optimizer: { options: { momentum: 0.9, weightDecay: 5e-4, nesterov: false }, iterations: 0, shapes: [] },
    normalization: { mean: 0.5, std: 0.25 },
    cropSize: 4,
    classNames: ['a', 'b', 'c'],
    trainData: { count: 10, hash: 123 },
    partial: { lossSum: 1.25, correct: 3, seen: 4, seconds: 0.5 },
    best: { monitor: 'valAccuracy', value: 0.75, epoch },
    history: [
      { epoch: 1, loss: 1.1, accuracy: 0.4, lr: 0.05, seconds: 1, imagesPerSec: 10, valAccuracy: 0.75 },
    ],
  };
}

function runChild(dir: string, dieOn: string): Promise<string | number | null> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'checkpoint_child.ts'), dir, dieOn],
      {
        stdio: 'ignore',
      },
    );
    child.on('exit', (code, signal) => resolve(signal ?? code));
  });
}

describe('checkpoints', () => {
  it('round-trip weights (BN statistics included), optimizer state and training state exactly', async () => {
    const model = denseModel();
    model.setWeights(model.getWeights().map((w, i) => tf.randomUniform(w.shape, 0.1, 1, 'float32', i)));
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const sgd = new SGD({ nesterov: true });
    sgd.applyGradients(
      vars,
      vars.map((v) => tf.randomNormal(v.shape, 0, 1, 'float32', 3)),
      0.1,
    );
    const optimizerState = await sgd.getState();
    const dir = join(root, 'roundtrip');
    const path = await saveCheckpoint(dir, model, optimizerState, stateAt(2, 3));
    expect(path).toBe(join(dir, 'epoch-0002-step-000003'));
    expect((await readdir(path)).sort()).toEqual([
      'model.json',
      'optimizer.bin',
      'state.json',
      'weights.bin',
    ]);

    const checkpoint = (await loadCheckpoint(dir))!;
    expect(checkpoint.state).toEqual({
      ...stateAt(2, 3),
      optimizer: { options: sgd.options, iterations: 1, shapes: vars.map((v) => v.shape) },
    });
    const other = denseModel();
    restoreModelWeights(other, checkpoint.weights);
    expect(other.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(
      model.getWeights().map((w) => Array.from(w.dataSync())),
    );
    expect(checkpoint.optimizer.iterations).toBe(1);
    checkpoint.optimizer.velocities.forEach((v, i) => {
      expect(Array.from(v.values)).toEqual(Array.from(optimizerState.velocities[i].values));
    });
    for (const w of checkpoint.weights) w.dispose();

    // A newer checkpoint replaces the older directory.
    await saveCheckpoint(dir, model, optimizerState, stateAt(3));
    expect((await readdir(dir)).sort()).toEqual(['checkpoint.json', 'epoch-0003']);
    // Saving the same position again (e.g. a stop right after a resume) never deletes the live one.
    await saveCheckpoint(dir, model, optimizerState, stateAt(3));
    expect((await readdir(dir)).sort()).toEqual(['checkpoint.json', 'epoch-0003-2']);
    expect(await loadCheckpoint(join(root, 'none'))).toBeNull();
    sgd.dispose();
  });

  it.each(['weights.bin', 'checkpoint.json'])(
    'a process killed while writing %s of checkpoint 2 leaves checkpoint 1 loadable',
    async (dieOn) => {
      const dir = join(root, `killed-${dieOn}`);
      expect(await runChild(dir, dieOn)).toBe('SIGKILL');
      const checkpoint = (await loadCheckpoint(dir))!;
      expect(checkpoint.state.epoch).toBe(1);
      expect(checkpoint.path).toBe(join(dir, 'epoch-0001'));
      // Checkpoint 1's weights are all ones, not checkpoint 2's twos.
      for (const w of checkpoint.weights) expect(Array.from(new Set(w.dataSync()))).toEqual([1]);
      expect(checkpoint.optimizer.velocities.length).toBe(2);
      for (const w of checkpoint.weights) w.dispose();
      const model = await tfl.loadLayersModel(`file://${join(checkpoint.path, 'model.json')}`);
      expect(model.countParams()).toBe(15);
      // The next save cleans up the debris of the killed one.
      const again = denseModel();
      await saveCheckpoint(
        dir,
        again,
        { options: { momentum: 0.9, weightDecay: 5e-4, nesterov: false }, iterations: 0, velocities: [] },
        stateAt(2),
      );
      expect((await readdir(dir)).sort()).toEqual(['checkpoint.json', 'epoch-0002']);
    },
  );

  it('refuses weights of another architecture, naming the weight', () => {
    const model = denseModel();
    const wrong = model.getWeights().map((w, i) => (i === 2 ? tf.zeros([7]) : w));
    expect(() => restoreModelWeights(model, wrong)).toThrow(
      /`weights\[2\] \(.*\)` to be of shape \[5\], but got \[7\]/,
    );
    expect(() => restoreModelWeights(model, [])).toThrow(/to be 8 tensors/);
  });

  it('reads the JSON-lines log and names the file and line of a bad line', async () => {
    const file = join(root, 'log.jsonl');
    await writeFile(file, '{"epoch":1,"loss":2}\n{"epoch":2,"loss":1}\n{oops\n');
    await expect(readTrainingLog(file)).rejects.toThrow(`"${file}" line 3 is not valid JSON`);
    await writeFile(file, '{"epoch":1,"loss":2}\n\n{"epoch":2,"loss":1}\n');
    expect((await readTrainingLog(file)).map((l) => l.epoch)).toEqual([1, 2]);
  });
});
