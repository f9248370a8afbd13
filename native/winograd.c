// A forward 3x3 stride-1 convolution in NHWC by Winograd's minimal filtering F(2x2, 3x3), for the wasm
// backend, in 128-bit wasm SIMD (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
// 2016):
//
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A,  summed over input channels,
//
// for each 2x2 tile Y of the output, its 4x4 window d of the input and the 3x3 filter g. The sum over
// input channels of the element-wise products is 16 independent matrix products (one per element xi of
// the 4x4 transformed tile): M[xi] (tiles x co) = V[xi] (tiles x ci) . U[xi] (ci x co).
//
// Why: the direct kernel (conv2d.c) runs at the 128-bit SIMD limit (about 22 GMAC/s on one thread
// here), and 3x3 stride-1 convolutions are most of a ResNet's forward pass and, through the rotated
// filter, of its input gradient. F(2x2, 3x3) needs 16 multiplications per tile and channel pair where
// the direct convolution needs 36 (2.25x fewer); its transforms add and subtract only, and the 0.5 of
// the filter transform is exact, so the result stays within float32 rounding of the direct sum
// (F(4x4, 3x3) would save more but loses about two more digits).
//
// Like conv2d.c: no globals, no static data, no address-taken locals. Tiles are processed in blocks of
// `nt`, whose transformed input and products stay in cache (src/backends/wasm_native.ts picks nt).
#include <wasm_simd128.h>

static inline int min_int(int a, int b) { return a < b ? a : b; }

#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub

// U[xi][c][o] = (G g G^T)[xi] for input channels c in [c0, c1); f: [3][3][ci][co], u: [16][ci][co].
// G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]. co % 4 == 0.
__attribute__((export_name("winograd_filter_3x3"))) void winograd_filter_3x3(const float* f, float* u, int ci,
                                                                              int co, int c0, int c1) {
  const int plane = ci * co;
  const v128_t half = wasm_f32x4_splat(0.5f);
  for (int c = c0; c < c1; c++) {
    for (int o = 0; o < co; o += 4) {
      v128_t g[3][3];
      v128_t t[4][3];
#pragma unroll
      for (int i = 0; i < 3; i++)
#pragma unroll
        for (int j = 0; j < 3; j++) g[i][j] = wasm_v128_load(f + (i * 3 + j) * plane + c * co + o);
#pragma unroll
      for (int j = 0; j < 3; j++) {
        t[0][j] = g[0][j];
        t[1][j] = wasm_f32x4_mul(half, ADD(ADD(g[0][j], g[1][j]), g[2][j]));
        t[2][j] = wasm_f32x4_mul(half, ADD(SUB(g[0][j], g[1][j]), g[2][j]));
        t[3][j] = g[2][j];
      }
#pragma unroll
      for (int i = 0; i < 4; i++) {
        float* ui = u + i * 4 * plane + c * co + o;
        wasm_v128_store(ui, t[i][0]);
        wasm_v128_store(ui + plane, wasm_f32x4_mul(half, ADD(ADD(t[i][0], t[i][1]), t[i][2])));
        wasm_v128_store(ui + 2 * plane, wasm_f32x4_mul(half, ADD(SUB(t[i][0], t[i][1]), t[i][2])));
        wasm_v128_store(ui + 3 * plane, t[i][2]);
      }
    }
  }
}

// m[p][4k..4k+3] (+)= sum over r < K of a[p * ap + r * ar] * b[r * br + 4k..]: P (1 or 2) rows x NV (1
// or 4) vectors of 4 columns, the register tile of conv2d.c; `add` accumulates into m instead of
// overwriting it.
static inline __attribute__((always_inline)) void gemm_tile(const float* a, int ap, int ar, const float* b, int br,
                                                            float* m, int mp, int P, int NV, int K, int add) {
  v128_t acc[2][4];
#pragma unroll
  for (int p = 0; p < 2; p++)
#pragma unroll
    for (int k = 0; k < 4; k++)
      if (p < P && k < NV) acc[p][k] = add ? wasm_v128_load(m + p * mp + 4 * k) : wasm_f32x4_splat(0.0f);
  for (int r = 0; r < K; r++) {
    const float* br_ = b + r * br;
    v128_t g[4];
#pragma unroll
    for (int k = 0; k < 4; k++)
      if (k < NV) g[k] = wasm_v128_load(br_ + 4 * k);
#pragma unroll
    for (int p = 0; p < 2; p++) {
      if (p < P) {
        const v128_t s = wasm_v128_load32_splat(a + p * ap + r * ar);
#pragma unroll
        for (int k = 0; k < 4; k++)
          if (k < NV) acc[p][k] = ADD(acc[p][k], wasm_f32x4_mul(s, g[k]));
      }
    }
  }
#pragma unroll
  for (int p = 0; p < 2; p++)
#pragma unroll
    for (int k = 0; k < 4; k++)
      if (p < P && k < NV) wasm_v128_store(m + p * mp + 4 * k, acc[p][k]);
}

// The forward products: m [n][co] = v [n][ci] . u [ci][co], in blocks of 16 output channels (then 4)
// and pairs of tiles.
static void gemm(const float* v, const float* u, float* m, int n, int ci, int co) {
  const int wide = co - co % 16;
  for (int o = 0; o < co;) {
    const int NV = o < wide ? 4 : 1;
    int t = 0;
    for (; t + 1 < n; t += 2) {
      if (NV == 4) gemm_tile(v + t * ci, ci, 1, u + o, co, m + t * co + o, co, 2, 4, ci, 0);
      else gemm_tile(v + t * ci, ci, 1, u + o, co, m + t * co + o, co, 2, 1, ci, 0);
    }
    if (t < n) {
      if (NV == 4) gemm_tile(v + t * ci, ci, 1, u + o, co, m + t * co + o, co, 1, 4, ci, 0);
      else gemm_tile(v + t * ci, ci, 1, u + o, co, m + t * co + o, co, 1, 1, ci, 0);
    }
    o += 4 * NV;
  }
}

// The filter gradient's products: du [ci][co] += sum over the n tiles of v [t][c] * dm [t][co], in pairs
// of input channels and blocks of 16 output channels (then 4); ci % 4 == 0.
static void gemm_grad(const float* v, const float* dm, float* du, int n, int ci, int co) {
  const int wide = co - co % 16;
  for (int o = 0; o < co;) {
    const int NV = o < wide ? 4 : 1;
    // ci is a multiple of 4 (the input transform's vectors), so the channels come in pairs.
    for (int c = 0; c < ci; c += 2) {
      if (NV == 4) gemm_tile(v + c, 1, ci, dm + o, co, du + c * co + o, co, 2, 4, n, 1);
      else gemm_tile(v + c, 1, ci, dm + o, co, du + c * co + o, co, 2, 1, n, 1);
    }
    o += 4 * NV;
  }
}

// Where tile `tile` (numbered b * th * tw + ty * tw + tx) lies: image b, top-left output (y0, x0).
static inline __attribute__((always_inline)) void tile_at(int tile, int th, int tw, int* b, int* y0, int* x0) {
  const int q = tile / tw;
  const int tx = tile - q * tw;
  *b = q / th;
  *y0 = 2 * (q - *b * th);
  *x0 = 2 * tx;
}

// The input transform V = B^T d B of tiles [first, first + n), all ci channels (a multiple of 4), into
// v: 16 planes `vplane` floats apart, tile t's channels at t * ci. B^T = [[1, 0, -1, 0], [0, 1, 1, 0],
// [0, -1, 1, 0], [0, 1, 0, -1]]. Taps outside the image read `zeros`.
static void input_transform(const float* x, const float* zeros, float* v, int vplane, int first, int n, int th,
                            int tw, int h, int w, int ci, int pt, int pl) {
  for (int t = 0; t < n; t++) {
    int b, y0, x0;
    tile_at(first + t, th, tw, &b, &y0, &x0);
    const int r0 = y0 - pt;
    const int s0 = x0 - pl;
    const float* p[4][4];
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
      for (int s = 0; s < 4; s++) {
        const int row = r0 + r;
        const int col = s0 + s;
        const int inside = row >= 0 && row < h && col >= 0 && col < w;
        p[r][s] = inside ? x + ((b * h + row) * w + col) * ci : zeros;
      }
    float* vo = v + t * ci;
    for (int c = 0; c < ci; c += 4) {
      v128_t e[4][4];
#pragma unroll
      for (int s = 0; s < 4; s++) {
        const v128_t d0 = wasm_v128_load(p[0][s] + c);
        const v128_t d1 = wasm_v128_load(p[1][s] + c);
        const v128_t d2 = wasm_v128_load(p[2][s] + c);
        const v128_t d3 = wasm_v128_load(p[3][s] + c);
        e[0][s] = SUB(d0, d2);
        e[1][s] = ADD(d1, d2);
        e[2][s] = SUB(d2, d1);
        e[3][s] = SUB(d1, d3);
      }
#pragma unroll
      for (int k = 0; k < 4; k++) {
        float* vk = vo + 4 * k * vplane + c;
        wasm_v128_store(vk, SUB(e[k][0], e[k][2]));
        wasm_v128_store(vk + vplane, ADD(e[k][1], e[k][2]));
        wasm_v128_store(vk + 2 * vplane, SUB(e[k][2], e[k][1]));
        wasm_v128_store(vk + 3 * vplane, SUB(e[k][1], e[k][3]));
      }
    }
  }
}

// x: [batch, h, w, ci]; u: [16][ci][co] from winograd_filter_3x3; out: [batch, oh, ow, co], the 3x3
// stride-1 convolution with padding pt, pl before the first row and column. ci % 4 == 0, co % 4 == 0.
// Output tiles: 2x2, th = ceil(oh / 2) rows of tw = ceil(ow / 2); computes (overwrites) the tile rows
// q = b * th + ty in [q0, q1) only, so that threads can each take a range (src/backends/wasm_native.ts);
// `scratch`: ci + 16 * (nt * (ci + co) + 32) floats of the calling thread's own: ci zeros (what taps
// outside the image read), then the block's transformed input (16 planes of nt x ci) and products (16
// planes of nt x co), each plane 16 floats longer. bias: [co] or null, relu: 0 or 1 (FusedConv2D's
// epilogue, applied as each tile is written).
__attribute__((export_name("conv2d_winograd_nhwc"))) void conv2d_winograd_nhwc(
    const float* x, const float* u, float* out, const float* bias, int relu, float* scratch, int batch, int h, int w, int ci, int oh, int ow,
    int co, int pt, int pl, int nt, int q0, int q1) {
  (void)batch;
  float* zeros = scratch;
  float* vt = scratch + ci;
  float* mt = vt + 16 * (nt * ci + 16);
  for (int c = 0; c < ci; c += 4) wasm_v128_store(zeros + c, wasm_f32x4_splat(0.0f));
  const int th = (oh + 1) / 2;
  const int tw = (ow + 1) / 2;
  // One cache line more than the block per plane: planes a multiple of 4 KiB apart would all fall into
  // the same sets of the L1 cache, and the transforms touch all 16 at once.
  const int vplane = nt * ci + 16;
  const int mplane = nt * co + 16;
  const int end = q1 * tw;
  for (int first = q0 * tw; first < end; first += nt) {
    const int n = min_int(nt, end - first);
    input_transform(x, zeros, vt, vplane, first, n, th, tw, h, w, ci, pt, pl);
    for (int xi = 0; xi < 16; xi++) gemm(vt + xi * vplane, u + xi * ci * co, mt + xi * mplane, n, ci, co);
    // The output transform Y = A^T M A, A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]; the tiles' outputs past
    // an odd edge are dropped.
    for (int t = 0; t < n; t++) {
      int b, y0, x0;
      tile_at(first + t, th, tw, &b, &y0, &x0);
      const int rows = min_int(2, oh - y0);
      const int cols = min_int(2, ow - x0);
      float* o0 = out + ((b * oh + y0) * ow + x0) * co;
      const float* mo = mt + t * co;
      for (int o = 0; o < co; o += 4) {
        v128_t nrow[2][4];
#pragma unroll
        for (int l = 0; l < 4; l++) {
          const v128_t m0 = wasm_v128_load(mo + l * mplane + o);
          const v128_t m1 = wasm_v128_load(mo + (4 + l) * mplane + o);
          const v128_t m2 = wasm_v128_load(mo + (8 + l) * mplane + o);
          const v128_t m3 = wasm_v128_load(mo + (12 + l) * mplane + o);
          nrow[0][l] = ADD(ADD(m0, m1), m2);
          nrow[1][l] = SUB(SUB(m1, m2), m3);
        }
        // FusedConv2D's epilogue, as in conv2d.c: + bias, then ReLU (f32x4.max keeps NaN).
        const v128_t bv = bias ? wasm_v128_load(bias + o) : wasm_f32x4_splat(0.0f);
        const v128_t floor = wasm_f32x4_splat(relu ? 0.0f : -__builtin_inff());
#pragma unroll
        for (int a = 0; a < 2; a++) {
          if (a < rows) {
            float* ya = o0 + a * ow * co + o;
            const v128_t y0 = ADD(ADD(ADD(nrow[a][0], nrow[a][1]), nrow[a][2]), bv);
            wasm_v128_store(ya, wasm_f32x4_max(y0, floor));
            if (cols > 1) {
              const v128_t y1 = ADD(SUB(SUB(nrow[a][1], nrow[a][2]), nrow[a][3]), bv);
              wasm_v128_store(ya + co, wasm_f32x4_max(y1, floor));
            }
          }
        }
      }
    }
  }
}

// The filter gradient of the same convolution: dw[i][j][c][o] = sum over (b, y, x) of
// x[b][y + i - pt][x + j - pl][c] * dy[b][y][x][o], as dU[xi][c][o] = sum over tiles of V[xi][c] * dM[xi][o]
// with dM = A dY A^T (the gradient of the output transform; outputs past an odd edge count as 0), then
// dw = G^T dU G (winograd_filter_grad_finish). This part: the sums dU over tiles [t0, t1) only (tiles
// numbered b * th * tw + ty * tw + tx), added into `du` (16 x ci x co floats, zeroed by the caller), so
// that threads can each take ranges of tiles into a du of their own; `scratch`: as conv2d_winograd_nhwc's.
__attribute__((export_name("conv2d_winograd_filter_grad_nhwc"))) void conv2d_winograd_filter_grad_nhwc(
    const float* x, const float* dy, float* du, float* scratch, int batch, int h, int w, int ci, int oh, int ow,
    int co, int pt, int pl, int nt, int t0, int t1) {
  (void)batch;
  float* zeros = scratch;
  float* vt = scratch + ci;
  float* mt = vt + 16 * (nt * ci + 16);
  for (int c = 0; c < ci; c += 4) wasm_v128_store(zeros + c, wasm_f32x4_splat(0.0f));
  const int plane = ci * co;
  const int th = (oh + 1) / 2;
  const int tw = (ow + 1) / 2;
  const int vplane = nt * ci + 16;
  const int mplane = nt * co + 16;
  for (int first = t0; first < t1; first += nt) {
    const int n = min_int(nt, t1 - first);
    input_transform(x, zeros, vt, vplane, first, n, th, tw, h, w, ci, pt, pl);
    // dM = A dY A^T, A = [[1, 0], [1, 1], [1, -1], [0, -1]].
    for (int t = 0; t < n; t++) {
      int b, y0, x0;
      tile_at(first + t, th, tw, &b, &y0, &x0);
      const int rows = min_int(2, oh - y0);
      const int cols = min_int(2, ow - x0);
      const float* d00 = dy + ((b * oh + y0) * ow + x0) * co;
      float* mo = mt + t * co;
      for (int o = 0; o < co; o += 4) {
        const v128_t zero = wasm_f32x4_splat(0.0f);
        const v128_t a = wasm_v128_load(d00 + o);
        const v128_t bb = cols > 1 ? wasm_v128_load(d00 + co + o) : zero;
        const v128_t c = rows > 1 ? wasm_v128_load(d00 + ow * co + o) : zero;
        const v128_t d = rows > 1 && cols > 1 ? wasm_v128_load(d00 + (ow + 1) * co + o) : zero;
        // Rows of A dY: dy0, dy0 + dy1, dy0 - dy1, -dy1 (dy0 = [a, bb], dy1 = [c, d]).
        v128_t r[4][2];
        r[0][0] = a;
        r[0][1] = bb;
        r[1][0] = ADD(a, c);
        r[1][1] = ADD(bb, d);
        r[2][0] = SUB(a, c);
        r[2][1] = SUB(bb, d);
        r[3][0] = wasm_f32x4_neg(c);
        r[3][1] = wasm_f32x4_neg(d);
#pragma unroll
        for (int k = 0; k < 4; k++) {
          float* mk = mo + 4 * k * mplane + o;
          wasm_v128_store(mk, r[k][0]);
          wasm_v128_store(mk + mplane, ADD(r[k][0], r[k][1]));
          wasm_v128_store(mk + 2 * mplane, SUB(r[k][0], r[k][1]));
          wasm_v128_store(mk + 3 * mplane, wasm_f32x4_neg(r[k][1]));
        }
      }
    }
    for (int xi = 0; xi < 16; xi++)
      gemm_grad(vt + xi * vplane, mt + xi * mplane, du + xi * plane, n, ci, co);
  }
}

// dw = G^T (sum of the parts' dU) G, G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]], for
// input channels [c0, c1): `du` holds `parts` sums of 16 x ci x co floats, `stride` floats apart.
__attribute__((export_name("winograd_filter_grad_finish"))) void winograd_filter_grad_finish(
    const float* du, int stride, int parts, float* dw, int ci, int co, int c0, int c1) {
  const int plane = ci * co;
  const v128_t half = wasm_f32x4_splat(0.5f);
  for (int c = c0; c < c1; c++) {
    for (int o = 0; o < co; o += 4) {
      v128_t g[4][4];
      v128_t t[3][4];
#pragma unroll
      for (int k = 0; k < 4; k++)
#pragma unroll
        for (int l = 0; l < 4; l++) {
          const float* at = du + (k * 4 + l) * plane + c * co + o;
          v128_t sum = wasm_v128_load(at);
          for (int p = 1; p < parts; p++) sum = ADD(sum, wasm_v128_load(at + p * stride));
          g[k][l] = sum;
        }
#pragma unroll
      for (int l = 0; l < 4; l++) {
        const v128_t sum = wasm_f32x4_mul(half, ADD(g[1][l], g[2][l]));
        t[0][l] = ADD(g[0][l], sum);
        t[1][l] = wasm_f32x4_mul(half, SUB(g[1][l], g[2][l]));
        t[2][l] = ADD(sum, g[3][l]);
      }
#pragma unroll
      for (int i = 0; i < 3; i++) {
        const v128_t sum = wasm_f32x4_mul(half, ADD(t[i][1], t[i][2]));
        float* wi = dw + i * 3 * plane + c * co + o;
        wasm_v128_store(wi, ADD(t[i][0], sum));
        wasm_v128_store(wi + plane, wasm_f32x4_mul(half, SUB(t[i][1], t[i][2])));
        wasm_v128_store(wi + 2 * plane, ADD(sum, t[i][3]));
      }
    }
  }
}
