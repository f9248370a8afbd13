/**
 * Reliability diagrams: per confidence bin, the accuracy against the mean confidence, as SVG (pure,
 * browser-safe; rasterise it with sharp or a canvas).
 * @module
 */
import type { ReliabilityBin } from '../models/calibration';

/** One curve of {@link reliabilityDiagramSvg}. @category Visualization */
export interface ReliabilityCurve {
  /** Legend text, e.g. `'raw, ECE 3.9 %'`. */
  label: string;
  /** The bins of `expectedCalibrationError`. */
  bins: ReliabilityBin[];
  /** Bar colour (any SVG colour). */
  color: string;
}

const escapeXml = (s: string) =>
  s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

/**
 * Draws a reliability diagram: for each curve, one bar per non-empty bin from the bin's lower edge to
 * its upper edge, as high as the bin's accuracy, over the diagonal of perfect calibration; a bar below
 * the diagonal is over-confidence. Curves are drawn side by side within each bin.
 * @param curves One or more sets of bins (e.g. before and after temperature scaling).
 * @param title Text above the plot. Defaults to none.
 * @param size Side of the square plot area in pixels. Defaults to `360`.
 * @returns An SVG document.
 * @example
 * ```ts
 * const before = expectedCalibrationError(raw, labels);
 * const svg = reliabilityDiagramSvg([{ label: 'raw', bins: before.bins, color: '#e57373' }], 'fer2013');
 * ```
 * @category Visualization
 */
export function reliabilityDiagramSvg(curves: ReliabilityCurve[], title = '', size = 360): string {
  const left = 56;
  const top = title ? 40 : 16;
  const width = left + size + 20;
  const height = top + size + 48 + 18 * curves.length;
  const x = (v: number) => left + v * size;
  const y = (v: number) => top + (1 - v) * size;
  const parts: string[] = [
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<rect x="${left}" y="${top}" width="${size}" height="${size}" fill="none" stroke="#333"/>`,
  ];
  if (title) {
    parts.push(
      `<text x="${left}" y="24" font-family="DejaVu Sans, Arial, sans-serif" font-size="16" fill="#000">${escapeXml(title)}</text>`,
    );
  }
  for (let t = 0; t <= 10; t += 2) {
    const v = t / 10;
    parts.push(
      `<line x1="${x(0)}" y1="${y(v)}" x2="${x(1)}" y2="${y(v)}" stroke="#eee"/>`,
      `<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">${v.toFixed(1)}</text>`,
      `<text x="${x(v)}" y="${top + size + 16}" text-anchor="middle" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">${v.toFixed(1)}</text>`,
    );
  }
  curves.forEach((curve, k) => {
    for (const b of curve.bins) {
      if (b.count === 0) continue;
      const w = (b.upper - b.lower) / curves.length;
      const x0 = b.lower + k * w;
      parts.push(
        `<rect x="${x(x0).toFixed(1)}" y="${y(b.accuracy).toFixed(1)}" width="${(w * size).toFixed(1)}" height="${(b.accuracy * size).toFixed(1)}" fill="${curve.color}" fill-opacity="0.75" stroke="#fff" stroke-width="0.5"/>`,
      );
    }
    const ly = top + size + 40 + 18 * k;
    parts.push(
      `<rect x="${left}" y="${ly - 10}" width="12" height="12" fill="${curve.color}"/>`,
      `<text x="${left + 18}" y="${ly}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">${escapeXml(curve.label)}</text>`,
    );
  });
  parts.push(
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#333" stroke-dasharray="4 3"/>`,
    `<text x="${left + size / 2}" y="${top + size + 30}" text-anchor="middle" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">confidence (top probability)</text>`,
    `<text x="14" y="${top + size / 2}" transform="rotate(-90 14 ${top + size / 2})" text-anchor="middle" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">accuracy</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}
