/**
 * Seeded randomness shared by every module (no dependencies, browser-safe): the mulberry32 generator,
 * and `withSeededRandom` for tfjs code that draws its seeds from `Math.random` (weight initializers and
 * dropout do when not given a seed).
 * @module
 */

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
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `fn` with `Math.random` replaced by a mulberry32 generator seeded with `seed`, and restores it
 * afterwards (also if `fn` throws). tfjs's initializers and dropout take their seeds from `Math.random`
 * when none is given, so a synchronous model build or training step inside becomes a function of
 * `seed`. `fn` must be synchronous: anything after an `await` would run with the seeded generator in
 * place for unrelated code.
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
