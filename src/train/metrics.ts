import { checkPositiveInteger, expected } from '../errors';

/** Precision, recall and F1 of one class. @category Training */
export interface ClassMetrics {
  /** Class name. */
  name: string;
  /** Of the images predicted as this class, the fraction that are (0 when none is predicted). */
  precision: number;
  /** Of the images of this class, the fraction predicted as it (0 when there are none). */
  recall: number;
  /** Harmonic mean of precision and recall (0 when both are 0). */
  f1: number;
  /** Number of images of this class. */
  support: number;
}

/** What {@link evaluate} and {@link classificationMetrics} report. @category Training */
export interface ClassificationMetrics {
  /** Number of images. */
  count: number;
  /** Fraction of images whose predicted class is the true one. */
  accuracy: number;
  /** Mean of the per-class recalls, over the classes present (balanced accuracy). */
  meanClassAccuracy: number;
  /** Unweighted mean F1 over the classes present. */
  macroF1: number;
  /** Per-class precision, recall, F1 and support, in class order. */
  perClass: ClassMetrics[];
  /** `confusionMatrix[trueClass][predictedClass]` = number of images. */
  confusionMatrix: number[][];
  /** Class names, in index order. */
  classNames: string[];
}

/**
 * Counts (true class, predicted class) pairs.
 * @param labels True class per image.
 * @param predictions Predicted class per image.
 * @param numClasses Number of classes.
 * @returns `matrix[t][p]`: images of class `t` predicted as `p`.
 * @throws RangeError if the lengths differ or a class index is out of range.
 * @example
 * ```ts
 * confusionMatrix([0, 1, 1], [0, 1, 0], 2); // [[1, 0], [1, 1]]
 * ```
 * @category Training
 */
export function confusionMatrix(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  numClasses: number,
): number[][] {
  const where = 'confusionMatrix';
  checkPositiveInteger(numClasses, 'numClasses', where);
  if (labels.length !== predictions.length) {
    throw new RangeError(
      expected(where, 'predictions', `${labels.length} values (one per label)`, predictions.length),
    );
  }
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = predictions[i];
    if (!(Number.isInteger(t) && t >= 0 && t < numClasses)) {
      throw new RangeError(expected(where, `labels[${i}]`, `a class index in [0, ${numClasses - 1}]`, t));
    }
    if (!(Number.isInteger(p) && p >= 0 && p < numClasses)) {
      throw new RangeError(
        expected(where, `predictions[${i}]`, `a class index in [0, ${numClasses - 1}]`, p),
      );
    }
    m[t][p]++;
  }
  return m;
}

/**
 * Accuracy, mean class accuracy, and per-class precision / recall / F1 from a confusion matrix.
 * @param matrix `matrix[true][predicted]` counts (see {@link confusionMatrix}).
 * @param classNames Names in class order. Defaults to `'0'`, `'1'`, ...
 * @throws RangeError if the matrix is not square or does not match `classNames`.
 * @example
 * ```ts
 * const m = classificationMetrics([[8, 2], [1, 9]], ['no', 'yes']);
 * m.accuracy; // 0.85
 * m.perClass[1].precision; // 9 / 11
 * ```
 * @category Training
 */
export function classificationMetrics(
  matrix: number[][],
  classNames?: readonly string[],
): ClassificationMetrics {
  const where = 'classificationMetrics';
  const n = matrix.length;
  if (n === 0 || matrix.some((row) => row.length !== n)) {
    throw new RangeError(
      expected(
        where,
        'matrix',
        'a non-empty square matrix',
        matrix.map((r) => r.length),
      ),
    );
  }
  const names = classNames ? [...classNames] : Array.from({ length: n }, (_, i) => String(i));
  if (names.length !== n) {
    throw new RangeError(expected(where, 'classNames', `${n} names (one per matrix row)`, names.length));
  }
  let total = 0;
  let correct = 0;
  const perClass: ClassMetrics[] = [];
  for (let c = 0; c < n; c++) {
    let support = 0;
    let predicted = 0;
    for (let k = 0; k < n; k++) {
      support += matrix[c][k];
      predicted += matrix[k][c];
    }
    const tp = matrix[c][c];
    total += support;
    correct += tp;
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ name: names[c], precision, recall, f1, support });
  }
  const present = perClass.filter((c) => c.support > 0);
  const mean = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  return {
    count: total,
    accuracy: total > 0 ? correct / total : 0,
    meanClassAccuracy: mean(present.map((c) => c.recall)),
    macroF1: mean(present.map((c) => c.f1)),
    perClass,
    confusionMatrix: matrix.map((row) => row.slice()),
    classNames: names,
  };
}

/** Options of {@link formatConfusionMatrix}. @category Training */
export interface FormatConfusionMatrixOptions {
  /** Show each row as percentages of its true class instead of counts. Defaults to `false`. */
  normalize?: boolean;
  /** Longest class name shown (longer ones are cut). Defaults to `10`. */
  maxNameLength?: number;
}

/**
 * The confusion matrix as a fixed-width text table: one row per true class, one column per predicted
 * class, with each row's total (or, normalised, row percentages) and the recall per class.
 * @param matrix `matrix[true][predicted]` counts.
 * @param classNames Names in class order.
 * @example
 * ```ts
 * console.log(formatConfusionMatrix(metrics.confusionMatrix, metrics.classNames));
 * // true \ pred  angry  happy   total  recall
 * // angry           40     10      50   80.0%
 * // ...
 * ```
 * @category Training
 */
export function formatConfusionMatrix(
  matrix: number[][],
  classNames: readonly string[],
  options: FormatConfusionMatrixOptions = {},
): string {
  const metrics = classificationMetrics(matrix, classNames);
  const maxLen = options.maxNameLength ?? 10;
  const names = metrics.classNames.map((s) => (s.length > maxLen ? s.slice(0, maxLen) : s));
  const cells = matrix.map((row) => {
    const sum = row.reduce((a, b) => a + b, 0);
    return row.map((v) =>
      options.normalize ? (sum > 0 ? `${((100 * v) / sum).toFixed(1)}%` : '-') : String(v),
    );
  });
  const corner = 'true \\ pred';
  const firstWidth = Math.max(corner.length, ...names.map((s) => s.length));
  const widths = names.map((name, c) => Math.max(name.length, ...cells.map((row) => row[c].length)));
  const totals = matrix.map((row) => String(row.reduce((a, b) => a + b, 0)));
  const totalWidth = Math.max(5, ...totals.map((s) => s.length));
  const lines = [
    [
      corner.padEnd(firstWidth),
      ...names.map((n, c) => n.padStart(widths[c])),
      'total'.padStart(totalWidth),
      'recall',
    ].join('  '),
  ];
  matrix.forEach((_, r) => {
    const recall =
      metrics.perClass[r].support > 0 ? `${(100 * metrics.perClass[r].recall).toFixed(1)}%` : '-';
    lines.push(
      [
        names[r].padEnd(firstWidth),
        ...cells[r].map((v, c) => v.padStart(widths[c])),
        totals[r].padStart(totalWidth),
        recall.padStart(6),
      ].join('  '),
    );
  });
  return lines.join('\n');
}

/**
 * Per-class precision, recall, F1 and support as a text table, followed by accuracy, mean class
 * accuracy and macro F1 (like scikit-learn's `classification_report`).
 * @example
 * ```ts
 * console.log(formatClassificationReport(await evaluate(model, ds)));
 * ```
 * @category Training
 */
export function formatClassificationReport(metrics: ClassificationMetrics): string {
  const width = Math.max(12, ...metrics.classNames.map((s) => s.length));
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`.padStart(9);
  const lines = [`${''.padEnd(width)}  precision     recall         f1  support`];
  for (const c of metrics.perClass) {
    lines.push(
      `${c.name.padEnd(width)}  ${pct(c.precision)}  ${pct(c.recall)}  ${pct(c.f1)}  ${String(c.support).padStart(7)}`,
    );
  }
  lines.push('');
  lines.push(`${'accuracy'.padEnd(width)}  ${pct(metrics.accuracy)}  (${metrics.count} images)`);
  lines.push(`${'mean class'.padEnd(width)}  ${pct(metrics.meanClassAccuracy)}`);
  lines.push(`${'macro F1'.padEnd(width)}  ${pct(metrics.macroF1)}`);
  return lines.join('\n');
}
