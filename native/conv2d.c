// A forward 2D convolution in NHWC, for the wasm backend, in 128-bit wasm SIMD:
//
//   out[b][y][x][o] = sum over (i, j, c) of  x[b][y*sh + i - pt][x*sw + j - pl][c] * w[i][j][c][o]
//
// Why a kernel of our own: on the small layers of the networks a CPU can train (16-128 channels),
// tfjs-backend-wasm's XNNPACK convolution ran at 12-15 GMAC/s on one thread, and it re-packs the
// filter on every call in training (the weights change every step). Here a register tile of 2 output
// positions x 16 output channels accumulates over the taps and input channels, with the filter (a few
// KiB) and the input rows it reads in cache; the filter is used as it is stored.
// The same kernel computes the input gradient of a stride-1 convolution (a convolution of dy with the
// filter rotated by 180 degrees and its channel axes swapped; src/backends/wasm_kernels.ts).
//
// Like conv_filter_grad.c: no globals, no static data, no address-taken locals.
#include <wasm_simd128.h>

static inline int min_int(int a, int b) { return a < b ? a : b; }
static inline int max_int(int a, int b) { return a > b ? a : b; }
static inline int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
static inline int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The fused epilogue of FusedConv2D: `+ bias[k..k+3]` when `bo` is not null, then ReLU when `relu`
// (f32x4.max keeps NaN, as the cpu backend's ReLU does). Inference folds BatchNorm into the filter and
// this bias (src/layers/conv_bn.ts), so a convolution, its BatchNorm and ReLU write memory once.
static inline __attribute__((always_inline)) v128_t epilogue(v128_t v, const float* bo, int k, int relu) {
  if (bo) v = wasm_f32x4_add(v, wasm_v128_load(bo + k));
  return relu ? wasm_f32x4_max(v, wasm_f32x4_splat(0.0f)) : v;
}

// P output positions (columns x0, x0 + 1, ...) x V vectors of 4 output channels, over filter rows
// [i0, i1] and columns [j0, j1]. `xrow0`: the input at (b, row of filter row 0, column of tap 0 of
// position x0), `wo`: the filter at output channel o, `out`: the output at (b, y, x0, o).
static inline __attribute__((always_inline)) void tile(const float* xrow0, const float* wo, float* out,
                                                       const float* bo, int relu, int P, int V, int i0,
                                                       int i1, int j0, int j1, int rowstep, int xstep,
                                                       int ci, int co, int kw) {
  v128_t acc[2][4];
#pragma unroll
  for (int p = 0; p < 2; p++)
#pragma unroll
    for (int v = 0; v < 4; v++) acc[p][v] = wasm_f32x4_splat(0.0f);
  for (int i = i0; i <= i1; i++) {
    const float* xr = xrow0 + i * rowstep;
    for (int j = j0; j <= j1; j++) {
      const float* xp = xr + j * ci;
      const float* wp = wo + (i * kw + j) * ci * co;
      for (int c = 0; c < ci; c++, wp += co) {
        v128_t g[4];
#pragma unroll
        for (int v = 0; v < 4; v++)
          if (v < V) g[v] = wasm_v128_load(wp + 4 * v);
#pragma unroll
        for (int p = 0; p < 2; p++) {
          if (p < P) {
            const v128_t s = wasm_v128_load32_splat(xp + p * xstep + c);
#pragma unroll
            for (int v = 0; v < 4; v++)
              if (v < V) acc[p][v] = wasm_f32x4_add(acc[p][v], wasm_f32x4_mul(s, g[v]));
          }
        }
      }
    }
  }
#pragma unroll
  for (int p = 0; p < 2; p++)
#pragma unroll
    for (int v = 0; v < 4; v++)
      if (p < P && v < V) wasm_v128_store(out + p * co + 4 * v, epilogue(acc[p][v], bo, 4 * v, relu));
}

// One block of V vectors of output channels at o, over the whole output: the block's slice of the
// filter (kh x kw x ci x 4V floats, 73 KiB at 128 input channels) stays in cache while every position
// is computed; the input is read once per block.
static void block(const float* x, const float* f, float* out, const float* bo, int relu, int V, int h, int w,
                  int ci, int oh, int ow, int co, int kh, int kw, int sh, int sw, int pt, int pl, int q0,
                  int q1) {
  const int rowstep = w * ci;
  const int xstep = sw * ci;
  // Columns whose every filter tap lies inside the image.
  const int xa = max_int(0, ceil_div(pl, sw));
  const int xb = min_int(ow - 1, floor_div(w - kw + pl, sw));
  for (int q = q0; q < q1; q++) {
    const int b = q / oh;
    const int y = q - b * oh;
    const int top = y * sh - pt;
    const int i0 = max_int(0, -top);
    const int i1 = min_int(kh - 1, h - 1 - top);
    float* orow = out + q * ow * co;
    // Rows and columns may start outside the image; the tile only reads taps inside it.
    const float* xrow = x + (b * h + top) * rowstep;
    for (int xx = 0; xx < ow;) {
      const int left = xx * sw - pl;
      if (i0 <= i1 && xx >= xa && xx + 1 <= xb) {
        if (V == 4) tile(xrow + left * ci, f, orow + xx * co, bo, relu, 2, 4, i0, i1, 0, kw - 1, rowstep, xstep, ci, co, kw);
        else tile(xrow + left * ci, f, orow + xx * co, bo, relu, 2, 1, i0, i1, 0, kw - 1, rowstep, xstep, ci, co, kw);
        xx += 2;
        continue;
      }
      const int j0 = max_int(0, -left);
      const int j1 = min_int(kw - 1, w - 1 - left);
      if (i0 > i1 || j0 > j1) {  // every tap is padding
        for (int k = 0; k < 4 * V; k += 4)
          wasm_v128_store(orow + xx * co + k, epilogue(wasm_f32x4_splat(0.0f), bo, k, relu));
      } else if (V == 4) {
        tile(xrow + left * ci, f, orow + xx * co, bo, relu, 1, 4, i0, i1, j0, j1, rowstep, xstep, ci, co, kw);
      } else {
        tile(xrow + left * ci, f, orow + xx * co, bo, relu, 1, 1, i0, i1, j0, j1, rowstep, xstep, ci, co, kw);
      }
      xx += 1;
    }
  }
}

// x: [batch, h, w, ci]; f: [kh, kw, ci, co]; out: [batch, oh, ow, co]. co % 4 == 0.
// bias: [co] or null; relu: 0 or 1 (the epilogue above).
// Strides sh, sw >= 1; pt, pl: padding before the first row and column (dilation 1).
// Computes (overwrites) the output rows q = b * oh + y in [q0, q1) only, so that threads sharing the
// memory can each take a range of rows (src/backends/wasm_native.ts).
__attribute__((export_name("conv2d_nhwc"))) void conv2d_nhwc(const float* x, const float* f, float* out,
                                                              const float* bias, int relu, int batch, int h,
                                                              int w, int ci, int oh, int ow, int co, int kh,
                                                              int kw, int sh, int sw, int pt, int pl, int q0,
                                                              int q1) {
  (void)batch;
  const int wide = co - co % 16;
  for (int o = 0; o < wide; o += 16)
    block(x, f + o, out + o, bias ? bias + o : 0, relu, 4, h, w, ci, oh, ow, co, kh, kw, sh, sw, pt, pl, q0,
          q1);
  for (int o = wide; o < co; o += 4)
    block(x, f + o, out + o, bias ? bias + o : 0, relu, 1, h, w, ci, oh, ow, co, kh, kw, sh, sw, pt, pl, q0,
          q1);
}
