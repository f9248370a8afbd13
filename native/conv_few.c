// Forward convolutions with few input and output channels, stride 1, for the wasm backend: CBAM's 7x7
// spatial gate (2 -> 1 channels) and its input gradient (1 -> 2).
//
// Why: the register tiles of conv2d.c run 16 (or 4) output channels against one input channel at a
// time, so with 1 output channel three quarters of the work is padding, and with 1-2 input channels
// each weight load feeds 2 multiply-adds; XNNPACK's convolution took 7 ms per 44x44 batch of 64 here.
// Instead the input is first rearranged channel-planar with its padding ([b][c][hp][wp], zeros
// around), so that 4 neighbouring outputs of one row read 4 neighbouring floats: one unaligned load
// per tap and channel, times a splatted weight.
//
// Like conv2d.c: no globals, no static data, no address-taken locals.
#include <wasm_simd128.h>

// p[b][c][y][x] = x[b][y - pt][x - pl][c] inside the image, 0 in the padding; p: [batch][ci][hp][wp].
// For images [b0, b1).
__attribute__((export_name("to_planar_padded"))) void to_planar_padded(const float* x, float* p, int h, int w,
                                                                        int ci, int hp, int wp, int pt, int pl,
                                                                        int b0, int b1) {
  for (int b = b0; b < b1; b++) {
    for (int c = 0; c < ci; c++) {
      float* plane = p + (b * ci + c) * hp * wp;
      for (int y = 0; y < hp; y++) {
        float* row = plane + y * wp;
        const int sy = y - pt;
        if (sy < 0 || sy >= h) {
          for (int k = 0; k < wp; k++) row[k] = 0.0f;
          continue;
        }
        const float* src = x + ((b * h + sy) * w) * ci + c;
        for (int k = 0; k < pl; k++) row[k] = 0.0f;
        for (int k = 0; k < w; k++) row[pl + k] = src[k * ci];
        for (int k = pl + w; k < wp; k++) row[k] = 0.0f;
      }
    }
  }
}

// out[b][y][x][o] = sum over (i, j, c) of p[b][c][y + i][x + j] * f[i][j][c][o], for every output channel
// o < co, stride 1, from the planar padded input (hp = oh + kh - 1, wp = ow + kw - 1). Output rows
// q = b * oh + y in [q0, q1).
__attribute__((export_name("conv2d_planar"))) void conv2d_planar(const float* p, const float* f, float* out,
                                                                 int ci, int hp, int wp, int oh, int ow, int co,
                                                                 int kh, int kw, int q0, int q1) {
  for (int q = q0; q < q1; q++) {
    const int b = q / oh;
    const int y = q - b * oh;
    float* orow = out + q * ow * co;
    for (int o = 0; o < co; o++) {
      int x = 0;
      for (; x + 4 <= ow; x += 4) {
        v128_t acc = wasm_f32x4_splat(0.0f);
        for (int c = 0; c < ci; c++) {
          const float* pc = p + ((b * ci + c) * hp + y) * wp + x;
          for (int i = 0; i < kh; i++) {
            const float* pr = pc + i * wp;
            const float* fr = f + (i * kw * ci + c) * co + o;
            for (int j = 0; j < kw; j++)
              acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(pr + j), wasm_f32x4_splat(fr[j * ci * co])));
          }
        }
        if (co == 1) {
          wasm_v128_store(orow + x, acc);
        } else {
          orow[x * co + o] = wasm_f32x4_extract_lane(acc, 0);
          orow[(x + 1) * co + o] = wasm_f32x4_extract_lane(acc, 1);
          orow[(x + 2) * co + o] = wasm_f32x4_extract_lane(acc, 2);
          orow[(x + 3) * co + o] = wasm_f32x4_extract_lane(acc, 3);
        }
      }
      for (; x < ow; x++) {
        float sum = 0.0f;
        for (int c = 0; c < ci; c++) {
          const float* pc = p + ((b * ci + c) * hp + y) * wp + x;
          for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) sum += pc[i * wp + j] * f[((i * kw + j) * ci + c) * co + o];
        }
        orow[x * co + o] = sum;
      }
    }
  }
}
