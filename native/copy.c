// Strided block copies inside the wasm heap, for Concat, SplitV and Tile (src/backends/wasm_kernels.ts).
//
// Why: a concatenation on an inner axis is one short block per outer index and input. Copied from
// JavaScript (TypedArray.copyWithin per block) the phase interleave of a stride-2 input gradient,
// 31k blocks of 16 floats per phase at 44x44, cost about 30 ms of a 430 ms ResNet-10 training step.
//
// Like conv2d.c: no globals, no static data, no address-taken locals.
#include <wasm_simd128.h>

// Copies `count` blocks of `bytes` bytes: block k from src + k * src_stride to dst + k * dst_stride
// (strides in bytes). Source and destination must not overlap.
__attribute__((export_name("copy_blocks"))) void copy_blocks(unsigned char* dst, const unsigned char* src, int count,
                                                              int bytes, int dst_stride, int src_stride) {
  for (int k = 0; k < count; k++) {
    unsigned char* d = dst + k * dst_stride;
    const unsigned char* s = src + k * src_stride;
    int i = 0;
    for (; i + 16 <= bytes; i += 16) wasm_v128_store(d + i, wasm_v128_load(s + i));
    for (; i + 4 <= bytes; i += 4) wasm_v128_store32_lane(d + i, wasm_v128_load32_zero(s + i), 0);
    for (; i < bytes; i++) d[i] = s[i];
  }
}
