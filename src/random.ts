/**
 * Seeded randomness: the mulberry32 generator, {@link Random} (its stateful form with the helpers
 * fer-cbam needs: shuffles, crops, normals), {@link deriveSeed} for independent per-epoch streams, and
 * {@link withSeededRandom} for tfjs code that draws its seeds from `Math.random` (weight initializers and
 * dropout do when not given a seed). Everything outside tfjs kernels that needs randomness draws from
 * here, so a run is a pure function of its seeds.
 *
 * It lives at the top level of `src/` because several rooms share it: `data` (batch order,
 * augmentation, folds, synthetic faces), `models` (seeded weight initialisation) and `train` (dropout
 * per step). No dependencies besides the argument checks; browser-safe.
 * @module
 */

import { expected } from './errors';

/** mulberry32's state increment (a Weyl sequence step). */
const MULBERRY32_INCREMENT = 0x6d2b79f5;

/** mulberry32's output function: the float in `[0, 1)` for a state just stepped. */
function mulberry32Output(state: number): number {
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/**
 * The mulberry32 generator (Tommy Ettinger, public domain): 32 bits of state, period 2^32, passes
 * gjrand/PractRand up to a few gigabytes. Returns a function giving floats in `[0, 1)`.
 * @param seed Any number; it is reduced to an unsigned 32-bit integer.
 * @example
 * ```ts
 * const next = mulberry32(42);
 * next(); // 0.6011037519201636
 * ```
 * @category Data
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + MULBERRY32_INCREMENT) >>> 0;
    return mulberry32Output(state);
  };
}

/**
 * Mixes several integers into one 32-bit seed (a murmur3-style finaliser per part), so that
 * `deriveSeed(seed, epoch)` streams are independent for neighbouring seeds and epochs.
 * @example
 * ```ts
 * const rng = new Random(deriveSeed(seed, epoch, 7));
 * ```
 * @category Data
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    let k = Math.trunc(part) >>> 0;
    // Fold in the high bits of large (up to 2^53) integers too.
    const high = Math.floor(Math.abs(part) / 4294967296) >>> 0;
    k = (k ^ Math.imul(high, 0x85ebca6b)) >>> 0;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  h ^= parts.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A seeded random source with the helpers fer-cbam needs. Its whole state is one 32-bit integer
 * ({@link Random.state}), so it can be saved in a checkpoint and restored exactly.
 * @example
 * ```ts
 * const rng = new Random(0);
 * const order = rng.shuffle([0, 1, 2, 3, 4]);
 * const angle = rng.float(-10, 10);
 * const saved = rng.state; // later: rng.state = saved
 * ```
 * @category Data
 */
export class Random {
  private s: number;
  private spareNormal: number | null = null;

  /** @param seed Any number; reduced to an unsigned 32-bit integer. Defaults to `0`. */
  constructor(seed = 0) {
    if (typeof seed !== 'number' || !Number.isFinite(seed)) {
      throw new TypeError(expected('Random', 'seed', 'a finite number', seed));
    }
    this.s = seed >>> 0;
  }

  /** The generator state (an unsigned 32-bit integer); assign it to restore a saved state. */
  get state(): number {
    return this.s;
  }

  set state(value: number) {
    this.s = value >>> 0;
    this.spareNormal = null;
  }

  /** A float in `[0, 1)` (mulberry32 step). */
  next(): number {
    this.s = (this.s + MULBERRY32_INCREMENT) >>> 0;
    return mulberry32Output(this.s);
  }

  /** A float in `[min, max)`. */
  float(min = 0, max = 1): number {
    return min + (max - min) * this.next();
  }

  /** An integer in `[min, maxExclusive)`; with one argument, in `[0, min)`. */
  int(min: number, maxExclusive?: number): number {
    if (maxExclusive === undefined) {
      maxExclusive = min;
      min = 0;
    }
    return min + Math.floor((maxExclusive - min) * this.next());
  }

  /** `true` with probability `p` (default 0.5). */
  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  /** A standard normal sample (Box-Muller; the second value of each pair is kept for the next call). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return mean + std * z;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** One element of `items`, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError(expected('Random.pick', 'items', 'a non-empty array', []));
    return items[this.int(items.length)]!;
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T, A extends ArrayLike<T> & { [i: number]: T }>(items: A): A {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor((i + 1) * this.next());
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /** A shuffled `[0, 1, ..., n - 1]`. */
  permutation(n: number): number[] {
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = i;
    return this.shuffle(out);
  }

  /** An independent generator seeded from this one's next output and `salt`. */
  fork(salt = 0): Random {
    return new Random(deriveSeed(Math.floor(this.next() * 4294967296), salt));
  }
}

/**
 * Runs `fn` with `Math.random` replaced by a mulberry32 generator seeded with `seed`, and restores it
 * afterwards (also if `fn` throws). tfjs's initializers and dropout take their seeds from `Math.random`
 * when none is given, so a synchronous model build or training step inside becomes a function of
 * `seed`. `fn` must be synchronous: anything after an `await` would run with the seeded generator in
 * place for unrelated code.
 * @param seed Seed of the generator standing in for `Math.random`.
 * @param fn The synchronous work to run; its result is returned.
 * @example
 * ```ts
 * const model = withSeededRandom(7, () => resnetCbam({ depth: 18 })); // same initial weights every time
 * ```
 * @internal
 */
export function withSeededRandom<T>(seed: number, fn: () => T): T {
  const original = Math.random;
  Math.random = mulberry32(seed);
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}
