/**
 * A built-in, procedurally drawn facial-expression set: the demo's default data and the tests' data.
 * Browser-safe, no files.
 * @module
 */

import { expected } from '../errors';
import { deriveSeed, Random } from '../random';
import { type FaceDataset, FER2013_CLASSES } from './dataset';

/** How much the nuisance factors vary; each is a maximum. @category Data */
export interface SyntheticVariation {
  /** Largest shift of the face centre, as a fraction of the image side. Defaults to `0.06`. */
  shift?: number;
  /** Largest in-plane rotation, in degrees. Defaults to `10`. */
  rotation?: number;
  /** Largest relative change of the face size (0.1: 0.9x to 1.1x). Defaults to `0.1`. */
  scale?: number;
  /** Standard deviation of the pixel noise on the 0-1 scale. Defaults to `0.03`. */
  noise?: number;
  /** Largest lighting gradient across the image, on the 0-1 scale. Defaults to `0.2`. */
  lighting?: number;
  /** Probability that an image is drawn in negative (light features on a dark face). Defaults to `0.5`. */
  invert?: number;
}

/** Options of {@link syntheticExpressions}. @category Data */
export interface SyntheticOptions {
  /** Number of images. */
  count: number;
  /** Image side in pixels. Defaults to `48`. */
  size?: number;
  /** Seed: the same seed gives the same images. Defaults to `0`. */
  seed?: number;
  /** Class of each image: `'balanced'` (image `i` has class `i % 7`) or `'random'`. Defaults to `'balanced'`. */
  labels?: 'balanced' | 'random';
  /** Nuisance variation; see {@link SyntheticVariation}. */
  variation?: SyntheticVariation;
}

/** Defaults of {@link SyntheticOptions} and {@link SyntheticVariation}. @category Data */
export const SYNTHETIC_DEFAULTS = {
  size: 48,
  seed: 0,
  labels: 'balanced',
  variation: { shift: 0.06, rotation: 10, scale: 0.1, noise: 0.03, lighting: 0.2, invert: 0.5 },
} as const;

const WHERE = 'syntheticExpressions';
/** Face size: the face ellipse spans about 70 % of the image width. */
const ZOOM = 1.2;
/** Stroke half-thickness multiplier (brows, mouth lines, wrinkles). */
const THICK = 1.4;

/** Per-class face configuration (before per-image jitter), in face units (face half-width ~0.6). */
interface Expression {
  /** Eye half-height (openness). */
  eyeOpen: number;
  /** Brow inner and outer heights (v, down is positive); brow arch. */
  browInner: number;
  browOuter: number;
  browArch: number;
  /** Mouth: half-width, curvature (+ smile, - frown), tilt, open half-height (0 = a line). */
  mouthWidth: number;
  mouthCurve: number;
  mouthTilt: number;
  mouthOpen: number;
  mouthThick: number;
  /** Nose wrinkle lines (disgust). */
  wrinkles: boolean;
  /** Eyes drawn as upward arcs (smiling eyes) instead of filled ellipses. */
  eyeArcs: boolean;
}

// Index order = FER2013_CLASSES: angry, disgust, fear, happy, sad, surprise, neutral.
const EXPRESSIONS: Expression[] = [
  // angry: V brows (inner low), narrowed eyes, short tight mouth.
  {
    eyeOpen: 0.03,
    browInner: -0.2,
    browOuter: -0.4,
    browArch: 0,
    mouthWidth: 0.17,
    mouthCurve: -0.02,
    mouthTilt: 0,
    mouthOpen: 0,
    mouthThick: 0.055,
    wrinkles: false,
    eyeArcs: false,
  },
  // disgust: nose wrinkles, lowered flat brows, narrowed eyes, one-sided raised mouth.
  {
    eyeOpen: 0.03,
    browInner: -0.27,
    browOuter: -0.3,
    browArch: 0,
    mouthWidth: 0.22,
    mouthCurve: -0.04,
    mouthTilt: 0.16,
    mouthOpen: 0,
    mouthThick: 0.045,
    wrinkles: true,
    eyeArcs: false,
  },
  // fear: raised brows with the inner ends higher, wide eyes, wide stretched open mouth.
  {
    eyeOpen: 0.11,
    browInner: -0.56,
    browOuter: -0.34,
    browArch: 0,
    mouthWidth: 0.3,
    mouthCurve: 0,
    mouthTilt: 0,
    mouthOpen: 0.08,
    mouthThick: 0.03,
    wrinkles: false,
    eyeArcs: false,
  },
  // happy: broad smile, neutral brows, slightly narrowed eyes.
  {
    eyeOpen: 0.05,
    browInner: -0.34,
    browOuter: -0.36,
    browArch: 0.03,
    mouthWidth: 0.3,
    mouthCurve: 0.2,
    mouthTilt: 0,
    mouthOpen: 0,
    mouthThick: 0.045,
    wrinkles: false,
    eyeArcs: true,
  },
  // sad: frown, brows raised at the inner ends, normal eyes.
  {
    eyeOpen: 0.05,
    browInner: -0.45,
    browOuter: -0.28,
    browArch: 0,
    mouthWidth: 0.22,
    mouthCurve: -0.16,
    mouthTilt: 0,
    mouthOpen: 0,
    mouthThick: 0.045,
    wrinkles: false,
    eyeArcs: false,
  },
  // surprise: high arched brows, wide eyes, round open mouth.
  {
    eyeOpen: 0.11,
    browInner: -0.54,
    browOuter: -0.52,
    browArch: 0.1,
    mouthWidth: 0.12,
    mouthCurve: 0,
    mouthTilt: 0,
    mouthOpen: 0.15,
    mouthThick: 0.03,
    wrinkles: false,
    eyeArcs: false,
  },
  // neutral: flat brows, normal eyes, straight medium mouth.
  {
    eyeOpen: 0.055,
    browInner: -0.35,
    browOuter: -0.35,
    browArch: 0,
    mouthWidth: 0.22,
    mouthCurve: 0,
    mouthTilt: 0,
    mouthOpen: 0,
    mouthThick: 0.035,
    wrinkles: false,
    eyeArcs: false,
  },
];

/** A line segment with thickness, in face units. */
interface Stroke {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  r: number;
}

/** Bounding box of a primitive, padded; [minU, minV, maxU, maxV]. */
function strokeBox(s: Stroke, pad: number): number[] {
  return [
    Math.min(s.x0, s.x1) - s.r - pad,
    Math.min(s.y0, s.y1) - s.r - pad,
    Math.max(s.x0, s.x1) + s.r + pad,
    Math.max(s.y0, s.y1) + s.r + pad,
  ];
}

function blobBox(b: Blob, pad: number): number[] {
  return [b.cx - b.rx - pad, b.cy - b.ry - pad, b.cx + b.rx + pad, b.cy + b.ry + pad];
}

/** 4096 standard normal samples (fixed), indexed by random bits for fast pixel noise. */
const NORMALS = (() => {
  const rng = new Random(0x5eed);
  return Float32Array.from({ length: 4096 }, () => rng.normal());
})();
/** A filled ellipse, in face units. */
interface Blob {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

function strokeDistance(s: Stroke, u: number, v: number): number {
  const dx = s.x1 - s.x0;
  const dy = s.y1 - s.y0;
  const len2 = dx * dx + dy * dy;
  let t = len2 > 0 ? ((u - s.x0) * dx + (v - s.y0) * dy) / len2 : 0;
  t = Math.min(1, Math.max(0, t));
  const ex = u - (s.x0 + t * dx);
  const ey = v - (s.y0 + t * dy);
  return Math.sqrt(ex * ex + ey * ey) - s.r;
}

function blobDistance(b: Blob, u: number, v: number): number {
  const nx = (u - b.cx) / b.rx;
  const ny = (v - b.cy) / b.ry;
  return (Math.sqrt(nx * nx + ny * ny) - 1) * Math.min(b.rx, b.ry);
}

/** Adds the strokes of a curve: centre `cy + curve / 2`, corners `cy - curve / 2 -+ tilt` (v points down). */
function curveStrokes(
  out: Stroke[],
  cx: number,
  cy: number,
  w: number,
  curve: number,
  tilt: number,
  r: number,
  pieces: number,
): void {
  const at = (t: number) => cy + curve * (0.5 - t * t) + tilt * t;
  let px = cx - w;
  let py = at(-1);
  for (let k = 1; k <= pieces; k++) {
    const t = -1 + (2 * k) / pieces;
    const x = cx + t * w;
    const y = at(t);
    out.push({ x0: px, y0: py, x1: x, y1: y, r });
    px = x;
    py = y;
  }
}

/**
 * Draws one face into `out` (size*size bytes). Exported for tests and for drawing a chosen class.
 * @internal
 */
export function drawSyntheticFace(
  out: Uint8Array,
  size: number,
  label: number,
  rng: Random,
  variation: Required<SyntheticVariation>,
): void {
  const e = EXPRESSIONS[label]!;
  const j = (amount: number) => rng.float(-amount, amount);
  // Identity: face shape and feature placement.
  const faceRx = 0.6 + j(0.05);
  const faceRy = 0.78 + j(0.05);
  const eyeX = 0.26 + j(0.03);
  const eyeY = -0.12 + j(0.03);
  const mouthY = 0.42 + j(0.04);
  const browDy = j(0.03);
  const eyeRx = 0.11 + j(0.015);
  // Expression, jittered by about 15 %.
  const jit = (x: number, rel = 0.15) => x * (1 + j(rel));
  const eyeOpen = jit(e.eyeOpen, 0.2);
  const browInner = e.browInner + browDy + j(0.025);
  const browOuter = e.browOuter + browDy + j(0.025);
  const mouthW = jit(e.mouthWidth);
  const mouthCurve = jit(e.mouthCurve, 0.25);
  const tiltSign = rng.bool() ? 1 : -1;
  const mouthTilt = e.mouthTilt * tiltSign * (1 + j(0.2));
  const mouthOpen = jit(e.mouthOpen, 0.2);
  const mouthThick = jit(e.mouthThick, 0.2);

  const strokes: Stroke[] = [];
  const blobs: Blob[] = [];
  // Eyes (filled ellipses) and brows (arched strokes).
  for (const side of [-1, 1]) {
    if (e.eyeArcs) {
      // Smiling eyes: an upward arc (outer end, top, inner end).
      const top = eyeY - eyeOpen;
      const r = 0.03 * THICK;
      strokes.push({ x0: side * (eyeX + eyeRx), y0: eyeY + 0.02, x1: side * eyeX, y1: top, r });
      strokes.push({ x0: side * eyeX, y0: top, x1: side * (eyeX - eyeRx), y1: eyeY + 0.02, r });
    } else {
      blobs.push({ cx: side * eyeX, cy: eyeY, rx: eyeRx, ry: eyeOpen });
    }
    const x0 = side * 0.08;
    const x1 = side * 0.46;
    const xm = (x0 + x1) / 2;
    const ym = (browInner + browOuter) / 2 - e.browArch;
    strokes.push({ x0, y0: browInner, x1: xm, y1: ym, r: 0.035 * THICK });
    strokes.push({ x0: xm, y0: ym, x1, y1: browOuter, r: 0.035 * THICK });
  }
  // Mouth: a stroke curve, or an open ellipse.
  if (mouthOpen > 0) {
    blobs.push({ cx: 0, cy: mouthY, rx: mouthW, ry: mouthOpen });
  } else {
    curveStrokes(strokes, 0, mouthY, mouthW, mouthCurve, mouthTilt, mouthThick * THICK, 6);
  }
  if (e.wrinkles) {
    for (const dy of [0.02, 0.09]) {
      strokes.push({ x0: -0.09, y0: 0.05 + dy, x1: 0.09, y1: 0.05 + dy, r: 0.018 * THICK });
    }
  }
  // A nose hint shared by all classes (a short vertical stroke).
  strokes.push({ x0: 0, y0: 0.02, x1: 0, y1: 0.2, r: 0.02 });

  // Pose: pixel -> face coordinates.
  const scale = (1 + j(variation.scale)) * ZOOM;
  const angle = (j(variation.rotation) * Math.PI) / 180;
  const tx = j(variation.shift) * 2;
  const ty = j(variation.shift) * 2;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  // Image coordinates span [-1, 1]; the face (u, v) spans about [-0.6, 0.6] x [-0.8, 0.8].
  const pixel = 2 / size; // one pixel in image units
  const aa = pixel / scale; // one pixel in face units (anti-aliasing width)

  // Tones: background, skin, ink (features), hair.
  const skin = rng.float(0.55, 0.8);
  const ink = skin - rng.float(0.42, 0.55);
  const background = rng.float(0.1, 0.9);
  const hairTone = rng.float(0.05, 0.35);
  const hairLine = -0.55 + j(0.12);
  const lightX = j(variation.lighting);
  const lightY = j(variation.lighting);
  const invert = rng.bool(variation.invert);
  const noise = variation.noise;
  const faceBlob: Blob = { cx: 0, cy: 0, rx: faceRx, ry: faceRy };
  const strokeBoxes = strokes.map((st) => strokeBox(st, aa));
  const blobBoxes = blobs.map((b) => blobBox(b, aa));
  const allBox = [...strokeBoxes, ...blobBoxes].reduce((a, b) => [
    Math.min(a[0]!, b[0]!),
    Math.min(a[1]!, b[1]!),
    Math.max(a[2]!, b[2]!),
    Math.max(a[3]!, b[3]!),
  ]);

  let o = 0;
  for (let py = 0; py < size; py++) {
    const iy = (py + 0.5) * pixel - 1;
    for (let px = 0; px < size; px++) {
      const ix = (px + 0.5) * pixel - 1;
      const dx = ix - tx;
      const dy = iy - ty;
      const u = (cos * dx + sin * dy) / scale;
      const v = (-sin * dx + cos * dy) / scale;
      // Face ellipse coverage.
      const fd = blobDistance(faceBlob, u, v);
      let value = background;
      if (fd < aa) {
        const cover = fd <= -aa ? 1 : 0.5 - fd / (2 * aa);
        let face = v < hairLine - 0.1 * Math.abs(u) ? hairTone : skin;
        // Features.
        let d = Number.POSITIVE_INFINITY;
        if (u >= allBox[0]! && v >= allBox[1]! && u <= allBox[2]! && v <= allBox[3]!) {
          for (let k = 0; k < strokes.length; k++) {
            const b = strokeBoxes[k]!;
            if (u < b[0]! || v < b[1]! || u > b[2]! || v > b[3]!) continue;
            const sd = strokeDistance(strokes[k]!, u, v);
            if (sd < d) d = sd;
          }
          for (let k = 0; k < blobs.length; k++) {
            const b = blobBoxes[k]!;
            if (u < b[0]! || v < b[1]! || u > b[2]! || v > b[3]!) continue;
            const bd = blobDistance(blobs[k]!, u, v);
            if (bd < d) d = bd;
          }
        }
        if (d < aa) {
          const f = d <= -aa ? 1 : 0.5 - d / (2 * aa);
          face = face + (ink - face) * f;
        }
        value = background + (face - background) * cover;
      }
      value += lightX * ix + lightY * iy;
      if (invert) value = 1 - value;
      if (noise > 0) value += noise * NORMALS[(rng.next() * 4096) | 0]!;
      const byte = Math.round(value * 255);
      out[o++] = Math.min(255, Math.max(0, byte));
    }
  }
}

/**
 * Procedurally drawn grayscale faces in the seven FER2013 classes ({@link FER2013_CLASSES}). The
 * classes differ by local configuration: brows (V-shaped for angry, raised at the inner ends for
 * sad and fear, high arches for surprise), eyes (narrowed, normal, wide), mouth (smile, frown, tight
 * line, stretched open, round open, one-sided) and nose wrinkles (disgust). Every image has its own
 * face shape, feature placement, pose (shift, rotation, scale), tones, lighting gradient, noise and,
 * with probability `variation.invert`, negative polarity, so raw pixels are not linearly separable
 * while a small CNN learns the classes quickly. Deterministic per seed; thousands of images per
 * second.
 * @param options See {@link SyntheticOptions}.
 * @returns A {@link FaceDataset} of `count` images of `size` x `size`.
 * @example
 * ```ts
 * const train = syntheticExpressions({ count: 2000, seed: 1 });
 * const test = syntheticExpressions({ count: 500, seed: 2 });
 * ```
 * @throws RangeError if `count` or `size` is not a positive integer or a variation is negative.
 * @category Data
 */
export function syntheticExpressions(options: SyntheticOptions): FaceDataset {
  if (options == null || typeof options !== 'object') {
    throw new TypeError(expected(WHERE, 'options', 'an object with `count`', options));
  }
  const { count } = options;
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(expected(WHERE, 'count', 'a non-negative integer', count));
  }
  const size = options.size ?? SYNTHETIC_DEFAULTS.size;
  if (!Number.isInteger(size) || size < 8 || size > 1024) {
    throw new RangeError(expected(WHERE, 'size', 'an integer in [8, 1024]', size));
  }
  const seed = options.seed ?? SYNTHETIC_DEFAULTS.seed;
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new TypeError(expected(WHERE, 'seed', 'a finite number', seed));
  }
  const labelMode = options.labels ?? SYNTHETIC_DEFAULTS.labels;
  if (labelMode !== 'balanced' && labelMode !== 'random') {
    throw new RangeError(expected(WHERE, 'labels', "one of 'balanced', 'random'", labelMode));
  }
  const variation = { ...SYNTHETIC_DEFAULTS.variation, ...options.variation };
  for (const [key, value] of Object.entries(variation)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(expected(WHERE, `variation.${key}`, 'a non-negative number', value));
    }
  }
  if (variation.invert > 1)
    throw new RangeError(expected(WHERE, 'variation.invert', 'a probability in [0, 1]', variation.invert));

  const pixels = size * size;
  const images = new Uint8Array(count * pixels);
  const labels = new Uint8Array(count);
  const labelRng = new Random(deriveSeed(seed, 0x1abe1));
  for (let i = 0; i < count; i++) {
    const label =
      labelMode === 'balanced' ? i % FER2013_CLASSES.length : labelRng.int(FER2013_CLASSES.length);
    labels[i] = label;
    // One generator per image: image i is the same whatever `count` is.
    const rng = new Random(deriveSeed(seed, i));
    drawSyntheticFace(images.subarray(i * pixels, (i + 1) * pixels), size, label, rng, variation);
  }
  return { count, height: size, width: size, images, labels, classNames: [...FER2013_CLASSES] };
}
