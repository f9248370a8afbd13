import { messageOf } from '../errors';
import { importAtRuntime, nodeFs, nodePath } from '../node_env';

/** Name of the lock file a training run keeps in its directory. @category IO */
export const RUN_LOCK_FILE = '.fer-cbam.lock';

/** What a run lock file holds. @category IO */
export interface RunLockInfo {
  /** Process id of the holder. */
  pid: number;
  /** Host name of the holder (a lock from another machine is never taken over). */
  host: string;
  /** When the lock was taken (ISO 8601). */
  started: string;
}

/** A held run lock. @category IO */
export interface RunLock {
  /** The lock file. */
  readonly file: string;
  /** The lock a dead process had left, which this one took over (else `null`). */
  readonly tookOver: RunLockInfo | null;
  /** Removes the lock file (only if it is still ours). Safe to call twice. */
  release(): Promise<void>;
}

async function hostName(): Promise<string> {
  try {
    const os = await importAtRuntime<typeof import('node:os')>('node:os');
    return os.hostname();
  } catch {
    return '';
  }
}

/** Whether a process with this pid exists on this machine (EPERM: it exists, owned by someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of a run directory, so that two trainings never write into one directory: creates
 * `dir/.fer-cbam.lock` exclusively with this process's pid. A lock whose process is gone (a run
 * killed with `kill -9`, a power cut) is taken over, and {@link RunLock.tookOver} says whose it was.
 * Node only.
 * @param dir The run directory (created if missing).
 * @param where The function name used in error messages.
 * @throws Error naming the directory and the holder's pid if a live process holds the lock.
 * @example
 * ```ts
 * const lock = await acquireRunLock('runs/r18');
 * try { await work(); } finally { await lock.release(); }
 * ```
 * @category IO
 */
export async function acquireRunLock(dir: string, where = 'acquireRunLock'): Promise<RunLock> {
  const fs = await nodeFs(where);
  const p = await nodePath(where);
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (error) {
    throw new Error(`${where}: cannot create directory "${dir}": ${messageOf(error)}`, { cause: error });
  }
  const file = p.join(dir, RUN_LOCK_FILE);
  const host = await hostName();
  const mine: RunLockInfo = { pid: process.pid, host, started: new Date().toISOString() };
  const text = `${JSON.stringify(mine)}\n`;
  let tookOver: RunLockInfo | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(file, text, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new Error(`${where}: cannot create the lock file "${file}": ${messageOf(error)}`, {
          cause: error,
        });
      }
    }
    let holder: RunLockInfo | null = null;
    try {
      holder = JSON.parse(await fs.readFile(file, 'utf8')) as RunLockInfo;
    } catch {
      holder = null; // unreadable or half-written: treat as stale
    }
    if (holder !== null && typeof holder.pid === 'number' && (holder.host !== host || isAlive(holder.pid))) {
      const at = holder.host !== host ? ` on ${holder.host}` : '';
      throw new Error(
        `${where}: "${dir}" is in use by another training (pid ${holder.pid}${at}, since ${holder.started}); wait for it to finish, stop it, or use another directory (lock file "${file}").`,
      );
    }
    // Stale: the holder is gone. Remove the lock and try again (another process may race us to it).
    tookOver = holder ?? { pid: -1, host, started: 'unknown' };
    await fs.rm(file, { force: true });
    if (attempt === 2)
      throw new Error(`${where}: cannot take the lock file "${file}" (it keeps reappearing).`);
  }
  let released = false;
  return {
    file,
    tookOver,
    async release() {
      if (released) return;
      released = true;
      try {
        const now = JSON.parse(await fs.readFile(file, 'utf8')) as RunLockInfo;
        if (now.pid === mine.pid && now.started === mine.started) await fs.rm(file, { force: true });
      } catch {
        // already gone
      }
    },
  };
}
