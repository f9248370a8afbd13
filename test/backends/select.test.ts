import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, detectBackends, USE_BACKEND_DEFAULTS, useBackend } from '../../src/backends/select';
import { TENSORFLOW_PACKAGES } from '../../src/backends/tensorflow';

const available = await detectBackends();
const find = (name: string) => available.find((b) => b.name === name)!;

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('detectBackends', () => {
  it('lists every backend once, in the order auto prefers them', () => {
    expect(available.map((b) => b.name)).toEqual(['tensorflow', 'webgpu', 'wasm', 'cpu']);
    expect(find('cpu').available).toBe(true);
    expect(find('wasm').available).toBe(true); // a devDependency here
    for (const b of available) expect(b.detail.length).toBeGreaterThan(0);
  });
});

describe('useBackend', () => {
  it('names every option', () => {
    expect(BACKEND_NAMES).toEqual(['auto', 'cpu', 'wasm', 'webgpu', 'tensorflow']);
    expect(USE_BACKEND_DEFAULTS).toEqual({ allowSoftwareGpu: false, allowTensorflow: true });
  });

  it('rejects an unknown name, listing the valid ones', async () => {
    await expect(useBackend('gpu' as never)).rejects.toThrow(
      'useBackend: expected `name` to be one of "auto", "cpu", "wasm", "webgpu", "tensorflow", but got "gpu".',
    );
  });

  it('switches to cpu', async () => {
    expect(await useBackend('cpu')).toBe('cpu');
  });

  it.skipIf(find('tensorflow').available)(
    'explains how to install tfjs-node when it is missing',
    async () => {
      const error = await useBackend('tensorflow').catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      const message = (error as Error).message;
      expect(message).toMatch(/npm install @tensorflow\/tfjs-node/);
      for (const pkg of TENSORFLOW_PACKAGES) expect(message).toContain(`${pkg}: not installed`);
      expect(tf.getBackend()).toBe('cpu');
    },
  );

  it('auto picks hardware WebGPU, else wasm, and logs what it skipped', async () => {
    const lines: string[] = [];
    const name = await useBackend('auto', { log: (l) => lines.push(l), wasm: { threads: 1 } });
    const gpu = find('webgpu');
    const expected = find('tensorflow').available
      ? 'tensorflow'
      : gpu.available && !gpu.adapter?.software
        ? 'webgpu'
        : 'wasm';
    expect(name).toBe(expected);
    expect(tf.getBackend()).toBe(expected);
    expect(lines.at(-1)).toBe(`backend: using ${expected}`);
    // Without a GPU device node auto does not even load Dawn; with one, lavapipe is refused as software.
    if (gpu.adapter?.software) {
      expect(lines.join('\n')).toMatch(/webgpu unavailable \((software adapter|no GPU device node)/);
    }
  });
});
