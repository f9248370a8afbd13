/**
 * Lazy access to Node's `fs` and `path`. Modules that write files import these helpers instead of
 * `node:fs`, so that importing `fer-cbam` in a browser never pulls in a Node built-in: the dynamic
 * imports only run when a file is actually read or written.
 * @module
 * @internal
 */

/** `node:fs/promises`. @internal */
export type NodeFs = typeof import('node:fs/promises');
/** `node:path`. @internal */
export type NodePath = typeof import('node:path');

/**
 * `import(specifier)` hidden from bundlers: with a literal, browser builds (esbuild, webpack, Vite)
 * would try to resolve Node built-ins or native packages such as `sharp`; a variable specifier is
 * left alone and only evaluated when the code runs (in Node).
 * @internal
 */
export function importAtRuntime<T>(specifier: string): Promise<T> {
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<T>;
}

let fsModule: Promise<NodeFs> | undefined;
let pathModule: Promise<NodePath> | undefined;

/** True when running under Node.js (or a Node-compatible runtime such as Bun or Deno's Node mode). @internal */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

function requireNode(what: string): void {
  if (!isNode()) {
    throw new Error(`${what}: file-system access needs Node.js; in a browser use another IOHandler.`);
  }
}

/** `node:fs/promises`, imported on first use. @internal */
export function nodeFs(what = 'fer-cbam'): Promise<NodeFs> {
  requireNode(what);
  fsModule ??= importAtRuntime<NodeFs>('node:fs/promises');
  return fsModule;
}

/** `node:path`, imported on first use. @internal */
export function nodePath(what = 'fer-cbam'): Promise<NodePath> {
  requireNode(what);
  pathModule ??= importAtRuntime<NodePath>('node:path');
  return pathModule;
}

/** The message of an unknown thrown value. @internal */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
