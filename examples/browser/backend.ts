/**
 * How the demo page picks its TensorFlow.js backend. A GPU backend is only worth it on a real GPU:
 * headless or GPU-less Chromium renders WebGL with SwiftShader (and Linux without a driver with
 * Mesa's llvmpipe), on the CPU, where the same model ran live at 0.5 fps against 12.5 fps on wasm
 * (issue 29). So the page looks at the renderer's name first and skips a software GPU; where the name
 * is hidden (some browsers mask it), it times the model on each candidate and keeps the faster.
 *
 * The decision itself (`planBackends`) is a plain function of what was probed, tested in Node
 * (test/browser/backend.test.ts); the probing needs a browser.
 */

/** The backends the page knows, in the order a hardware GPU makes them worth trying. */
export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * Renderer names of GPUs emulated on the CPU: Google's SwiftShader (Chromium's fallback, also as
 * ANGLE's Vulkan device), Mesa's llvmpipe / softpipe / lavapipe / swrast, Windows' Basic Render
 * Driver and WARP.
 */
const SOFTWARE_RENDERER =
  /swiftshader|llvmpipe|softpipe|lavapipe|swrast|software|basic render driver|microsoft basic|\bwarp\b/i;

/** Whether a WebGL renderer or WebGPU adapter name is a GPU emulated on the CPU. */
export function isSoftwareRenderer(name: string): boolean {
  return SOFTWARE_RENDERER.test(name);
}

/** What the page found out about the GPU backends before choosing. */
export interface BackendProbe {
  /** The WebGPU adapter, or null when there is none (or no `navigator.gpu`). */
  webgpu: { name: string; fallback: boolean } | null;
  /**
   * The WebGL renderer's name (`WEBGL_debug_renderer_info`'s unmasked one where the browser gives
   * it), `''` when WebGL works but hides it, or null when WebGL does not work.
   */
  webgl: string | null;
}

/** What {@link planBackends} decided. */
export interface BackendPlan {
  /** Backends to try in this order; the first that starts is used. */
  order: BackendName[];
  /** Backends to time against each other after the model is loaded (empty: no timing). */
  time: BackendName[];
  /** Why, in words the page shows. */
  reason: string;
}

/**
 * Orders the backends for this device: a hardware WebGPU adapter first, then WebGL on a hardware
 * renderer; a software GPU is skipped in favour of wasm (multi-threaded SIMD on the CPU beats an
 * emulated GPU on the same CPU); a WebGL renderer whose name is hidden is timed against wasm.
 */
export function planBackends(probe: BackendProbe): BackendPlan {
  const notes: string[] = [];
  if (probe.webgpu && !probe.webgpu.fallback && !isSoftwareRenderer(probe.webgpu.name)) {
    return {
      order: ['webgpu', 'webgl', 'wasm', 'cpu'],
      time: [],
      reason: `WebGPU runs on a hardware adapter (${probe.webgpu.name || 'unnamed'})`,
    };
  }
  if (probe.webgpu) notes.push(`WebGPU's adapter is a software one (${probe.webgpu.name || 'fallback'})`);
  if (probe.webgl === null) {
    notes.push('WebGL is not available');
    return { order: ['wasm', 'cpu'], time: [], reason: `${notes.join('; ')}: WebAssembly on the CPU` };
  }
  if (probe.webgl === '') {
    return {
      order: ['wasm', 'webgl', 'cpu'],
      time: ['wasm', 'webgl'],
      reason: 'WebGL hides its renderer, so the model was timed on WebGL and WebAssembly',
    };
  }
  if (isSoftwareRenderer(probe.webgl)) {
    notes.push(`WebGL renders in software (${probe.webgl})`);
    return {
      order: ['wasm', 'cpu'],
      time: [],
      reason: `${notes.join('; ')}: WebAssembly on the CPU is faster`,
    };
  }
  return {
    order: ['webgl', 'wasm', 'cpu'],
    time: [],
    reason: `WebGL runs on a hardware GPU (${probe.webgl})`,
  };
}

/** The WebGL renderer's name, `''` when hidden, null when WebGL does not work here. */
export function probeWebGL(): string | null {
  const canvas = document.createElement('canvas');
  const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
  if (!gl) return null;
  try {
    const debug = gl.getExtension('WEBGL_debug_renderer_info');
    const name = debug ? gl.getParameter(debug.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    return typeof name === 'string' ? name : '';
  } finally {
    // Browsers cap live WebGL contexts (16 in Chromium); tfjs makes its own if WebGL is chosen.
    gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

/** Minimal WebGPU types (the DOM lib this project compiles with has none). */
interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: {
    vendor?: string;
    architecture?: string;
    device?: string;
    description?: string;
    isFallbackAdapter?: boolean;
  };
}

/** The WebGPU adapter, or null. */
export async function probeWebGPU(): Promise<BackendProbe['webgpu']> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
  if (!gpu) return null;
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info ?? {};
    const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
    return { name, fallback: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) };
  } catch {
    return null;
  }
}

/** How many threads wasm gets, and whether the page times them against one thread first. */
export interface WasmThreadPlan {
  threads: number;
  /** Time one live frame's work with `threads` and with one, and keep the faster. */
  time: boolean;
  /** Why, in words the page shows (empty when `threads` came from `?threads=N`). */
  why: string;
}

/**
 * Threads for the wasm backend. None without cross-origin isolation (no `SharedArrayBuffer`: tfjs
 * loads its single-threaded binary). On two cores or fewer, one: fer-cbam's kernels share each
 * convolution with helper threads, which the browser's own threads (camera, compositor) and any
 * other program compete with. Live in headless Chromium on a 2-core machine (issue 29), two threads
 * were no faster when it was otherwise idle (12.4-12.7 fps against 11.6-13.0) and much slower when
 * other programs used the cores (7.7 against 12.2 fps; 0.3 against 6.6 beside a training run). On
 * more cores, up to 8 (tfjs's pool), timed against one thread first. `?threads=N` (1 to 8) sets the count, `?threads=timed` times the cores against one
 * whatever their number.
 */
export function wasmThreads(isolated: boolean, cores: number, asked: string | null): WasmThreadPlan {
  const all = Math.max(1, Math.min(8, Math.floor(cores) || 1));
  if (asked !== null && asked !== 'timed') {
    const n = Number(asked);
    if (!Number.isInteger(n) || n < 1 || n > 8) {
      throw new RangeError(`?threads= must be an integer from 1 to 8 or "timed", but got "${asked}".`);
    }
    if (isolated) return { threads: n, time: false, why: '' };
  }
  if (!isolated) {
    return { threads: 1, time: false, why: 'the page is not cross-origin isolated, so wasm gets no threads' };
  }
  if (asked === 'timed') return { threads: all, time: all > 1, why: '' };
  if (all <= 2) {
    return {
      threads: 1,
      time: false,
      why: `${all} core${all === 1 ? '' : 's'}: one thread leaves the other to the browser`,
    };
  }
  return { threads: all, time: true, why: '' };
}
