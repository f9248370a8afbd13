/**
 * Setting up WebGPU for training: Dawn in Node (the optional `webgpu` npm package) and the tfjs WebGPU
 * backend (the optional peer `@tensorflow/tfjs-backend-webgpu`). The training kernels it registers are
 * `webgpu_kernels.ts`; the dispatch counters are in `src/diagnostics`.
 * @module
 */

import * as tf from '@tensorflow/tfjs-core';
import { isNode } from '../node_env';
import { registerWebGPUTrainingKernels } from './webgpu_kernels';

const WHERE = 'setupWebGPU';
const WEBGPU = 'webgpu';

/** What is known about a WebGPU adapter. @category Backends */
export interface WebGPUAdapterSummary {
  /** Adapter vendor (from `GPUAdapterInfo`). */
  vendor: string;
  /** Adapter architecture. */
  architecture: string;
  /** Adapter device name. */
  device: string;
  /** Adapter description. */
  description: string;
  /**
   * True for CPU implementations (Mesa lavapipe/llvmpipe, SwiftShader, WARP): correct but much slower
   * than the wasm backend for training, so `useBackend('auto')` skips them.
   */
  software: boolean;
}

/** Options of {@link setupWebGPU}. @category Backends */
export interface WebGPUSetupOptions {
  /** Node only: options for Dawn's `create()` (e.g. `['backend=vulkan']`). Defaults to `[]`. */
  dawnOptions?: string[];
  /** Accept a software adapter (lavapipe). Defaults to `true` (`useBackend('auto')` passes `false`). */
  allowSoftwareAdapter?: boolean;
  /** Register {@link registerWebGPUTrainingKernels}. Defaults to `true`. */
  trainingKernels?: boolean;
  /**
   * Dispatches recorded per command-buffer submit (tfjs flag `WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE`, tfjs
   * default 15). Larger values mean fewer `queue.submit` calls per training step. Defaults to `64`.
   */
  deferredSubmitBatchSize?: number;
}

/** Defaults of {@link WebGPUSetupOptions}. @category Backends */
export const WEBGPU_SETUP_DEFAULTS = Object.freeze({
  dawnOptions: [] as readonly string[],
  allowSoftwareAdapter: true,
  trainingKernels: true,
  deferredSubmitBatchSize: 64,
});

let dawnGpu: GPU | null = null;

/**
 * Makes WebGPU available as `navigator.gpu`: in browsers it already is; in Node it creates Dawn through
 * the optional `webgpu` package and installs its globals (`GPUBufferUsage`, ...). It must run before
 * `@tensorflow/tfjs-backend-webgpu` is imported, because that package registers its backend only when
 * `navigator.gpu` exists at import time ({@link setupWebGPU} handles the order).
 * @param dawnOptions Node only: options for Dawn's `create()`.
 * @returns True when `navigator.gpu` is available afterwards.
 * @example
 * ```ts
 * if (await installWebGPUGlobals()) await import('@tensorflow/tfjs-backend-webgpu');
 * ```
 * @category Backends
 */
export async function installWebGPUGlobals(dawnOptions: readonly string[] = []): Promise<boolean> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu != null) return true;
  if (!isNode()) return false;
  if (dawnGpu == null) {
    let webgpu: { create: (options: string[]) => GPU; globals: object };
    try {
      const name = 'webgpu';
      webgpu = await import(/* @vite-ignore */ name);
    } catch {
      return false;
    }
    Object.assign(globalThis, webgpu.globals);
    dawnGpu = webgpu.create([...dawnOptions]);
  }
  if (nav != null) {
    Object.defineProperty(nav, 'gpu', { value: dawnGpu, configurable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu: dawnGpu },
      configurable: true,
      writable: true,
    });
  }
  return true;
}

function summarize(adapter: GPUAdapter): WebGPUAdapterSummary {
  const info = ((adapter as { info?: GPUAdapterInfo }).info ?? {}) as Partial<GPUAdapterInfo> & {
    isFallbackAdapter?: boolean;
  };
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  const software =
    info.isFallbackAdapter === true ||
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    info.architecture === 'software' ||
    /llvmpipe|lavapipe|swiftshader|software|microsoft basic render/i.test(text);
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    software,
  };
}

/**
 * Looks for a WebGPU adapter without initialising a tfjs backend (in Node this loads Dawn).
 * @param dawnOptions Node only: options for Dawn's `create()`.
 * @returns The adapter's description, or null when there is none (no `webgpu` package, no Vulkan driver,
 *   no GPU in the browser).
 * @example
 * ```ts
 * const adapter = await probeWebGPU(); // e.g. { vendor: 'mesa', software: true, ... } on lavapipe
 * ```
 * @category Backends
 */
export async function probeWebGPU(dawnOptions: readonly string[] = []): Promise<WebGPUAdapterSummary | null> {
  if (!(await installWebGPUGlobals(dawnOptions))) return null;
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  try {
    const adapter = await gpu?.requestAdapter({ powerPreference: 'high-performance' });
    return adapter == null ? null : summarize(adapter);
  } catch {
    return null;
  }
}

/** The factory `@tensorflow/tfjs-backend-webgpu` registers, for when it was imported before the globals. */
function registerWebGPUFactory(WebGPUBackend: new (device: GPUDevice, info?: unknown) => tf.KernelBackend) {
  tf.registerBackend(
    WEBGPU,
    async () => {
      const gpu = (globalThis as { navigator: { gpu: GPU } }).navigator.gpu;
      const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (adapter == null) throw new Error(`${WHERE}: no WebGPU adapter.`);
      const required: GPUFeatureName[] = [];
      if (adapter.features.has('timestamp-query')) required.push('timestamp-query');
      const l = adapter.limits;
      const device = await adapter.requestDevice({
        requiredFeatures: required,
        requiredLimits: {
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      });
      return new WebGPUBackend(device, (adapter as { info?: unknown }).info);
    },
    3,
  );
}

/**
 * Prepares the WebGPU backend: installs Dawn's globals in Node, imports
 * `@tensorflow/tfjs-backend-webgpu`, checks the adapter, registers the training kernels, tunes command
 * submission and makes `'webgpu'` the active backend.
 * @param options See {@link WebGPUSetupOptions}.
 * @returns The adapter and the kernels registered.
 * @example
 * ```ts
 * const { adapter } = await setupWebGPU();
 * console.log(adapter.description, tf.getBackend()); // e.g. 'NVIDIA H200' 'webgpu'
 * ```
 * @throws Error if WebGPU is unavailable (no `webgpu` package in Node, no adapter, or only a software
 *   adapter when `allowSoftwareAdapter` is false), naming what to install.
 * @category Backends
 */
export async function setupWebGPU(
  options: WebGPUSetupOptions = {},
): Promise<{ adapter: WebGPUAdapterSummary; trainingKernels: string[] }> {
  const o = { ...WEBGPU_SETUP_DEFAULTS, ...options };
  if (!(await installWebGPUGlobals(o.dawnOptions))) {
    throw new Error(
      isNode()
        ? `${WHERE}: WebGPU in Node needs the optional package \`webgpu\` (Dawn): npm install webgpu, and a ` +
            'Vulkan driver (on Debian: mesa-vulkan-drivers for a CPU adapter, or the GPU vendor driver).'
        : `${WHERE}: this browser has no navigator.gpu (WebGPU).`,
    );
  }
  const adapter = await probeWebGPU(o.dawnOptions);
  if (adapter == null) throw new Error(`${WHERE}: navigator.gpu.requestAdapter() returned no adapter.`);
  if (adapter.software && !o.allowSoftwareAdapter) {
    throw new Error(
      `${WHERE}: only a software adapter is available (${adapter.description || adapter.device}).`,
    );
  }
  let mod: { WebGPUBackend: new (device: GPUDevice, info?: unknown) => tf.KernelBackend };
  try {
    mod = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as typeof mod;
  } catch (err) {
    throw new Error(
      `${WHERE}: needs the optional peer dependency @tensorflow/tfjs-backend-webgpu (same version as ` +
        `@tensorflow/tfjs-core): npm install @tensorflow/tfjs-backend-webgpu. (${String(err)})`,
    );
  }
  if (tf.findBackendFactory(WEBGPU) == null) registerWebGPUFactory(mod.WebGPUBackend);
  tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', o.deferredSubmitBatchSize);
  const trainingKernels = o.trainingKernels ? registerWebGPUTrainingKernels() : [];
  if (!(await tf.setBackend(WEBGPU))) {
    throw new Error(`${WHERE}: the webgpu backend failed to initialise (see the warning tfjs printed).`);
  }
  return { adapter, trainingKernels };
}
