/**
 * Calibration of a classifier's probabilities: temperature scaling (Guo et al., "On Calibration of
 * Modern Neural Networks", ICML 2017) fitted on validation logits, and the expected calibration
 * error (ECE) with its reliability bins. Plain arrays in and out; browser-safe.
 * @module
 */
import { expected } from '../errors';

/** Logits or probabilities: one row per image, `numClasses` values each. @category Models */
export type ScoreRows = ArrayLike<number>[];

function checkRows(where: string, rows: ScoreRows, labels: ArrayLike<number>): number {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new RangeError(expected(where, 'rows', 'at least one row of class scores', rows?.length));
  }
  if (labels == null || labels.length !== rows.length) {
    throw new RangeError(expected(where, 'labels', `${rows.length} labels (one per row)`, labels?.length));
  }
  const k = rows[0]!.length;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (r.length !== k)
      throw new RangeError(expected(where, `rows[${i}]`, `${k} scores like rows[0]`, r.length));
    for (let c = 0; c < k; c++) {
      if (!Number.isFinite(r[c]!))
        throw new RangeError(expected(where, `rows[${i}][${c}]`, 'a finite number', r[c]));
    }
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= k) {
      throw new RangeError(expected(where, `labels[${i}]`, `a class index in [0, ${k - 1}]`, y));
    }
  }
  return k;
}

/** `softmax(logits / temperature)` of one row. @category Models */
export function softmaxWithTemperature(logits: ArrayLike<number>, temperature = 1): number[] {
  let max = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < logits.length; c++) max = Math.max(max, logits[c]! / temperature);
  const e = Array.from({ length: logits.length }, (_, c) => Math.exp(logits[c]! / temperature - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Mean negative log-likelihood of `labels` under `softmax(logits / temperature)`. @category Models */
export function temperatureNll(logits: ScoreRows, labels: ArrayLike<number>, temperature: number): number {
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const r = logits[i]!;
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < r.length; c++) max = Math.max(max, r[c]! / temperature);
    let sum = 0;
    for (let c = 0; c < r.length; c++) sum += Math.exp(r[c]! / temperature - max);
    total += max + Math.log(sum) - r[labels[i]!]! / temperature;
  }
  return total / logits.length;
}

/**
 * The temperature `T` that minimises the negative log-likelihood of `softmax(logits / T)` on held-out
 * images (never the test images). The NLL is convex in `1 / T`, so a golden-section search over
 * `1 / T` in `[1 / 20, 1 / 0.05]` finds the minimum (to a relative 1e-6). `T > 1` softens an
 * over-confident model; the argmax, and so the accuracy, never changes.
 * @param logits The model's logits (before softmax), one row per image.
 * @param labels True class per row.
 * @returns The temperature and the NLL before (T = 1) and after.
 * @throws RangeError naming a row or label that is not finite or out of range.
 * @example
 * ```ts
 * const { temperature } = fitTemperature(validationLogits, validationLabels); // e.g. 1.31
 * ```
 * @category Models
 */
export function fitTemperature(
  logits: ScoreRows,
  labels: ArrayLike<number>,
): { temperature: number; nllBefore: number; nllAfter: number } {
  checkRows('fitTemperature', logits, labels);
  const f = (beta: number) => temperatureNll(logits, labels, 1 / beta);
  let a = 1 / 20;
  let b = 1 / 0.05;
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > 1e-6 * (a + b)) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const temperature = 2 / (a + b);
  return { temperature, nllBefore: f(1), nllAfter: temperatureNll(logits, labels, temperature) };
}

/** One bin of a reliability diagram. @category Models */
export interface ReliabilityBin {
  /** Lower confidence edge (exclusive, except for the first bin). */
  lower: number;
  /** Upper confidence edge (inclusive). */
  upper: number;
  /** Images whose top probability falls in the bin. */
  count: number;
  /** Their mean top probability (0 when empty). */
  confidence: number;
  /** The fraction of them classified correctly (0 when empty). */
  accuracy: number;
}

/**
 * Expected calibration error: images binned by their top probability into `bins` equal-width bins;
 * the count-weighted mean of `|accuracy - confidence|` over bins (Naeini et al., 2015; the usual
 * 15 bins of Guo et al.).
 * @param probabilities Class probabilities, one row per image.
 * @param labels True class per row.
 * @param bins Number of bins. Defaults to `15`.
 * @returns The ECE (0-1) and the bins, for a reliability diagram.
 * @example
 * ```ts
 * const { ece } = expectedCalibrationError(probs, labels); // 0.039 = 3.9 %
 * ```
 * @category Models
 */
export function expectedCalibrationError(
  probabilities: ScoreRows,
  labels: ArrayLike<number>,
  bins = 15,
): { ece: number; bins: ReliabilityBin[] } {
  checkRows('expectedCalibrationError', probabilities, labels);
  if (!Number.isInteger(bins) || bins < 1) {
    throw new RangeError(expected('expectedCalibrationError', 'bins', 'a positive integer', bins));
  }
  const count = new Array<number>(bins).fill(0);
  const conf = new Array<number>(bins).fill(0);
  const correct = new Array<number>(bins).fill(0);
  for (let i = 0; i < probabilities.length; i++) {
    const r = probabilities[i]!;
    let top = 0;
    for (let c = 1; c < r.length; c++) if (r[c]! > r[top]!) top = c;
    const p = r[top]!;
    // Bins are (lower, upper]; a probability of exactly 0 goes to the first.
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(p * bins) - 1));
    count[b]!++;
    conf[b]! += p;
    if (top === labels[i]) correct[b]!++;
  }
  let ece = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const n = count[b]!;
    const confidence = n > 0 ? conf[b]! / n : 0;
    const accuracy = n > 0 ? correct[b]! / n : 0;
    ece += (n / probabilities.length) * Math.abs(accuracy - confidence);
    out.push({ lower: b / bins, upper: (b + 1) / bins, count: n, confidence, accuracy });
  }
  return { ece, bins: out };
}
