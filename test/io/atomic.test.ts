import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { atomicWriteHooks, isTemporaryName, removeStaleTemporaries } from '../../src/io/atomic';
import { fileSystem, writeFileAtomic } from '../../src/io/index';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fer-cbam-atomic-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
afterEach(() => {
  atomicWriteHooks.beforeRename = undefined;
});

describe('writeFileAtomic', () => {
  it('writes text, bytes and ArrayBuffers, replacing the previous content', async () => {
    const file = join(root, 'a.txt');
    await writeFileAtomic(file, 'first');
    expect(await readFile(file, 'utf8')).toBe('first');
    await writeFileAtomic(file, new Uint8Array([104, 105]));
    expect(await readFile(file, 'utf8')).toBe('hi');
    await writeFileAtomic(file, new Uint8Array([111, 107]).buffer);
    expect(await readFile(file, 'utf8')).toBe('ok');
    expect(await readdir(root)).toEqual(['a.txt']);
  });

  it('a crash between the temporary write and the rename leaves the previous file intact', async () => {
    const dir = await mkdtemp(join(root, 'crash-'));
    const file = join(dir, 'state.json');
    await writeFileAtomic(file, '{"epoch":1}');
    let seenTemp = '';
    atomicWriteHooks.beforeRename = async (_target, temp) => {
      seenTemp = temp;
      // The new content is complete on disk under the temporary name, never under the target's.
      expect(await readFile(temp, 'utf8')).toBe('{"epoch":2}');
      expect(await readFile(file, 'utf8')).toBe('{"epoch":1}');
      throw new Error('simulated crash');
    };
    await expect(writeFileAtomic(file, '{"epoch":2}')).rejects.toThrow(
      /cannot write ".*state.json": simulated crash/,
    );
    expect(isTemporaryName(seenTemp.slice(dir.length + 1))).toBe(true);
    expect(await readFile(file, 'utf8')).toBe('{"epoch":1}');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('a process killed before the rename leaves the previous file and only a hidden .tmp file', async () => {
    const dir = await mkdtemp(join(root, 'kill-'));
    const file = join(dir, 'big.bin');
    await writeFile(file, 'old');
    const child = join(dir, 'child.mts');
    const atomicPath = join(import.meta.dirname, '../../src/io/atomic.ts');
    await writeFile(
      child,
      `import { atomicWriteHooks, writeFileAtomic } from ${JSON.stringify(atomicPath)};
atomicWriteHooks.beforeRename = () => process.kill(process.pid, 'SIGKILL');
await writeFileAtomic(${JSON.stringify(file)}, new Uint8Array(8 << 20).fill(7));`,
    );
    const code = await new Promise<NodeJS.Signals | number | null>((resolve) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', child], { stdio: 'ignore' });
      proc.on('exit', (c, signal) => resolve(signal ?? c));
    });
    expect(code).toBe('SIGKILL');
    expect(await readFile(file, 'utf8')).toBe('old');
    const names = (await readdir(dir)).filter((n) => n !== 'child.mts' && n !== 'big.bin');
    expect(names).toHaveLength(1);
    expect(isTemporaryName(names[0])).toBe(true);
    // The dead writer's temporary file is recognised and removed; a live process's would be kept.
    const liveName = `.x.${process.pid}.1.abc.tmp`;
    const live = join(dir, liveName);
    await writeFile(live, '');
    expect(await removeStaleTemporaries(dir)).toEqual(names);
    expect((await readdir(dir)).sort()).toEqual([liveName, 'big.bin', 'child.mts'].sort());
  });

  it('quotes the path when the directory does not exist', async () => {
    const file = join(root, 'missing-dir', 'x.json');
    await expect(writeFileAtomic(file, 'x')).rejects.toThrow(`cannot write "${file}"`);
    await expect(writeFileAtomic('', 'x')).rejects.toThrow(/expected `path` to be a non-empty string/);
  });

  it('a model save interrupted before model.json is replaced leaves the previous model loadable', async () => {
    const dir = join(root, 'model');
    const input = tfl.input({ shape: [4] });
    const out = tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    await model.save(fileSystem(dir));
    const before = await readFile(join(dir, 'model.json'), 'utf8');
    model.setWeights(model.getWeights().map((w) => tf.onesLike(w)));
    atomicWriteHooks.beforeRename = (target) => {
      if (target.endsWith('model.json')) throw new Error('simulated crash');
    };
    await expect(model.save(fileSystem(dir))).rejects.toThrow(/simulated crash/);
    atomicWriteHooks.beforeRename = undefined;
    expect(await readFile(join(dir, 'model.json'), 'utf8')).toBe(before);
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await tfl.loadLayersModel(fileSystem(dir));
    expect(loaded.getWeights()[0].shape).toEqual([4, 2]);
  });
});
