/**
 * Helpers shared by the training kernels fer-cbam adds to the `wasm` and `webgpu` backends: composing a
 * kernel from kernels that the backend already has, without going through the engine (so nothing is
 * recorded on a gradient tape and no engine tensors are created), and the convolution geometry the
 * gradient kernels need.
 * @module
 */

import type { KernelBackend, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';

/** Arguments every tfjs kernel function receives. @internal */
export interface KernelArgs {
  inputs: Record<string, TensorInfo>;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}

/**
 * Calls kernels registered for `backendName` directly on `backend` and owns every intermediate result:
 * {@link KernelScope.keep} marks what the composite kernel returns, {@link KernelScope.dispose} frees the
 * rest. Disposal goes through `backend.disposeData`, which honours the reference counts that `Reshape`
 * adds, so a result that is a reshape of an intermediate stays valid.
 * @internal
 */
export class KernelScope {
  private readonly owned: TensorInfo[] = [];
  private readonly kept = new Set<TensorInfo>();

  constructor(
    readonly backend: KernelBackend,
    readonly backendName: string,
  ) {}

  /** Runs one registered kernel and returns its (first) output, owned by this scope. */
  run(
    kernelName: string,
    inputs: Record<string, TensorInfo> | TensorInfo[],
    attrs: NamedAttrMap = {},
  ): TensorInfo {
    const config = tf.getKernel(kernelName, this.backendName);
    if (config == null) {
      throw new Error(
        `fer-cbam: kernel '${kernelName}' is not registered for backend '${this.backendName}'.`,
      );
    }
    const out = config.kernelFunc({
      inputs: inputs as Record<string, TensorInfo>,
      backend: this.backend,
      attrs,
    }) as TensorInfo | TensorInfo[];
    const outs = Array.isArray(out) ? out : [out];
    for (const o of outs) this.owned.push(o);
    return outs[0]!;
  }

  /** Takes ownership of a tensor made elsewhere (for example by `backend.makeTensorInfo`). */
  adopt(info: TensorInfo): TensorInfo {
    this.owned.push(info);
    return info;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    if (perm.every((p, i) => p === i)) return this.reshape(x, x.shape.slice());
    return this.run('Transpose', { x }, { perm });
  }

  pad(x: TensorInfo, paddings: [number, number][]): TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return this.reshape(x, x.shape.slice());
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) {
      return this.reshape(x, x.shape.slice());
    }
    return this.run('Slice', { x }, { begin, size });
  }

  stridedSlice(x: TensorInfo, begin: number[], end: number[], strides: number[]): TensorInfo {
    if (strides.every((s) => s === 1)) {
      return this.slice(
        x,
        begin,
        end.map((e, i) => e - begin[i]!),
      );
    }
    return this.run(
      'StridedSlice',
      { x },
      { begin, end, strides, beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 },
    );
  }

  concat(xs: TensorInfo[], axis: number): TensorInfo {
    if (xs.length === 1) return this.reshape(xs[0]!, xs[0]!.shape.slice());
    // Like the engine, list-input kernels (Concat, AddN) take an array.
    return this.run('Concat', xs, { axis });
  }

  reverse(x: TensorInfo, dims: number[]): TensorInfo {
    return this.run('Reverse', { x }, { dims });
  }

  /** `a @ b` for rank-3 operands `[batch, m, k] @ [batch, k, n]`. */
  matMul(a: TensorInfo, b: TensorInfo, transposeA = false, transposeB = false): TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA, transposeB });
  }

  /**
   * Runs `body` in a child scope whose intermediates are freed as soon as it returns; the result moves to
   * this scope. Keeps peak memory down in loops.
   */
  sub(body: (child: KernelScope) => TensorInfo): TensorInfo {
    const child = new KernelScope(this.backend, this.backendName);
    try {
      return this.adopt(child.keep(body(child)));
    } finally {
      child.dispose();
    }
  }

  /** Frees one intermediate now (it must be owned by this scope and not used afterwards). */
  free(info: TensorInfo): void {
    const i = this.owned.indexOf(info);
    if (i < 0 || this.kept.has(info)) return;
    this.owned.splice(i, 1);
    this.backend.disposeData(info.dataId);
  }

  /** Keeps `info` alive past {@link KernelScope.dispose}; returns it. */
  keep(info: TensorInfo): TensorInfo {
    this.kept.add(info);
    return info;
  }

  /** Frees every intermediate not kept. */
  dispose(): void {
    for (const info of this.owned) {
      if (!this.kept.has(info)) this.backend.disposeData(info.dataId);
    }
    this.owned.length = 0;
  }
}

/**
 * Runs `body` with a fresh scope, returns what it returns (kept), and frees everything else, also when
 * `body` throws.
 * @internal
 */
export function withScope(
  backend: KernelBackend,
  backendName: string,
  body: (s: KernelScope) => TensorInfo,
): TensorInfo {
  return withScopeAll(backend, backendName, (s) => [body(s)])[0]!;
}

/**
 * {@link withScope} for a kernel with several outputs: keeps every tensor `body` returns.
 * @internal
 */
export function withScopeAll(
  backend: KernelBackend,
  backendName: string,
  body: (s: KernelScope) => TensorInfo[],
): TensorInfo[] {
  const scope = new KernelScope(backend, backendName);
  try {
    return body(scope).map((t) => scope.keep(t));
  } finally {
    scope.dispose();
  }
}

/** Spatial geometry of one 2D convolution, NHWC, as the gradient kernels use it. @internal */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** Reads the geometry from tfjs's own `computeConv2DInfo`, so padding rules match every backend. @internal */
export function convGeometry(
  inShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  pad: unknown,
  dimRoundingMode: unknown,
  depthwise: boolean,
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad as 'same',
    dimRoundingMode as 'floor' | undefined,
    depthwise,
    'channelsLast',
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** NCHW -> NHWC shape. @internal */
export function toChannelsLast(shape: readonly number[]): number[] {
  return [shape[0]!, shape[2]!, shape[3]!, shape[1]!];
}

/** True when a kernel's `dataFormat` attribute asks for NCHW. @internal */
export function isChannelsFirst(dataFormat: unknown): boolean {
  return dataFormat === 'NCHW' || dataFormat === 'channelsFirst';
}

/**
 * Registers `config`, replacing a kernel already registered under the same name and backend; returns the
 * replaced config (or null) so the caller can restore it. The replaced kernel's `setupFunc` (wasm kernels
 * bind their C++ function there when the backend initialises) is kept, so that falling back to it, or
 * restoring it, works whether the backend initialises before or after the replacement.
 * @internal
 */
export function replaceKernel(config: tf.KernelConfig): tf.KernelConfig | null {
  const previous = tf.getKernel(config.kernelName, config.backendName) ?? null;
  if (previous != null) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(previous?.setupFunc != null ? { ...config, setupFunc: previous.setupFunc } : config);
  return previous;
}

/** Undoes {@link replaceKernel}. @internal */
export function restoreKernel(
  kernelName: string,
  backendName: string,
  previous: tf.KernelConfig | null,
): void {
  if (tf.getKernel(kernelName, backendName) != null) tf.unregisterKernel(kernelName, backendName);
  if (previous == null) return;
  tf.registerKernel(previous);
  const backend = (tf.engine().registry as Record<string, tf.KernelBackend | undefined>)[backendName];
  if (backend != null) previous.setupFunc?.(backend);
}
