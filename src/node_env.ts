/**
 * Node.js detection and the one way fer-cbam reaches Node-only modules (built-ins such as `node:fs`,
 * native packages such as `sharp`): lazily, inside the function that needs them, through
 * {@link importAtRuntime}. Importing `fer-cbam` in a browser therefore never loads a Node built-in.
 *
 * It lives at the top level of `src/` because every room needs it: `io` (file handler, atomic
 * writes, locks), `data` (the file loaders), `train` (checkpoints), `faces`, `pretrained` and
 * `backends` (module resolution). Browser-safe itself: it has no static imports.
 * @module
 * @internal
 */

/** `node:fs/promises`. @internal */
export type NodeFs = typeof import('node:fs/promises');
/** `node:path`. @internal */
export type NodePath = typeof import('node:path');

/**
 * True when running under Node.js (or a Node-compatible runtime such as Bun or Deno's Node mode),
 * false in browsers and web workers.
 * @example
 * ```ts
 * if (isNode()) await setupWasm({ threads: 2 });
 * ```
 * @internal
 */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/**
 * `import(specifier)` hidden from bundlers: with a literal, browser builds (esbuild, webpack, Vite)
 * would try to resolve Node built-ins or native packages such as `sharp`; a variable specifier is
 * left alone and only evaluated when the code runs (in Node).
 * @param specifier A module name, e.g. `'node:fs'` or `'sharp'`.
 * @example
 * ```ts
 * const os = await importAtRuntime<typeof import('node:os')>('node:os');
 * ```
 * @internal
 */
export function importAtRuntime<T>(specifier: string): Promise<T> {
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<T>;
}

let fsModule: Promise<NodeFs> | undefined;
let pathModule: Promise<NodePath> | undefined;

function requireNode(what: string): void {
  if (!isNode()) {
    throw new Error(`${what}: file-system access needs Node.js; in a browser use another IOHandler.`);
  }
}

/**
 * `node:fs/promises`, imported on first use.
 * @param what The caller, named in the error off Node. Defaults to `'fer-cbam'`.
 * @example
 * ```ts
 * const fs = await nodeFs('saveCheckpoint');
 * ```
 * @throws Error naming `what` when not running under Node.js.
 * @internal
 */
export function nodeFs(what = 'fer-cbam'): Promise<NodeFs> {
  requireNode(what);
  fsModule ??= importAtRuntime<NodeFs>('node:fs/promises');
  return fsModule;
}

/**
 * `node:path`, imported on first use.
 * @param what The caller, named in the error off Node. Defaults to `'fer-cbam'`.
 * @example
 * ```ts
 * const p = await nodePath('saveCheckpoint');
 * ```
 * @throws Error naming `what` when not running under Node.js.
 * @internal
 */
export function nodePath(what = 'fer-cbam'): Promise<NodePath> {
  requireNode(what);
  pathModule ??= importAtRuntime<NodePath>('node:path');
  return pathModule;
}

/**
 * A CommonJS `require` that resolves from this package, in both the ESM and the CJS build (optional
 * packages such as `@tensorflow/tfjs-node` are found next to fer-cbam, not next to the caller).
 * @example
 * ```ts
 * const root = (await nodeRequire()).resolve('@tensorflow/tfjs-backend-wasm/package.json');
 * ```
 * @internal
 */
export async function nodeRequire(): Promise<NodeJS.Require> {
  const { createRequire } = await importAtRuntime<typeof import('node:module')>('node:module');
  // In the CJS build import.meta is empty and __filename is defined; in ESM the reverse.
  const base = typeof __filename === 'string' ? __filename : import.meta.url;
  return createRequire(base);
}
