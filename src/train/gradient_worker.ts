/**
 * A gradient worker of {@link train}'s data-parallel mode (`workers > 0`), run in a Node
 * `worker_thread` by `data_parallel.ts`: it builds the model from its topology on its own tfjs
 * backend (one wasm thread), and for each request takes the current weights and its part of the
 * batch, and answers with the loss, the number of correct predictions and the gradients
 * (`batchGradients`, the same function the main thread runs on its part). It holds no optimizer
 * state: the main thread averages the gradients and takes the SGD step. For evaluation it takes
 * every weight once (`weights`) and then answers `forward` requests with class scores
 * (`batchProbabilities`).
 * @module
 * @internal
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type BackendName, useBackend } from '../backends/select';
import '../layers/index'; // registers fer-cbam's layer classes, which the topology names
import { withSeededRandom } from '../random';
import { batchGradients, batchProbabilities, type ForwardOptions } from './gradients';
import type { OutputKind } from './loss';

/** What the main thread sends when it starts a worker. @internal */
export interface GradientWorkerInit {
  topology: object;
  backend: string;
  outputs: OutputKind;
}

/** One request: the weights to use and a part of the batch. @internal */
export interface GradientRequest {
  op: 'gradients';
  id: number;
  weights: Float32Array[];
  xs: Float32Array;
  xsShape: number[];
  ys: Float32Array;
  ysShape: number[];
  /** Seed of `Math.random` (dropout) for the step, or null to leave it unseeded. */
  seed: number | null;
}

/** Every weight of the model (BatchNorm's moving statistics too), for inference. @internal */
export interface WeightsRequest {
  op: 'weights';
  id: number;
  weights: Float32Array[];
}

/** Class scores of a part of an evaluation batch (`batchProbabilities`). @internal */
export interface ForwardRequest {
  op: 'forward';
  id: number;
  xs: Float32Array;
  xsShape: number[];
  options: ForwardOptions;
}

/** The answer to a {@link ForwardRequest} (and, empty, to a {@link WeightsRequest}). @internal */
export interface ForwardAnswer {
  id: number;
  scores: Float32Array;
  scoresShape: number[];
  kind: OutputKind;
  error?: string;
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

async function gradients(r: GradientRequest): Promise<void> {
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
}

async function forward(r: ForwardRequest): Promise<void> {
  const xs = tf.tensor(r.xs, r.xsShape, 'float32');
  const { scores, kind } = batchProbabilities(model, xs, r.options);
  const values = new Float32Array(await scores.data());
  const answer: ForwardAnswer = { id: r.id, scores: values, scoresShape: scores.shape, kind };
  tf.dispose([xs, scores]);
  parentPort!.postMessage(answer, [values.buffer as ArrayBuffer]);
}

parentPort!.on('message', async (r: GradientRequest | WeightsRequest | ForwardRequest) => {
  try {
    if (r.op === 'gradients') await gradients(r);
    else if (r.op === 'forward') await forward(r);
    else {
      tf.tidy(() => {
        model.setWeights(model.weights.map((w, i) => tf.tensor(r.weights[i]!, w.read().shape, 'float32')));
      });
      parentPort!.postMessage({ id: r.id, scores: new Float32Array(0), scoresShape: [0], kind: 'logits' });
    }
  } catch (error) {
    parentPort!.postMessage({ id: r.id, error: String(error) });
  }
});
parentPort!.postMessage({ ready: true, backend: tf.getBackend() });
