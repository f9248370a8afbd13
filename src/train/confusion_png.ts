import { importSharp } from '../image/sharp';
import { classificationMetrics } from './metrics';

/** Options of {@link confusionMatrixPng}. @category Training */
export interface ConfusionMatrixPngOptions {
  /** Side of one cell in pixels. Defaults to `56`. */
  cellSize?: number;
  /** Title drawn above the matrix. Defaults to none. */
  title?: string;
}

const escapeXml = (s: string) =>
  s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

/** White to dark blue (like matplotlib's "Blues"), for t in [0, 1]. */
function blue(t: number): string {
  const stops = [
    [247, 251, 255],
    [198, 219, 239],
    [107, 174, 214],
    [33, 113, 181],
    [8, 48, 107],
  ];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/**
 * Builds the SVG drawing of a confusion matrix: rows are true classes, columns predicted ones, each
 * cell shaded by the fraction of its row (recall on the diagonal) and labelled with that percentage
 * and the count, plus a colour legend. Pure; {@link confusionMatrixPng} rasterises it.
 * @param matrix `matrix[true][predicted]` counts.
 * @param classNames Names in class order.
 * @example
 * ```ts
 * const svg = confusionMatrixSvg([[5, 1], [0, 4]], ['a', 'b']);
 * ```
 * @category Training
 */
export function confusionMatrixSvg(
  matrix: number[][],
  classNames: readonly string[],
  options: ConfusionMatrixPngOptions = {},
): string {
  const metrics = classificationMetrics(matrix, classNames);
  const n = matrix.length;
  const cell = options.cellSize ?? 56;
  const font = Math.max(9, Math.round(cell / 5));
  const left = Math.round(font * 0.62 * Math.max(6, ...metrics.classNames.map((s) => s.length)) + font * 2.5);
  const top = Math.round(font * (options.title ? 4.2 : 2.6));
  const legendX = left + n * cell + font;
  const width = legendX + font * 5;
  const height = top + n * cell + Math.round(font * 5.5);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    '<defs><linearGradient id="legend" x1="0" y1="1" x2="0" y2="0">',
    ...[0, 0.25, 0.5, 0.75, 1].map((t) => `<stop offset="${t}" stop-color="${blue(t)}"/>`),
    '</linearGradient></defs>',
  ];
  if (options.title) {
    parts.push(
      `<text x="${width / 2}" y="${font * 1.4}" font-size="${font + 2}" text-anchor="middle">${escapeXml(options.title)}</text>`,
    );
  }
  parts.push(
    `<text x="${left + (n * cell) / 2}" y="${top - font * 0.9}" font-size="${font}" text-anchor="middle">predicted</text>`,
  );
  for (let r = 0; r < n; r++) {
    const sum = matrix[r].reduce((a, b) => a + b, 0);
    const y = top + r * cell;
    parts.push(
      `<text x="${left - font * 0.5}" y="${y + cell / 2 + font * 0.35}" font-size="${font}" text-anchor="end">${escapeXml(metrics.classNames[r])}</text>`,
    );
    for (let c = 0; c < n; c++) {
      const frac = sum > 0 ? matrix[r][c] / sum : 0;
      const x = left + c * cell;
      const ink = frac > 0.5 ? 'white' : 'black';
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${blue(frac)}" stroke="#ddd"/>`,
      );
      parts.push(
        `<text x="${x + cell / 2}" y="${y + cell / 2 - font * 0.1}" font-size="${font}" fill="${ink}" text-anchor="middle">${(100 * frac).toFixed(0)}%</text>`,
        `<text x="${x + cell / 2}" y="${y + cell / 2 + font * 0.95}" font-size="${Math.round(font * 0.75)}" fill="${ink}" text-anchor="middle">${matrix[r][c]}</text>`,
      );
    }
  }
  for (let c = 0; c < n; c++) {
    const x = left + c * cell + cell / 2;
    const y = top + n * cell + font * 0.6;
    parts.push(
      `<text x="${x}" y="${y}" font-size="${font}" text-anchor="end" transform="rotate(-40 ${x} ${y})" dy="${font * 0.7}">${escapeXml(metrics.classNames[c])}</text>`,
    );
  }
  parts.push(
    `<text x="${font * 0.9}" y="${top + (n * cell) / 2}" font-size="${font}" text-anchor="middle" transform="rotate(-90 ${font * 0.9} ${top + (n * cell) / 2})">true</text>`,
    `<rect x="${legendX}" y="${top}" width="${font}" height="${n * cell}" fill="url(#legend)" stroke="#999"/>`,
    `<text x="${legendX + font * 1.3}" y="${top + font * 0.8}" font-size="${Math.round(font * 0.8)}">100%</text>`,
    `<text x="${legendX + font * 1.3}" y="${top + n * cell}" font-size="${Math.round(font * 0.8)}">0%</text>`,
    `<text x="${left}" y="${height - font * 0.6}" font-size="${Math.round(font * 0.8)}">accuracy ${(100 * metrics.accuracy).toFixed(1)}%, mean class ${(100 * metrics.meanClassAccuracy).toFixed(1)}%, ${metrics.count} images</text>`,
    '</svg>',
  );
  return parts.join('');
}

/**
 * Renders a confusion matrix as a PNG (via `sharp`, imported on first use; Node only): cells shaded by
 * row fraction, labelled with percentages and counts, class names on both axes (when the system has
 * fonts), and a legend.
 * @param matrix `matrix[true][predicted]` counts.
 * @param classNames Names in class order.
 * @returns The PNG file's bytes.
 * @throws Error if `sharp` cannot be loaded; RangeError if the matrix is not square or does not match
 *   `classNames`.
 * @example
 * ```ts
 * const png = await confusionMatrixPng(metrics.confusionMatrix, metrics.classNames);
 * await fs.writeFile('confusion.png', png);
 * ```
 * @category Training
 */
export async function confusionMatrixPng(
  matrix: number[][],
  classNames: readonly string[],
  options: ConfusionMatrixPngOptions = {},
): Promise<Buffer> {
  const svg = confusionMatrixSvg(matrix, classNames, options);
  const sharp = await importSharp('confusionMatrixPng');
  return sharp(Buffer.from(svg)).png().toBuffer();
}
