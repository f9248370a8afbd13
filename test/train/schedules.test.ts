import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { learningRateAt, resolveSchedule, type ScheduleSpec } from '../../src/train/schedules';

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '../fixtures/train/torch_sgd_schedules.json'), 'utf8'),
).schedules;

const at = (s: ScheduleSpec, epoch: number, step = 0, stepsPerEpoch = 10, epochs = 250) =>
  learningRateAt(s, { epoch, step, stepsPerEpoch, epochs });

describe('learning-rate schedules', () => {
  it("'paper': 0.01 up to epoch 80, then x0.9 every 5 epochs (WuJie1010's formula, epochs from 0)", () => {
    expect(at('paper', 0)).toBe(0.01);
    expect(at('paper', 80)).toBe(0.01);
    expect(at('paper', 81)).toBe(0.01); // floor(1 / 5) = 0
    expect(at('paper', 84, 9)).toBe(0.01);
    expect(at('paper', 85)).toBeCloseTo(0.009, 12);
    expect(at('paper', 89)).toBeCloseTo(0.009, 12);
    expect(at('paper', 90)).toBeCloseTo(0.0081, 12);
    expect(at('paper', 249)).toBeCloseTo(0.01 * 0.9 ** 33, 12);
    expect(
      at({ type: 'paper', learningRate: 0.1, decayStart: 2, decayEvery: 1, decayRate: 0.5 }, 5),
    ).toBeCloseTo(0.0125, 12);
  });

  it("'constant'", () => {
    expect(at('constant', 0)).toBe(0.01);
    expect(at({ type: 'constant', learningRate: 0.3 }, 200, 3)).toBe(0.3);
  });

  it("'cosine': hand values, per step, with and without warm-up", () => {
    const s = { type: 'cosine', learningRate: 0.1, minLearningRate: 0 } as const;
    // 4 epochs x 5 steps = 20 steps: lr = 0.05 (1 + cos(pi t / 20)).
    expect(at(s, 0, 0, 5, 4)).toBeCloseTo(0.1, 12);
    expect(at(s, 2, 0, 5, 4)).toBeCloseTo(0.05, 12); // t = 10: cos(pi/2) = 0
    expect(at(s, 1, 0, 5, 4)).toBeCloseTo(0.05 * (1 + Math.SQRT1_2), 12); // t = 5
    expect(at(s, 3, 4, 5, 4)).toBeCloseTo(0.05 * (1 + Math.cos((Math.PI * 19) / 20)), 12);
    const w = { ...s, warmupEpochs: 1 };
    expect(at(w, 0, 0, 5, 4)).toBeCloseTo(0.02, 12); // (0 + 1) / 5 of the peak
    expect(at(w, 0, 4, 5, 4)).toBeCloseTo(0.1, 12);
    expect(at(w, 1, 0, 5, 4)).toBeCloseTo(0.1, 12); // cosine starts: t = 0 of 15
    expect(at(w, 2, 0, 5, 4)).toBeCloseTo(0.05 * (1 + Math.cos(Math.PI / 3)), 12); // t = 5 of 15
  });

  it("'onecycle': hand values (linear anneal)", () => {
    // 10 steps, pctStart 0.3: up from 0.1 to 1 over steps 0..2 (end_step 2), down to 0.001 over 2..9.
    const s = {
      type: 'onecycle',
      maxLearningRate: 1,
      pctStart: 0.3,
      divFactor: 10,
      finalDivFactor: 100,
      annealStrategy: 'linear',
    } as const;
    expect(at(s, 0, 0, 1, 10)).toBeCloseTo(0.1, 12);
    expect(at(s, 1, 0, 1, 10)).toBeCloseTo(0.55, 12);
    expect(at(s, 2, 0, 1, 10)).toBeCloseTo(1, 12);
    expect(at(s, 9, 0, 1, 10)).toBeCloseTo(0.001, 12);
    expect(at(s, 3, 0, 1, 10)).toBeCloseTo(1 + (0.001 - 1) / 7, 12);
  });

  it.each(['onecycleReference', 'onecycleDefault', 'onecycleLinear'])(
    '%s equals torch OneCycleLR at every step',
    (key) => {
      const { options, lrs } = fixture[key];
      const { epochs, stepsPerEpoch } = fixture;
      lrs.forEach((want: number, i: number) => {
        const got = learningRateAt(
          { type: 'onecycle', ...options },
          { epoch: Math.floor(i / stepsPerEpoch), step: i % stepsPerEpoch, stepsPerEpoch, epochs },
        );
        expect(got).toBeCloseTo(want, 12);
      });
    },
  );

  it('cosine equals torch CosineAnnealingLR(T_max = total steps) stepped per batch', () => {
    const { options, lrs } = fixture.cosine;
    const { epochs, stepsPerEpoch } = fixture;
    lrs.forEach((want: number, i: number) => {
      const got = learningRateAt(
        { type: 'cosine', ...options },
        { epoch: Math.floor(i / stepsPerEpoch), step: i % stepsPerEpoch, stepsPerEpoch, epochs },
      );
      expect(got).toBeCloseTo(want, 10);
    });
  });

  it('resolves defaults and rejects bad options by name', () => {
    expect(resolveSchedule('onecycle')).toEqual({
      type: 'onecycle',
      maxLearningRate: 0.05,
      pctStart: 0.3,
      divFactor: 25,
      finalDivFactor: 1e4,
      annealStrategy: 'cos',
    });
    expect(resolveSchedule({ type: 'paper', decayStart: 40 })).toMatchObject({
      learningRate: 0.01,
      decayStart: 40,
    });
    expect(() => resolveSchedule('step' as ScheduleSpec)).toThrow(
      /`schedule.type` to be one of "paper", "cosine", "onecycle", "constant", but got "step"/,
    );
    expect(() => resolveSchedule({ type: 'onecycle', pctStart: 1 })).toThrow(/`pctStart`/);
    expect(() => resolveSchedule({ type: 'paper', decayEvery: 0 })).toThrow(
      /`decayEvery` to be a positive integer/,
    );
    expect(() => resolveSchedule({ type: 'cosine', learningRate: -1 })).toThrow(
      /`learningRate` to be a positive number/,
    );
    expect(() => at('constant', 0, 10, 10)).toThrow(/`step` to be below stepsPerEpoch/);
    expect(() => at('onecycle', 250)).toThrow(/`epoch` to be below epochs/);
  });
});
