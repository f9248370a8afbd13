/**
 * The training curve of a model card: loss and accuracies per epoch as a PNG line chart (an SVG
 * rendered by sharp). Used by scripts/pack-pretrained.ts; `npx tsx scripts/curve_png.ts <log.jsonl>
 * <name> <out.png>` redraws one from a run's log alone.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

/** Loss and accuracy per epoch as a PNG line chart (SVG rendered by sharp). */
export async function curvePng(
  rows: { epoch: number; loss: number; accuracy: number; valAccuracy?: number }[],
  title: string,
): Promise<Buffer> {
  const W = 640;
  const H = 360;
  const left = 50;
  const right = 20;
  const top = 30;
  const bottom = 40;
  const xs = (e: number) => left + ((e - 1) / Math.max(1, rows.length - 1)) * (W - left - right);
  const ys = (v: number) => top + (1 - v) * (H - top - bottom);
  const maxLoss = Math.max(...rows.map((r) => r.loss));
  const line = (vals: number[], color: string) =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${vals.map((v, i) => `${xs(i + 1)},${ys(v)}`).join(' ')}"/>`;
  const grid = [0, 0.2, 0.4, 0.6, 0.8, 1]
    .map(
      (v) =>
        `<line x1="${left}" x2="${W - right}" y1="${ys(v)}" y2="${ys(v)}" stroke="#ddd"/><text x="${left - 6}" y="${ys(v) + 4}" text-anchor="end">${v.toFixed(1)}</text>`,
    )
    .join('');
  // At most about 15 epoch labels, so that long runs stay legible.
  const every = Math.max(1, Math.ceil(rows.length / 15));
  const ticks = rows
    .filter((r) => r.epoch % every === 0 || r.epoch === 1)
    .map((r) => `<text x="${xs(r.epoch)}" y="${H - bottom + 16}" text-anchor="middle">${r.epoch}</text>`)
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>${grid}${ticks}
<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${title}: training curve (loss / ${maxLoss.toFixed(2)}, accuracies)</text>
<text x="${W / 2}" y="${H - 6}" text-anchor="middle">epoch</text>
${line(
  rows.map((r) => r.loss / maxLoss),
  '#d62728',
)}${line(
  rows.map((r) => r.accuracy),
  '#1f77b4',
)}
${
  rows.every((r) => r.valAccuracy !== undefined)
    ? line(
        rows.map((r) => r.valAccuracy!),
        '#2ca02c',
      )
    : ''
}
<text x="${left + 10}" y="${ys(0.16)}" fill="#d62728">training loss (scaled)</text>
<text x="${left + 10}" y="${ys(0.1)}" fill="#1f77b4">training accuracy</text>
<text x="${left + 10}" y="${ys(0.04)}" fill="#2ca02c">PublicTest accuracy</text>
</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [log, name, out] = process.argv.slice(2);
  if (!log || !name || !out)
    throw new Error('usage: npx tsx scripts/curve_png.ts <log.jsonl> <name> <out.png>');
  const rows = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
  writeFileSync(out, await curvePng(rows, name));
  console.log(`wrote ${out}`);
}
