/**
 * A gradient worker of {@link train}'s data-parallel mode (`workers > 0`), run in a Node
 * `worker_thread` by `data_parallel.ts`: it builds the model from its topology on its own tfjs
 * backend (one wasm thread), and for each request takes the current weights and its part of the
 * batch, and answers with the loss, the number of correct predictions and the gradients
 * (`batchGradients`, the same function the main thread runs on its part). It holds no optimizer
 * state: the main thread averages the gradients and takes the SGD step.
 * @module
 * @internal
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type BackendName, useBackend } from '../backends/select';
import '../layers/index'; // registers fer-cbam's layer classes, which the topology names
import { withSeededRandom } from '../random';
import { batchGradients } from './gradients';
import type { OutputKind } from './loss';

/** What the main thread sends when it starts a worker. @internal */
export interface GradientWorkerInit {
  topology: object;
  backend: string;
  outputs: OutputKind;
}

/** One request: the weights to use and a part of the batch. @internal */
export interface GradientRequest {
  id: number;
  weights: Float32Array[];
  xs: Float32Array;
  xsShape: number[];
  ys: Float32Array;
  ysShape: number[];
  /** Seed of `Math.random` (dropout) for the step, or null to leave it unseeded. */
  seed: number | null;
}

/** The answer to a {@link GradientRequest}. @internal */
export interface GradientAnswer {
  id: number;
  loss: number;
  correct: number;
  grads: Float32Array[];
  error?: string;
}

const init = workerData as GradientWorkerInit;
tf.env().set('PROD', true);
await useBackend(init.backend as BackendName, { wasm: { threads: 1 }, allowTensorflow: false });
const model = await tfl.models.modelFromJSON({ modelTopology: init.topology } as Parameters<
  typeof tfl.models.modelFromJSON
>[0]);
const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);

parentPort!.on('message', async (r: GradientRequest) => {
  try {
    tf.tidy(() => {
      for (const [i, v] of variables.entries()) v.assign(tf.tensor(r.weights[i]!, v.shape, 'float32'));
    });
    const xs = tf.tensor(r.xs, r.xsShape, 'float32');
    const ys = tf.tensor(r.ys, r.ysShape, 'float32');
    const run = () => batchGradients(model, variables, xs, ys, init.outputs);
    const out = r.seed === null ? run() : withSeededRandom(r.seed, run);
    // Copies: a backend may hand out its own buffer (cpu) or a view of a larger one, and these are transferred.
    const grads = (await Promise.all(out.grads.map((g) => g.data()))).map((g) => new Float32Array(g));
    const answer: GradientAnswer = {
      id: r.id,
      loss: (await out.loss.data())[0]!,
      correct: (await out.correct.data())[0]!,
      grads,
    };
    tf.dispose([xs, ys, out.loss, out.correct, ...out.grads]);
    parentPort!.postMessage(
      answer,
      grads.map((g) => g.buffer as ArrayBuffer),
    );
  } catch (error) {
    parentPort!.postMessage({ id: r.id, loss: Number.NaN, correct: 0, grads: [], error: String(error) });
  }
});
parentPort!.postMessage({ ready: true, backend: tf.getBackend() });
