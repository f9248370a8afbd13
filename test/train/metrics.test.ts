import { describe, expect, it } from 'vitest';
import { confusionMatrixPng, confusionMatrixSvg } from '../../src/train/confusion_png';
import {
  classificationMetrics,
  confusionMatrix,
  formatClassificationReport,
  formatConfusionMatrix,
} from '../../src/train/metrics';

describe('metrics', () => {
  // 3 classes, 10 images. Hand-counted:
  // true 0: predicted 0,0,0,1       -> row [3, 1, 0]
  // true 1: predicted 1,1,2         -> row [0, 2, 1]
  // true 2: predicted 2,0,2         -> row [1, 0, 2]
  const labels = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
  const preds = [0, 0, 0, 1, 1, 1, 2, 2, 0, 2];

  it('counts a confusion matrix by hand', () => {
    expect(confusionMatrix(labels, preds, 3)).toEqual([
      [3, 1, 0],
      [0, 2, 1],
      [1, 0, 2],
    ]);
  });

  it('computes accuracy, mean class accuracy and per-class precision / recall / F1 by hand', () => {
    const m = classificationMetrics(confusionMatrix(labels, preds, 3), ['a', 'b', 'c']);
    expect(m.count).toBe(10);
    expect(m.accuracy).toBeCloseTo(7 / 10, 12);
    // recalls 3/4, 2/3, 2/3
    expect(m.meanClassAccuracy).toBeCloseTo((3 / 4 + 2 / 3 + 2 / 3) / 3, 12);
    // precisions: a 3/4 (3 of 4 predicted a), b 2/3, c 2/3
    expect(m.perClass[0]).toEqual({ name: 'a', precision: 0.75, recall: 0.75, f1: 0.75, support: 4 });
    expect(m.perClass[1].precision).toBeCloseTo(2 / 3, 12);
    expect(m.perClass[2].recall).toBeCloseTo(2 / 3, 12);
    expect(m.perClass[2].f1).toBeCloseTo(2 / 3, 12);
    expect(m.macroF1).toBeCloseTo((0.75 + 2 / 3 + 2 / 3) / 3, 12);
  });

  it('handles classes never predicted or absent (zero division gives 0, absent classes are not averaged)', () => {
    const m = classificationMetrics(
      [
        [2, 0, 0],
        [1, 0, 0],
        [0, 0, 0],
      ],
      ['x', 'y', 'z'],
    );
    expect(m.perClass[1]).toMatchObject({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(m.perClass[0].precision).toBeCloseTo(2 / 3, 12);
    expect(m.perClass[2].support).toBe(0);
    expect(m.meanClassAccuracy).toBeCloseTo(0.5, 12); // (1 + 0) / 2 over the two present classes
  });

  it('rejects mismatched inputs, naming the argument', () => {
    expect(() => confusionMatrix([0, 1], [0], 2)).toThrow(/`predictions` to be 2 values/);
    expect(() => confusionMatrix([0, 3], [0, 1], 2)).toThrow(/`labels\[1\]` to be a class index in \[0, 1\]/);
    expect(() => classificationMetrics([[1, 2]], ['a'])).toThrow(/`matrix` to be a non-empty square matrix/);
    expect(() => classificationMetrics([[1]], ['a', 'b'])).toThrow(/`classNames` to be 1 names/);
  });

  it('formats the matrix and the report as aligned text', () => {
    const matrix = confusionMatrix(labels, preds, 3);
    const text = formatConfusionMatrix(matrix, ['angry', 'happy', 'neutral']);
    const lines = text.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^true \\ pred\s+angry\s+happy\s+neutral\s+total\s+recall$/);
    expect(lines[1]).toMatch(/^angry\s+3\s+1\s+0\s+4\s+75\.0%$/);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(formatConfusionMatrix(matrix, ['a', 'b', 'c'], { normalize: true }).split('\n')[1]).toContain(
      '75.0%',
    );
    const report = formatClassificationReport(classificationMetrics(matrix, ['angry', 'happy', 'neutral']));
    expect(report).toMatch(/accuracy\s+70\.0%/);
    expect(report).toMatch(/angry\s+75\.0%\s+75\.0%\s+75\.0%\s+4/);
  });

  it('draws a PNG with shaded cells and a legend', async () => {
    const matrix = confusionMatrix(labels, preds, 3);
    const svg = confusionMatrixSvg(matrix, ['a<b', 'b', 'c']);
    expect(svg).toContain('a&lt;b');
    expect(svg).toContain('linearGradient');
    const png = await confusionMatrixPng(matrix, ['a', 'b', 'c'], { cellSize: 40 });
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const sharp = (await import('sharp')).default;
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    // The diagonal cell of row 0 (75 %) is darker than the empty cell (0 %) two columns right of it.
    const [, x0, y0] = /<rect x="(\d+)" y="(\d+)" width="40"/.exec(
      confusionMatrixSvg(matrix, ['a', 'b', 'c'], { cellSize: 40 }),
    )!;
    const left = Number(x0);
    const top = Number(y0);
    const pixel = (x: number, y: number) => {
      const o = (y * info.width + x) * info.channels;
      return data[o] + data[o + 1] + data[o + 2];
    };
    expect(pixel(left + 3, top + 3)).toBeLessThan(pixel(left + 2 * 40 + 3, top + 3));
  });
});
