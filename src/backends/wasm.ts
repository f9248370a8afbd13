/**
 * Setting up `@tensorflow/tfjs-backend-wasm` (an optional peer dependency) for training: binary paths
 * in Node, multi-threaded SIMD in Node (tfjs disables it there), and the missing training kernels.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkPositiveInteger, expected } from '../errors';
import { importAtRuntime, isNode, nodeRequire } from '../node_env';
import {
  nativeKernelsEnabled,
  registerWasmTrainingKernels,
  type WasmTrainingKernelOptions,
} from './wasm_kernels';
import { nativeKernels, nativeKernelsLoadable, startNativeHelpers } from './wasm_native';

const WHERE = 'setupWasm';

/** Options of {@link setupWasm}. @category Backends */
export interface WasmSetupOptions {
  /**
   * Threads for XNNPACK, or `'auto'` for the number of CPU cores (at most 8, the pool tfjs's threaded
   * binary pre-allocates). In Node, more than one thread loads tfjs's threaded SIMD binary through
   * `worker_threads` (tfjs itself never enables threads in Node). In browsers tfjs decides (threads need
   * cross-origin isolation) and this only sets the count. Defaults to `'auto'`.
   */
  threads?: number | 'auto';
  /**
   * Of those threads, how many XNNPACK's pool uses (1 to `threads`). `'auto'`: 1 where fer-cbam's native
   * kernels load and the other `threads - 1` run them as helper threads (their convolutions,
   * gradients, BatchNorm and element-wise kernels are most of a step), else `threads`. Why not both:
   * after each operator XNNPACK's pool threads spin for a while waiting for the next one, on the
   * cores the helpers need; with its pool on one thread the same step ran up to 1.4x faster with
   * two threads and used less CPU (docs/backends.md). Defaults to `'auto'`.
   */
  xnnpackThreads?: number | 'auto';
  /**
   * Where the `.wasm` binaries are: a directory prefix (ending in `/`) or a map from binary name to
   * path or URL, as `setWasmPaths` takes. Defaults to the package's `dist/` directory in Node and to
   * tfjs's own default in browsers.
   */
  wasmPaths?: string | Record<string, string>;
  /**
   * Register the training kernels ({@link registerWasmTrainingKernels}); an object passes options.
   * Defaults to `true`.
   */
  trainingKernels?: boolean | WasmTrainingKernelOptions;
}

/** Defaults of {@link WasmSetupOptions}. @category Backends */
export const WASM_SETUP_DEFAULTS: Readonly<{
  threads: 'auto';
  xnnpackThreads: 'auto';
  trainingKernels: true;
}> = Object.freeze({
  threads: 'auto',
  xnnpackThreads: 'auto',
  trainingKernels: true,
});

/** What {@link setupWasm} configured. @category Backends */
export interface WasmSetupResult {
  /** Threads at work: XNNPACK's, or the calling thread and the native kernels' helpers, whichever is more. */
  threads: number;
  /** Threads XNNPACK actually uses (reported by the backend after initialisation). */
  xnnpackThreads: number;
  /** Which binary was loaded: `'threaded-simd'`, or `'tfjs-default'` (tfjs's own choice). */
  binary: 'threaded-simd' | 'tfjs-default';
  /** Kernels registered for training, empty when `trainingKernels` was false. */
  trainingKernels: string[];
  /**
   * Whether fer-cbam's own SIMD kernels (the direct filter gradient) run on this backend's memory;
   * false where the engine cannot instantiate them, and the XNNPACK compositions are used instead.
   */
  nativeKernels: boolean;
  /**
   * Helper threads fer-cbam's native kernels split their work with (`threads - 1` on tfjs's threaded
   * build, each a worker on the backend's shared memory); 0 on one thread, on the plain build and
   * when the native kernels are off.
   */
  nativeHelpers: number;
}

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

/** Imports `@tensorflow/tfjs-backend-wasm`, or throws an error that says how to install it. */
async function importWasmBackend(): Promise<WasmModule> {
  try {
    return await import('@tensorflow/tfjs-backend-wasm');
  } catch (err) {
    throw new Error(
      `${WHERE}: the WebAssembly backend needs the optional peer dependency @tensorflow/tfjs-backend-wasm ` +
        `(same version as @tensorflow/tfjs-core): npm install @tensorflow/tfjs-backend-wasm. (${String(err)})`,
    );
  }
}

async function resolveThreads(threads: number | 'auto'): Promise<number> {
  if (threads === 'auto') {
    let cores = 1;
    if (isNode()) {
      cores = await cpuCount();
    } else if (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) {
      cores = navigator.hardwareConcurrency;
    }
    return Math.max(1, Math.min(8, cores));
  }
  checkPositiveInteger(threads, 'threads', WHERE);
  if (threads > 8) throw new RangeError(expected(WHERE, 'threads', 'an integer in [1, 8]', threads));
  return threads;
}

/** Number of CPU cores in Node (`os.availableParallelism`, Node >= 18.14, else `os.cpus().length`). */
async function cpuCount(): Promise<number> {
  const os = await importAtRuntime<typeof import('node:os')>('node:os');
  return (os as { availableParallelism?: () => number }).availableParallelism?.() ?? os.cpus().length;
}

/** Paths of the package's files in Node. */
async function wasmPackageFiles(): Promise<{ dist: string; glue: string; worker: string; binary: string }> {
  const require = await nodeRequire();
  const path = await importAtRuntime<typeof import('node:path')>('node:path');
  const root = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  return {
    dist: path.join(root, 'dist') + path.sep,
    glue: path.join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js'),
    worker: path.join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js'),
    binary: path.join(root, 'dist', 'tfjs-backend-wasm-threaded-simd.wasm'),
  };
}

/**
 * Writes the pthread worker script tfjs embeds as a string to a file Node's `Worker` can load
 * (Emscripten would otherwise hand Node a `blob:` URL, which `worker_threads` cannot start).
 */
async function writeWorkerScript(contents: string, version: string): Promise<string> {
  const fs = await importAtRuntime<typeof import('node:fs')>('node:fs');
  const os = await importAtRuntime<typeof import('node:os')>('node:os');
  const path = await importAtRuntime<typeof import('node:path')>('node:path');
  const file = path.join(os.tmpdir(), `fer-cbam-tfjs-wasm-${version}-threaded-simd.worker.cjs`);
  // tfjs escapes newlines the same way before making its Blob.
  const text = contents.replace(/\n/g, '\\n');
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  }
  return file;
}

/**
 * Registers a `wasm` backend factory that loads tfjs's threaded SIMD binary in Node through
 * `worker_threads`, with `threads` XNNPACK threads. tfjs 4.x caps the pool at
 * `navigator.hardwareConcurrency / 2` (Node: cores / 2, i.e. 1 on a 2-core machine), so the core count the
 * binary asks for is answered with `2 * threads`. Workers are unreferenced so that they never keep the
 * process alive.
 */
async function registerThreadedNodeBackend(wasm: WasmModule, threads: number): Promise<void> {
  const require = await nodeRequire();
  const fs = await importAtRuntime<typeof import('node:fs')>('node:fs');
  const files = await wasmPackageFiles();
  const factory = require(files.glue) as (config: Record<string, unknown>) => Promise<any>;
  const { wasmWorkerContents } = require(files.worker) as { wasmWorkerContents: string };
  const workerFile = await writeWorkerScript(wasmWorkerContents, wasm.version_wasm);
  const init = async (): Promise<any> => {
    // The glue starts its pthread workers with worker_threads.Worker, which inherits process.execArgv;
    // flags such as --input-type or TypeScript loaders make no sense for the plain CommonJS worker script
    // (and --input-type makes the workers fail), so the workers get an empty execArgv.
    const workerThreads = require('node:worker_threads') as { Worker: new (...a: any[]) => any };
    const BaseWorker = workerThreads.Worker;
    class PlainWorker extends BaseWorker {
      constructor(file: string | URL, opts: Record<string, unknown> = {}) {
        super(file, { ...opts, execArgv: [] });
      }
    }
    workerThreads.Worker = PlainWorker;
    let module: any;
    try {
      module = await factory({
        locateFile: (file: string, prefix: string) =>
          file.endsWith('.worker.js') ? workerFile : file.endsWith('.wasm') ? files.binary : prefix + file,
        // The workers evaluate the glue script from this path (Emscripten's importScripts in Node).
        mainScriptUrlOrBlob: files.glue,
        instantiateWasm: (
          info: { env: Record<string, unknown> },
          receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
        ) => {
          info.env.emscripten_num_logical_cores = () => 2 * threads;
          WebAssembly.instantiate(fs.readFileSync(files.binary), info as WebAssembly.Imports).then(
            (r) => receive(r.instance, r.module),
            (e) => {
              throw e;
            },
          );
          return {};
        },
      });
    } finally {
      workerThreads.Worker = BaseWorker;
    }
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    return module;
  };
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      const module = await init();
      const backend = new wasm.BackendWasm(module);
      // pthreadpool's threads run for the life of the module; don't let them hold the process open.
      for (const w of module.PThread?.runningWorkers ?? []) w.unref?.();
      for (const w of module.PThread?.unusedWorkers ?? []) w.unref?.();
      return backend;
    },
    2,
  );
}

const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/**
 * Runs `init` and removes the `uncaughtException` / `unhandledRejection` listeners it added to
 * `process`. Emscripten's Node glue installs listeners that re-throw from inside the glue, so every
 * later uncaught error in the user's program was printed with the glue's 30 kB minified source line
 * (and an unhandled rejection became such an exception); tfjs's own clean-up of them does not work in
 * 4.x. Without them Node reports errors as usual. Outside Node this only runs `init`.
 */
async function withoutRethrowingHandlers<T>(init: () => Promise<T>): Promise<T> {
  if (!isNode() || typeof process.listeners !== 'function') return init();
  type Listener = (...args: unknown[]) => void;
  const listeners = (event: (typeof PROCESS_EVENTS)[number]) =>
    (process.listeners as (e: string) => Listener[])(event);
  const before = new Map(PROCESS_EVENTS.map((event) => [event, new Set(listeners(event))]));
  try {
    return await init();
  } finally {
    for (const event of PROCESS_EVENTS) {
      for (const listener of listeners(event)) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
      }
    }
  }
}

/**
 * Prepares the WebAssembly backend: imports `@tensorflow/tfjs-backend-wasm`, points it at its binaries,
 * enables multi-threaded SIMD in Node, registers the training kernels and makes `'wasm'` the active
 * backend. Must run before anything else initialises the wasm backend.
 * @param options Threads, binary paths and kernel options; see {@link WasmSetupOptions}.
 * @returns What was configured.
 * @example
 * ```ts
 * const { threads } = await setupWasm({ threads: 2 });
 * console.log(tf.getBackend(), threads); // 'wasm' 2
 * ```
 * @throws Error if `@tensorflow/tfjs-backend-wasm` is not installed or fails to initialise.
 * @category Backends
 */
export async function setupWasm(options: WasmSetupOptions = {}): Promise<WasmSetupResult> {
  const threads = await resolveThreads(options.threads ?? WASM_SETUP_DEFAULTS.threads);
  const xnnpackOption = options.xnnpackThreads ?? WASM_SETUP_DEFAULTS.xnnpackThreads;
  checkXnnpackThreads(xnnpackOption, threads);
  const wasm = await importWasmBackend();
  // Registered before the backend initialises: whether the native kernels will run decides XNNPACK's
  // share of the threads.
  const kernelOptions = options.trainingKernels ?? WASM_SETUP_DEFAULTS.trainingKernels;
  const trainingKernels =
    kernelOptions === false ? [] : registerWasmTrainingKernels(kernelOptions === true ? {} : kernelOptions);
  const nativeRegistered = trainingKernels.length > 0 && nativeKernelsEnabled();
  const xnnpackThreads =
    xnnpackOption !== 'auto' ? xnnpackOption : nativeRegistered && nativeKernelsLoadable() ? 1 : threads;
  const alreadyInitialised = tf.engine().registry.wasm != null;
  let binary: WasmSetupResult['binary'] = 'tfjs-default';
  if (!alreadyInitialised) {
    if (options.wasmPaths != null) {
      wasm.setWasmPaths(options.wasmPaths as string);
    } else if (isNode()) {
      wasm.setWasmPaths((await wasmPackageFiles()).dist);
    }
    wasm.setThreadsCount(xnnpackThreads);
    initialisedThreads = threads;
    const nodeThreads =
      isNode() &&
      threads > 1 &&
      typeof SharedArrayBuffer !== 'undefined' &&
      wasm.version_wasm.startsWith('4.');
    if (nodeThreads) {
      await registerThreadedNodeBackend(wasm, threads);
      binary = 'threaded-simd';
    }
  }
  const initialised = await withoutRethrowingHandlers(() => tf.setBackend('wasm'));
  if (!initialised) {
    throw new Error(`${WHERE}: the wasm backend failed to initialise (see the warning tfjs printed).`);
  }
  const pool = Math.max(1, wasm.getThreadsCount());
  // The threads the binary was set up for (a later call cannot change them), whatever XNNPACK's share.
  const count = Math.min(threads, initialisedThreads ?? pool);
  const backend = tf.backend();
  const native = nativeKernels(backend) !== null;
  // Helpers only where the registered kernels use the native module; asking for 0 stops any a
  // previous call started.
  const helpers = native && nativeRegistered ? count - 1 : 0;
  const workerThreads =
    helpers > 0 && isNode()
      ? ((await nodeRequire())('node:worker_threads') as Parameters<typeof startNativeHelpers>[2])
      : undefined;
  const nativeHelpers = await startNativeHelpers(backend, helpers, workerThreads);
  return {
    threads: Math.max(pool, 1 + nativeHelpers),
    xnnpackThreads: pool,
    binary,
    trainingKernels,
    nativeKernels: native,
    nativeHelpers,
  };
}

/** Threads {@link setupWasm} set the wasm binary up for (its first call that initialised the backend). */
let initialisedThreads: number | undefined;

function checkXnnpackThreads(value: number | 'auto', threads: number): void {
  if (value === 'auto') return;
  checkPositiveInteger(value, 'xnnpackThreads', WHERE);
  if (value > threads) {
    throw new RangeError(expected(WHERE, 'xnnpackThreads', `an integer in [1, threads = ${threads}]`, value));
  }
}
