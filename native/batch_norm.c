// BatchNorm in training, channels last, for the wasm backend: the batch moments per channel and the
// closed-form gradient (src/ops/batch_norm.ts), each in two passes over the activations.
//
// Why: as tfjs ops they are about 6 and 11 kernels per BatchNorm, each a pass over the activations,
// and a ResNet-10 training step has 14 BatchNorms (9 % of the step in a profile). Sums are taken over
// blocks of positions first and then added up, so the float32 rounding error grows with the square
// root of the block count, not with the number of positions.
//
// Like conv2d.c: no globals, no static data, no address-taken locals; per-channel scratch space is
// passed in by the caller.
#include <wasm_simd128.h>

#define BLOCK 256

// scratch[k] = sum over positions of the block [p0, p1) of f(x, dy) per channel, added into total[k]
// (both of c floats). One pass; `kind` 0: x, 1: (x - mean)^2, 2: dy, 3: dy * (x - mean).
static inline __attribute__((always_inline)) void block_sums(const float* x, const float* dy,
                                                             const float* mean, float* partial,
                                                             float* total, int p0, int p1, int c,
                                                             int kind) {
  const int wide = c - c % 4;
  for (int k = 0; k < c; k++) partial[k] = 0.0f;
  for (int p = p0; p < p1; p++) {
    const float* xp = x + p * c;
    const float* gp = dy + p * c;
    int k = 0;
    for (; k < wide; k += 4) {
      v128_t v;
      if (kind == 0) {
        v = wasm_v128_load(xp + k);
      } else if (kind == 1) {
        const v128_t d = wasm_f32x4_sub(wasm_v128_load(xp + k), wasm_v128_load(mean + k));
        v = wasm_f32x4_mul(d, d);
      } else if (kind == 2) {
        v = wasm_v128_load(gp + k);
      } else {
        v = wasm_f32x4_mul(wasm_v128_load(gp + k), wasm_f32x4_sub(wasm_v128_load(xp + k), wasm_v128_load(mean + k)));
      }
      wasm_v128_store(partial + k, wasm_f32x4_add(wasm_v128_load(partial + k), v));
    }
    for (; k < c; k++) {
      float v;
      if (kind == 0) v = xp[k];
      else if (kind == 1) v = (xp[k] - mean[k]) * (xp[k] - mean[k]);
      else if (kind == 2) v = gp[k];
      else v = gp[k] * (xp[k] - mean[k]);
      partial[k] += v;
    }
  }
  for (int k = 0; k < c; k++) total[k] += partial[k];
}

static void sums(const float* x, const float* dy, const float* mean, float* partial, float* total, int n,
                 int c, int kind) {
  for (int k = 0; k < c; k++) total[k] = 0.0f;
  for (int p0 = 0; p0 < n; p0 += BLOCK) {
    const int p1 = p0 + BLOCK < n ? p0 + BLOCK : n;
    if (kind == 0) block_sums(x, dy, mean, partial, total, p0, p1, c, 0);
    else if (kind == 1) block_sums(x, dy, mean, partial, total, p0, p1, c, 1);
    else if (kind == 2) block_sums(x, dy, mean, partial, total, p0, p1, c, 2);
    else block_sums(x, dy, mean, partial, total, p0, p1, c, 3);
  }
}

// x: [n, c]. mean, variance: [c], overwritten with the mean and the biased variance. scratch: c floats.
__attribute__((export_name("channel_moments"))) void channel_moments(const float* x, float* mean,
                                                                      float* variance, float* scratch,
                                                                      int n, int c) {
  sums(x, x, x, scratch, mean, n, c, 0);
  for (int k = 0; k < c; k++) mean[k] /= (float)n;
  sums(x, x, mean, scratch, variance, n, c, 1);
  for (int k = 0; k < c; k++) variance[k] /= (float)n;
}

void batch_norm_dx(const float* x, const float* dy, const float* mean, const float* coef, float* dx,
                   int p0, int p1, int c);

// x, dy, dx: [n, c]; mean, variance, gamma, dgamma, dbeta: [c]. scratch: 4c floats.
// dbeta = sum dy, dgamma = sum dy * xhat, dx = gamma * invstd * (dy - dbeta / n - xhat * dgamma / n),
// xhat = (x - mean) * invstd, invstd = 1 / sqrt(variance + epsilon).
__attribute__((export_name("batch_norm_grad"))) void batch_norm_grad(
    const float* x, const float* dy, const float* mean, const float* variance, const float* gamma,
    float epsilon, float* dx, float* dgamma, float* dbeta, float* scratch, int n, int c) {
  float* a = scratch;           // gamma * invstd
  float* b = scratch + c;       // dbeta / n
  float* d = scratch + 2 * c;   // invstd * dgamma / n
  float* partial = scratch + 3 * c;
  sums(x, dy, mean, partial, dbeta, n, c, 2);
  sums(x, dy, mean, partial, dgamma, n, c, 3);
  for (int k = 0; k < c; k++) {
    const float invstd = 1.0f / __builtin_sqrtf(variance[k] + epsilon);
    dgamma[k] *= invstd;
    a[k] = gamma[k] * invstd;
    b[k] = dbeta[k] / (float)n;
    d[k] = invstd * dgamma[k] / (float)n;
  }
  batch_norm_dx(x, dy, mean, scratch, dx, 0, n, c);
}

// The passes of channel_moments and batch_norm_grad over a range of positions [p0, p1), for threads
// that each take a range (src/backends/wasm_native.ts adds up their per-channel sums). p0 should be a
// multiple of the block size so that the blocks are the ones a single call sums.

// total[k] = sum over [p0, p1) of x (kind 0) or (x - mean)^2 (kind 1). partial, total: c floats.
__attribute__((export_name("channel_sums"))) void channel_sums(const float* x, const float* mean,
                                                                float* partial, float* total, int p0,
                                                                int p1, int c, int kind) {
  for (int k = 0; k < c; k++) total[k] = 0.0f;
  for (int q0 = p0; q0 < p1; q0 += BLOCK) {
    const int q1 = q0 + BLOCK < p1 ? q0 + BLOCK : p1;
    if (kind == 0) block_sums(x, x, mean, partial, total, q0, q1, c, 0);
    else block_sums(x, x, mean, partial, total, q0, q1, c, 1);
  }
}

// dbeta[k] = sum over [p0, p1) of dy, dgamma[k] = sum of dy * (x - mean) (before the factor invstd).
// partial, dbeta, dgamma: c floats.
__attribute__((export_name("batch_norm_grad_sums"))) void batch_norm_grad_sums(
    const float* x, const float* dy, const float* mean, float* partial, float* dbeta, float* dgamma,
    int p0, int p1, int c) {
  for (int k = 0; k < c; k++) dbeta[k] = 0.0f, dgamma[k] = 0.0f;
  for (int q0 = p0; q0 < p1; q0 += BLOCK) {
    const int q1 = q0 + BLOCK < p1 ? q0 + BLOCK : p1;
    block_sums(x, dy, mean, partial, dbeta, q0, q1, c, 2);
    block_sums(x, dy, mean, partial, dgamma, q0, q1, c, 3);
  }
}

// dx = a * (dy - b - (x - mean) * d) over positions [p0, p1); coef: a, b, d (3c floats) as in
// batch_norm_grad.
__attribute__((export_name("batch_norm_dx"))) void batch_norm_dx(const float* x, const float* dy,
                                                                  const float* mean, const float* coef,
                                                                  float* dx, int p0, int p1, int c) {
  const float* a = coef;
  const float* b = coef + c;
  const float* d = coef + 2 * c;
  const int wide = c - c % 4;
  for (int p = p0; p < p1; p++) {
    const float* xp = x + p * c;
    const float* gp = dy + p * c;
    float* op = dx + p * c;
    int k = 0;
    for (; k < wide; k += 4) {
      const v128_t centred = wasm_f32x4_sub(wasm_v128_load(xp + k), wasm_v128_load(mean + k));
      const v128_t inner = wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(gp + k), wasm_v128_load(b + k)),
                                          wasm_f32x4_mul(centred, wasm_v128_load(d + k)));
      wasm_v128_store(op + k, wasm_f32x4_mul(wasm_v128_load(a + k), inner));
    }
    for (; k < c; k++) op[k] = a[k] * (gp[k] - b[k] - (xp[k] - mean[k]) * d[k]);
  }
}
