import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireRunLock, RUN_LOCK_FILE } from '../../src/io/lock';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fer-cbam-lock-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('acquireRunLock', () => {
  it('writes the holder pid, refuses a second holder naming it, and releases', async () => {
    const dir = join(root, 'a');
    const lock = await acquireRunLock(dir, 'train');
    expect(lock.tookOver).toBeNull();
    const info = JSON.parse(readFileSync(join(dir, RUN_LOCK_FILE), 'utf8'));
    expect(info.pid).toBe(process.pid);
    await expect(acquireRunLock(dir, 'train')).rejects.toThrow(
      new RegExp(`^train: "${dir}" is in use by another training \\(pid ${process.pid}, since .*lock file`),
    );
    await lock.release();
    expect(existsSync(join(dir, RUN_LOCK_FILE))).toBe(false);
    const again = await acquireRunLock(dir, 'train');
    await again.release();
  });

  it('takes over the lock of a process that is gone (kill -9) and says whose it was', async () => {
    const dir = join(root, 'b');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const pid = Number(dead.stdout.toString());
    const lock0 = await acquireRunLock(dir);
    await lock0.release();
    writeFileSync(
      join(dir, RUN_LOCK_FILE),
      JSON.stringify({ pid, host: hostname(), started: '2020-01-01T00:00:00.000Z' }),
    );
    const lock = await acquireRunLock(dir);
    expect(lock.tookOver).toEqual({ pid, host: hostname(), started: '2020-01-01T00:00:00.000Z' });
    expect(JSON.parse(readFileSync(join(dir, RUN_LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    await lock.release();
  });
});
