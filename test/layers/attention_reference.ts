/**
 * Plain-loop float64 references of the attention layers, written straight from the papers'
 * equations with explicit index arithmetic (NHWC, row-major), independent of tfjs ops.
 */

import { mulberry32 } from '../../src/random';

export type Shape4 = [number, number, number, number];
type Arr = ArrayLike<number>;

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
const at = (s: Shape4, b: number, h: number, w: number, c: number): number =>
  ((b * s[1] + h) * s[2] + w) * s[3] + c;

export interface MlpRef {
  kernel1: Arr; // [C, h]
  bias1: Arr | null;
  kernel2: Arr; // [h, C]
  bias2: Arr | null;
  hidden: number;
}

/** Channel gate `[B, C]`: sigmoid(sum over pools of MLP(pool)). */
export function channelGateRef(x: Arr, s: Shape4, w: MlpRef, pools: ('avg' | 'max')[]): Float64Array {
  const [B, H, W, C] = s;
  const gate = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    const logits = new Float64Array(C);
    for (const pool of pools) {
      const v = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        let acc = pool === 'avg' ? 0 : -Infinity;
        for (let h = 0; h < H; h++) {
          for (let x_ = 0; x_ < W; x_++) {
            const val = x[at(s, b, h, x_, c)]!;
            acc = pool === 'avg' ? acc + val : Math.max(acc, val);
          }
        }
        v[c] = pool === 'avg' ? acc / (H * W) : acc;
      }
      const hid = new Float64Array(w.hidden);
      for (let j = 0; j < w.hidden; j++) {
        let a = w.bias1 ? w.bias1[j]! : 0;
        for (let c = 0; c < C; c++) a += v[c]! * w.kernel1[c * w.hidden + j]!;
        hid[j] = Math.max(0, a);
      }
      for (let c = 0; c < C; c++) {
        let a = w.bias2 ? w.bias2[c]! : 0;
        for (let j = 0; j < w.hidden; j++) a += hid[j]! * w.kernel2[j * C + c]!;
        logits[c]! += a;
      }
    }
    for (let c = 0; c < C; c++) gate[b * C + c] = sigmoid(logits[c]!);
  }
  return gate;
}

/** `x * gate` with a `[B, C]` gate. */
export function scaleChannels(x: Arr, s: Shape4, gate: Arr): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % s[3];
    const b = Math.floor(i / (s[1] * s[2] * s[3]));
    out[i] = x[i]! * gate[b * s[3] + c]!;
  }
  return out;
}

export interface BnRef {
  gamma: Arr;
  beta: Arr;
  movingMean: Arr;
  movingVariance: Arr;
  epsilon: number;
  momentum: number;
}

/**
 * BatchNorm over the last axis of rows `[N, C]`: batch statistics when training (returning the
 * updated moving statistics, PyTorch-style with the unbiased variance), moving ones otherwise.
 */
export function batchNormRef(
  v: Float64Array,
  channels: number,
  bn: BnRef,
  training: boolean,
): { out: Float64Array; movingMean: Float64Array; movingVariance: Float64Array } {
  const n = v.length / channels;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  if (training) {
    for (let i = 0; i < v.length; i++) mean[i % channels]! += v[i]! / n;
    for (let i = 0; i < v.length; i++) variance[i % channels]! += (v[i]! - mean[i % channels]!) ** 2 / n;
  } else {
    for (let c = 0; c < channels; c++) {
      mean[c] = bn.movingMean[c]!;
      variance[c] = bn.movingVariance[c]!;
    }
  }
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const c = i % channels;
    out[i] = ((v[i]! - mean[c]!) / Math.sqrt(variance[c]! + bn.epsilon)) * bn.gamma[c]! + bn.beta[c]!;
  }
  const movingMean = Float64Array.from(bn.movingMean);
  const movingVariance = Float64Array.from(bn.movingVariance);
  if (training) {
    for (let c = 0; c < channels; c++) {
      movingMean[c] = bn.momentum * movingMean[c]! + (1 - bn.momentum) * mean[c]!;
      movingVariance[c] = bn.momentum * movingVariance[c]! + ((1 - bn.momentum) * variance[c]! * n) / (n - 1);
    }
  }
  return { out, movingMean, movingVariance };
}

export interface SpatialRef {
  kernel: Arr; // [k, k, 2, 1]
  k: number;
  order: 'meanMax' | 'maxMean';
  bn: BnRef | null;
  training: boolean;
}

/** Spatial gate `[B, H, W]` and the BatchNorm's updated moving statistics. */
export function spatialGateRef(
  x: Arr,
  s: Shape4,
  p: SpatialRef,
): { gate: Float64Array; movingMean?: Float64Array; movingVariance?: Float64Array } {
  const [B, H, W, C] = s;
  const maps = new Float64Array(B * H * W * 2);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        let sum = 0;
        let max = -Infinity;
        for (let c = 0; c < C; c++) {
          const v = x[at(s, b, h, w, c)]!;
          sum += v;
          max = Math.max(max, v);
        }
        const i = ((b * H + h) * W + w) * 2;
        maps[i] = p.order === 'meanMax' ? sum / C : max;
        maps[i + 1] = p.order === 'meanMax' ? max : sum / C;
      }
    }
  }
  const pad = (p.k - 1) / 2;
  const conv = new Float64Array(B * H * W);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        let acc = 0;
        for (let i = 0; i < p.k; i++) {
          for (let j = 0; j < p.k; j++) {
            const hh = h + i - pad;
            const ww = w + j - pad;
            if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
            for (let m = 0; m < 2; m++)
              acc += maps[((b * H + hh) * W + ww) * 2 + m]! * p.kernel[(i * p.k + j) * 2 + m]!;
          }
        }
        conv[(b * H + h) * W + w] = acc;
      }
    }
  }
  if (!p.bn) return { gate: conv.map(sigmoid) };
  const r = batchNormRef(conv, 1, p.bn, p.training);
  return { gate: r.out.map(sigmoid), movingMean: r.movingMean, movingVariance: r.movingVariance };
}

/** `x * gate` with a `[B, H, W]` gate. */
export function scalePositions(x: Arr, s: Shape4, gate: Arr): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * gate[Math.floor(i / s[3])]!;
  return out;
}

/** ECA gate `[B, C]`: sigmoid of a zero-padded 1D cross-correlation over the pooled channels. */
export function ecaGateRef(x: Arr, s: Shape4, kernel: Arr): Float64Array {
  const [B, H, W, C] = s;
  const k = kernel.length;
  const pad = (k - 1) / 2;
  const gate = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    const pooled = new Float64Array(C);
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) pooled[c]! += x[at(s, b, h, w, c)]! / (H * W);
    for (let c = 0; c < C; c++) {
      let acc = 0;
      for (let j = 0; j < k; j++) {
        const cc = c + j - pad;
        if (cc >= 0 && cc < C) acc += pooled[cc]! * kernel[j]!;
      }
      gate[b * C + c] = sigmoid(acc);
    }
  }
  return gate;
}

export interface CoordRef {
  conv1: Arr; // [C, mip]
  bias1: Arr;
  bn: BnRef;
  convH: Arr; // [mip, C]
  biasH: Arr;
  convW: Arr;
  biasW: Arr;
  mip: number;
  training: boolean;
}

/** Coordinate attention: output, `a_h` `[B, H, C]`, `a_w` `[B, W, C]` and the updated moving stats. */
export function coordRef(
  x: Arr,
  s: Shape4,
  p: CoordRef,
): {
  out: Float64Array;
  aH: Float64Array;
  aW: Float64Array;
  movingMean: Float64Array;
  movingVariance: Float64Array;
} {
  const [B, H, W, C] = s;
  const L = H + W;
  const rows = new Float64Array(B * L * p.mip);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      const pooled = new Float64Array(C);
      if (l < H) {
        for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) pooled[c]! += x[at(s, b, l, w, c)]! / W;
      } else {
        for (let h = 0; h < H; h++) for (let c = 0; c < C; c++) pooled[c]! += x[at(s, b, h, l - H, c)]! / H;
      }
      for (let m = 0; m < p.mip; m++) {
        let acc = p.bias1[m]!;
        for (let c = 0; c < C; c++) acc += pooled[c]! * p.conv1[c * p.mip + m]!;
        rows[(b * L + l) * p.mip + m] = acc;
      }
    }
  }
  const bn = batchNormRef(rows, p.mip, p.bn, p.training);
  const act = bn.out.map((v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6);
  const aH = new Float64Array(B * H * C);
  const aW = new Float64Array(B * W * C);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      for (let c = 0; c < C; c++) {
        const kernel = l < H ? p.convH : p.convW;
        let acc = (l < H ? p.biasH : p.biasW)[c]!;
        for (let m = 0; m < p.mip; m++) acc += act[(b * L + l) * p.mip + m]! * kernel[m * C + c]!;
        if (l < H) aH[(b * H + l) * C + c] = sigmoid(acc);
        else aW[(b * W + (l - H)) * C + c] = sigmoid(acc);
      }
    }
  }
  const out = new Float64Array(x.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++)
        for (let c = 0; c < C; c++) {
          const i = at(s, b, h, w, c);
          out[i] = x[i]! * aW[(b * W + w) * C + c]! * aH[(b * H + h) * C + c]!;
        }
  return { out, aH, aW, movingMean: bn.movingMean, movingVariance: bn.movingVariance };
}

/**
 * The smallest gap between the largest and second-largest value of any max-pooling group:
 * `'hw'` groups are (batch, channel) over positions (channel gate), `'c'` groups are positions
 * over channels (spatial gate). Finite differences across a max need this above the step.
 */
export function minTopGap(x: Arr, s: Shape4, groups: 'hw' | 'c'): number {
  const [B, H, W, C] = s;
  const buckets = new Map<number, number[]>();
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++)
        for (let c = 0; c < C; c++) {
          const key = groups === 'hw' ? b * C + c : (b * H + h) * W + w;
          const list = buckets.get(key) ?? [];
          buckets.set(key, list);
          list.push(x[at(s, b, h, w, c)]!);
        }
  let gap = Infinity;
  for (const list of buckets.values()) {
    list.sort((a, b) => b - a);
    if (list.length > 1) gap = Math.min(gap, list[0]! - list[1]!);
  }
  return gap;
}

/**
 * Seeded standard-normal data `[B, H, W, C]` (as a plain array) from the first seed >= `seed` whose
 * max-pooling groups all have a top gap above `minGap`, so central differences with a smaller
 * step never cross a max.
 */
export function tieFreeData(
  s: Shape4,
  groups: ('hw' | 'c')[],
  seed: number,
  minGap = 0.03,
): { data: Float32Array; seed: number } {
  for (let k = seed; k < seed + 1000; k++) {
    const data = normalData(s[0] * s[1] * s[2] * s[3], k);
    if (groups.every((g) => minTopGap(data, s, g) > minGap)) return { data, seed: k };
  }
  throw new Error('no tie-free seed found');
}

/** Deterministic standard-normal float32 values (mulberry32 + Box-Muller). */
export function normalData(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return out;
}
