/**
 * Data-parallel training steps for {@link train} in Node (`workers > 0`): each batch is split into
 * `workers + 1` parts; the main thread computes the gradients of the first part while each gradient
 * worker (`gradient_worker.ts`, a `worker_thread` with its own tfjs backend and one wasm thread)
 * computes those of one other part from the same weights; the main thread then averages them,
 * weighted by the parts' sizes, and takes one SGD step.
 *
 * Why: on the small networks a CPU can train, two wasm threads inside one backend give only about
 * 1.1x one thread (most ops between XNNPACK's convolutions run on one thread, and so does the
 * JavaScript between kernels); two processes of one thread each scale with the cores. The step is
 * the full batch's gradient (the mean loss of the parts, weighted, is the batch's mean loss), except
 * that BatchNorm normalises each part with that part's own statistics (as PyTorch's
 * DistributedDataParallel does without SyncBatchNorm) and its moving statistics are the main
 * thread's part's.
 * @module
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { importAtRuntime } from '../node_env';
import { withSeededRandom } from '../random';
import type {
  ForwardAnswer,
  ForwardRequest,
  GradientAnswer,
  GradientRequest,
  GradientWorkerInit,
  WeightsRequest,
} from './gradient_worker';
import { batchGradients, batchProbabilities, type ForwardOptions } from './gradients';
import type { OutputKind } from './loss';

type WorkerLike = {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  on(event: string, listener: (value: any) => void): void;
  terminate(): Promise<number>;
  unref(): void;
};

/**
 * How to start a worker: the built file beside this chunk (dist/train_worker.js), or, when
 * running from the TypeScript source (tsx, vitest), a tiny ES module that registers tsx's loader in
 * the worker and then imports `gradient_worker.ts` (a worker does not inherit a test runner's loader).
 */
async function workerEntry(): Promise<URL> {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) {
    return new URL('./train_worker.js', here); // an ES module in both builds (it awaits at top level)
  }
  const { createRequire } = await importAtRuntime<typeof import('node:module')>('node:module');
  const { pathToFileURL } = await importAtRuntime<typeof import('node:url')>('node:url');
  const tsxApi = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const source = new URL('./gradient_worker.ts', here).href;
  const code = `const { register } = await import(${JSON.stringify(tsxApi)}); register(); await import(${JSON.stringify(source)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

/**
 * The parent's Node flags minus those a worker cannot take (`--input-type` of `node -e` scripts,
 * which a worker refuses), so that the workers run under the same loaders and memory limits.
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--input-type') i++;
    else if (!argv[i]!.startsWith('--input-type=')) out.push(argv[i]!);
  }
  return out;
}

/** The gradient workers of one {@link train} run. @internal */
export class GradientWorkers {
  private nextId = 0;
  // Answers of every kind, matched to their request by id.
  private readonly waiting = new Map<number, { resolve: (a: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly workers: WorkerLike[]) {
    for (const w of workers) {
      w.on('message', (a: { id: number; error?: string }) => {
        const pending = this.waiting.get(a.id);
        if (!pending) return;
        this.waiting.delete(a.id);
        if (a.error) pending.reject(new Error(`train: a gradient worker failed: ${a.error}`));
        else pending.resolve(a);
      });
      w.on('error', (e: Error) => this.failAll(`train: a gradient worker stopped: ${e.message}`));
      w.on('exit', (code: number) => {
        if (!this.disposed) this.failAll(`train: a gradient worker exited (code ${code})`);
      });
    }
  }

  /** Starts `count` workers for `model` on the current backend; resolves when all are ready. */
  static async start(model: tfl.LayersModel, count: number, outputs: OutputKind): Promise<GradientWorkers> {
    const { Worker } = await importAtRuntime<typeof import('node:worker_threads')>('node:worker_threads');
    const url = await workerEntry();
    const init: GradientWorkerInit = {
      topology: model.toJSON(null, false) as object,
      backend: tf.getBackend(),
      outputs,
    };
    const workers = Array.from(
      { length: count },
      () => new Worker(url, { workerData: init, execArgv: workerExecArgv() }) as unknown as WorkerLike,
    );
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.on('message', (m: { ready?: boolean }) => {
              if (m.ready) resolve();
            });
            w.on('error', (e: Error) =>
              reject(new Error(`train: a gradient worker could not start: ${e.message}`)),
            );
            w.on('exit', (code: number) =>
              reject(new Error(`train: a gradient worker exited (code ${code}) while starting`)),
            );
          }),
      ),
    );
    return new GradientWorkers(workers);
  }

  /** Number of workers. */
  get count(): number {
    return this.workers.length;
  }

  /**
   * The gradients of the batch `xs`, `ys` at the current weights of `variables`: the first part on
   * this thread (while the workers compute theirs), then the average over the parts weighted by
   * their sizes. `seeds[k]` seeds `Math.random` for part k (null: unseeded). Returns tensors the
   * caller owns.
   */
  async batchGradients(
    model: tfl.LayersModel,
    variables: tf.Variable[],
    xs: tf.Tensor,
    ys: tf.Tensor,
    outputs: OutputKind,
    seeds: (number | null)[],
  ): Promise<{ loss: tf.Scalar; correct: tf.Scalar; grads: tf.Tensor[] }> {
    const batch = xs.shape[0]!;
    const sizes = this.partSizes(batch);
    const xsParts = tf.split(xs, sizes);
    const ysParts = tf.split(ys, sizes);
    const weights = variables.map((v) => v.dataSync() as Float32Array);
    const answers = sizes.slice(1).map((_, j) => {
      const k = j + 1;
      const request: GradientRequest = {
        op: 'gradients',
        id: this.nextId++,
        weights,
        xs: xsParts[k]!.dataSync() as Float32Array,
        xsShape: xsParts[k]!.shape,
        ys: ysParts[k]!.dataSync() as Float32Array,
        ysShape: ysParts[k]!.shape,
        seed: seeds[k] ?? null,
      };
      return this.ask<GradientAnswer>(j, request);
    });
    const run = () => batchGradients(model, variables, xsParts[0]!, ysParts[0]!, outputs);
    const mine = seeds[0] == null ? run() : withSeededRandom(seeds[0], run);
    tf.dispose([...xsParts, ...ysParts]);
    let others: GradientAnswer[];
    try {
      others = await Promise.all(answers);
    } catch (error) {
      tf.dispose([mine.loss, mine.correct, ...mine.grads]);
      throw error;
    }
    return tf.tidy(() => {
      const w0 = sizes[0]! / batch;
      const grads = mine.grads.map((g, i) => {
        let sum = tf.mul(g, w0);
        for (const [j, a] of others.entries()) {
          sum = tf.add(sum, tf.mul(tf.tensor(a.grads[i]!, g.shape, 'float32'), sizes[j + 1]! / batch));
        }
        return sum;
      });
      let loss = tf.mul(mine.loss, w0);
      // A clone, not `mine.correct` itself: that is disposed below, and with a batch of one image
      // (one part, no worker answers) it would otherwise be the tensor returned.
      let correct: tf.Tensor = mine.correct.clone();
      for (const [j, a] of others.entries()) {
        loss = tf.add(loss, (a.loss * sizes[j + 1]!) / batch);
        correct = tf.add(correct, a.correct);
      }
      tf.dispose([mine.loss, mine.correct, ...mine.grads]);
      return { loss: loss as tf.Scalar, correct: correct as tf.Scalar, grads };
    });
  }

  /** Sizes of the parts of a batch of `batch` images: this thread's first, as equal as can be. */
  private partSizes(batch: number): number[] {
    const parts = Math.min(this.workers.length + 1, batch);
    return Array.from({ length: parts }, (_, k) => Math.floor(batch / parts) + (k < batch % parts ? 1 : 0));
  }

  /** Sends `request` to worker `j`; resolves with its answer (rejects with the worker's error). */
  private ask<T>(j: number, request: GradientRequest | WeightsRequest | ForwardRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(request.id, { resolve: resolve as (a: unknown) => void, reject });
      this.workers[j]!.postMessage(request);
    });
  }

  /** Gives every worker all of `model`'s weights (BatchNorm's moving statistics too), for inference. */
  async setWeights(model: tfl.LayersModel): Promise<void> {
    const weights = model.weights.map((w) => w.read().dataSync() as Float32Array);
    await Promise.all(
      this.workers.map((_, j) =>
        this.ask<ForwardAnswer>(j, { op: 'weights', id: this.nextId++, weights } satisfies WeightsRequest),
      ),
    );
  }

  /**
   * The class scores of a batch in inference mode ({@link batchProbabilities}), its images split
   * between this thread and the workers (which must have had {@link setWeights}). The caller owns
   * the tensor.
   */
  async batchProbabilities(
    model: tfl.LayersModel,
    xs: tf.Tensor,
    options: ForwardOptions,
  ): Promise<{ scores: tf.Tensor; kind: ReturnType<typeof batchProbabilities>['kind'] }> {
    const batch = xs.shape[0]!;
    const sizes = this.partSizes(batch);
    const xsParts = tf.split(xs, sizes);
    const answers = xsParts.slice(1).map((part, j) =>
      this.ask<ForwardAnswer>(j, {
        op: 'forward',
        id: this.nextId++,
        xs: part.dataSync() as Float32Array,
        xsShape: part.shape,
        options,
      } satisfies ForwardRequest),
    );
    const mine = batchProbabilities(model, xsParts[0]!, options);
    tf.dispose(xsParts);
    let others: ForwardAnswer[];
    try {
      others = await Promise.all(answers);
    } catch (error) {
      mine.scores.dispose();
      throw error;
    }
    const scores = tf.tidy(() =>
      tf.concat([mine.scores, ...others.map((a) => tf.tensor(a.scores, a.scoresShape, 'float32'))], 0),
    );
    mine.scores.dispose();
    return { scores, kind: mine.kind };
  }

  private disposed = false;

  /** Rejects every pending request (a worker died: nothing it owed will come). */
  private failAll(message: string): void {
    for (const p of this.waiting.values()) p.reject(new Error(message));
    this.waiting.clear();
  }

  /** Stops the workers. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
