/**
 * SHA-256 (FIPS 180-4) in plain JavaScript, for checking the shipped weights against the catalog's
 * digests. Web Crypto would do it natively, but `crypto.subtle` exists only in secure contexts
 * (an app served over plain http has none) and is asynchronous; the weights are 0.6 MB, hashed in a
 * few milliseconds here.
 * @module
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

/**
 * The SHA-256 digest of `bytes` as 64 lowercase hex digits.
 * @param bytes The data; several buffers are hashed as their concatenation.
 * @example
 * ```ts
 * sha256Hex(new TextEncoder().encode('abc')); // 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
 * ```
 * @category Pretrained
 */
export function sha256Hex(bytes: Uint8Array | readonly Uint8Array[]): string {
  const parts = bytes instanceof Uint8Array ? [bytes] : bytes;
  const length = parts.reduce((n, p) => n + p.length, 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const block = new Uint8Array(64);
  const view = new DataView(block.buffer);
  let filled = 0;
  const compress = () => {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(4 * t);
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15]!;
      const b = w[t - 2]!;
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
    }
    let [a, b, c, d, e, f, g, hh] = Array.from(h);
    for (let t = 0; t < 64; t++) {
      const s1 = ((e! >>> 6) | (e! << 26)) ^ ((e! >>> 11) | (e! << 21)) ^ ((e! >>> 25) | (e! << 7));
      const ch = (e! & f!) ^ (~e! & g!);
      const t1 = (hh! + s1 + ch + K[t]! + w[t]!) | 0;
      const s0 = ((a! >>> 2) | (a! << 30)) ^ ((a! >>> 13) | (a! << 19)) ^ ((a! >>> 22) | (a! << 10));
      const maj = (a! & b!) ^ (a! & c!) ^ (b! & c!);
      const t2 = (s0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d! + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    const out = [a, b, c, d, e, f, g, hh];
    for (let k = 0; k < 8; k++) h[k] = h[k]! + out[k]!; // Uint32Array wraps modulo 2^32
  };
  for (const part of parts) {
    for (let i = 0; i < part.length; ) {
      const n = Math.min(64 - filled, part.length - i);
      block.set(part.subarray(i, i + n), filled);
      filled += n;
      i += n;
      if (filled === 64) {
        compress();
        filled = 0;
      }
    }
  }
  // Padding: 0x80, zeros, then the length in bits as a 64-bit big-endian number.
  block[filled++] = 0x80;
  if (filled > 56) {
    block.fill(0, filled);
    compress();
    filled = 0;
  }
  block.fill(0, filled, 56);
  view.setUint32(56, Math.floor(length / 0x20000000));
  view.setUint32(60, (length * 8) >>> 0);
  compress();
  return Array.from(h, (v) => v.toString(16).padStart(8, '0')).join('');
}
