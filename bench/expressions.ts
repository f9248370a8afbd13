/**
 * Expression models side by side on the same FER2013 PublicTest faces, in one run: fer-cbam's
 * pretrained models (`--models`, default the default model and `fer2013`) and face-api's FaceExpressionNet (`@vladmandic/face-api`, a dev-only
 * benchmark dependency that ships its weights). Faces/s at batch 1 and 32 on the wasm backend in
 * Node (alternating the two models per repetition so machine drift hits both), and accuracy on the
 * first --count PublicTest faces (single pass, no ten-crop, for both).
 *
 *   npx tsx bench/expressions.ts [--models realfaces,fer2013] [--count 1000] [--reps 5] [--threads 2] [--json out.json]
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  DEFAULT_PRETRAINED,
  FER2013_CLASSES,
  facesToInput,
  getPreprocessing,
  loadFer2013,
  loadPretrained,
  predictProbabilities,
  usageIndices,
  useBackend,
} from '../src/index';
import { writeFileAtomic } from '../src/io/index';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/fer2013/fer2013.csv.gz' },
    count: { type: 'string', default: '1000' },
    reps: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    json: { type: 'string' },
    models: { type: 'string', default: [...new Set([DEFAULT_PRETRAINED, 'fer2013'])].join(',') },
  },
});
await useBackend('wasm', { wasm: { threads: Number(args.threads) } });
const require = createRequire(import.meta.url);
// face-api's Node build for the wasm backend; it uses the same @tensorflow/tfjs-core instance as fer-cbam.
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const modelDir = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);
const ours = await Promise.all(
  args.models!.split(',').map(async (name) => {
    const model = await loadPretrained(name);
    if (getPreprocessing(model)!.classNames.join() !== FER2013_CLASSES.join()) {
      throw new Error(`--models: "${name}" does not answer FER2013's seven classes`);
    }
    return { name, model };
  }),
);

const data = await loadFer2013(args.data!);
const rows = usageIndices(data, 'PublicTest').slice(0, Number(args.count));
const faces = rows.map((r) => data.images.subarray(r * 2304, (r + 1) * 2304));
// face-api takes RGB images of any size (it resizes to 112x112 itself): the gray face in 3 channels.
const rgb = (face: Uint8Array) =>
  tf.tidy(() => tf.tile(tf.tensor3d(Float32Array.from(face), [48, 48, 1]), [1, 1, 3]) as tf.Tensor3D);
// face-api's label order, mapped onto FER2013's.
const FACEAPI_TO_FER = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'].map((l) =>
  FER2013_CLASSES.indexOf(
    ({ fearful: 'fear', disgusted: 'disgust', surprised: 'surprise' } as Record<string, string>)[l] ?? l,
  ),
);

async function oursPredict(model: tfl.LayersModel, batch: Uint8Array[]): Promise<number[]> {
  const x = facesToInput(batch, getPreprocessing(model)!);
  const p = predictProbabilities(model, x);
  const top = (await tf.argMax(p, 1).data()) as Int32Array;
  tf.dispose([x, p]);
  return Array.from(top);
}
async function faceapiPredict(batch: Uint8Array[]): Promise<number[]> {
  const inputs = batch.map(rgb);
  const out = await faceapi.nets.faceExpressionNet.predictExpressions(
    batch.length === 1 ? inputs[0] : inputs,
  );
  tf.dispose(inputs);
  const list = (Array.isArray(out) ? out : [out]) as Record<string, number>[];
  return list.map((e) => {
    const probs = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'].map((k) => e[k]!);
    return FACEAPI_TO_FER[probs.indexOf(Math.max(...probs))]!;
  });
}

const sides: Record<string, (batch: Uint8Array[]) => Promise<number[]>> = {
  ...Object.fromEntries(
    ours.map(({ name, model }) => [`fer-cbam ${name}`, (batch: Uint8Array[]) => oursPredict(model, batch)]),
  ),
  'face-api FaceExpressionNet': faceapiPredict,
};
const result: Record<string, Record<string, number>> = {};
for (const [name, fn] of Object.entries(sides)) {
  let correct = 0;
  for (let i = 0; i < faces.length; i += 32) {
    const pred = await fn(faces.slice(i, i + 32));
    pred.forEach((p, j) => {
      if (p === data.labels[rows[i + j]!]) correct++;
    });
  }
  result[name] = { accuracy: correct / faces.length };
}
for (const batch of [1, 32]) {
  const times: Record<string, number[]> = {};
  for (const name of Object.keys(sides)) {
    await sides[name]!(faces.slice(0, batch)); // warm-up
    times[name] = [];
  }
  for (let rep = 0; rep < Number(args.reps); rep++) {
    for (const [name, fn] of Object.entries(sides)) {
      const chunk = faces.slice(
        (rep * batch) % (faces.length - batch),
        ((rep * batch) % (faces.length - batch)) + batch,
      );
      const t0 = performance.now();
      await fn(chunk);
      times[name]!.push(performance.now() - t0);
    }
  }
  for (const [name, t] of Object.entries(times)) {
    t.sort((a, b) => a - b);
    result[name]![`facesPerSecBatch${batch}`] = batch / (t[Math.floor(t.length / 2)]! / 1000);
  }
}
console.log(
  `| model | PublicTest accuracy (first ${faces.length}, one pass) | faces/s batch 1 | faces/s batch 32 |`,
);
console.log('| --- | --- | --- | --- |');
for (const [name, r] of Object.entries(result)) {
  console.log(
    `| ${name} | ${(100 * r.accuracy!).toFixed(1)} % | ${r.facesPerSecBatch1!.toFixed(0)} | ${r.facesPerSecBatch32!.toFixed(0)} |`,
  );
}
if (args.json) await writeFileAtomic(args.json, `${JSON.stringify({ args, result }, null, 1)}\n`);
