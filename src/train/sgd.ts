import * as tf from '@tensorflow/tfjs-core';
import { checkBoolean, checkNumberInRange, expected } from '../errors';
import { type LinearTerm, linearCombination } from '../ops/linear_combination';

/** Options of {@link SGD}. @category Training */
export interface SGDOptions {
  /** Momentum factor `m`. `0` disables momentum (and the velocity buffers). Defaults to `0.9`. */
  momentum?: number;
  /** L2 weight decay `wd`, added to the gradient as `wd * w` (PyTorch's `weight_decay`). Defaults to `5e-4`. */
  weightDecay?: number;
  /** Nesterov momentum (needs `momentum > 0`). Defaults to `false`. */
  nesterov?: boolean;
}

/** Defaults of {@link SGDOptions}. @category Training */
export const SGD_DEFAULTS = { momentum: 0.9, weightDecay: 5e-4, nesterov: false } as const;

/**
 * The optimizer's serialisable state: its options, the number of steps taken and one velocity buffer
 * per variable (in variable order; empty without momentum).
 * @category Training
 */
export interface SGDState {
  /** The optimizer's options. */
  options: Required<SGDOptions>;
  /** Steps taken. */
  iterations: number;
  /** Momentum buffers, in variable order. */
  velocities: {
    /** Buffer shape. */
    shape: number[];
    /** Buffer values. */
    values: Float32Array;
  }[];
}

/**
 * Stochastic gradient descent with momentum, weight decay and optional Nesterov momentum, with
 * PyTorch's `torch.optim.SGD` semantics (dampening 0), per variable `w` with gradient `g`:
 * ```
 * g = g + wd * w
 * v = m * v + g            (v starts at 0, so the first v is g)
 * g = nesterov ? g + m * v : v
 * w = w - lr * g
 * ```
 * The learning rate is given at every step (schedules live outside the optimizer), and the state
 * ({@link SGD.getState} / {@link SGD.setState}) is plain data, so training can be checkpointed and
 * resumed exactly.
 * @example
 * ```ts
 * const sgd = new SGD({ momentum: 0.9, weightDecay: 5e-4 });
 * const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
 * const { grads } = tf.variableGrads(() => loss(), vars);
 * sgd.applyGradients(vars, vars.map((v) => grads[v.name]), 0.01);
 * ```
 * @throws RangeError if `momentum` is outside [0, 1), `weightDecay` is negative, or `nesterov` is set
 *   without momentum.
 * @category Training
 */
export class SGD {
  /** Resolved options. */
  readonly options: Required<SGDOptions>;
  private velocities: tf.Variable[] | null = null;
  private steps = 0;

  constructor(options: SGDOptions = {}) {
    const where = 'SGD';
    const momentum = checkNumberInRange(options.momentum ?? SGD_DEFAULTS.momentum, 'momentum', where, 0, 1);
    if (momentum >= 1) throw new RangeError(expected(where, 'momentum', 'a number in [0, 1)', momentum));
    const weightDecay = checkNumberInRange(
      options.weightDecay ?? SGD_DEFAULTS.weightDecay,
      'weightDecay',
      where,
      0,
      Number.MAX_VALUE,
    );
    const nesterov = checkBoolean(options.nesterov ?? SGD_DEFAULTS.nesterov, 'nesterov', where);
    if (nesterov && momentum === 0) {
      throw new RangeError(expected(where, 'momentum', 'positive when `nesterov` is true', momentum));
    }
    this.options = { momentum, weightDecay, nesterov };
  }

  /** Number of steps taken (restored by {@link SGD.setState}). */
  get iterations(): number {
    return this.steps;
  }

  /**
   * Updates `variables` in place, one step.
   * @param variables The variables to update (the same ones, in the same order, at every step).
   * @param gradients One gradient per variable, same shapes.
   * @param learningRate This step's learning rate.
   * @throws RangeError if the lists differ in length or a shape does not match.
   */
  applyGradients(variables: tf.Variable[], gradients: tf.Tensor[], learningRate: number): void {
    const where = 'SGD.applyGradients';
    if (variables.length !== gradients.length) {
      throw new RangeError(expected(where, 'gradients', `${variables.length} tensors`, gradients.length));
    }
    if (!(typeof learningRate === 'number' && Number.isFinite(learningRate) && learningRate >= 0)) {
      throw new RangeError(expected(where, 'learningRate', 'a non-negative number', learningRate));
    }
    const { momentum, weightDecay, nesterov } = this.options;
    if (momentum > 0 && this.velocities === null) this.velocities = variables.map((v) => zerosLike(v));
    if (this.velocities !== null && this.velocities.length !== variables.length) {
      throw new RangeError(
        expected(where, 'variables', `${this.velocities.length} variables`, variables.length),
      );
    }
    const lr = learningRate;
    tf.tidy(() => {
      for (let i = 0; i < variables.length; i++) {
        const w = variables[i];
        const g = gradients[i];
        if (!tf.util.arraysEqual(g.shape, w.shape)) {
          throw new RangeError(expected(where, `gradients[${i}]`, `of shape [${w.shape}]`, g.shape));
        }
        // Each update is one fused kernel on WebGPU (two per variable with momentum), separate ops
        // elsewhere; the algebra is that of the class description with g + wd * w expanded.
        const decayed: LinearTerm[] = weightDecay !== 0 ? [[w, weightDecay]] : [];
        if (momentum === 0) {
          w.assign(
            linearCombination([
              [w, 1 - lr * weightDecay],
              [g, -lr],
            ]),
          );
          continue;
        }
        const velocity = this.velocities![i];
        const v = linearCombination([[velocity, momentum], [g, 1], ...decayed]);
        velocity.assign(v);
        w.assign(
          nesterov
            ? linearCombination([
                [w, 1 - lr * weightDecay],
                [g, -lr],
                [v, -lr * momentum],
              ])
            : linearCombination([
                [w, 1],
                [v, -lr],
              ]),
        );
      }
    });
    this.steps++;
  }

  /** A copy of the state, as plain data. */
  async getState(): Promise<SGDState> {
    const velocities = [];
    for (const v of this.velocities ?? []) {
      velocities.push({ shape: v.shape.slice(), values: (await v.data()) as Float32Array });
    }
    return { options: { ...this.options }, iterations: this.steps, velocities };
  }

  /**
   * Restores a state from {@link SGD.getState} (for example from a checkpoint).
   * @param state The state; its options must equal this optimizer's.
   * @throws RangeError if the options or the buffer shapes differ.
   */
  setState(state: SGDState): void {
    const where = 'SGD.setState';
    for (const key of ['momentum', 'weightDecay', 'nesterov'] as const) {
      if (state.options[key] !== this.options[key]) {
        throw new RangeError(
          expected(where, `options.${key}`, `${this.options[key]} (this optimizer's)`, state.options[key]),
        );
      }
    }
    this.disposeVelocities();
    this.steps = state.iterations;
    if (state.velocities.length > 0) {
      this.velocities = state.velocities.map((v) =>
        tf.variable(tf.tensor(v.values, v.shape, 'float32'), false),
      );
    }
  }

  /**
   * Checks that a restored state fits `variables` (same count and shapes).
   * @throws RangeError naming the first mismatch.
   */
  checkVariables(variables: tf.Variable[]): void {
    if (this.velocities === null) return;
    const where = 'SGD';
    if (this.velocities.length !== variables.length) {
      throw new RangeError(
        expected(
          where,
          'variables',
          `${this.velocities.length} variables (from its state)`,
          variables.length,
        ),
      );
    }
    variables.forEach((v, i) => {
      if (!tf.util.arraysEqual(v.shape, this.velocities![i].shape)) {
        throw new RangeError(
          expected(where, `variables[${i}] (${v.name})`, `of shape [${this.velocities![i].shape}]`, v.shape),
        );
      }
    });
  }

  /** Frees the velocity buffers. */
  dispose(): void {
    this.disposeVelocities();
  }

  private disposeVelocities(): void {
    for (const v of this.velocities ?? []) v.dispose();
    this.velocities = null;
  }
}

function zerosLike(v: tf.Variable): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zeros(v.shape, 'float32'), false));
}

/**
 * Scales gradients so that their global L2 norm is at most `maxNorm` (PyTorch's `clip_grad_norm_`:
 * factor `min(1, maxNorm / (norm + 1e-6))`). Runs on the device without reading data back.
 * @param gradients The gradients; not disposed.
 * @param maxNorm The largest allowed global norm.
 * @returns New gradient tensors and the norm before clipping (a scalar tensor; dispose both).
 * @throws RangeError if `maxNorm` is not a positive number.
 * @example
 * ```ts
 * const { gradients, norm } = clipByGlobalNorm(grads, 5);
 * ```
 * @category Training
 */
export function clipByGlobalNorm(
  gradients: tf.Tensor[],
  maxNorm: number,
): { gradients: tf.Tensor[]; norm: tf.Scalar } {
  if (!(typeof maxNorm === 'number' && Number.isFinite(maxNorm) && maxNorm > 0)) {
    throw new RangeError(expected('clipByGlobalNorm', 'maxNorm', 'a positive number', maxNorm));
  }
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.addN(gradients.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
    const factor = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    return { gradients: gradients.map((g) => tf.mul(g, factor)), norm };
  });
}
