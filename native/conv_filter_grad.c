// The filter gradient of a 2D convolution in NHWC, for the wasm backend, in 128-bit wasm SIMD.
//
//   dw[i][j][c][o] = sum over (b, y, x) of  x[b][y*sh + i - pt][x*sw + j - pl][c] * dy[b][y][x][o]
//
// Why a kernel of our own: tfjs-backend-wasm has no Conv2DBackpropFilter. Composed of XNNPACK matrix
// products (src/backends/conv_grads.ts) it reduces over batch x height x width positions (123,904 for a
// 44x44 layer at batch 64) in products whose operands (megabytes) do not fit in cache, one window copy
// and one pass over memory per filter tap, and it ran at 1.5-2.5x the forward convolution's time.
// Here the positions are taken a chunk of rows at a time, small enough for the chunk of x and dy to
// stay in cache while every (tap, channel block) tile of dw accumulates over it, so each input is read
// from memory about once.
//
// The module imports the backend's memory (src/backends/native_kernels.ts builds it twice from this
// file: plain and shared memory) and must not touch memory of its own: no globals, no static data, no
// address-taken locals (so no shadow stack). scripts/build-native.sh checks the built module for that.
#include <wasm_simd128.h>

// Register tile: 2 input channels x 16 output channels (8 accumulators, 4 dy vectors, 1 splat: fits in
// the 16 SIMD registers V8 uses on x86-64 without spilling).
#define TILE_C 2
#define TILE_O 16
// Positions per chunk (about 32 KiB of dy at 16 output channels).
#define CHUNK_POSITIONS 512

static inline int min_int(int a, int b) { return a < b ? a : b; }
static inline int max_int(int a, int b) { return a > b ? a : b; }
// ceil(a / b) for b > 0 and any a.
static inline int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
// floor(a / b) for b > 0 and any a.
static inline int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// One tile over the rows [q0, q1) of the chunk, 2 input channels x 16 output channels, accumulated
// into dw (row stride co).
static void tile_2x16(const float* x, const float* dy, float* dw, int q0, int q1, int oh, int h, int w,
                      int ci, int co, int ow, int i, int sh, int pt, int x0, int x1, int col0, int sw) {
  float* d0 = dw;
  float* d1 = dw + co;
  v128_t a00 = wasm_v128_load(d0), a01 = wasm_v128_load(d0 + 4), a02 = wasm_v128_load(d0 + 8),
         a03 = wasm_v128_load(d0 + 12);
  v128_t a10 = wasm_v128_load(d1), a11 = wasm_v128_load(d1 + 4), a12 = wasm_v128_load(d1 + 8),
         a13 = wasm_v128_load(d1 + 12);
  for (int q = q0; q < q1; q++) {
    const int b = q / oh;
    const int r = (q - b * oh) * sh + i - pt;
    if (r < 0 || r >= h) continue;
    const float* xp = x + ((b * h + r) * w + x0 * sw + col0) * ci;
    const float* dp = dy + (q * ow + x0) * co;
    const int xstep = sw * ci;
    for (int xx = x0; xx <= x1; xx++, xp += xstep, dp += co) {
      const v128_t g0 = wasm_v128_load(dp), g1 = wasm_v128_load(dp + 4), g2 = wasm_v128_load(dp + 8),
                   g3 = wasm_v128_load(dp + 12);
      const v128_t s0 = wasm_v128_load32_splat(xp);
      a00 = wasm_f32x4_add(a00, wasm_f32x4_mul(s0, g0));
      a01 = wasm_f32x4_add(a01, wasm_f32x4_mul(s0, g1));
      a02 = wasm_f32x4_add(a02, wasm_f32x4_mul(s0, g2));
      a03 = wasm_f32x4_add(a03, wasm_f32x4_mul(s0, g3));
      const v128_t s1 = wasm_v128_load32_splat(xp + 1);
      a10 = wasm_f32x4_add(a10, wasm_f32x4_mul(s1, g0));
      a11 = wasm_f32x4_add(a11, wasm_f32x4_mul(s1, g1));
      a12 = wasm_f32x4_add(a12, wasm_f32x4_mul(s1, g2));
      a13 = wasm_f32x4_add(a13, wasm_f32x4_mul(s1, g3));
    }
  }
  wasm_v128_store(d0, a00), wasm_v128_store(d0 + 4, a01), wasm_v128_store(d0 + 8, a02),
      wasm_v128_store(d0 + 12, a03);
  wasm_v128_store(d1, a10), wasm_v128_store(d1 + 4, a11), wasm_v128_store(d1 + 8, a12),
      wasm_v128_store(d1 + 12, a13);
}

// The general tile: 1 input channel x 4 output channels (the edges when ci is odd or co is not a
// multiple of 16; co must be a multiple of 4).
static void tile_1x4(const float* x, const float* dy, float* dw, int q0, int q1, int oh, int h, int w,
                     int ci, int co, int ow, int i, int sh, int pt, int x0, int x1, int col0, int sw) {
  v128_t a = wasm_v128_load(dw);
  for (int q = q0; q < q1; q++) {
    const int b = q / oh;
    const int r = (q - b * oh) * sh + i - pt;
    if (r < 0 || r >= h) continue;
    const float* xp = x + ((b * h + r) * w + x0 * sw + col0) * ci;
    const float* dp = dy + (q * ow + x0) * co;
    const int xstep = sw * ci;
    for (int xx = x0; xx <= x1; xx++, xp += xstep, dp += co) {
      a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load32_splat(xp), wasm_v128_load(dp)));
    }
  }
  wasm_v128_store(dw, a);
}

// x: [batch, h, w, ci]; dy: [batch, oh, ow, co]; dw: [kh, kw, ci, co]. co % 4 == 0.
// Strides sh, sw >= 1; pt, pl: the padding before the first row and column (dilation 1).
// Computes (overwrites) the part of dw at taps t = i * kw + j in [t0, t1) and input channels in
// [c0, c1) only, so that threads sharing the memory can each take a disjoint part
// (src/backends/wasm_native.ts).
__attribute__((export_name("conv2d_filter_grad_nhwc"))) void conv2d_filter_grad_nhwc(
    const float* x, const float* dy, float* dw, int batch, int h, int w, int ci, int oh, int ow, int co,
    int kh, int kw, int sh, int sw, int pt, int pl, int t0, int t1, int c0, int c1) {
  for (int t = t0; t < t1; t++)
    for (int k = (t * ci + c0) * co; k < (t * ci + c1) * co; k += 4)
      wasm_v128_store(dw + k, wasm_f32x4_splat(0.0f));
  const int rows = batch * oh;
  const int chunk_rows = max_int(1, CHUNK_POSITIONS / max_int(1, ow));
  const int wide_o = co - co % TILE_O;
  const int wide_c = c1 - (c1 - c0) % TILE_C;
  for (int q0 = 0; q0 < rows; q0 += chunk_rows) {
    const int q1 = min_int(rows, q0 + chunk_rows);
    for (int t = t0; t < t1; t++) {
      const int i = t / kw;
      const int j = t - i * kw;
      // Output columns whose input column x*sw + j - pl lies inside the image.
      const int x0 = max_int(0, ceil_div(pl - j, sw));
      const int x1 = min_int(ow - 1, floor_div(w - 1 + pl - j, sw));
      if (x0 > x1) continue;
      const int col0 = j - pl;
      float* tap = dw + t * ci * co;
      for (int c = c0; c < wide_c; c += TILE_C) {
        for (int o = 0; o < wide_o; o += TILE_O) {
          tile_2x16(x + c, dy + o, tap + c * co + o, q0, q1, oh, h, w, ci, co, ow, i, sh, pt, x0, x1,
                    col0, sw);
        }
        for (int o = wide_o; o < co; o += 4) {
          for (int cc = c; cc < c + TILE_C; cc++) {
            tile_1x4(x + cc, dy + o, tap + cc * co + o, q0, q1, oh, h, w, ci, co, ow, i, sh, pt, x0, x1,
                     col0, sw);
          }
        }
      }
      for (int c = wide_c; c < c1; c++) {
        for (int o = 0; o < co; o += 4) {
          tile_1x4(x + c, dy + o, tap + c * co + o, q0, q1, oh, h, w, ci, co, ow, i, sh, pt, x0, x1,
                   col0, sw);
        }
      }
    }
  }
}
