/**
 * WebGPU for training: Dawn in Node (the optional `webgpu` npm package), the tfjs WebGPU backend (the
 * optional peer `@tensorflow/tfjs-backend-webgpu`), a fast `Conv2DBackpropFilter`, and dispatch counters
 * for finding per-step overhead.
 * @module
 */

import type { TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_GRAD_KERNEL, CHANNEL_MOMENTS_KERNEL } from '../ops/batch_norm';
import { LINEAR_COMBINATION_KERNEL } from '../ops/linear_combination';
import { conv2DBackpropInputNHWC } from './conv_grads';
import {
  convGeometry,
  isChannelsFirst,
  type KernelArgs,
  type KernelScope,
  replaceKernel,
  restoreKernel,
  withScope,
  withScopeAll,
} from './kernel_utils';
import { isNode } from './node_env';

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

// ---------------------------------------------------------------------------------------------------------
// Training kernels

/**
 * im2col for NHWC input in one dispatch: output `[1, batch * outHeight * outWidth, kh * kw * inChannels]`,
 * row `(n, oh, ow)`, column `(kh, kw, ci)`, zero where the window leaves the input. The uniforms and
 * accessors (`uniforms.xShape`, `getX`, `setOutputAtIndex`, ...) are generated by tfjs's WebGPU backend.
 */
class Im2ColNHWCProgram {
  variableNames = ['x'];
  uniforms = 'pads : vec2<i32>, strides : vec2<i32>, outHeight : i32, outWidth : i32, filterWidth : i32,';
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  shaderKey = 'fercbam_im2col_nhwc';

  constructor(outputShape: number[]) {
    this.outputShape = outputShape;
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    const size = outputShape.reduce((a, b) => a * b, 1);
    this.dispatch = [Math.ceil(size / this.workgroupSize[0]), 1, 1];
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let coords = getCoordsFromIndex(index);
          let row = coords[1];
          let col = coords[2];
          let inChannels = uniforms.xShape[3];
          let ch = col % inChannels;
          let tap = col / inChannels;
          let kh = tap / uniforms.filterWidth;
          let kw = tap % uniforms.filterWidth;
          let perImage = uniforms.outHeight * uniforms.outWidth;
          let n = row / perImage;
          let pix = row % perImage;
          let xRow = (pix / uniforms.outWidth) * uniforms.strides[0] - uniforms.pads[0] + kh;
          let xCol = (pix % uniforms.outWidth) * uniforms.strides[1] - uniforms.pads[1] + kw;
          var value = 0.0;
          if (xRow >= 0 && xRow < uniforms.xShape[1] && xCol >= 0 && xCol < uniforms.xShape[2]) {
            value = getX(n, xRow, xCol, ch);
          }
          setOutputAtIndex(index, value);
        }
      }
    `;
  }
}

interface WebGPUBackendLike extends tf.KernelBackend {
  runWebGPUProgram(
    program: object,
    inputs: TensorInfo[],
    dtype: tf.DataType,
    uniforms?: { type: string; data: number[] }[],
  ): TensorInfo;
}

/**
 * `Conv2DBackpropFilter` as im2col (one dispatch) and one matrix product `col^T @ dY` (tfjs picks its
 * split-K program for this tall-skinny shape). The stock kernel computes each filter element with a loop
 * over the whole batch, which was 0.69 s of the 0.81 s of GPU time of a ResNet-18 step on an H200.
 */
function conv2DBackpropFilterWebGPU({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as Record<string, any>;
  return withScope(backend, WEBGPU, (s) => {
    let x = inputs.x!;
    let dy = inputs.dy!;
    if (isChannelsFirst(dataFormat)) {
      x = s.transpose(x, [0, 2, 3, 1]);
      dy = s.transpose(dy, [0, 2, 3, 1]);
    }
    const g = convGeometry(x.shape, filterShape, strides, pad, dimRoundingMode, false);
    const m = g.batch * g.outHeight * g.outWidth;
    const k = g.filterHeight * g.filterWidth * g.inChannels;
    const program = new Im2ColNHWCProgram([1, m, k]);
    const col = s.adopt(
      (backend as WebGPUBackendLike).runWebGPUProgram(program, [x], 'float32', [
        { type: 'int32', data: [g.padTop, g.padLeft] },
        { type: 'int32', data: [g.strideHeight, g.strideWidth] },
        { type: 'int32', data: [g.outHeight] },
        { type: 'int32', data: [g.outWidth] },
        { type: 'int32', data: [g.filterWidth] },
      ]),
    );
    const dw = s.matMul(col, s.reshape(dy, [1, m, g.outChannels]), true, false);
    return s.reshape(dw, [g.filterHeight, g.filterWidth, g.inChannels, g.outChannels]);
  });
}

/** `Conv2DBackpropInput` as stride-phase forward convolutions (see `conv_grads.ts`). */
function conv2DBackpropInputWebGPU({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as Record<string, any>;
  return withScope(backend, WEBGPU, (s) => {
    const first = isChannelsFirst(dataFormat);
    const dy = first ? s.transpose(inputs.dy!, [0, 2, 3, 1]) : inputs.dy!;
    const shape = first ? [inputShape[0], inputShape[2], inputShape[3], inputShape[1]] : inputShape;
    const dx = conv2DBackpropInputNHWC(s, dy, inputs.filter!, shape, strides, pad, dimRoundingMode, {
      fastTransposes: true,
    });
    return first ? s.transpose(dx, [0, 3, 1, 2]) : dx;
  });
}

/** Workgroup counts for `threads` threads, spread over y too (one dimension holds 65,535 workgroups). */
function flatDispatch(threads: number, workgroupSize: number): [number, number, number] {
  const groups = Math.ceil(threads / workgroupSize);
  const rows = Math.ceil(groups / 65535);
  return [Math.ceil(groups / rows), rows, 1];
}

/** The fields tfjs's WebGPU backend reads from a program, for a flat program over `outputSize` values. */
abstract class FlatProgram {
  abstract variableNames: string[];
  abstract uniforms: string;
  abstract shaderKey: string;
  workgroupSize: [number, number, number];
  size = true;
  outputShape: number[];
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];

  /** `threads`: how many invocations `main(index)` needs (not necessarily the output size). */
  constructor(outputSize: number, threads: number, workgroupSize = 64) {
    this.outputShape = [outputSize];
    this.workgroupSize = [workgroupSize, 1, 1];
    this.dispatch = flatDispatch(threads, workgroupSize);
  }

  abstract getUserCode(): string;
}

/**
 * How BatchNorm's per-channel sums over `rows` rows are split: `parts` partial sums per channel of
 * `rowsPerPart` rows each, so that `parts * channels` threads (up to ~64k) share the work and the
 * final pass adds at most 1,024 partials per channel.
 */
function partition(rows: number, channels: number): { parts: number; rowsPerPart: number } {
  const wanted = Math.max(1, Math.min(1024, Math.ceil(65536 / channels), rows));
  const rowsPerPart = Math.ceil(rows / wanted);
  return { parts: Math.ceil(rows / rowsPerPart), rowsPerPart };
}

/**
 * Partial per-channel sums of a `[rows, channels]` activation, two per thread `(part, channel)`,
 * written to `[parts, 2, channels]`. `'moments'`: `sum(x - shift)` and `sum((x - shift)^2)` with the
 * first row as `shift` (so the variance does not cancel catastrophically for large means).
 * `'grad'`: `sum(dy)` and `sum(dy * xhat)` with `xhat` computed in place from the mean and variance.
 * Consecutive threads read consecutive channels of a row (coalesced).
 */
class ChannelPartialSumsProgram extends FlatProgram {
  variableNames: string[];
  uniforms = 'rows : i32, channels : i32, parts : i32, rowsPerPart : i32, epsilon : f32,';
  shaderKey: string;

  constructor(
    private readonly mode: 'moments' | 'grad',
    parts: number,
    channels: number,
  ) {
    super(2 * parts * channels, parts * channels);
    this.variableNames = mode === 'moments' ? ['x'] : ['x', 'dy', 'mu', 'sigma2'];
    this.shaderKey = `fercbam_channel_partial_sums_${mode}`;
  }

  getUserCode(): string {
    const body =
      this.mode === 'moments'
        ? `let shift = x[c];
          for (var r = start; r < end; r = r + 1) {
            let v = x[r * uniforms.channels + c] - shift;
            s1 = s1 + v;
            s2 = s2 + v * v;
          }`
        : `let m = mu[c];
          let rstd = inverseSqrt(sigma2[c] + uniforms.epsilon);
          for (var r = start; r < end; r = r + 1) {
            let i = r * uniforms.channels + c;
            let g = dy[i];
            s1 = s1 + g;
            s2 = s2 + g * (x[i] - m) * rstd;
          }`;
    return `
      fn main(index : i32) {
        if (index < uniforms.parts * uniforms.channels) {
          let c = index % uniforms.channels;
          let p = index / uniforms.channels;
          let start = p * uniforms.rowsPerPart;
          let end = min(start + uniforms.rowsPerPart, uniforms.rows);
          var s1 = 0.0;
          var s2 = 0.0;
          ${body}
          setOutputAtIndex(p * 2 * uniforms.channels + c, s1);
          setOutputAtIndex(p * 2 * uniforms.channels + uniforms.channels + c, s2);
        }
      }
    `;
  }
}

/**
 * Adds up the partials of {@link ChannelPartialSumsProgram} per channel into one `[channels]` result:
 * `'mean'` (`shift + S1 / rows`), `'variance'` (biased: `(S2 - S1^2 / rows) / rows`, at least 0),
 * `'first'` (`S1`) or `'second'` (`S2`).
 */
class ChannelFinalizeProgram extends FlatProgram {
  variableNames: string[];
  uniforms = 'rows : i32, channels : i32, parts : i32,';
  shaderKey: string;

  constructor(
    private readonly result: 'mean' | 'variance' | 'first' | 'second',
    channels: number,
  ) {
    super(channels, channels);
    // Only 'mean' reads x (its shift); an input the shader does not read would be dropped from the
    // pipeline's bind-group layout and fail validation.
    this.variableNames = result === 'mean' ? ['partials', 'x'] : ['partials'];
    this.shaderKey = `fercbam_channel_finalize_${result}`;
  }

  getUserCode(): string {
    const n = 'f32(uniforms.rows)';
    const value = {
      mean: `x[c] + s1 / ${n}`,
      variance: `max((s2 - s1 * s1 / ${n}) / ${n}, 0.0)`,
      first: 's1',
      second: 's2',
    }[this.result];
    return `
      fn main(index : i32) {
        if (index < uniforms.channels) {
          let c = index;
          var s1 = 0.0;
          var s2 = 0.0;
          for (var p = 0; p < uniforms.parts; p = p + 1) {
            s1 = s1 + partials[p * 2 * uniforms.channels + c];
            s2 = s2 + partials[p * 2 * uniforms.channels + uniforms.channels + c];
          }
          setOutputAtIndex(c, ${value});
        }
      }
    `;
  }
}

/** BatchNorm's input gradient `gamma * rstd * (dy - dbeta / n - xhat * dgamma / n)`, element-wise. */
class BatchNormGradInputProgram extends FlatProgram {
  variableNames = ['x', 'dy', 'mu', 'sigma2', 'gamma', 'dgamma', 'dbeta'];
  uniforms = 'channels : i32, n : f32, epsilon : f32,';
  shaderKey = 'fercbam_batch_norm_grad_input';

  constructor(size: number) {
    super(size, size, 256);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let c = index % uniforms.channels;
          let rstd = inverseSqrt(sigma2[c] + uniforms.epsilon);
          let xhat = (x[index] - mu[c]) * rstd;
          let centred = dy[index] - dbeta[c] / uniforms.n - xhat * dgamma[c] / uniforms.n;
          setOutputAtIndex(index, gamma[c] * rstd * centred);
        }
      }
    `;
  }
}

/** Rows and channels of a channels-last tensor viewed as `[rows, channels]`. */
function rowsAndChannels(x: TensorInfo): { rows: number; channels: number } {
  const channels = x.shape[x.shape.length - 1] ?? 1;
  return { rows: tf.util.sizeFromShape(x.shape) / channels, channels };
}

function runProgram(
  s: KernelScope,
  program: object,
  inputs: TensorInfo[],
  uniforms: { type: 'int32' | 'float32'; data: number[] }[],
): TensorInfo {
  return s.adopt((s.backend as WebGPUBackendLike).runWebGPUProgram(program, inputs, 'float32', uniforms));
}

const int32 = (v: number) => ({ type: 'int32' as const, data: [v] });
const float32 = (v: number) => ({ type: 'float32' as const, data: [v] });

/** {@link CHANNEL_MOMENTS_KERNEL}: mean and biased variance per channel in three dispatches. */
function channelMomentsWebGPU({ inputs, backend }: KernelArgs): TensorInfo[] {
  const x = inputs.x!;
  const { rows, channels } = rowsAndChannels(x);
  const { parts, rowsPerPart } = partition(rows, channels);
  return withScopeAll(backend, WEBGPU, (s) => {
    const flat = s.reshape(x, [rows * channels]);
    const partials = runProgram(
      s,
      new ChannelPartialSumsProgram('moments', parts, channels),
      [flat],
      [int32(rows), int32(channels), int32(parts), int32(rowsPerPart), float32(0)],
    );
    const sizes = [int32(rows), int32(channels), int32(parts)];
    return [
      runProgram(s, new ChannelFinalizeProgram('mean', channels), [partials, flat], sizes),
      runProgram(s, new ChannelFinalizeProgram('variance', channels), [partials], sizes),
    ];
  });
}

/** {@link BATCH_NORM_GRAD_KERNEL}: `dx`, `dgamma`, `dbeta` of BatchNorm in training in four dispatches. */
function batchNormGradWebGPU({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const { x, dy, mean, variance, gamma } = inputs as Record<string, TensorInfo>;
  const epsilon = (attrs as { epsilon: number }).epsilon;
  const { rows, channels } = rowsAndChannels(x!);
  const { parts, rowsPerPart } = partition(rows, channels);
  return withScopeAll(backend, WEBGPU, (s) => {
    const size = rows * channels;
    const xs = s.reshape(x!, [size]);
    const dys = s.reshape(dy!, [size]);
    const partials = runProgram(
      s,
      new ChannelPartialSumsProgram('grad', parts, channels),
      [xs, dys, mean!, variance!],
      [int32(rows), int32(channels), int32(parts), int32(rowsPerPart), float32(epsilon)],
    );
    const sizes = [int32(rows), int32(channels), int32(parts)];
    const dbeta = runProgram(s, new ChannelFinalizeProgram('first', channels), [partials], sizes);
    const dgamma = runProgram(s, new ChannelFinalizeProgram('second', channels), [partials], sizes);
    const dx = runProgram(
      s,
      new BatchNormGradInputProgram(size),
      [xs, dys, mean!, variance!, gamma!, dgamma, dbeta],
      [int32(channels), float32(rows), float32(epsilon)],
    );
    return [s.reshape(dx, x!.shape.slice()), dgamma, dbeta];
  });
}

/**
 * `a * x + b * y + c * z` for three same-shape float32 inputs in one dispatch (fer-cbam's
 * {@link LINEAR_COMBINATION_KERNEL}). A momentum-SGD update is two of these per variable instead of six
 * tfjs kernels, a BatchNorm moving-statistics update two instead of seven.
 */
class LinearCombinationProgram extends FlatProgram {
  variableNames = ['x', 'y', 'z'];
  uniforms = 'a : f32, b : f32, c : f32,';
  shaderKey = 'fercbam_linear_combination';

  constructor(size: number) {
    super(size, size, 256);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          setOutputAtIndex(index, uniforms.a * x[index] + uniforms.b * y[index] + uniforms.c * z[index]);
        }
      }
    `;
  }
}

function linearCombinationWebGPU({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { a, b, c } = attrs as { a: number; b: number; c: number };
  const { x, y, z } = inputs as { x: TensorInfo; y: TensorInfo; z: TensorInfo };
  const size = tf.util.sizeFromShape(x.shape);
  return withScope(backend, WEBGPU, (s) => {
    const flat = (t: TensorInfo) => s.reshape(t, [size]);
    const out = runProgram(
      s,
      new LinearCombinationProgram(size),
      [flat(x), flat(y), flat(z)],
      [float32(a), float32(b), float32(c)],
    );
    return s.reshape(out, x.shape.slice());
  });
}

/** Options of {@link registerWebGPUTrainingKernels}. @category Backends */
export interface WebGPUTrainingKernelOptions {
  /**
   * Replace `Conv2DBackpropInput` with stride-phase forward convolutions. Defaults to `false`: the stock
   * kernel was only 0.06 s of a 2.0 s H200 step; turn it on to compare.
   */
  replaceConv2DBackpropInput?: boolean;
}

let webgpuInstalled: Map<string, tf.KernelConfig | null> | null = null;

/**
 * Registers fer-cbam's faster WebGPU training kernels: `Conv2DBackpropFilter` as im2col plus one matrix
 * product, and {@link LINEAR_COMBINATION_KERNEL} (one dispatch for the optimizer's and BatchNorm's
 * element-wise updates). Agrees with the cpu backend to float32 rounding (tests run on Mesa lavapipe). Called by
 * {@link setupWebGPU}; calling it again re-registers.
 * @param options See {@link WebGPUTrainingKernelOptions}.
 * @returns The names of the kernels registered for `'webgpu'`.
 * @example
 * ```ts
 * registerWebGPUTrainingKernels();
 * ```
 * @category Backends
 */
export function registerWebGPUTrainingKernels(options: WebGPUTrainingKernelOptions = {}): string[] {
  unregisterWebGPUTrainingKernels();
  const kernels: [string, (a: KernelArgs) => TensorInfo | TensorInfo[]][] = [
    ['Conv2DBackpropFilter', conv2DBackpropFilterWebGPU],
    [LINEAR_COMBINATION_KERNEL, linearCombinationWebGPU],
    [CHANNEL_MOMENTS_KERNEL, channelMomentsWebGPU],
    [BATCH_NORM_GRAD_KERNEL, batchNormGradWebGPU],
  ];
  if (options.replaceConv2DBackpropInput) kernels.push(['Conv2DBackpropInput', conv2DBackpropInputWebGPU]);
  webgpuInstalled = new Map();
  for (const [kernelName, kernelFunc] of kernels) {
    webgpuInstalled.set(
      kernelName,
      replaceKernel({ kernelName, backendName: WEBGPU, kernelFunc: kernelFunc as unknown as tf.KernelFunc }),
    );
  }
  return kernels.map(([name]) => name);
}

/**
 * Restores the kernels {@link registerWebGPUTrainingKernels} replaced.
 * @example
 * ```ts
 * unregisterWebGPUTrainingKernels(); // tfjs's own Conv2DBackpropFilter again
 * ```
 * @category Backends
 */
export function unregisterWebGPUTrainingKernels(): void {
  if (webgpuInstalled == null) return;
  for (const [name, previous] of webgpuInstalled) restoreKernel(name, WEBGPU, previous);
  webgpuInstalled = null;
}

// ---------------------------------------------------------------------------------------------------------
// Dispatch counting

/** Counts of GPU work issued while a {@link WebGPUCounter} was running. @category Backends */
export interface WebGPUCounts {
  /** `dispatchWorkgroups` calls (one per GPU kernel). */
  dispatches: number;
  /** `queue.submit` calls. */
  submits: number;
  /** `queue.writeBuffer` calls (tfjs writes every dispatch's uniforms this way). */
  bufferWrites: number;
  /** `device.createBindGroup` calls. */
  bindGroups: number;
  /** `buffer.mapAsync` calls (readbacks to the CPU). */
  readbacks: number;
}

/** A running counter; `stop()` removes the hooks and returns the totals. @category Backends */
export interface WebGPUCounter {
  /** Counts so far (live). */
  readonly counts: WebGPUCounts;
  /** Stops counting (unwraps the API) and returns the final counts. */
  stop(): WebGPUCounts;
}

/**
 * Counts WebGPU API calls (dispatches, submits, uniform writes, bind groups, readbacks) by wrapping the
 * prototypes of the global WebGPU classes, to see where per-step overhead comes from.
 * @returns A counter; call `stop()` to unhook.
 * @example
 * ```ts
 * const counter = countWebGPUCalls();
 * trainStep();
 * console.log(counter.stop()); // { dispatches: 2237, submits: 150, ... }
 * ```
 * @throws Error if the WebGPU globals are not installed.
 * @category Backends
 */
export function countWebGPUCalls(): WebGPUCounter {
  const g = globalThis as Record<string, any>;
  const targets: [any, string, keyof WebGPUCounts][] = [
    [g.GPUComputePassEncoder?.prototype, 'dispatchWorkgroups', 'dispatches'],
    [g.GPUQueue?.prototype, 'submit', 'submits'],
    [g.GPUQueue?.prototype, 'writeBuffer', 'bufferWrites'],
    [g.GPUDevice?.prototype, 'createBindGroup', 'bindGroups'],
    [g.GPUBuffer?.prototype, 'mapAsync', 'readbacks'],
  ];
  if (targets.some(([proto]) => proto == null)) {
    throw new Error('countWebGPUCalls: the WebGPU globals are not installed (call setupWebGPU first).');
  }
  const counts: WebGPUCounts = { dispatches: 0, submits: 0, bufferWrites: 0, bindGroups: 0, readbacks: 0 };
  const originals = targets.map(([proto, name, key]) => {
    const original = proto[name];
    proto[name] = function (this: unknown, ...args: unknown[]) {
      counts[key]++;
      return original.apply(this, args);
    };
    return () => {
      proto[name] = original;
    };
  });
  return {
    counts,
    stop() {
      for (const restore of originals) restore();
      return { ...counts };
    },
  };
}
