/**
 * Node.js detection and module resolution shared by the backend helpers (internal).
 * @module
 */

/** True in Node.js (not in browsers or web workers). @internal */
export function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

/** A CommonJS `require` that resolves from this package, in both the ESM and the CJS build. @internal */
export async function nodeRequire(): Promise<NodeJS.Require> {
  const { createRequire } = await import('node:module');
  // In the CJS build import.meta is empty and __filename is defined; in ESM the reverse.
  const base = typeof __filename === 'string' ? __filename : import.meta.url;
  return createRequire(base);
}
