/**
 * Choosing and initialising a tfjs backend by name, with `'auto'` picking the fastest one available.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkOneOf } from '../errors';
import { importAtRuntime, isNode, nodeRequire } from '../node_env';
import { setupTensorflow, TENSORFLOW_PACKAGES } from './tensorflow';
import { setupWasm, type WasmSetupOptions } from './wasm';
import { probeWebGPU, setupWebGPU, type WebGPUAdapterSummary, type WebGPUSetupOptions } from './webgpu';

const WHERE = 'useBackend';

/** Backend names {@link useBackend} accepts. @category Backends */
export type BackendName = 'auto' | 'cpu' | 'wasm' | 'webgpu' | 'tensorflow';

/** All {@link BackendName}s, `'auto'` first. @category Backends */
export const BACKEND_NAMES: readonly BackendName[] = Object.freeze([
  'auto',
  'cpu',
  'wasm',
  'webgpu',
  'tensorflow',
] as BackendName[]);

/** Options of {@link useBackend}. @category Backends */
export interface UseBackendOptions {
  /** Options for the wasm backend (threads, binary paths, kernels). */
  wasm?: WasmSetupOptions;
  /** Options for the webgpu backend (Dawn options, submit batching, kernels). */
  webgpu?: WebGPUSetupOptions;
  /**
   * Let `'auto'` pick a software WebGPU adapter (Mesa lavapipe, SwiftShader). Defaults to `false`: on a
   * 2-core CPU lavapipe trains a small ResNet several times slower than the wasm backend.
   */
  allowSoftwareGpu?: boolean;
  /** Let `'auto'` load `@tensorflow/tfjs-node(-gpu)` when installed. Defaults to `true`. */
  allowTensorflow?: boolean;
  /** Receives one line per backend `'auto'` tried and why it was skipped. Defaults to none. */
  log?: (message: string) => void;
}

/** Defaults of {@link UseBackendOptions}. @category Backends */
export const USE_BACKEND_DEFAULTS: Readonly<{ allowSoftwareGpu: boolean; allowTensorflow: boolean }> =
  Object.freeze({
    allowSoftwareGpu: false,
    allowTensorflow: true,
  });

/** Whether a backend can be used here, without initialising it. @category Backends */
export interface BackendAvailability {
  /** The backend. */
  name: Exclude<BackendName, 'auto'>;
  /** Whether it can be used on this machine now. */
  available: boolean;
  /** Why not, or what was found (e.g. the GPU adapter). */
  detail: string;
  /** For webgpu: the adapter found. */
  adapter?: WebGPUAdapterSummary;
}

async function canResolve(name: string): Promise<boolean> {
  if (isNode()) {
    try {
      (await nodeRequire()).resolve(name);
      return true;
    } catch {
      return false;
    }
  }
  try {
    await import(/* @vite-ignore */ name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reports which backends are usable here, in the order `'auto'` prefers them, without switching backend.
 * Looking for a WebGPU adapter loads Dawn in Node.
 * @returns One entry per backend.
 * @example
 * ```ts
 * for (const b of await detectBackends()) console.log(b.name, b.available, b.detail);
 * ```
 * @category Backends
 */
export async function detectBackends(): Promise<BackendAvailability[]> {
  const out: BackendAvailability[] = [];
  const tfPkg = [];
  for (const name of TENSORFLOW_PACKAGES) if (await canResolve(name)) tfPkg.push(name);
  out.push({
    name: 'tensorflow',
    available: tfPkg.length > 0,
    detail: tfPkg.length > 0 ? tfPkg.join(', ') : `not installed (${TENSORFLOW_PACKAGES.join(' or ')})`,
  });
  const hasWebGPU = await canResolve('@tensorflow/tfjs-backend-webgpu');
  const adapter = hasWebGPU ? await probeWebGPU() : null;
  out.push({
    name: 'webgpu',
    available: adapter != null,
    detail: !hasWebGPU
      ? '@tensorflow/tfjs-backend-webgpu not installed'
      : adapter == null
        ? isNode()
          ? 'no adapter (needs the `webgpu` package and a Vulkan driver)'
          : 'no adapter'
        : `${adapter.software ? 'software adapter' : 'adapter'}: ${adapter.description || adapter.device || adapter.vendor}`,
    ...(adapter != null ? { adapter } : {}),
  });
  const hasWasm = await canResolve('@tensorflow/tfjs-backend-wasm');
  out.push({
    name: 'wasm',
    available: hasWasm,
    detail: hasWasm ? '@tensorflow/tfjs-backend-wasm' : '@tensorflow/tfjs-backend-wasm not installed',
  });
  const hasCpu = tf.findBackendFactory('cpu') != null || (await canResolve('@tensorflow/tfjs-backend-cpu'));
  out.push({
    name: 'cpu',
    available: hasCpu,
    detail: hasCpu ? 'pure JavaScript' : '@tensorflow/tfjs-backend-cpu not installed',
  });
  return out;
}

/**
 * False only when a hardware GPU is certainly absent: on Linux in Node, no `/dev/dri` and no
 * `/dev/nvidia*`. Lets `'auto'` skip loading Dawn (which also prints driver warnings) on CPU-only machines.
 */
async function mayHaveGpu(): Promise<boolean> {
  if (!isNode() || process.platform !== 'linux') return true;
  const fs = await importAtRuntime<typeof import('node:fs')>('node:fs');
  if (fs.existsSync('/dev/dri')) return true;
  try {
    return fs.readdirSync('/dev').some((name) => name.startsWith('nvidia'));
  } catch {
    return true;
  }
}

async function setupCpu(): Promise<void> {
  if (tf.findBackendFactory('cpu') == null) {
    try {
      await import('@tensorflow/tfjs-backend-cpu');
    } catch (err) {
      throw new Error(
        `${WHERE}('cpu'): needs @tensorflow/tfjs-backend-cpu (included in @tensorflow/tfjs): ` +
          `npm install @tensorflow/tfjs-backend-cpu. (${String(err)})`,
      );
    }
  }
  if (!(await tf.setBackend('cpu')))
    throw new Error(`${WHERE}('cpu'): the cpu backend failed to initialise.`);
}

/**
 * Initialises and activates a backend, with fer-cbam's training kernels and settings:
 * - `'wasm'`: {@link setupWasm} (multi-threaded SIMD in Node, the kernels tfjs-backend-wasm lacks);
 * - `'webgpu'`: {@link setupWebGPU} (Dawn in Node; a fast `Conv2DBackpropFilter`);
 * - `'tensorflow'`: native TensorFlow from `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node`,
 *   if the user installed one (a clear error otherwise);
 * - `'cpu'`: the pure-JavaScript backend (slow; always works);
 * - `'auto'`: the first that works of tensorflow (if installed), webgpu on a hardware adapter (on Linux
 *   only tried when `/dev/dri` or `/dev/nvidia*` exists), wasm, cpu.
 * The optional backends are optional peer dependencies, loaded with dynamic imports only.
 * @param name Backend to use. Defaults to `'auto'`.
 * @param options See {@link UseBackendOptions}.
 * @returns The name of the active backend (`tf.getBackend()`).
 * @example
 * ```ts
 * const name = await useBackend('auto', { log: console.log });
 * const model = resnetCbam({ depth: 18 }); // trains on `name`
 * ```
 * @throws RangeError for an unknown name; Error when the requested backend cannot be set up, saying
 *   what to install.
 * @category Backends
 */
export async function useBackend(
  name: BackendName = 'auto',
  options: UseBackendOptions = {},
): Promise<string> {
  checkOneOf(name, BACKEND_NAMES, 'name', WHERE);
  const o = { ...USE_BACKEND_DEFAULTS, ...options };
  switch (name) {
    case 'cpu':
      await setupCpu();
      break;
    case 'wasm':
      await setupWasm(o.wasm);
      break;
    case 'webgpu':
      await setupWebGPU(o.webgpu);
      break;
    case 'tensorflow':
      await setupTensorflow();
      break;
    default:
      await useAuto(o);
  }
  return tf.getBackend();
}

async function useAuto(
  o: UseBackendOptions & { allowSoftwareGpu: boolean; allowTensorflow: boolean },
): Promise<void> {
  const log = o.log ?? (() => {});
  const attempts: [string, () => Promise<unknown>][] = [];
  if (o.allowTensorflow) {
    attempts.push([
      'tensorflow',
      async () => {
        if (!(await Promise.all(TENSORFLOW_PACKAGES.map(canResolve))).some(Boolean)) {
          throw new Error('not installed');
        }
        return setupTensorflow();
      },
    ]);
  }
  attempts.push([
    'webgpu',
    async () => {
      if (!o.allowSoftwareGpu && !(await mayHaveGpu())) {
        throw new Error('no GPU device node (/dev/dri, /dev/nvidia*)');
      }
      const adapter = await probeWebGPU(o.webgpu?.dawnOptions);
      if (adapter == null) throw new Error('no adapter');
      if (adapter.software && !o.allowSoftwareGpu) {
        throw new Error(`software adapter (${adapter.description || adapter.device}) skipped`);
      }
      return setupWebGPU({ ...o.webgpu, allowSoftwareAdapter: o.allowSoftwareGpu });
    },
  ]);
  attempts.push(['wasm', () => setupWasm(o.wasm)]);
  attempts.push(['cpu', setupCpu]);
  const reasons: string[] = [];
  for (const [backend, attempt] of attempts) {
    try {
      await attempt();
      log(`backend: using ${backend}`);
      return;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      reasons.push(`${backend}: ${reason}`);
      log(`backend: ${backend} unavailable (${reason})`);
    }
  }
  throw new Error(`${WHERE}('auto'): no backend could be initialised. ${reasons.join('; ')}`);
}
