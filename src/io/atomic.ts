import { messageOf } from '../errors';
import { nodeFs, nodePath } from '../node_env';

/** Data {@link writeFileAtomic} can write: text (written as UTF-8) or bytes. @category IO */
export type AtomicWriteData = string | Uint8Array | ArrayBuffer;

/** Options of {@link writeFileAtomic}. @category IO */
export interface WriteFileAtomicOptions {
  /**
   * Flush the data (and the directory entry) to stable storage before returning, so that the new
   * file survives a power cut, not only a crashed process. Defaults to `true`.
   */
  fsync?: boolean;
}

/**
 * Hooks for tests that simulate a crash. `beforeRename` runs after the temporary file is complete and
 * flushed and before it replaces the target; throwing there (or killing the process) leaves the
 * previous file untouched. Not part of the public API.
 * @internal
 */
export const atomicWriteHooks: { beforeRename?: (target: string, temp: string) => void | Promise<void> } = {};

let counter = 0;

/** The temporary name used for `target`: hidden, in the same directory, never equal to the target. @internal */
export function temporaryName(base: string): string {
  const pid = (globalThis as { process?: { pid?: number } }).process?.pid ?? 0;
  counter = (counter + 1) % 1_000_000;
  const random = Math.floor(Math.random() * 0xffffffff).toString(36);
  return `.${base}.${pid}.${counter}.${random}.tmp`;
}

/** Whether `name` is a temporary file left by an interrupted {@link writeFileAtomic}. @internal */
export function isTemporaryName(name: string): boolean {
  return /^\..+\.\d+\.\d+\.[0-9a-z]+\.tmp$/.test(name);
}

function toBytes(data: AtomicWriteData): Uint8Array | string {
  if (typeof data === 'string' || data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError(
    `writeFileAtomic: expected \`data\` to be a string, Uint8Array or ArrayBuffer, but got ${typeof data}.`,
  );
}

/**
 * Writes a file so that readers see either the old content or the complete new content, never a
 * partial file: the data goes to a hidden temporary file in the same directory
 * (`.<name>.<pid>.<n>.<random>.tmp`), which is flushed (`fsync`) and then renamed over the target;
 * finally the directory itself is flushed. If anything fails, the temporary file is removed and the
 * previous file is left as it was. A process killed mid-write can leave a hidden `.tmp` file behind,
 * but never a truncated file under the target's name. The parent directory must exist.
 *
 * @param path The file to create or replace.
 * @param data Text (written as UTF-8) or bytes.
 * @param options See {@link WriteFileAtomicOptions}.
 * @throws Error quoting `path` if the file cannot be written (missing directory, permissions, disk full).
 * @example
 * ```ts
 * await writeFileAtomic('run/state.json', JSON.stringify({ epoch: 3 }));
 * ```
 * @category IO
 */
export async function writeFileAtomic(
  path: string,
  data: AtomicWriteData,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError(
      `writeFileAtomic: expected \`path\` to be a non-empty string, but got ${JSON.stringify(path)}.`,
    );
  }
  const fs = await nodeFs('writeFileAtomic');
  const p = await nodePath('writeFileAtomic');
  const bytes = toBytes(data);
  const fsync = options.fsync ?? true;
  const dir = p.dirname(path);
  const temp = p.join(dir, temporaryName(p.basename(path)));
  let renamed = false;
  try {
    const handle = await fs.open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
      if (fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await atomicWriteHooks.beforeRename?.(path, temp);
    await fs.rename(temp, path);
    renamed = true;
  } catch (error) {
    if (!renamed) await fs.rm(temp, { force: true }).catch(() => undefined);
    throw new Error(`writeFileAtomic: cannot write "${path}": ${messageOf(error)}`, { cause: error });
  }
  if (fsync) await syncDirectory(dir);
}

/** Flushes a directory entry (best effort: not every platform allows opening a directory). */
async function syncDirectory(dir: string): Promise<void> {
  const fs = await nodeFs('writeFileAtomic');
  let handle: Awaited<ReturnType<typeof fs.open>> | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows and some file systems refuse fsync on directories; the rename itself is still atomic.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function processIsAlive(pid: number): boolean {
  try {
    (globalThis as unknown as { process: { kill(pid: number, signal: number): void } }).process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/**
 * Removes temporary files left in `dir` by {@link writeFileAtomic} calls of processes that no longer
 * run (killed mid-write). Files of live processes are left alone. Returns the names removed.
 * @internal
 */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const fs = await nodeFs('removeStaleTemporaries');
  const p = await nodePath('removeStaleTemporaries');
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of entries) {
    if (!isTemporaryName(name)) continue;
    const pid = Number(/\.(\d+)\.\d+\.[0-9a-z]+\.tmp$/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || processIsAlive(pid)) continue;
    await fs.rm(p.join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}
