import { checkNonNegativeInteger, checkOneOf, checkPositiveInteger, expected } from '../errors';

/** The built-in learning-rate schedules. @category Training */
export type ScheduleName = 'paper' | 'cosine' | 'onecycle' | 'constant';

/** The names accepted by {@link resolveSchedule}, in documentation order. @category Training */
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['paper', 'cosine', 'onecycle', 'constant'];

/**
 * The seed paper's schedule (the recipe of WuJie1010/Facial-Expression-Recognition.Pytorch): a constant
 * `learningRate` until epoch `decayStart`, then multiplied by `decayRate` every `decayEvery` epochs:
 * `lr(e) = learningRate * decayRate ** floor((e - decayStart) / decayEvery)` for `e > decayStart`
 * (epochs counted from 0). Changes once per epoch.
 * @category Training
 */
export interface PaperSchedule {
  /** Schedule kind. */
  type: 'paper';
  /** Initial learning rate. Defaults to `0.01`. */
  learningRate?: number;
  /** Last epoch (0-based) at the initial rate. Defaults to `80`. */
  decayStart?: number;
  /** Epochs between decays. Defaults to `5`. */
  decayEvery?: number;
  /** Factor applied at each decay. Defaults to `0.9`. */
  decayRate?: number;
}

/**
 * Cosine annealing over all training steps, updated every step, with an optional linear warm-up:
 * `lr = minLearningRate + (learningRate - minLearningRate) * (1 + cos(pi * t / T)) / 2`, where `t` counts
 * steps after the warm-up and `T` is the number of steps after the warm-up. Without warm-up this equals
 * PyTorch's `CosineAnnealingLR(T_max = total steps)` stepped once per batch.
 * @category Training
 */
export interface CosineSchedule {
  /** Schedule kind. */
  type: 'cosine';
  /** Peak learning rate. Defaults to `0.05`. */
  learningRate?: number;
  /** Final learning rate. Defaults to `0`. */
  minLearningRate?: number;
  /** Epochs of linear warm-up from `learningRate / warmupSteps` to `learningRate`. Defaults to `0`. */
  warmupEpochs?: number;
}

/**
 * One-cycle (Smith 2018), updated every step, exactly as PyTorch's `OneCycleLR` with
 * `three_phase = false`: from `maxLearningRate / divFactor` up to `maxLearningRate` over the first
 * `pctStart` of the steps, then down to `maxLearningRate / divFactor / finalDivFactor`.
 * @category Training
 */
export interface OneCycleSchedule {
  /** Schedule kind. */
  type: 'onecycle';
  /** Peak learning rate. Defaults to `0.05` (the PyTorch reference recipe). */
  maxLearningRate?: number;
  /** Fraction of the steps spent increasing. Defaults to `0.3` (PyTorch's default). */
  pctStart?: number;
  /** Initial rate is `maxLearningRate / divFactor`. Defaults to `25`. */
  divFactor?: number;
  /** Final rate is the initial rate / `finalDivFactor`. Defaults to `1e4`. */
  finalDivFactor?: number;
  /** Interpolation shape. Defaults to `'cos'`. */
  annealStrategy?: 'cos' | 'linear';
}

/** A fixed learning rate. @category Training */
export interface ConstantSchedule {
  /** Schedule kind. */
  type: 'constant';
  /** The learning rate. Defaults to `0.01`. */
  learningRate?: number;
}

/** A schedule: a name (with defaults) or an object with options. @category Training */
export type ScheduleSpec =
  | ScheduleName
  | PaperSchedule
  | CosineSchedule
  | OneCycleSchedule
  | ConstantSchedule;

/** A schedule with every option filled in (what checkpoints store). @category Training */
export type ResolvedSchedule =
  | Required<PaperSchedule>
  | Required<CosineSchedule>
  | Required<OneCycleSchedule>
  | Required<ConstantSchedule>;

/** Defaults of every schedule, by name. @category Training */
export const SCHEDULE_DEFAULTS = {
  paper: { type: 'paper', learningRate: 0.01, decayStart: 80, decayEvery: 5, decayRate: 0.9 },
  cosine: { type: 'cosine', learningRate: 0.05, minLearningRate: 0, warmupEpochs: 0 },
  onecycle: {
    type: 'onecycle',
    maxLearningRate: 0.05,
    pctStart: 0.3,
    divFactor: 25,
    finalDivFactor: 1e4,
    annealStrategy: 'cos',
  },
  constant: { type: 'constant', learningRate: 0.01 },
} as const satisfies { [K in ScheduleName]: ResolvedSchedule & { type: K } };

/** Where training is: what a schedule needs to give the learning rate of the next step. @category Training */
export interface SchedulePosition {
  /** Current epoch, from 0. */
  epoch: number;
  /** Step within the epoch, from 0. */
  step: number;
  /** Steps (batches) per epoch. */
  stepsPerEpoch: number;
  /** Total epochs of the run. */
  epochs: number;
}

const WHERE = 'resolveSchedule';

function positive(value: unknown, arg: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(expected(WHERE, arg, 'a positive number', value));
  }
  return value;
}

function nonNegative(value: unknown, arg: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(expected(WHERE, arg, 'a non-negative number', value));
  }
  return value;
}

/**
 * Fills in a schedule's defaults and checks its options.
 * @param spec A name or an options object.
 * @throws RangeError naming the option if a value is out of range or the name is unknown.
 * @example
 * ```ts
 * resolveSchedule('onecycle'); // { type: 'onecycle', maxLearningRate: 0.05, pctStart: 0.3, ... }
 * resolveSchedule({ type: 'paper', decayStart: 40 });
 * ```
 * @category Training
 */
export function resolveSchedule(spec: ScheduleSpec): ResolvedSchedule {
  const given = typeof spec === 'string' ? { type: spec } : spec;
  if (given === null || typeof given !== 'object') {
    throw new TypeError(expected(WHERE, 'schedule', 'a schedule name or options object', spec));
  }
  const type = checkOneOf(given.type, SCHEDULE_NAMES, 'schedule.type', WHERE);
  const s = { ...SCHEDULE_DEFAULTS[type], ...stripUndefined(given) } as ResolvedSchedule;
  switch (s.type) {
    case 'paper':
      positive(s.learningRate, 'learningRate');
      checkNonNegativeInteger(s.decayStart, 'decayStart', WHERE);
      checkPositiveInteger(s.decayEvery, 'decayEvery', WHERE);
      positive(s.decayRate, 'decayRate');
      break;
    case 'cosine':
      positive(s.learningRate, 'learningRate');
      nonNegative(s.minLearningRate, 'minLearningRate');
      nonNegative(s.warmupEpochs, 'warmupEpochs');
      break;
    case 'onecycle':
      positive(s.maxLearningRate, 'maxLearningRate');
      if (!(s.pctStart > 0 && s.pctStart < 1)) {
        throw new RangeError(expected(WHERE, 'pctStart', 'a number in (0, 1)', s.pctStart));
      }
      positive(s.divFactor, 'divFactor');
      positive(s.finalDivFactor, 'finalDivFactor');
      checkOneOf(s.annealStrategy, ['cos', 'linear'], 'annealStrategy', WHERE);
      break;
    case 'constant':
      positive(s.learningRate, 'learningRate');
      break;
  }
  return s;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function annealCos(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
}

function annealLinear(start: number, end: number, pct: number): number {
  return (end - start) * pct + start;
}

/**
 * The learning rate of the step at `position` (before that step is taken).
 * @param schedule A resolved schedule (see {@link resolveSchedule}) or a spec.
 * @param position The epoch and step about to run, and the run's length.
 * @throws RangeError if the position is outside the run.
 * @example
 * ```ts
 * learningRateAt('paper', { epoch: 85, step: 0, stepsPerEpoch: 100, epochs: 250 }); // 0.009
 * ```
 * @category Training
 */
export function learningRateAt(
  schedule: ScheduleSpec | ResolvedSchedule,
  position: SchedulePosition,
): number {
  const s = resolveSchedule(schedule);
  const where = 'learningRateAt';
  const epochs = checkPositiveInteger(position.epochs, 'epochs', where);
  const stepsPerEpoch = checkPositiveInteger(position.stepsPerEpoch, 'stepsPerEpoch', where);
  const epoch = checkNonNegativeInteger(position.epoch, 'epoch', where);
  const step = checkNonNegativeInteger(position.step, 'step', where);
  if (step >= stepsPerEpoch) {
    throw new RangeError(expected(where, 'step', `below stepsPerEpoch (${stepsPerEpoch})`, step));
  }
  const total = epochs * stepsPerEpoch;
  const globalStep = epoch * stepsPerEpoch + step;
  switch (s.type) {
    case 'constant':
      return s.learningRate;
    case 'paper': {
      if (epoch <= s.decayStart) return s.learningRate;
      const frac = Math.floor((epoch - s.decayStart) / s.decayEvery);
      return s.learningRate * s.decayRate ** frac;
    }
    case 'cosine': {
      const warmup = Math.round(s.warmupEpochs * stepsPerEpoch);
      if (globalStep < warmup) return (s.learningRate * (globalStep + 1)) / warmup;
      const span = Math.max(1, total - warmup);
      const t = Math.min(globalStep - warmup, span);
      return (
        s.minLearningRate + ((s.learningRate - s.minLearningRate) * (1 + Math.cos((Math.PI * t) / span))) / 2
      );
    }
    case 'onecycle': {
      if (globalStep >= total) {
        throw new RangeError(expected(where, 'epoch', `below epochs (${epochs})`, epoch));
      }
      const initial = s.maxLearningRate / s.divFactor;
      const min = initial / s.finalDivFactor;
      const anneal = s.annealStrategy === 'cos' ? annealCos : annealLinear;
      // torch.optim.lr_scheduler.OneCycleLR, three_phase=False.
      const phases = [
        { end: s.pctStart * total - 1, start: initial, stop: s.maxLearningRate },
        { end: total - 1, start: s.maxLearningRate, stop: min },
      ];
      let startStep = 0;
      for (let i = 0; i < phases.length; i++) {
        const phase = phases[i];
        if (globalStep <= phase.end || i === phases.length - 1) {
          const span = phase.end - startStep;
          const pct = span > 0 ? (globalStep - startStep) / span : 1;
          return anneal(phase.start, phase.stop, pct);
        }
        startStep = phase.end;
      }
      return min;
    }
  }
}

/** Whether the schedule changes within an epoch (so progress bars may show a per-step rate). @category Training */
export function isPerStepSchedule(schedule: ScheduleSpec | ResolvedSchedule): boolean {
  const s = resolveSchedule(schedule);
  return s.type === 'cosine' || s.type === 'onecycle';
}
