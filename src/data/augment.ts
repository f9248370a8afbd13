/**
 * Augmentation and test-time crops on tensors, so they run on any tfjs backend (cpu, wasm, webgl,
 * webgpu) and batch-wise: one `cropAndResize` crops and mirrors a whole batch at once.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumberInRange, checkPositiveInteger, expected } from '../errors';
import type { Random } from './random';

/** Options of the training augmentation ({@link augmentBatch}). @category Data */
export interface AugmentOptions {
  /** Random crops of `cropSize` (centre crop when false). Defaults to `true`. */
  crop?: boolean;
  /** Mirror half of the images left-right. Defaults to `true`. */
  flip?: boolean;
  /** Largest rotation in degrees (uniform in `[-rotation, rotation]`). Defaults to `0` (off). */
  rotation?: number;
  /** Largest relative zoom (uniform in `[1 - scale, 1 + scale]`). Defaults to `0` (off). */
  scale?: number;
  /** Largest relative brightness change (uniform in `[1 - brightness, 1 + brightness]`). Defaults to `0` (off). */
  brightness?: number;
}

/** Defaults of {@link AugmentOptions}: the paper's recipe (random 44x44 crops and flips). @category Data */
export const AUGMENT_DEFAULTS: Readonly<Required<AugmentOptions>> = Object.freeze({
  crop: true,
  flip: true,
  rotation: 0,
  scale: 0,
  brightness: 0,
});

function checkBatch(x: tf.Tensor, size: number, where: string): [number, number, number, number] {
  if (x.rank !== 4)
    throw new RangeError(expected(where, 'x', 'a 4D tensor [batch, height, width, channels]', x.shape));
  checkPositiveInteger(size, 'size', where);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (size > h || size > w)
    throw new RangeError(expected(where, 'size', `at most the image size ${h}x${w}`, size));
  return [n, h, w, c];
}

/** Normalised `cropAndResize` box of the `size`-pixel crop at (oy, ox); mirrored when `flip`. */
function box(oy: number, ox: number, size: number, h: number, w: number, flip: boolean): number[] {
  const y1 = h > 1 ? oy / (h - 1) : 0;
  const y2 = h > 1 ? (oy + size - 1) / (h - 1) : 0;
  const xa = w > 1 ? ox / (w - 1) : 0;
  const xb = w > 1 ? (ox + size - 1) / (w - 1) : 0;
  return flip ? [y1, xb, y2, xa] : [y1, xa, y2, xb];
}

/**
 * Crops (and optionally mirrors) every image of a batch at its own offset, in one op.
 * @param offsets `[oy, ox, flip]` per image (pixel offsets of the crop's top-left corner).
 * @example
 * ```ts
 * const crops = cropBatch(x, 44, [[0, 0, false], [4, 4, true]]); // x: [2, 48, 48, 1]
 * ```
 * @category Data
 */
export function cropBatch(x: tf.Tensor4D, size: number, offsets: [number, number, boolean][]): tf.Tensor4D {
  const [n, h, w] = checkBatch(x, size, 'cropBatch');
  if (offsets.length !== n)
    throw new RangeError(expected('cropBatch', 'offsets', `${n} entries`, offsets.length));
  const boxes = offsets.map(([oy, ox, flip]) => box(oy, ox, size, h, w, flip));
  return tf.tidy(() =>
    tf.image.cropAndResize(x, tf.tensor2d(boxes, [n, 4]), tf.range(0, n, 1, 'int32') as tf.Tensor1D, [
      size,
      size,
    ]),
  );
}

/** Centre crop of every image (`floor((h - size) / 2)` from the top and left). @category Data */
export function centerCrop(x: tf.Tensor4D, size: number): tf.Tensor4D {
  const [, h, w] = checkBatch(x, size, 'centerCrop');
  if (size === h && size === w) return x.clone();
  return tf.slice(x, [0, (h - size) >> 1, (w - size) >> 1, 0], [-1, size, size, -1]);
}

function cornerCrops(x: tf.Tensor4D, size: number, where: string): tf.Tensor4D[] {
  const [, h, w] = checkBatch(x, size, where);
  const starts: [number, number][] = [
    [0, 0],
    [0, w - size],
    [h - size, 0],
    [h - size, w - size],
    [(h - size) >> 1, (w - size) >> 1],
  ];
  return starts.map(([y, x0]) => tf.slice(x, [0, y, x0, 0], [-1, size, size, -1]));
}

/**
 * The five crops used for test-time averaging: top-left, top-right, bottom-left, bottom-right, centre.
 * @returns Five `[batch, size, size, channels]` tensors; the caller disposes them.
 * @category Data
 */
export function fiveCrop(x: tf.Tensor4D, size: number): tf.Tensor4D[] {
  return cornerCrops(x, size, 'fiveCrop');
}

/**
 * Ten-crop test-time augmentation (the paper's evaluation): the {@link fiveCrop} crops, then the
 * same five mirrored left-right. Average the model's outputs over the ten.
 * @returns Ten `[batch, size, size, channels]` tensors; the caller disposes them.
 * @example
 * ```ts
 * const crops = tenCrop(faces, 44);
 * const mean = tf.tidy(() => tf.addN(crops.map((c) => model.predict(c) as tf.Tensor)).div(10));
 * tf.dispose(crops);
 * ```
 * @category Data
 */
export function tenCrop(x: tf.Tensor4D, size: number): tf.Tensor4D[] {
  const five = cornerCrops(x, size, 'tenCrop');
  return [...five, ...five.map((c) => tf.reverse(c, 2) as tf.Tensor4D)];
}

/**
 * Random rotation and zoom about the image centre (`tf.image.transform`, bilinear, edges extended).
 * @param rotation Largest angle in degrees. @param scale Largest relative zoom.
 * @category Data
 */
export function randomAffine(x: tf.Tensor4D, rng: Random, rotation: number, scale: number): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  const rows: number[] = [];
  for (let i = 0; i < n; i++) {
    const theta = (rng.float(-rotation, rotation) * Math.PI) / 180;
    const s = 1 + rng.float(-scale, scale);
    // Output pixel -> input pixel: rotate by -theta and shrink by s about the centre.
    const a0 = Math.cos(theta) / s;
    const a1 = Math.sin(theta) / s;
    const b0 = -Math.sin(theta) / s;
    const b1 = Math.cos(theta) / s;
    rows.push(a0, a1, cx - a0 * cx - a1 * cy, b0, b1, cy - b0 * cx - b1 * cy, 0, 0);
  }
  return tf.tidy(() => tf.image.transform(x, tf.tensor2d(rows, [n, 8]), 'bilinear', 'nearest'));
}

/**
 * The training augmentation for a batch of `[0, 1]` images: optional rotation/zoom, random crop of
 * `size` (or centre crop), optional mirror, optional brightness. Deterministic given `rng`'s state.
 * @example
 * ```ts
 * const rng = new Random(42);
 * const out = augmentBatch(x, 44, rng, { rotation: 10 }); // x: [b, 48, 48, 1] in [0, 1]
 * ```
 * @category Data
 */
export function augmentBatch(
  x: tf.Tensor4D,
  size: number,
  rng: Random,
  options: AugmentOptions = {},
): tf.Tensor4D {
  const where = 'augmentBatch';
  const o = { ...AUGMENT_DEFAULTS, ...options };
  checkNumberInRange(o.rotation, 'rotation', where, 0, 180);
  checkNumberInRange(o.scale, 'scale', where, 0, 0.9);
  checkNumberInRange(o.brightness, 'brightness', where, 0, 1);
  const [n, h, w] = checkBatch(x, size, where);
  return tf.tidy(() => {
    let y = o.rotation > 0 || o.scale > 0 ? randomAffine(x, rng, o.rotation, o.scale) : x;
    const offsets: [number, number, boolean][] = [];
    for (let i = 0; i < n; i++) {
      const oy = o.crop ? rng.int(h - size + 1) : (h - size) >> 1;
      const ox = o.crop ? rng.int(w - size + 1) : (w - size) >> 1;
      offsets.push([oy, ox, o.flip ? rng.bool() : false]);
    }
    y = cropBatch(y, size, offsets);
    if (o.brightness > 0) {
      const factors = Array.from({ length: n }, () => 1 + rng.float(-o.brightness, o.brightness));
      y = tf.clipByValue(tf.mul(y, tf.tensor4d(factors, [n, 1, 1, 1])), 0, 1) as tf.Tensor4D;
    }
    return y;
  });
}
