/**
 * Augmentation and test-time crops on image tensors, built from ops every tfjs backend has
 * (`image.transform`, `slice`, `reverse`, `where`, arithmetic), so they run on cpu, wasm, webgl and
 * webgpu alike, a whole batch per op. Randomness comes from a seeded {@link Random}, never from tfjs,
 * so results are a pure function of the seed. Browser-safe.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumberInRange, checkPositiveInteger, expected } from '../errors';
import { Random } from '../random';
import type { Normalization } from './stats';

/** Options of the training augmentation ({@link augmentBatch}). @category Data */
export interface AugmentOptions {
  /** Random crops of the crop size (centre crop when false). Defaults to `true`. */
  crop?: boolean;
  /** Mirror half of the images left-right. Defaults to `true`. */
  flip?: boolean;
  /** Largest rotation in degrees (uniform in `[-rotation, rotation]`). Defaults to `0` (off). */
  rotation?: number;
  /** Largest relative zoom (uniform in `[1 - scale, 1 + scale]`). Defaults to `0` (off). */
  scale?: number;
  /** Largest relative brightness change (factor uniform in `[1 - brightness, 1 + brightness]`). Defaults to `0` (off). */
  brightness?: number;
  /** Largest relative contrast change around each image's mean (factor in `[1 - contrast, 1 + contrast]`). Defaults to `0` (off). */
  contrast?: number;
  /**
   * Probability of random erasing (Zhong et al., 2017): a rectangle of 2-20 % of the crop, aspect ratio
   * 0.3-3.3, filled with the image's mean, so a model does not lean on one part of the face (a hand, a
   * scarf or glasses hide parts of real faces). Defaults to `0` (off).
   */
  erase?: number;
}

/**
 * Defaults of {@link AugmentOptions}, and what `augment: true` means: the paper's recipe, random
 * crops (44 from 48) and horizontal flips. Rotation, zoom, brightness and contrast are opt-in.
 * @category Data
 */
export const AUGMENT_DEFAULTS: Readonly<Required<AugmentOptions>> = Object.freeze({
  crop: true,
  flip: true,
  rotation: 0,
  scale: 0,
  brightness: 0,
  contrast: 0,
  erase: 0,
});

/** A random source: a {@link Random} (advanced as it is used) or a seed. @category Data */
export type RandomSource = Random | number;

function toRandom(source: RandomSource | undefined): Random {
  return source instanceof Random ? source : new Random(source ?? 0);
}

function checkBatch(x: tf.Tensor, size: number, where: string): [number, number, number, number] {
  if (!(x instanceof tf.Tensor) || x.rank !== 4) {
    throw new RangeError(
      expected(
        where,
        'x',
        'a 4D tensor [batch, height, width, channels]',
        x instanceof tf.Tensor ? x.shape : typeof x,
      ),
    );
  }
  checkPositiveInteger(size, 'size', where);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (size > h || size > w)
    throw new RangeError(expected(where, 'size', `at most the image size ${h}x${w}`, size));
  return [n, h, w, c];
}

/** Checks and fills in augmentation options. @internal */
export function resolveAugmentOptions(options: AugmentOptions, where: string): Required<AugmentOptions> {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(expected(where, 'augment', 'a boolean or an AugmentOptions object', options));
  }
  const o = { ...AUGMENT_DEFAULTS, ...options };
  if (typeof o.crop !== 'boolean') throw new TypeError(expected(where, 'crop', 'a boolean', o.crop));
  if (typeof o.flip !== 'boolean') throw new TypeError(expected(where, 'flip', 'a boolean', o.flip));
  checkNumberInRange(o.rotation, 'rotation', where, 0, 180);
  checkNumberInRange(o.scale, 'scale', where, 0, 0.9);
  checkNumberInRange(o.brightness, 'brightness', where, 0, 1);
  checkNumberInRange(o.contrast, 'contrast', where, 0, 1);
  checkNumberInRange(o.erase, 'erase', where, 0, 1);
  return o;
}

/** Per-image parameters of one geometric augmentation ({@link transformCrops}). @category Data */
export interface CropParams {
  /** Row of the crop's top-left corner in the input, in pixels. */
  offsetY: number;
  /** Column of the crop's top-left corner in the input, in pixels. */
  offsetX: number;
  /** Mirror left-right. Defaults to `false`. */
  flip?: boolean;
  /** Rotation about the crop centre in degrees. Defaults to `0`. */
  rotation?: number;
  /** Zoom about the crop centre (> 1 zooms in). Defaults to `1`. */
  zoom?: number;
}

/**
 * The 8 numbers of `tf.image.transform` that map an output pixel of the `size` x `size` crop to its
 * input position. @internal
 */
export function cropTransform(p: CropParams, size: number): number[] {
  const c = (size - 1) / 2;
  const f = p.flip ? -1 : 1;
  const theta = ((p.rotation ?? 0) * Math.PI) / 180;
  const zoom = p.zoom ?? 1;
  const cos = Math.cos(theta) / zoom;
  const sin = Math.sin(theta) / zoom;
  const a0 = f * cos;
  const a1 = sin;
  const b0 = -f * sin;
  const b1 = cos;
  const cx = p.offsetX + c;
  const cy = p.offsetY + c;
  return [a0, a1, cx - a0 * c - a1 * c, b0, b1, cy - b0 * c - b1 * c, 0, 0];
}

/**
 * Crops every image of a batch with its own offset, mirror, rotation and zoom (edges extended by their
 * nearest pixel, bilinear sampling). Integer offsets without rotation or zoom take the exact
 * {@link cropBatch} path (one `cropAndResize`); otherwise the whole batch goes through one
 * `tf.image.transform` with a matrix per image, except on the cpu backend, whose Transform kernel
 * (tfjs 4.22) fills every image after the first with the fill value, so there each image goes through
 * its own call. Both give the same pixels; the batched call is about 40x faster on wasm at batch 128
 * (the per-image calls were most of the augmentation's time in training).
 * @param x Images `[batch, height, width, channels]`.
 * @param size Output side.
 * @param params One {@link CropParams} per image.
 * @returns `[batch, size, size, channels]`.
 * @example
 * ```ts
 * const y = transformCrops(x, 44, [{ offsetY: 2, offsetX: 1, flip: true, rotation: 5 }]);
 * ```
 * @throws RangeError if `params` has the wrong length or `size` exceeds the image.
 * @category Data
 */
export function transformCrops(x: tf.Tensor4D, size: number, params: readonly CropParams[]): tf.Tensor4D {
  const where = 'transformCrops';
  const [n, h, w, c] = checkBatch(x, size, where);
  if (!Array.isArray(params) || params.length !== n) {
    throw new RangeError(expected(where, 'params', `${n} entries (one per image)`, params?.length));
  }
  const exact = params.every(
    (p) => !p.rotation && (p.zoom ?? 1) === 1 && Number.isInteger(p.offsetX) && Number.isInteger(p.offsetY),
  );
  if (exact) return exactCrops(x, size, params);
  if (tf.getBackend() !== 'cpu') {
    return tf.tidy(() => {
      const matrices = tf.tensor2d(
        params.map((p) => cropTransform(p, size)),
        [n, 8],
      );
      return tf.image.transform(x, matrices, 'bilinear', 'nearest', 0, [size, size]);
    });
  }
  return tf.tidy(() => {
    const out: tf.Tensor4D[] = [];
    for (let i = 0; i < n; i++) {
      const image = tf.slice(x, [i, 0, 0, 0], [1, h, w, c]);
      const matrix = tf.tensor2d([cropTransform(params[i]!, size)], [1, 8]);
      out.push(tf.image.transform(image, matrix, 'bilinear', 'nearest', 0, [size, size]));
    }
    return n === 1 ? out[0]! : tf.concat(out, 0);
  });
}

/** Integer crops and mirrors of a batch in one nearest-neighbour `cropAndResize` (exact copies). */
function exactCrops(x: tf.Tensor4D, size: number, params: readonly CropParams[]): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const boxes: number[] = [];
  for (const p of params) {
    if (p.offsetY < 0 || p.offsetX < 0 || p.offsetY + size > h || p.offsetX + size > w) {
      throw new RangeError(
        expected('cropBatch', 'offsets', `crops inside the ${h}x${w} image`, [p.offsetY, p.offsetX]),
      );
    }
    const y1 = h > 1 ? p.offsetY / (h - 1) : 0;
    const y2 = h > 1 ? (p.offsetY + size - 1) / (h - 1) : 0;
    const xa = w > 1 ? p.offsetX / (w - 1) : 0;
    const xb = w > 1 ? (p.offsetX + size - 1) / (w - 1) : 0;
    // A box whose x1 > x2 samples the crop mirrored.
    boxes.push(y1, p.flip ? xb : xa, y2, p.flip ? xa : xb);
  }
  return tf.tidy(() =>
    tf.image.cropAndResize(
      x,
      tf.tensor2d(boxes, [n, 4]),
      tf.range(0, n, 1, 'int32') as tf.Tensor1D,
      [size, size],
      'nearest',
    ),
  );
}

/**
 * Crops (and optionally mirrors) every image of a batch at its own offset, in one `cropAndResize`
 * with nearest-neighbour sampling, so pixels are copied exactly.
 * @param x Images `[batch, height, width, channels]`.
 * @param size Crop side.
 * @param offsets `[oy, ox, flip]` per image (pixel offsets of the crop's top-left corner).
 * @example
 * ```ts
 * const crops = cropBatch(x, 44, [[0, 0, false], [4, 4, true]]); // x: [2, 48, 48, 1]
 * ```
 * @throws RangeError if `offsets` has the wrong length, a crop leaves the image, or `size` exceeds it.
 * @category Data
 */
export function cropBatch(x: tf.Tensor4D, size: number, offsets: [number, number, boolean][]): tf.Tensor4D {
  const [n] = checkBatch(x, size, 'cropBatch');
  if (offsets.length !== n)
    throw new RangeError(expected('cropBatch', 'offsets', `${n} entries`, offsets.length));
  return exactCrops(
    x,
    size,
    offsets.map(([offsetY, offsetX, flip]) => ({ offsetY, offsetX, flip })),
  );
}

/**
 * Random crops of side `size`, one uniformly drawn integer position per image; pixels are copied
 * exactly.
 * @param x Images `[batch, height, width, channels]`.
 * @param size Crop side (e.g. 44 from 48).
 * @param rng A {@link Random} or a seed. Defaults to seed `0`.
 * @example
 * ```ts
 * const crops = randomCrop(images, 44, new Random(1));
 * ```
 * @throws RangeError if `size` exceeds the image.
 * @category Data
 */
export function randomCrop(x: tf.Tensor4D, size: number, rng?: RandomSource): tf.Tensor4D {
  const [n, h, w] = checkBatch(x, size, 'randomCrop');
  const r = toRandom(rng);
  const offsets: [number, number, boolean][] = [];
  for (let i = 0; i < n; i++) offsets.push([r.int(h - size + 1), r.int(w - size + 1), false]);
  return cropBatch(x, size, offsets);
}

/**
 * Mirrors each image left-right with probability `p`.
 * @param x Images `[batch, height, width, channels]`.
 * @param rng A {@link Random} or a seed. Defaults to seed `0`.
 * @param p Probability of a flip. Defaults to `0.5`.
 * @example
 * ```ts
 * const y = randomFlip(images, new Random(1));
 * ```
 * @category Data
 */
export function randomFlip(x: tf.Tensor4D, rng?: RandomSource, p = 0.5): tf.Tensor4D {
  const [n] = checkBatch(x, 1, 'randomFlip');
  checkNumberInRange(p, 'p', 'randomFlip', 0, 1);
  const r = toRandom(rng);
  const flags = Array.from({ length: n }, () => r.bool(p));
  return tf.tidy(
    () => tf.where(tf.tensor4d(flags, [n, 1, 1, 1], 'bool'), tf.reverse(x, 2), x) as tf.Tensor4D,
  );
}

/**
 * Random rotation and zoom about the image centre (`tf.image.transform`, bilinear, edges extended).
 * @param x Images `[batch, height, width, channels]`.
 * @param rng The random source.
 * @param rotation Largest angle in degrees.
 * @param scale Largest relative zoom.
 * @example
 * ```ts
 * const y = randomAffine(images, new Random(1), 10, 0.1);
 * ```
 * @category Data
 */
export function randomAffine(
  x: tf.Tensor4D,
  rng: RandomSource,
  rotation: number,
  scale: number,
): tf.Tensor4D {
  const [n, h, w] = checkBatch(x, 1, 'randomAffine');
  checkNumberInRange(rotation, 'rotation', 'randomAffine', 0, 180);
  checkNumberInRange(scale, 'scale', 'randomAffine', 0, 0.9);
  if (h !== w) throw new RangeError(expected('randomAffine', 'x', 'square images', x.shape));
  const r = toRandom(rng);
  const params: CropParams[] = [];
  for (let i = 0; i < n; i++) {
    params.push({
      offsetY: 0,
      offsetX: 0,
      rotation: r.float(-rotation, rotation),
      zoom: 1 + r.float(-scale, scale),
    });
  }
  return transformCrops(x, h, params);
}

/**
 * Random brightness (each image times a factor in `[1 - brightness, 1 + brightness]`) and contrast
 * (each image's deviation from its mean times a factor in `[1 - contrast, 1 + contrast]`), on the 0-1
 * scale, clipped to [0, 1], as torchvision's `ColorJitter`.
 * @param x Images on the 0-1 scale.
 * @param brightness Largest relative brightness change.
 * @param rng A {@link Random} or a seed. Defaults to seed `0`.
 * @param contrast Largest relative contrast change. Defaults to `0`.
 * @example
 * ```ts
 * const y = randomBrightness(images, 0.2, new Random(1));
 * ```
 * @category Data
 */
export function randomBrightness(
  x: tf.Tensor4D,
  brightness: number,
  rng?: RandomSource,
  contrast = 0,
): tf.Tensor4D {
  const [n] = checkBatch(x, 1, 'randomBrightness');
  checkNumberInRange(brightness, 'brightness', 'randomBrightness', 0, 1);
  checkNumberInRange(contrast, 'contrast', 'randomBrightness', 0, 1);
  const r = toRandom(rng);
  return tf.tidy(() => {
    let y: tf.Tensor4D = x;
    if (brightness > 0) {
      const factors = Array.from({ length: n }, () => 1 + r.float(-brightness, brightness));
      y = tf.mul(y, tf.tensor4d(factors, [n, 1, 1, 1]));
    }
    if (contrast > 0) {
      const factors = Array.from({ length: n }, () => 1 + r.float(-contrast, contrast));
      const mean = tf.mean(y, [1, 2, 3], true);
      y = tf.add(tf.mul(tf.sub(y, mean), tf.tensor4d(factors, [n, 1, 1, 1])), mean);
    }
    return tf.clipByValue(y, 0, 1);
  });
}

/** Where {@link randomErase} erases in one image: rows `[y, y + h)` and columns `[x, x + w)`. @category Data */
export interface EraseBox {
  /** First row. */
  y: number;
  /** First column. */
  x: number;
  /** Rows. */
  h: number;
  /** Columns. */
  w: number;
}

/**
 * Draws the rectangles of {@link randomErase}: each image is erased with probability `p`, by a box of
 * 2-20 % of its area and aspect ratio 0.3-3.3 (log-uniform), placed uniformly inside it.
 * @param n Images.
 * @param height Image height.
 * @param width Image width.
 * @param p Probability of erasing an image.
 * @param rng A {@link Random} or a seed.
 * @returns One box per image, or `null` where it is left whole.
 * @example
 * ```ts
 * eraseBoxes(2, 44, 44, 1, new Random(0)); // two boxes inside 44x44
 * ```
 * @category Data
 */
export function eraseBoxes(
  n: number,
  height: number,
  width: number,
  p: number,
  rng: RandomSource,
): (EraseBox | null)[] {
  checkNumberInRange(p, 'p', 'eraseBoxes', 0, 1);
  const r = toRandom(rng);
  const out: (EraseBox | null)[] = [];
  for (let i = 0; i < n; i++) {
    if (!(p > 0 && r.bool(p))) {
      out.push(null);
      continue;
    }
    const area = height * width * r.float(0.02, 0.2);
    const aspect = Math.exp(r.float(Math.log(0.3), Math.log(1 / 0.3)));
    const h = Math.max(1, Math.min(height, Math.round(Math.sqrt(area * aspect))));
    const w = Math.max(1, Math.min(width, Math.round(Math.sqrt(area / aspect))));
    out.push({ y: r.int(height - h + 1), x: r.int(width - w + 1), h, w });
  }
  return out;
}

/**
 * Random erasing: with probability `p` per image, one rectangle ({@link eraseBoxes}) is replaced by
 * the image's mean value (per channel), which is neutral after normalisation and adds no new edges
 * beyond the rectangle's own.
 * @param x Images `[batch, height, width, channels]`.
 * @param p Probability of erasing an image.
 * @param rng A {@link Random} or a seed. Defaults to seed `0`.
 * @example
 * ```ts
 * const y = randomErase(crops, 0.25, new Random(1));
 * ```
 * @category Data
 */
export function randomErase(x: tf.Tensor4D, p: number, rng?: RandomSource): tf.Tensor4D {
  const [n, h, w] = checkBatch(x, 1, 'randomErase');
  const boxes = eraseBoxes(n, h, w, p, toRandom(rng));
  if (boxes.every((b) => b === null)) return x.clone();
  const mask = new Float32Array(n * h * w);
  for (const [i, b] of boxes.entries()) {
    if (!b) continue;
    for (let y = b.y; y < b.y + b.h; y++) mask.fill(1, (i * h + y) * w + b.x, (i * h + y) * w + b.x + b.w);
  }
  return tf.tidy(() => {
    const m = tf.tensor4d(mask, [n, h, w, 1]);
    const mean = tf.mean(x, [1, 2], true);
    return tf.add(tf.mul(x, tf.sub(1, m)), tf.mul(mean, m)) as tf.Tensor4D;
  });
}

/**
 * The training augmentation for a batch of 0-1 images: a random crop of `size` (or the centre crop)
 * combined with the optional mirror, rotation and zoom in one transform, then the optional
 * brightness and contrast, then the optional random erasing. Deterministic given `rng`'s state. Without rotation and zoom, output
 * pixels are exact copies of input pixels.
 * @param x Images `[batch, height, width, channels]` on the 0-1 scale.
 * @param size Output side.
 * @param rng A {@link Random} or a seed.
 * @param options See {@link AugmentOptions}. Defaults to {@link AUGMENT_DEFAULTS}.
 * @example
 * ```ts
 * const rng = new Random(42);
 * const out = augmentBatch(x, 44, rng, { rotation: 10 }); // x: [b, 48, 48, 1] in [0, 1]
 * ```
 * @throws RangeError if `size` exceeds the image or an option is out of range.
 * @category Data
 */
export function augmentBatch(
  x: tf.Tensor4D,
  size: number,
  rng: RandomSource,
  options: AugmentOptions = {},
): tf.Tensor4D {
  const where = 'augmentBatch';
  const o = resolveAugmentOptions(options, where);
  const [n, h, w] = checkBatch(x, size, where);
  const r = toRandom(rng);
  const params: CropParams[] = [];
  for (let i = 0; i < n; i++) {
    params.push({
      offsetY: o.crop ? r.int(h - size + 1) : (h - size) >> 1,
      offsetX: o.crop ? r.int(w - size + 1) : (w - size) >> 1,
      flip: o.flip ? r.bool() : false,
      rotation: o.rotation > 0 ? r.float(-o.rotation, o.rotation) : 0,
      zoom: o.scale > 0 ? 1 + r.float(-o.scale, o.scale) : 1,
    });
  }
  return tf.tidy(() => {
    const y = transformCrops(x, size, params);
    const z = o.brightness > 0 || o.contrast > 0 ? randomBrightness(y, o.brightness, r, o.contrast) : y;
    return o.erase > 0 ? randomErase(z, o.erase, r) : z;
  });
}

/**
 * Centre crop of every image (`floor((h - size) / 2)` from the top and left).
 * @param x Images `[batch, height, width, channels]`.
 * @param size Crop side.
 * @returns A new tensor (a copy when no cropping is needed); the caller disposes it.
 * @example
 * ```ts
 * const y = centerCrop(images, 44);
 * ```
 * @throws RangeError if `size` exceeds the image.
 * @category Data
 */
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
 * The five crops used for test-time averaging: top-left, top-right, bottom-left, bottom-right, centre
 * (torchvision's `FiveCrop` order).
 * @param x Images `[batch, height, width, channels]`.
 * @param size Crop side.
 * @returns Five `[batch, size, size, channels]` tensors; the caller disposes them.
 * @example
 * ```ts
 * const crops = fiveCrop(faces, 44);
 * const mean = tf.tidy(() => tf.addN(crops.map((c) => model.predict(c) as tf.Tensor)).div(5));
 * tf.dispose(crops);
 * ```
 * @throws RangeError if `size` exceeds the image.
 * @category Data
 */
export function fiveCrop(x: tf.Tensor4D, size: number): tf.Tensor4D[] {
  return cornerCrops(x, size, 'fiveCrop');
}

/**
 * Ten-crop test-time augmentation (the paper's evaluation): the {@link fiveCrop} crops, then the
 * same five mirrored left-right (torchvision's `TenCrop`). Average the model's outputs over the ten.
 * @param x Images `[batch, height, width, channels]`.
 * @param size Crop side.
 * @returns Ten `[batch, size, size, channels]` tensors; the caller disposes them.
 * @example
 * ```ts
 * const crops = tenCrop(faces, 44);
 * const mean = tf.tidy(() => tf.addN(crops.map((c) => model.predict(c) as tf.Tensor)).div(10));
 * tf.dispose(crops);
 * ```
 * @throws RangeError if `size` exceeds the image.
 * @category Data
 */
export function tenCrop(x: tf.Tensor4D, size: number): tf.Tensor4D[] {
  const five = cornerCrops(x, size, 'tenCrop');
  return [...five, ...five.map((c) => tf.reverse(c, 2) as tf.Tensor4D)];
}

/**
 * `(x - mean) / std`, for images already on the 0-1 scale.
 * @param x Images on the 0-1 scale.
 * @param stats Mean and standard deviation (see {@link datasetStats}).
 * @example
 * ```ts
 * const y = normalizeImages(x, datasetStats(train));
 * ```
 * @throws RangeError if `std` is not a positive number.
 * @category Data
 */
export function normalizeImages<T extends tf.Tensor>(x: T, stats: Normalization): T {
  checkNormalization('normalizeImages', stats);
  return tf.tidy(() => tf.div(tf.sub(x, stats.mean), stats.std) as T);
}

/** Checks a {@link Normalization}. @internal */
export function checkNormalization(where: string, stats: Normalization): void {
  if (stats == null || typeof stats.mean !== 'number' || !Number.isFinite(stats.mean)) {
    throw new TypeError(expected(where, 'normalization.mean', 'a finite number', stats?.mean));
  }
  if (typeof stats.std !== 'number' || !Number.isFinite(stats.std) || !(stats.std > 0)) {
    throw new RangeError(expected(where, 'normalization.std', 'a positive number', stats.std));
  }
}
