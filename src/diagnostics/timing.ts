/**
 * Timing model steps on the current backend: warm-up and timed steps, wall and process CPU time per
 * step, images per second, and the slowest kernels of one step.
 *
 * It lives in `src/diagnostics` (the `fer-cbam/diagnostics` subpath), above both `src/backends` and
 * `src/train`: what it measures is the backend, but its training step needs fer-cbam's `SGD`, and a
 * backend module importing the training code ran against the dependency grain. It is not fer-cbam's
 * training loop (`train` adds data, augmentation, metrics and callbacks; `npm run bench` times both).
 * It imports nothing but tfjs-core, the argument checks and `SGD` (which needs only `src/ops`), so
 * `bench/gpu_entry.ts` can bundle it by path without pulling in the wasm and tensorflow backends.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { checkNonNegativeInteger, checkPositiveInteger } from '../errors';
import { SGD } from '../train/sgd';

/** Result of {@link timeSteps}: means over the timed steps. @category Diagnostics */
export interface StepTiming {
  /** Images per second: `batch * steps / seconds`. */
  imgPerSec: number;
  /** Wall-clock milliseconds per step: `1000 * seconds / steps`. */
  msPerStep: number;
  /**
   * CPU time of the whole process per step in milliseconds (user + system, all threads): robust to other
   * load on the machine. `NaN` where `process.cpuUsage` is missing (browsers).
   */
  cpuMsPerStep: number;
  /** Timed steps (warm-up steps not included). */
  steps: number;
  /** Wall-clock seconds of all timed steps together. */
  seconds: number;
}

/** Options of {@link timeSteps}. @category Diagnostics */
export interface TimeStepsOptions {
  /** Images per step, for {@link StepTiming.imgPerSec}. */
  batch: number;
  /** Timed steps, at least 1. */
  steps: number;
  /** Untimed steps first (shader compilation, memory pools, JIT). Defaults to `1`. */
  warmup?: number;
}

/** One step of a model, built by {@link forwardStep} or {@link trainingStep}. @category Diagnostics */
export interface ModelStep {
  /** Runs one step and waits until its result is downloaded (so the backend has finished). */
  run: () => Promise<void>;
  /** Frees what the step owns (the optimizer and its slots); not the model and not the inputs. */
  dispose: () => void;
}

/** Options of {@link trainingStep}: momentum SGD. @category Diagnostics */
export interface TrainingStepOptions {
  /** Learning rate. Defaults to `0.01`. */
  learningRate?: number;
  /** Momentum. Defaults to `0.9`. */
  momentum?: number;
}

/** Time of one kernel name within a profiled step. @category Diagnostics */
export interface KernelTime {
  /** Kernel name, e.g. `Conv2DBackpropFilter`. */
  name: string;
  /** Calls in the step. */
  n: number;
  /** Kernel time of all calls in milliseconds (GPU time on WebGPU when timestamp queries exist). */
  ms: number;
}

/** Result of {@link profileKernels}. @category Diagnostics */
export interface KernelProfile {
  /** Entries `tf.profile` recorded: the ops (names ending in `__op`) and the kernels inside them. */
  kernels: number;
  /** Time in kernels (ops excluded) in milliseconds. */
  kernelMs: number;
  /** The slowest kernel names, slowest first. */
  top: KernelTime[];
}

const nodeCpuUsage: (() => NodeJS.CpuUsage) | null =
  typeof process !== 'undefined' && typeof process.cpuUsage === 'function' ? () => process.cpuUsage() : null;

/**
 * Runs `step` `warmup` times untimed, then `steps` times timed, one after the other, and returns the
 * means. `step` must not return before its work is done (await a download of its result), or the
 * numbers measure only the dispatch.
 * @example
 * ```ts
 * const model = resnetCbam({ depth: 18, classifierActivation: 'linear' });
 * const x = tf.randomNormal([16, 44, 44, 1]);
 * const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1], 'int32'), 7);
 * const train = trainingStep(model, x, y);
 * const t = await timeSteps(train.run, { batch: 16, steps: 3, warmup: 1 });
 * console.log(`${t.imgPerSec.toFixed(1)} img/s, ${t.msPerStep.toFixed(0)} ms/step`);
 * train.dispose();
 * ```
 * @throws RangeError unless `batch` and `steps` are positive integers and `warmup` a non-negative one.
 * @category Diagnostics
 */
export async function timeSteps(step: () => unknown, options: TimeStepsOptions): Promise<StepTiming> {
  const batch = checkPositiveInteger(options.batch, 'batch', 'timeSteps');
  const steps = checkPositiveInteger(options.steps, 'steps', 'timeSteps');
  const warmup = checkNonNegativeInteger(options.warmup ?? 1, 'warmup', 'timeSteps');
  for (let i = 0; i < warmup; i++) await step();
  const c0 = nodeCpuUsage?.();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const seconds = (performance.now() - t0) / 1000;
  const c1 = nodeCpuUsage?.();
  const cpuMs = c0 && c1 ? (c1.user - c0.user + c1.system - c0.system) / 1000 : Number.NaN;
  return {
    imgPerSec: (batch * steps) / seconds,
    msPerStep: (1000 * seconds) / steps,
    cpuMsPerStep: cpuMs / steps,
    steps,
    seconds,
  };
}

/**
 * A forward pass (`model.predict(x)`, inference mode) whose output is downloaded and freed.
 * @example
 * ```ts
 * const t = await timeSteps(forwardStep(model, x).run, { batch: x.shape[0], steps: 5 });
 * ```
 * @category Diagnostics
 */
export function forwardStep(model: tfl.LayersModel, x: tf.Tensor): ModelStep {
  return {
    run: async () => {
      const out = tf.tidy(() => model.predict(x) as tf.Tensor);
      await out.data();
      out.dispose();
    },
    dispose: () => {},
  };
}

/**
 * A training step: softmax cross-entropy of `model.apply(x, { training: true })` (logits) against the
 * one-hot `y`, `tf.variableGrads`, and an update by fer-cbam's `SGD` (PyTorch semantics, fused updates
 * on WebGPU; no weight decay, like the PyTorch benchmark), with the loss downloaded. It measures
 * the backend, not fer-cbam's training loop (see `train`). The step owns its optimizer state (one
 * velocity per variable): call `dispose()` when done.
 * @example
 * ```ts
 * const train = trainingStep(model, x, y, { learningRate: 0.01, momentum: 0.9 });
 * await train.run(); // one update of the model's weights
 * train.dispose();
 * ```
 * @category Diagnostics
 */
export function trainingStep(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  options: TrainingStepOptions = {},
): ModelStep {
  const learningRate = options.learningRate ?? 0.01;
  const sgd = new SGD({ momentum: options.momentum ?? 0.9, weightDecay: 0 });
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return {
    run: async () => {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () =>
            tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
          variables,
        );
        sgd.applyGradients(
          variables,
          variables.map((w) => grads[w.name]!),
          learningRate,
        );
        return value;
      });
      await loss.data();
      loss.dispose();
    },
    dispose: () => sgd.dispose(),
  };
}

/**
 * Profiles one call of `step` with `tf.profile` and sums the kernel time per kernel name.
 * @param step One step; it must not return before its work is done.
 * @param top How many kernel names to return, slowest first. Defaults to `15`.
 * @example
 * ```ts
 * const train = trainingStep(model, x, y);
 * await train.run(); // warm-up: the first step compiles shaders
 * const p = await profileKernels(train.run, 5);
 * for (const k of p.top) console.log(k.name, k.n, k.ms.toFixed(1));
 * train.dispose();
 * ```
 * @category Diagnostics
 */
export async function profileKernels(step: () => unknown, top = 15): Promise<KernelProfile> {
  const info = await tf.profile(async () => {
    await step();
  });
  const byKernel = new Map<string, KernelTime>();
  for (const k of info.kernels) {
    // tf.profile lists ops (names ending in __op) and the kernels inside them; keep kernels only.
    if (k.name.endsWith('__op')) continue;
    const e = byKernel.get(k.name) ?? { name: k.name, n: 0, ms: 0 };
    e.n++;
    e.ms += Number(k.kernelTimeMs) || 0;
    byKernel.set(k.name, e);
  }
  const all = [...byKernel.values()];
  return {
    kernels: info.kernels.length,
    kernelMs: all.reduce((s, e) => s + e.ms, 0),
    top: all.sort((a, b) => b.ms - a.ms).slice(0, top),
  };
}
