/**
 * Counting WebGPU API calls (dispatches, submits, uniform writes, bind groups, readbacks) to find
 * where per-step overhead comes from: a diagnostic (the `fer-cbam/diagnostics` subpath), not part of
 * setting up the backend.
 * @module
 */
/** Counts of GPU work issued while a {@link WebGPUCounter} was running. @category Diagnostics */
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

/** A running counter; `stop()` removes the hooks and returns the totals. @category Diagnostics */
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
 * @category Diagnostics
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
