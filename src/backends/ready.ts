/**
 * Waiting for the tfjs backend before fer-cbam loads a model. Importing a backend package only
 * registers it; backends such as wasm initialise asynchronously, and a model loaded before
 * `tf.ready()` fails with "The highest priority backend 'wasm' has not yet been initialized", an
 * error the loader would report as a problem of the model file. With no backend imported at all tfjs
 * says "No backend found in registry". Both are the caller's missing step, so they are named as such.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/** The step a program without a usable backend is missing, as the messages name it. @internal */
export const BACKEND_FIX =
  "import '@tensorflow/tfjs' or a backend package (such as '@tensorflow/tfjs-backend-wasm' or '@tensorflow/tfjs-backend-cpu') first, or call useBackend() from fer-cbam";

/**
 * Waits for tfjs's backend to be initialised (`tf.ready()`), so a model can be loaded right after
 * `import '@tensorflow/tfjs-backend-wasm'`.
 * @param where The function that loads, for the message.
 * @returns The backend's name.
 * @example
 * ```ts
 * await backendReady('loadPretrained');
 * ```
 * @throws Error naming the missing step when no backend is registered, or the backend and its
 *   error when it fails to initialise.
 * @internal
 */
export async function backendReady(where: string): Promise<string> {
  const registered = Object.keys(tf.engine().registryFactory);
  if (registered.length === 0) {
    throw new Error(`${where}: no tfjs backend is registered: ${BACKEND_FIX}.`);
  }
  try {
    await tf.ready();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `${where}: no tfjs backend could be initialised (registered: ${registered.join(', ')}; ${message}): ${BACKEND_FIX}.`,
      { cause: error },
    );
  }
  return tf.getBackend();
}
