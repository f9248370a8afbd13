/**
 * The `tensorflow` backend of `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` (native TensorFlow),
 * used only when the user installed one of them: fer-cbam never depends on them.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

const WHERE = "useBackend('tensorflow')";

/** The packages tried, in order. @category Backends */
export const TENSORFLOW_PACKAGES: readonly string[] = Object.freeze([
  '@tensorflow/tfjs-node-gpu',
  '@tensorflow/tfjs-node',
]);

/**
 * Imports `@tensorflow/tfjs-node-gpu` (CUDA) or else `@tensorflow/tfjs-node` (CPU), which register the
 * native `tensorflow` backend, and makes it active.
 * @returns The package that was loaded.
 * @example
 * ```ts
 * // after: npm install @tensorflow/tfjs-node
 * const pkg = await setupTensorflow(); // '@tensorflow/tfjs-node'
 * ```
 * @throws Error naming both packages and how to install one, when neither is installed (or loads).
 * @category Backends
 */
export async function setupTensorflow(): Promise<string> {
  const failures: string[] = [];
  for (const name of TENSORFLOW_PACKAGES) {
    try {
      // A variable specifier keeps bundlers and TypeScript from resolving an optional package.
      await import(/* @vite-ignore */ name);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const missing = /Cannot find (package|module)|ERR_MODULE_NOT_FOUND|MODULE_NOT_FOUND/.test(
        `${message} ${(err as { code?: string }).code ?? ''}`,
      );
      failures.push(missing ? `${name}: not installed` : `${name}: ${message.split('\n')[0]}`);
      continue;
    }
    if (!(await tf.setBackend('tensorflow'))) {
      throw new Error(`${WHERE}: ${name} loaded but the 'tensorflow' backend failed to initialise.`);
    }
    return name;
  }
  throw new Error(
    `${WHERE}: needs native TensorFlow through @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu ` +
      '(CUDA), which fer-cbam does not install. Run `npm install @tensorflow/tfjs-node` (or ' +
      '`@tensorflow/tfjs-node-gpu`) with the same version as @tensorflow/tfjs-core; its install step ' +
      `downloads libtensorflow for Linux, macOS or Windows x64. Tried: ${failures.join('; ')}.`,
  );
}
