/**
 * Helper threads for fer-cbam's native kernels on tfjs-backend-wasm's threaded build. Each helper is a
 * worker holding its own instance of the shared-memory native module on the backend's (shared)
 * memory; the calling thread and the helpers each compute disjoint chunks of a kernel call's output,
 * so the tensors are read and written in place and nothing is copied.
 *
 * Why: the native kernels (native/*.c) are most of a training or inference step on the networks a CPU
 * can train (72 % of a ResNet-10 training step in a profile), and before these helpers they ran on
 * the calling thread only, so a second wasm thread sped a step up 1.13x.
 *
 * Hand-off: one `Int32Array` control block per helper (`seq`, `done`, `failed`) and one job block shared
 * by all threads in `SharedArrayBuffer`s. The job is a function, a list of chunks and the rule that gives
 * each chunk's arguments; the caller writes it, bumps every helper's `seq` and notifies, and then it and
 * the helpers, parked in `Atomics.wait` until then, claim chunks from a shared counter until none is
 * left. A helper stores `seq` into `done` when it finds the queue empty; the caller blocks on `done`
 * where the engine lets it (Node's main thread, workers) and spins elsewhere (a browser's main thread).
 * Internal to the backends (not tagged internal here: on the module comment the tag would strip the first
 * declaration from the typings).
 * @module
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
  'to_planar_padded',
  'conv2d_planar',
] as const;
/** A function a helper can run. */
export type HelperFunction = (typeof HELPER_FUNCTIONS)[number];

// Per helper: its own control block.
const SEQ = 0;
const DONE = 1;
const FAILED = 2;
const CONTROL_INTS = 3;
// Shared by all threads: the job, a queue of chunks. Each argument of chunk i (bounds [lo, hi)) run
// by thread t (0: the caller) is base + lo * coefLo + hi * coefHi + i * coefChunk + t * coefThread.
const MAX_ARGS = 24;
/** Most chunks one job is split into. */
const MAX_CHUNKS = 64;
const J_FN = 0;
const J_ARGC = 1;
const J_CHUNKS = 2;
const J_NEXT = 3;
const J_BASE = 4;
const J_LO = J_BASE + MAX_ARGS;
const J_HI = J_LO + MAX_ARGS;
const J_CHUNK = J_HI + MAX_ARGS;
const J_THREAD = J_CHUNK + MAX_ARGS;
const J_BOUNDS = J_THREAD + MAX_ARGS;
const JOB_INTS = J_BOUNDS + MAX_CHUNKS + 1;

// The chunk loop, the same in the helpers' source and on the calling thread: claim the next chunk,
// run it, until none is left. Chunks, not one fixed part per thread, because a vCPU of a shared
// machine can stall for milliseconds: the other threads then take its share instead of waiting.
const RUN_CHUNKS = `(fn, j, t, args) => {
  const argc = j[${J_ARGC}];
  args.length = argc;
  for (;;) {
    const i = Atomics.add(j, ${J_NEXT}, 1);
    if (i >= j[${J_CHUNKS}]) return;
    const lo = j[${J_BOUNDS} + i];
    const hi = j[${J_BOUNDS} + i + 1];
    for (let a = 0; a < argc; a++) {
      args[a] = j[${J_BASE} + a] + lo * j[${J_LO} + a] + hi * j[${J_HI} + a] + i * j[${J_CHUNK} + a] + t * j[${J_THREAD} + a];
    }
    fn(...args);
  }
}`;

// The worker's whole program; plain JavaScript that runs as a Node worker_threads `eval` script and
// as a browser worker from a blob URL. It parks in Atomics.wait between jobs (no spinning, so it costs
// no CPU while the other kernels run).
const HELPER_SOURCE = `
const port = typeof require === 'function' ? require('node:worker_threads').parentPort : null;
const runChunks = ${RUN_CHUNKS};
const start = (data) => {
  const exports = new WebAssembly.Instance(data.module, { env: { memory: data.memory } }).exports;
  const fns = data.names.map((name) => exports[name]);
  const c = new Int32Array(data.control);
  const j = new Int32Array(data.job);
  const args = [];
  (port ?? self).postMessage('ready');
  let seen = 0;
  for (;;) {
    Atomics.wait(c, ${SEQ}, seen);
    const seq = Atomics.load(c, ${SEQ});
    if (seq === seen) continue;
    if (seq < 0) return;
    seen = seq;
    try {
      runChunks(fns[j[${J_FN}]], j, data.thread, args);
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

/** {@link RUN_CHUNKS} on the calling thread (the same loop; no `eval`, which pages' CSP may forbid). */
function runChunks(fn: (...a: number[]) => void, j: Int32Array, t: number, args: number[]): void {
  const argc = j[J_ARGC]!;
  args.length = argc;
  for (;;) {
    const i = Atomics.add(j, J_NEXT, 1);
    if (i >= j[J_CHUNKS]!) return;
    const lo = j[J_BOUNDS + i]!;
    const hi = j[J_BOUNDS + i + 1]!;
    for (let a = 0; a < argc; a++) {
      args[a] =
        j[J_BASE + a]! + lo * j[J_LO + a]! + hi * j[J_HI + a]! + i * j[J_CHUNK + a]! + t * j[J_THREAD + a]!;
    }
    fn(...args);
  }
}

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

  private readonly args: number[] = [];

  private constructor(
    private readonly workers: WorkerLike[],
    private readonly controls: Int32Array[],
    private readonly job: Int32Array,
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
    const job = new SharedArrayBuffer(JOB_INTS * 4);
    try {
      const ready: Promise<void>[] = [];
      for (let k = 0; k < count; k++) {
        const control = new SharedArrayBuffer(CONTROL_INTS * 4);
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
        worker.postMessage({ module, memory, control, job, thread: k + 1, names: HELPER_FUNCTIONS });
      }
      await Promise.all(ready);
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new NativeHelpers(workers, controls, new Int32Array(job));
  }

  /**
   * Runs `fn` (the calling thread's instance of helper function `name`) over the chunks `[bounds[i],
   * bounds[i + 1])` on this thread and every helper, each thread claiming the next chunk until none is
   * left, and returns when all are done; throws if a chunk trapped. `args(lo, hi, chunk, thread)` gives
   * a chunk's int32 arguments and must be affine in each of its four inputs (checked).
   */
  run(
    name: HelperFunction,
    fn: (...a: number[]) => void,
    bounds: readonly number[],
    args: (lo: number, hi: number, chunk: number, thread: number) => number[],
  ): void {
    const chunks = bounds.length - 1;
    if (chunks < 1 || chunks > MAX_CHUNKS)
      throw new RangeError(`native helper job ${name}: ${chunks} chunks`);
    const base = args(0, 0, 0, 0);
    const argc = base.length;
    if (argc > MAX_ARGS) throw new RangeError(`native helper job ${name}: ${argc} arguments`);
    const j = this.job;
    const coefficients = [args(1, 0, 0, 0), args(0, 1, 0, 0), args(0, 0, 1, 0), args(0, 0, 0, 1)];
    const probe = args(3, 5, 7, 2);
    for (let a = 0; a < argc; a++) {
      const [lo, hi, ch, th] = coefficients.map((c) => c[a]! - base[a]!) as [number, number, number, number];
      if (probe[a] !== base[a]! + 3 * lo + 5 * hi + 7 * ch + 2 * th) {
        throw new Error(`native helper job ${name}: argument ${a} is not affine in (lo, hi, chunk, thread)`);
      }
      j[J_BASE + a] = base[a]!;
      j[J_LO + a] = lo;
      j[J_HI + a] = hi;
      j[J_CHUNK + a] = ch;
      j[J_THREAD + a] = th;
    }
    j[J_FN] = HELPER_FUNCTIONS.indexOf(name);
    j[J_ARGC] = argc;
    j[J_CHUNKS] = chunks;
    for (let i = 0; i <= chunks; i++) j[J_BOUNDS + i] = bounds[i]!;
    Atomics.store(j, J_NEXT, 0);
    this.seq = this.seq >= 0x3fffffff ? 1 : this.seq + 1;
    for (const c of this.controls) {
      Atomics.store(c, SEQ, this.seq);
      Atomics.notify(c, SEQ);
    }
    let failure: unknown;
    try {
      runChunks(fn, j, 0, this.args);
    } catch (e) {
      failure = e;
      Atomics.store(j, J_NEXT, chunks); // the helpers stop claiming
    }
    for (const [k, c] of this.controls.entries()) {
      for (;;) {
        const done = Atomics.load(c, DONE);
        if (done === this.seq) break;
        if (this.blocking) Atomics.wait(c, DONE, done);
      }
      if (c[FAILED] !== 0 && failure === undefined) {
        failure = new Error(`fer-cbam native helper thread ${k + 1}: ${name} trapped`);
      }
    }
    if (failure !== undefined) throw failure;
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
