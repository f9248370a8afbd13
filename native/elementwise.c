// Broadcasting binary ops and max reductions, float32, for the wasm backend.
//
// Why: attention gates multiply activations by per-channel ([B, 1, 1, C]) and per-position
// ([B, H, W, 1]) maps, and their gradients (and max pooling's) compare and multiply the same way.
// tfjs-backend-wasm runs a broadcasting op as an index computation per element: 5.8 ms for a
// [64, 44, 44, 16] x [64, 44, 44, 1] multiply against 0.46 ms without broadcasting. Here the caller
// merges the axes into at most three with a stride per operand (0 where broadcast), and the innermost
// loop is SIMD with one operand splatted where its stride is 0.
//
// Like conv2d.c: no globals, no static data, no address-taken locals.
#include <wasm_simd128.h>

#define OP_MUL 0
#define OP_ADD 1
#define OP_SUB 2
#define OP_DIV 3
// out = b: a broadcast (Tile of size-1 axes) as the same loop, with a = b.
#define OP_RIGHT 4

static inline __attribute__((always_inline)) v128_t vop(v128_t a, v128_t b, int op) {
  if (op == OP_MUL) return wasm_f32x4_mul(a, b);
  if (op == OP_ADD) return wasm_f32x4_add(a, b);
  if (op == OP_SUB) return wasm_f32x4_sub(a, b);
  if (op == OP_RIGHT) return b;
  return wasm_f32x4_div(a, b);
}

static inline __attribute__((always_inline)) float sop(float a, float b, int op) {
  if (op == OP_MUL) return a * b;
  if (op == OP_ADD) return a + b;
  if (op == OP_SUB) return a - b;
  if (op == OP_RIGHT) return b;
  return a / b;
}

// One row of n outputs: a and b with element strides sa, sb (each 0 or 1 for the SIMD paths).
static inline __attribute__((always_inline)) void row(const float* a, const float* b, float* out, int n,
                                                      int sa, int sb, int op) {
  int k = 0;
  if (sa == 1 && sb == 1) {
    for (; k + 4 <= n; k += 4) wasm_v128_store(out + k, vop(wasm_v128_load(a + k), wasm_v128_load(b + k), op));
  } else if (sa == 1 && sb == 0) {
    const v128_t vb = wasm_f32x4_splat(b[0]);
    for (; k + 4 <= n; k += 4) wasm_v128_store(out + k, vop(wasm_v128_load(a + k), vb, op));
  } else if (sa == 0 && sb == 1) {
    const v128_t va = wasm_f32x4_splat(a[0]);
    for (; k + 4 <= n; k += 4) wasm_v128_store(out + k, vop(va, wasm_v128_load(b + k), op));
  } else if (sa == 0 && sb == 0) {
    const v128_t v = vop(wasm_f32x4_splat(a[0]), wasm_f32x4_splat(b[0]), op);
    for (; k + 4 <= n; k += 4) wasm_v128_store(out + k, v);
  }
  for (; k < n; k++) out[k] = sop(a[k * sa], b[k * sb], op);
}

static inline __attribute__((always_inline)) void binary3_op(const float* a, const float* b, float* out,
                                                             int d0, int d1, int d2, int sa0, int sa1,
                                                             int sa2, int sb0, int sb1, int sb2, int op) {
  for (int i0 = 0; i0 < d0; i0++) {
    for (int i1 = 0; i1 < d1; i1++) {
      row(a + i0 * sa0 + i1 * sa1, b + i0 * sb0 + i1 * sb1, out, d2, sa2, sb2, op);
      out += d2;
    }
  }
}

// out[i0, i1, i2] = a[i0*sa0 + i1*sa1 + i2*sa2] (op) b[i0*sb0 + i1*sb1 + i2*sb2], out contiguous.
__attribute__((export_name("binary3"))) void binary3(const float* a, const float* b, float* out, int d0,
                                                     int d1, int d2, int sa0, int sa1, int sa2, int sb0,
                                                     int sb1, int sb2, int op) {
  if (op == OP_MUL) binary3_op(a, b, out, d0, d1, d2, sa0, sa1, sa2, sb0, sb1, sb2, OP_MUL);
  else if (op == OP_ADD) binary3_op(a, b, out, d0, d1, d2, sa0, sa1, sa2, sb0, sb1, sb2, OP_ADD);
  else if (op == OP_SUB) binary3_op(a, b, out, d0, d1, d2, sa0, sa1, sa2, sb0, sb1, sb2, OP_SUB);
  else if (op == OP_RIGHT) binary3_op(a, b, out, d0, d1, d2, sa0, sa1, sa2, sb0, sb1, sb2, OP_RIGHT);
  else binary3_op(a, b, out, d0, d1, d2, sa0, sa1, sa2, sb0, sb1, sb2, OP_DIV);
}

// The same with out[...] = (a == b) as bytes 0/1 (float comparison: NaN != NaN, 0 == -0).
__attribute__((export_name("equal3"))) void equal3(const float* a, const float* b, unsigned char* out, int d0,
                                                   int d1, int d2, int sa0, int sa1, int sa2, int sb0, int sb1,
                                                   int sb2) {
  for (int i0 = 0; i0 < d0; i0++) {
    for (int i1 = 0; i1 < d1; i1++) {
      const float* pa = a + i0 * sa0 + i1 * sa1;
      const float* pb = b + i0 * sb0 + i1 * sb1;
      for (int k = 0; k < d2; k++) out[k] = pa[k * sa2] == pb[k * sb2];
      out += d2;
    }
  }
}

// x: [outer, mid, inner] -> out: [outer, inner], the maximum over mid; a NaN anywhere gives NaN, as in
// the cpu backend (and wasm's f32x4.max).
__attribute__((export_name("max_middle"))) void max_middle(const float* x, float* out, int outer, int mid,
                                                           int inner) {
  if (inner == 1 && mid >= 4) {
    // Over the last axis (CBAM's channel max): 4 values per vector, then across the lanes. The scalar
    // loop below compared and branched per value, 10x slower than the mean over the same axis.
    for (int o = 0; o < outer; o++) {
      const float* xo = x + o * mid;
      v128_t m = wasm_v128_load(xo);
      int j = 4;
      for (; j + 4 <= mid; j += 4) m = wasm_f32x4_max(m, wasm_v128_load(xo + j));
      m = wasm_f32x4_max(m, wasm_i32x4_shuffle(m, m, 2, 3, 0, 1));
      m = wasm_f32x4_max(m, wasm_i32x4_shuffle(m, m, 1, 0, 3, 2));
      float r = wasm_f32x4_extract_lane(m, 0);
      for (; j < mid; j++) {
        const float v = xo[j];
        if (v > r || v != v) r = v;
      }
      out[o] = r;
    }
    return;
  }
  for (int o = 0; o < outer; o++) {
    const float* xo = x + o * mid * inner;
    float* oo = out + o * inner;
    int k = 0;
    // 16 columns at a time: four independent chains of maxima, and each row's 64 bytes read together
    // (one column of 4 at a time was one dependent chain, strided over the rows).
    for (; k + 16 <= inner; k += 16) {
      v128_t m0 = wasm_v128_load(xo + k), m1 = wasm_v128_load(xo + k + 4);
      v128_t m2 = wasm_v128_load(xo + k + 8), m3 = wasm_v128_load(xo + k + 12);
      for (int j = 1; j < mid; j++) {
        const float* r = xo + j * inner + k;
        m0 = wasm_f32x4_max(m0, wasm_v128_load(r));
        m1 = wasm_f32x4_max(m1, wasm_v128_load(r + 4));
        m2 = wasm_f32x4_max(m2, wasm_v128_load(r + 8));
        m3 = wasm_f32x4_max(m3, wasm_v128_load(r + 12));
      }
      wasm_v128_store(oo + k, m0);
      wasm_v128_store(oo + k + 4, m1);
      wasm_v128_store(oo + k + 8, m2);
      wasm_v128_store(oo + k + 12, m3);
    }
    for (; k + 4 <= inner; k += 4) {
      v128_t m = wasm_v128_load(xo + k);
      for (int j = 1; j < mid; j++) m = wasm_f32x4_max(m, wasm_v128_load(xo + j * inner + k));
      wasm_v128_store(oo + k, m);
    }
    for (; k < inner; k++) {
      float m = xo[k];
      for (int j = 1; j < mid; j++) {
        const float v = xo[j * inner + k];
        if (v > m || v != v) m = v;
      }
      oo[k] = m;
    }
  }
}
