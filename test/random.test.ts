import { describe, expect, it } from 'vitest';
import { deriveSeed, mulberry32, Random } from '../src/random';

/** The published mulberry32 (Tommy Ettinger), verbatim apart from types. */
function reference(a: number) {
  return () => {
    a += 0x6d2b79f5;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('mulberry32 and Random', () => {
  it('match the published mulberry32 sequence', () => {
    for (const seed of [0, 1, 42, 123456789, 2 ** 32 - 1]) {
      const ref = reference(seed);
      const f = mulberry32(seed);
      const r = new Random(seed);
      for (let i = 0; i < 1000; i++) {
        const want = ref();
        expect(f()).toBe(want);
        expect(r.next()).toBe(want);
      }
    }
    expect(mulberry32(42)()).toBe(0.6011037519201636);
  });

  it('saves and restores its state exactly', () => {
    const r = new Random(7);
    r.next();
    const saved = r.state;
    const a = [r.next(), r.int(100), r.normal()];
    r.state = saved;
    expect([r.next(), r.int(100), r.normal()]).toEqual(a);
  });

  it('int, float and bool stay in range and are roughly uniform', () => {
    const r = new Random(3);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) {
      const k = r.int(10);
      expect(Number.isInteger(k) && k >= 0 && k < 10).toBe(true);
      counts[k]++;
      const f = r.float(-2, 3);
      expect(f >= -2 && f < 3).toBe(true);
    }
    // Chi-square with 9 degrees of freedom: 27.9 is the 0.1 % critical value.
    const chi = counts.reduce((s, c) => s + (c - 2000) ** 2 / 2000, 0);
    expect(chi).toBeLessThan(27.9);
    expect(new Random(1).int(5, 8)).toBeGreaterThanOrEqual(5);
    let trues = 0;
    for (let i = 0; i < 10000; i++) if (r.bool(0.3)) trues++;
    expect(Math.abs(trues / 10000 - 0.3)).toBeLessThan(0.02);
  });

  it('normal() has mean 0 and standard deviation 1', () => {
    const r = new Random(11);
    const xs = Array.from({ length: 20000 }, () => r.normal());
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
  });

  it('shuffle and permutation are permutations, with every position reachable', () => {
    const r = new Random(5);
    const firsts = new Set<number>();
    for (let t = 0; t < 200; t++) {
      const p = r.permutation(6);
      expect([...p].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      firsts.add(p[0]!);
    }
    expect(firsts.size).toBe(6);
    const typed = r.shuffle(Uint8Array.from([1, 2, 3, 4]));
    expect([...typed].sort()).toEqual([1, 2, 3, 4]);
    expect(() => r.pick([])).toThrow(/`items` to be a non-empty array/);
  });

  it('deriveSeed separates neighbouring seeds and epochs', () => {
    const seen = new Set<number>();
    for (let s = 0; s < 50; s++) for (let e = 0; e < 50; e++) seen.add(deriveSeed(s, e));
    expect(seen.size).toBe(2500);
    expect(deriveSeed(1, 2)).toBe(deriveSeed(1, 2));
    expect(deriveSeed(1, 2)).not.toBe(deriveSeed(2, 1));
    expect(deriveSeed(1)).not.toBe(deriveSeed(1, 0));
    const a = new Random(1).fork(1).next();
    expect(new Random(1).fork(1).next()).toBe(a);
    expect(new Random(1).fork(2).next()).not.toBe(a);
  });

  it('rejects a non-finite seed', () => {
    expect(() => new Random(Number.NaN)).toThrow(/`seed` to be a finite number/);
  });
});
