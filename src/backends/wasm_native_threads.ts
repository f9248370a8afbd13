/**
 * Helper threads for fer-cbam's native kernels on tfjs-backend-wasm's threaded build. Each helper is a
 * worker holding its own instance of the shared-memory native module on the backend's (shared)
 * memory; a kernel call hands a disjoint part of its output to each helper and computes the first
 * part itself, so the tensors are read and written in place and nothing is copied.
 *
 * Why: the native kernels (native/*.c) are most of a training or inference step on the networks a CPU
 * can train (72 % of a ResNet-10 training step in a profile), and before these helpers they ran on
 * the calling thread only, so a second wasm thread sped a step up 1.13x.
 *
 * Hand-off: one `Int32Array` control block per helper in a `SharedArrayBuffer` holds the job (function,
 * arguments) and two counters. The caller bumps `seq` and notifies; the helper, parked in
 * `Atomics.wait`, runs the job and stores `seq` into `done`. The caller blocks on `done` where the
 * engine lets it (Node's main thread, workers) and spins elsewhere (a browser's main thread).
 * @module
 * @internal
 */

/** The native functions a helper can run, by index in a job. */
export const HELPER_FUNCTIONS = [
  'conv2d_nhwc',
  'conv2d_filter_grad_nhwc',
  'binary3',
  'max_middle',
  'channel_sums',
  'batch_norm_grad_sums',
  'batch_norm_dx',
  'winograd_filter_3x3',
  'conv2d_winograd_nhwc',
  'conv2d_winograd_filter_grad_nhwc',
  'winograd_filter_grad_finish',
  'copy_blocks',
] as const;
/** A function a helper can run. */
export type HelperFunction = (typeof HELPER_FUNCTIONS)[number];

const SEQ = 0;
const DONE = 1;
const FN = 2;
const FAILED = 3;
const ARGC = 4;
const ARGS = 5;
const MAX_ARGS = 27;

// The worker's whole program; plain JavaScript that runs as a Node worker_threads `eval` script and
// as a browser worker from a blob URL. It parks in Atomics.wait between jobs (no spinning, so it costs
// no CPU while the other kernels run).
const HELPER_SOURCE = `
const port = typeof require === 'function' ? require('node:worker_threads').parentPort : null;
const start = (data) => {
  const exports = new WebAssembly.Instance(data.module, { env: { memory: data.memory } }).exports;
  const fns = data.names.map((name) => exports[name]);
  const c = new Int32Array(data.control);
  const args = [];
  (port ?? self).postMessage('ready');
  let seen = 0;
  for (;;) {
    Atomics.wait(c, ${SEQ}, seen);
    const seq = Atomics.load(c, ${SEQ});
    if (seq === seen) continue;
    if (seq < 0) return;
    seen = seq;
    args.length = c[${ARGC}];
    for (let i = 0; i < args.length; i++) args[i] = c[${ARGS} + i];
    try {
      fns[c[${FN}]](...args);
      c[${FAILED}] = 0;
    } catch (e) {
      c[${FAILED}] = 1;
    }
    Atomics.store(c, ${DONE}, seq);
    Atomics.notify(c, ${DONE});
  }
};
if (port) port.once('message', start);
else self.onmessage = (event) => start(event.data);
`;

/** What fer-cbam needs of a Node `worker_threads.Worker` or a browser `Worker`. */
interface WorkerLike {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

/** Whether this thread may block in `Atomics.wait` (not a browser's main thread). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1); // returns 'not-equal' at once
    return true;
  } catch {
    return false;
  }
}

/**
 * Running helper threads, ready to take jobs. Not re-entrant: one kernel call at a time, from the thread
 * that created them (tfjs runs kernels one after another).
 * @internal
 */
export class NativeHelpers {
  private seq = 0;
  private readonly blocking = canBlock();

  private constructor(
    private readonly workers: WorkerLike[],
    private readonly controls: Int32Array[],
  ) {}

  /** Helper threads (the caller makes one more). */
  get count(): number {
    return this.controls.length;
  }

  /**
   * Starts `count` helpers on `memory` (shared) with the shared-memory build `module`; resolves when
   * every helper has instantiated it. Node: `worker_threads` from `workerThreads` (unreferenced, so they
   * never keep the process alive); elsewhere the global `Worker`.
   */
  static async start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    count: number,
    workerThreads?: { Worker: new (source: string, options: object) => WorkerLike & NodeWorkerEvents },
  ): Promise<NativeHelpers> {
    const workers: WorkerLike[] = [];
    const controls: Int32Array[] = [];
    try {
      const ready: Promise<void>[] = [];
      for (let k = 0; k < count; k++) {
        const control = new SharedArrayBuffer((ARGS + MAX_ARGS) * 4);
        let worker: WorkerLike;
        if (workerThreads) {
          const w = new workerThreads.Worker(HELPER_SOURCE, { eval: true, execArgv: [] });
          w.unref();
          ready.push(
            new Promise<void>((resolve, reject) => {
              w.once('message', () => resolve());
              w.once('error', reject);
            }),
          );
          worker = w;
        } else {
          const url = URL.createObjectURL(new Blob([HELPER_SOURCE], { type: 'text/javascript' }));
          const w = new Worker(url);
          URL.revokeObjectURL(url);
          ready.push(
            new Promise<void>((resolve, reject) => {
              w.onmessage = () => resolve();
              w.onerror = (event) => reject(new Error(event.message));
            }),
          );
          worker = w;
        }
        workers.push(worker);
        controls.push(new Int32Array(control));
        worker.postMessage({ module, memory, control, names: HELPER_FUNCTIONS });
      }
      await Promise.all(ready);
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new NativeHelpers(workers, controls);
  }

  /** Hands helper `k` the job `name(...args)` (int32 arguments) and returns at once. */
  post(k: number, name: HelperFunction, args: readonly number[]): void {
    const c = this.controls[k]!;
    if (args.length > MAX_ARGS) throw new RangeError(`native helper job ${name}: ${args.length} arguments`);
    this.seq = this.seq >= 0x3fffffff ? 1 : this.seq + 1;
    c[FN] = HELPER_FUNCTIONS.indexOf(name);
    c[ARGC] = args.length;
    for (let i = 0; i < args.length; i++) c[ARGS + i] = args[i]!;
    Atomics.store(c, SEQ, this.seq);
    Atomics.notify(c, SEQ);
  }

  /** Waits until helper `k` has finished its last job; throws if the job trapped. */
  wait(k: number): void {
    const c = this.controls[k]!;
    for (;;) {
      const done = Atomics.load(c, DONE);
      if (done === this.seq) break;
      if (this.blocking) Atomics.wait(c, DONE, done);
    }
    if (c[FAILED] !== 0) {
      throw new Error(`fer-cbam native helper thread ${k}: ${HELPER_FUNCTIONS[c[FN]!]} trapped`);
    }
  }

  /** Ends the helpers. */
  close(): void {
    for (const c of this.controls) {
      Atomics.store(c, SEQ, -1);
      Atomics.notify(c, SEQ);
    }
    for (const w of this.workers) w.terminate();
    this.controls.length = 0;
  }
}

/** The Node `Worker` events the start-up listens to. */
interface NodeWorkerEvents {
  once(event: string, listener: (...args: any[]) => void): unknown;
  unref(): void;
}
