import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { setupWasm, WASM_SETUP_DEFAULTS } from '../../src/backends/wasm';
import { nativeHelperCount } from '../../src/backends/wasm_native';
import { batchNormGradients, channelMoments } from '../../src/ops/batch_norm';
import { type ConvCase, convGrads, relError, seededTensor, valuesOn } from './helpers';

const root = fileURLToPath(new URL('../..', import.meta.url));

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('setupWasm', () => {
  it('rejects a bad thread count before loading anything', async () => {
    await expect(setupWasm({ threads: 0 })).rejects.toThrow(
      /setupWasm: expected `threads` to be a positive integer/,
    );
    await expect(setupWasm({ threads: 9 })).rejects.toThrow(
      /`threads` to be an integer in \[1, 8\], but got 9/,
    );
    await expect(setupWasm({ threads: 2, xnnpackThreads: 3 })).rejects.toThrow(
      /`xnnpackThreads` to be an integer in \[1, threads = 2\], but got 3/,
    );
    await expect(setupWasm({ threads: 2, xnnpackThreads: 0 })).rejects.toThrow(/xnnpackThreads/);
  });

  it('runs the threaded SIMD binary in Node with two XNNPACK threads and the training kernels', async () => {
    expect(WASM_SETUP_DEFAULTS).toMatchObject({ threads: 'auto', xnnpackThreads: 'auto' });
    // XNNPACK on both threads here ('auto' gives it one beside the native kernels' helper: the next
    // test and the exit test below).
    const result = await setupWasm({ threads: 2, xnnpackThreads: 2 });
    expect(tf.getBackend()).toBe('wasm');
    // fer-cbam's own kernels, on the threaded build's shared memory (the direct filter gradient below).
    expect(result).toMatchObject({
      threads: 2,
      xnnpackThreads: 2,
      binary: 'threaded-simd',
      nativeKernels: true,
      nativeHelpers: 1,
    });
    expect(result.trainingKernels).toContain('Conv2DBackpropFilter');
    // Large enough for XNNPACK to split the work across both threads.
    const run = () => {
      const x = seededTensor([4, 16, 16, 8], 1) as tf.Tensor4D;
      const w = seededTensor([3, 3, 8, 32], 2) as tf.Tensor4D;
      return [
        tf.matMul(seededTensor([96, 80], 3), seededTensor([80, 72], 4)),
        ...tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')),
        )([x, w]),
      ];
    };
    const wasm = await valuesOn('wasm', run);
    const cpu = await valuesOn('cpu', run);
    for (let i = 0; i < cpu.length; i++) expect(relError(wasm[i]!, cpu[i]!)).toBeLessThan(1e-5);
  });

  it('splits the native kernels with a helper thread, equal to the cpu backend', async () => {
    const result = await setupWasm({ threads: 2 });
    expect(result.nativeHelpers).toBe(1);
    expect(nativeHelperCount(tf.engine().findBackend('wasm'))).toBe(1);
    // Each above the size the kernels split at: the output rows of the forward and input-gradient
    // convolutions (Winograd's tile rows for the 3x3 stride-1 ones), the filter gradient by input-channel pairs (16, and 7: a part with an odd edge) and
    // by taps (1 and 3 input channels), stride 2, and the element-wise kernels by their outer axis.
    const cases: ConvCase[] = [
      [[8, 24, 24, 16], [3, 3, 16, 32], 1, 'same'],
      [[8, 23, 21, 12], [3, 3, 12, 20], 1, 'same'], // Winograd's tile rows, odd edges
      [[16, 44, 44, 2], [7, 7, 2, 1], 1, 'same'], // CBAM's gate: the channel-planar kernel's rows
      [[4, 23, 23, 7], [3, 3, 7, 20], 2, 'same'],
      [[16, 44, 44, 1], [3, 3, 1, 16], 1, 'same'],
      [[12, 30, 30, 3], [5, 5, 3, 8], 1, 'valid'],
    ];
    for (const c of cases) {
      const wasm = await valuesOn('wasm', convGrads(c));
      const cpu = await valuesOn('cpu', convGrads(c));
      for (let i = 0; i < cpu.length; i++)
        expect(relError(wasm[i]!, cpu[i]!), `${c} #${i}`).toBeLessThan(1e-5);
    }
    const elementwise = () => {
      const x = seededTensor([8, 24, 24, 32], 4);
      const gate = seededTensor([8, 1, 1, 32], 5);
      return [tf.mul(x, gate), tf.sub(x, gate), tf.max(x, 3), tf.max(x, [1, 2])];
    };
    const wasm = await valuesOn('wasm', elementwise);
    const cpu = await valuesOn('cpu', elementwise);
    for (let i = 0; i < cpu.length; i++) expect(relError(wasm[i]!, cpu[i]!), `element-wise #${i}`).toBe(0);
    // BatchNorm's moments and gradient by ranges of positions (block-aligned, last one partial), with
    // the per-part sums added up in JavaScript; 53 channels: the kernels' scalar channel tail.
    for (const shape of [
      [8, 44, 44, 16],
      [2100, 53],
    ]) {
      const c = shape[shape.length - 1]!;
      const bn = () => {
        const x = tf.add(tf.mul(seededTensor(shape, 7), 3), 2);
        const dy = seededTensor(shape, 8);
        const { mean, variance } = channelMoments(x);
        const g = batchNormGradients(x, dy, mean, variance, seededTensor([c], 9), 1e-3);
        return [mean, variance, g.dx, g.dgamma, g.dbeta];
      };
      const w = await valuesOn('wasm', bn);
      const cp = await valuesOn('cpu', bn);
      for (const [i, name] of ['mean', 'variance', 'dx', 'dgamma', 'dbeta'].entries()) {
        expect(relError(w[i]!, cp[i]!), `${shape} ${name}`).toBeLessThan(1e-5);
      }
    }
  });

  it('keeps the initialised backend when called again', async () => {
    const again = await setupWasm({ threads: 2 });
    expect(again.threads).toBe(2);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('lets a Node process exit on its own after using two threads', () => {
    const code = [
      "import * as tf from '@tensorflow/tfjs-core';",
      "const { setupWasm } = await import('./src/backends/wasm.ts');",
      'const r = await setupWasm({ threads: 2 });',
      'const v = (await tf.sum(tf.matMul(tf.ones([64, 64]), tf.ones([64, 64]))).data())[0];',
      'console.log(JSON.stringify({ threads: r.threads, xnnpack: r.xnnpackThreads, helpers: r.nativeHelpers, v }));',
    ].join('\n');
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: root,
      timeout: 60_000,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    // 'auto': XNNPACK on one thread, the other for the native kernels' helper.
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({
      threads: 2,
      xnnpack: 1,
      helpers: 1,
      v: 64 * 64 * 64,
    });
  });
  // Emscripten's glue re-throws uncaught errors from its own listener, so Node printed the glue's
  // minified 30 kB source line instead of the user's error; setupWasm removes those listeners.
  for (const [threads, failure, how] of [
    [1, "throw new Error('boom-from-user-code')", 'an uncaught error'],
    [2, "throw new Error('boom-from-user-code')", 'an uncaught error'],
    [1, "Promise.reject(new Error('boom-from-user-code'))", 'an unhandled rejection'],
  ] as const) {
    it(`leaves Node's own report of ${how} after setting up ${threads} thread(s)`, () => {
      const code = [
        "const { setupWasm } = await import('./src/backends/wasm.ts');",
        `await setupWasm({ threads: ${threads} });`,
        failure,
      ].join('\n');
      const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
        cwd: root,
        timeout: 60_000,
        encoding: 'utf8',
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('Error: boom-from-user-code');
      expect(run.stderr).not.toContain('WasmBackendModule');
      expect(run.stderr.length).toBeLessThan(4000);
    });
  }
});
