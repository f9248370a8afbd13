// Runs on any WebGPU adapter, including Mesa's lavapipe (CPU Vulkan) in CI; skipped without one.
// Shapes are tiny: lavapipe compiles every shader on the CPU.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeWebGPU, setupWebGPU } from '../../src/backends/webgpu';
import {
  registerWebGPUTrainingKernels,
  unregisterWebGPUTrainingKernels,
} from '../../src/backends/webgpu_kernels';
import { countWebGPUCalls } from '../../src/diagnostics/webgpu_counter';
import { FusedBatchNormalization } from '../../src/layers/batch_norm';
import {
  BATCH_NORM_GRAD_KERNEL,
  batchNormGradients,
  CHANNEL_MOMENTS_KERNEL,
  channelMoments,
  LINEAR_COMBINATION_KERNEL,
  linearCombination,
} from '../../src/ops/index';
import { SGD } from '../../src/train/sgd';
import {
  type ConvCase,
  convGrads,
  relError,
  seededTensor,
  tinyResNet,
  trainingGradients,
  valuesOn,
} from './helpers';

const adapter = await probeWebGPU();
// GPU float32 (and lavapipe's reassociated sums) differ from the cpu backend in the last bits.
const TOLERANCE = 1e-4;

const CASES: ConvCase[] = [
  [[2, 7, 7, 3], [3, 3, 3, 4], 1, 'same'],
  [[2, 8, 8, 3], [3, 3, 3, 4], 2, 'same'],
  [[2, 6, 6, 4], [1, 1, 4, 8], 2, 'same'],
  [[2, 8, 9, 3], [3, 2, 3, 5], 2, 'valid'],
];

describe.skipIf(adapter == null)('webgpu backend (on the available adapter)', () => {
  beforeAll(async () => {
    const { trainingKernels } = await setupWebGPU();
    expect(trainingKernels).toEqual([
      'Conv2DBackpropFilter',
      LINEAR_COMBINATION_KERNEL,
      CHANNEL_MOMENTS_KERNEL,
      BATCH_NORM_GRAD_KERNEL,
    ]);
  });

  afterAll(async () => {
    unregisterWebGPUTrainingKernels();
    await tf.setBackend('cpu');
  });

  it.each(CASES)(
    'Conv2D gradients for x %j, filter %j, strides %j, pad %j equal the cpu backend',
    async (...c) => {
      const cpu = await valuesOn('cpu', convGrads(c));
      const gpu = await valuesOn('webgpu', convGrads(c));
      expect(relError(gpu[0]!, cpu[0]!), 'dx').toBeLessThan(TOLERANCE);
      expect(relError(gpu[1]!, cpu[1]!), 'dw').toBeLessThan(TOLERANCE);
    },
  );

  it('the optional stride-phase Conv2DBackpropInput agrees too', async () => {
    registerWebGPUTrainingKernels({ replaceConv2DBackpropInput: true });
    try {
      for (const c of [CASES[1]!, CASES[2]!]) {
        const cpu = await valuesOn('cpu', convGrads(c));
        const gpu = await valuesOn('webgpu', convGrads(c));
        expect(relError(gpu[0]!, cpu[0]!)).toBeLessThan(TOLERANCE);
      }
    } finally {
      registerWebGPUTrainingKernels();
    }
  });

  it.each(['tfjs', 'fused'] as const)(
    'gives the training gradients of the cpu backend for a small ResNet (%s BatchNorm), without leaks',
    async (batchNorm) => {
      await tf.setBackend('cpu');
      const model = tinyResNet([8, 8, 1], 4, 3, batchNorm);
      const step = () =>
        trainingGradients(model, seededTensor([2, 8, 8, 1], 11), tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3));
      const cpu = await valuesOn('cpu', step);
      const gpu = await valuesOn('webgpu', step);
      for (let i = 0; i < cpu.length; i++) {
        expect(relError(gpu[i]!, cpu[i]!), model.trainableWeights[i - 1]?.name ?? 'loss').toBeLessThan(
          TOLERANCE,
        );
      }
      const before = tf.memory().numTensors;
      await valuesOn('webgpu', step);
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    },
  );

  it('fuses linearCombination into one dispatch, equal to the cpu ops', async () => {
    // 65,535 * 256 + 1 elements need a second row of workgroups (one dimension holds 65,535).
    for (const shape of [[3, 5, 7], [65535 * 256 + 1]]) {
      const combine = () =>
        linearCombination([
          [seededTensor(shape, 1), 0.9],
          [seededTensor(shape, 2), 1],
          [seededTensor(shape, 3), -5e-4],
        ]);
      const cpu = await valuesOn('cpu', combine);
      await tf.setBackend('webgpu');
      const counter = countWebGPUCalls();
      const gpu = await valuesOn('webgpu', combine);
      // seededTensor uploads its values; the combination itself is the one dispatch.
      expect(counter.stop().dispatches, `shape ${shape}`).toBe(1);
      expect(relError(gpu[0]!, cpu[0]!), `shape ${shape}`).toBeLessThan(1e-6);
    }
  });

  it.each([
    [[2, 5, 4, 6], 0],
    [[3, 7, 7, 1], 0],
    [[4, 9, 9, 3], 50], // a mean far from zero: the variance must not cancel
    [[5, 77], 0], // rows not a multiple of the partition
    [[1024, 65], 0], // more rows than partial sums
  ])(
    'BatchNorm moments and gradients (%j, offset %d) in 3 + 4 dispatches equal the cpu ops',
    async (shape, offset) => {
      const c = shape[shape.length - 1]!;
      let dispatches = -1;
      const run = (): tf.Tensor[] => {
        const x = tf.add(tf.mul(seededTensor(shape, 1), 2), offset);
        const dy = seededTensor(shape, 2);
        const gamma = seededTensor([c], 3);
        const counter = tf.getBackend() === 'webgpu' ? countWebGPUCalls() : null;
        const { mean, variance } = channelMoments(x);
        const g = batchNormGradients(x, dy, mean, variance, gamma, 1e-5);
        if (counter) dispatches = counter.stop().dispatches;
        return [mean, variance, g.dx, g.dgamma, g.dbeta];
      };
      const cpu = await valuesOn('cpu', run);
      const gpu = await valuesOn('webgpu', run);
      expect(dispatches).toBe(7);
      const names = ['mean', 'variance', 'dx', 'dgamma', 'dbeta'];
      for (let i = 0; i < cpu.length; i++)
        expect(relError(gpu[i]!, cpu[i]!), names[i]).toBeLessThan(TOLERANCE);
    },
  );

  it('SGD steps and BatchNorm moving statistics equal the cpu backend with the fused kernel', async () => {
    const run = (): tf.Tensor[] => {
      const w = tf.variable(seededTensor([4, 6], 4));
      const sgd = new SGD({ momentum: 0.9, weightDecay: 5e-4, nesterov: true });
      for (let step = 0; step < 3; step++) sgd.applyGradients([w], [seededTensor([4, 6], 5 + step)], 0.1);
      const bn = new FusedBatchNormalization();
      const x = seededTensor([2, 3, 3, 6], 9);
      tf.dispose(bn.apply(x, { training: true }) as tf.Tensor);
      tf.dispose(bn.apply(tf.mul(x, 2), { training: true }) as tf.Tensor);
      const out = [
        w.clone(),
        ...bn
          .getWeights()
          .slice(2)
          .map((t) => t.clone()),
      ];
      w.dispose();
      bn.dispose();
      return out;
    };
    const cpu = await valuesOn('cpu', run);
    const gpu = await valuesOn('webgpu', run);
    for (let i = 0; i < cpu.length; i++) expect(relError(gpu[i]!, cpu[i]!), `output ${i}`).toBeLessThan(1e-5);
  });

  it('counts dispatches and submits, and unhooks on stop()', async () => {
    await tf.setBackend('webgpu');
    const a = seededTensor([64, 64], 1);
    const counter = countWebGPUCalls();
    const y = tf.relu(tf.add(a, a));
    await y.data();
    const counts = counter.stop();
    expect(counts.dispatches).toBeGreaterThanOrEqual(2);
    expect(counts.submits).toBeGreaterThanOrEqual(1);
    expect(counts.readbacks).toBeGreaterThanOrEqual(1);
    await tf.relu(a).data();
    expect(counter.counts.dispatches).toBe(counts.dispatches);
    tf.dispose([a, y]);
  });
});

describe('webgpu setup errors', () => {
  it('refuses a software adapter when asked to', async () => {
    if (adapter == null || !adapter.software) return;
    await expect(setupWebGPU({ allowSoftwareAdapter: false })).rejects.toThrow(/only a software adapter/);
  });
});
