/**
 * Face crops in which the face fills the picture (issue 33), built from FER2013 PublicTest and CK+48
 * faces: upscaled to 120-300 px, square, 4:5 and 3:4, little or no margin (from 8 % zoomed in to 8 %
 * of margin), grey or tinted colour, rolled up to ±12°. Used by `test/faces/filling.test.ts` (recall
 * must not drop) and `bench/faces_filling.ts` (the recall figure). Reads ../shared/data; copies
 * nothing. Deterministic: the same arguments give the same pictures.
 * @module
 */

import { readFileSync } from 'node:fs';
import type { RgbImage } from '../../src/visualize/colormap';
import { DATA, type Sample } from './calibration';

/** FER+ (`ferplus/fer2013new.csv`): votes per FER2013 row, in the same order. */
export const FERPLUS_CSV = `${DATA}/ferplus/fer2013new.csv`;

/**
 * Indices (into the PublicTest rows) that are not faces: FER+ made no image for them, or most of
 * its 10 taggers voted "not a face" (blank frames, icons, text). They cannot count against recall.
 */
export function ferNotFaces(): Set<number> {
  let text: string;
  try {
    text = readFileSync(FERPLUS_CSV, 'latin1');
  } catch {
    return new Set();
  }
  const rows = text
    .split('\n')
    .slice(1)
    .filter((l) => l.startsWith('PublicTest'));
  const out = new Set<number>();
  rows.forEach((line, i) => {
    const cells = line.split(',');
    const votes = cells.slice(2).map(Number);
    const nf = votes[votes.length - 1]!;
    if (!cells[1] || nf > Math.max(...votes.slice(0, -1))) out.add(i);
  });
  return out;
}

/** One face-filling crop and where the face's original 48x48 square lies in it. */
export interface FillingCrop {
  /** `<source> <shape> <w>x<h> ...`, for messages. */
  name: string;
  /** RGB pixels. */
  image: RgbImage;
  shape: 'square' | '4:5' | '3:4';
  colour: boolean;
  /** Roll of the face in degrees (clockwise). */
  angleDeg: number;
  /** Where the source's 48x48 square lies: centre, side and roll (like a CropSquare). */
  truth: { center: [number, number]; side: number };
}

/** Catmull-Rom bicubic sample of a 48x48 gray face, edges repeated (so margins look like the border). */
function bicubic(src: Uint8Array, x: number, y: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const tx = x - x0;
  const ty = y - y0;
  const w = (t: number) => {
    const a = Math.abs(t);
    if (a <= 1) return 1.5 * a ** 3 - 2.5 * a ** 2 + 1;
    if (a < 2) return -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2;
    return 0;
  };
  let sum = 0;
  for (let j = -1; j <= 2; j++) {
    const yy = Math.min(47, Math.max(0, y0 + j));
    const wy = w(j - ty);
    for (let i = -1; i <= 2; i++) {
      const xx = Math.min(47, Math.max(0, x0 + i));
      sum += src[yy * 48 + xx]! * wy * w(i - tx);
    }
  }
  return sum;
}

/** Skin-like tints for the colour crops (gray level times these per channel). */
const TINTS: [number, number, number][] = [
  [1.0, 0.82, 0.7],
  [1.0, 0.9, 0.8],
  [0.85, 0.68, 0.55],
  [1.0, 0.95, 0.9],
];

/** A small deterministic generator (mulberry32), so every run builds the same pictures. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The `k`-th face-filling crop of `sample`: size, shape, margin, roll and colour drawn from `k`.
 * The shapes cycle square, 4:5, 3:4; colour alternates every other crop; the height is drawn from
 * `[minSide, maxSide]` pixels.
 */
export function fillingCrop(sample: Sample, k: number, minSide = 120, maxSide = 300): FillingCrop {
  const rnd = random(1000003 * (k + 1) + sample.pixels[0]! * 7 + sample.pixels[1200]!);
  const shape = (['square', '4:5', '3:4'] as const)[k % 3]!;
  const aspect = shape === 'square' ? 1 : shape === '4:5' ? 0.8 : 0.75;
  const height = Math.round(minSide + rnd() * (maxSide - minSide));
  const width = Math.round(height * aspect);
  // the face square: from filling the width (cheeks at the edges, the rows above and below repeat
  // the source's border) to filling the height (the sides cut), then zoomed by up to ±8 %
  const fill = width + rnd() * (height - width);
  const side = fill * (0.92 + rnd() * 0.16);
  const angleDeg = (rnd() * 2 - 1) * 12;
  const cx = width / 2 + (rnd() * 2 - 1) * 0.03 * width;
  const cy = height / 2 + (rnd() * 2 - 1) * 0.03 * height;
  const colour = Math.floor(k / 2) % 2 === 1;
  const tint = colour ? TINTS[Math.floor(rnd() * TINTS.length)]! : ([1, 1, 1] as const);
  const a = (angleDeg * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const s = 48 / side;
  const data = new Uint8Array(width * height * 3);
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      // output pixel centre → face frame (rotate back by the roll) → source pixel coordinates
      const dx = u + 0.5 - cx;
      const dy = v + 0.5 - cy;
      const sx = (cos * dx + sin * dy) * s + 24 - 0.5;
      const sy = (-sin * dx + cos * dy) * s + 24 - 0.5;
      const g = bicubic(sample.pixels, sx, sy);
      const o = 3 * (v * width + u);
      for (let c = 0; c < 3; c++) data[o + c] = Math.max(0, Math.min(255, Math.round(g * tint[c]!)));
    }
  }
  return {
    name: `${sample.name} ${shape} ${width}x${height} face ${side.toFixed(0)} px roll ${angleDeg.toFixed(1)}° ${colour ? 'colour' : 'grey'}`,
    image: { data, width, height },
    shape,
    colour,
    angleDeg,
    truth: { center: [cx, cy], side },
  };
}

/** IoU of two axis-aligned squares given by centre and side. */
export function squareIou(
  a: { center: [number, number]; side: number },
  b: { center: [number, number]; side: number },
): number {
  const w =
    Math.min(a.center[0] + a.side / 2, b.center[0] + b.side / 2) -
    Math.max(a.center[0] - a.side / 2, b.center[0] - b.side / 2);
  const h =
    Math.min(a.center[1] + a.side / 2, b.center[1] + b.side / 2) -
    Math.max(a.center[1] - a.side / 2, b.center[1] - b.side / 2);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.side ** 2 + b.side ** 2 - w * h);
}

/**
 * Whether a detection is the crop's face: its box centre lies within 0.3 of the face square's side
 * from the square's centre, and its width is 0.4 to 1.5 times that side. (Not an IoU with the
 * square: FER2013's framing varies, some of its faces are half its square and some overflow it, and
 * BlazeFace boxes the face, not the square. A box on part of the face, like an eye and the nose, is
 * narrower than 0.4 and does not count.)
 */
export function isTheFace(
  box: { x: number; y: number; width: number; height: number },
  truth: FillingCrop['truth'],
): boolean {
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const d = Math.hypot(cx - truth.center[0], cy - truth.center[1]);
  const r = box.width / truth.side;
  return d <= 0.3 * truth.side && r >= 0.4 && r <= 1.5;
}
