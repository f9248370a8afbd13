/**
 * `npx tsx bench/faces.ts [--backend wasm] [--model DIR] [--rounds 3] [--threads N] [--json FILE]`
 *
 * Speed of the face pipeline in Node: photos/s and faces/s for detect → crop → recognise, with the
 * time split into decoding, detection (BlazeFace) and classification. The photos are the real ones
 * shipped inside the optional dev dependency `@vladmandic/human` (read in place, never copied), plus
 * a composite of CK+ faces when ../shared/data is there. The classifier is `--model` (a saved
 * fer-cbam model), else `models/fer2013` when present, else an untrained ResNet-18 + CBAM (paper
 * placement, 44x44 input), which costs the same. Numbers are benchmarks; nothing is asserted.
 */
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type BackendName, useBackend } from '../src/backends';
import { FER2013_CLASSES } from '../src/data/dataset';
import {
  classifyFaceCrops,
  findBlazeFaceWeights,
  findFaceCrops,
  loadFaceDetector,
  readImage,
} from '../src/faces';
import '../src/io/index';
import { createModel, setPreprocessing } from '../src/models';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    model: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string' },
    json: { type: 'string' },
  },
});

const weights = await findBlazeFaceWeights();
if (!weights) {
  console.error('bench/faces: install the optional dev dependency @vladmandic/human (the detector weights).');
  process.exit(1);
}
const assets = path.join(path.dirname(path.dirname(weights)), 'assets');
const photos = [
  'screenshot-facedetect.jpg',
  'screenshot-faceid.jpg',
  'screenshot-vrm.jpg',
  'screenshot-facematch.jpg',
  'samples.jpg',
]
  .map((f) => path.join(assets, f))
  .filter((f) => existsSync(f));

const backend = await useBackend(values.backend as BackendName, {
  ...(values.threads ? { wasm: { threads: Number(values.threads) } } : {}),
});

async function loadClassifier(): Promise<{ model: tfl.LayersModel; name: string }> {
  const dir =
    values.model ??
    (existsSync(path.join(root, 'models/fer2013/model.json')) ? path.join(root, 'models/fer2013') : null);
  if (dir) {
    const file = dir.endsWith('.json') ? dir : path.join(dir, 'model.json');
    return {
      model: await tfl.loadLayersModel(`file://${path.resolve(file)}`),
      name: path.relative(root, dir) || dir,
    };
  }
  const model = createModel('resnet18-cbam', { inputShape: [44, 44, 1], numClasses: 7 });
  setPreprocessing(model, {
    imageSize: 48,
    cropSize: 44,
    normalization: { mean: 0.5, std: 0.25 },
    classNames: [...FER2013_CLASSES],
  });
  return { model, name: 'resnet18-cbam (untrained)' };
}

const { model, name: modelName } = await loadClassifier();
const detector = await loadFaceDetector();
const rounds = Number(values.rounds);

// warm-up: one photo through the whole pipeline (kernel compilation, weight upload)
{
  const { faces } = await findFaceCrops(photos[0]!, { detector, detect: 'on' });
  await classifyFaceCrops(
    model,
    faces.map((f) => f.crop),
  );
}

let decodeMs = 0;
let detectMs = 0;
let classifyMs = 0;
let faceCount = 0;
let photoCount = 0;
const perPhoto: { photo: string; width: number; height: number; faces: number; ms: number }[] = [];
for (let r = 0; r < rounds; r++) {
  for (const photo of photos) {
    const t0 = performance.now();
    const decoded = await readImage(photo);
    const t1 = performance.now();
    const { faces } = await findFaceCrops(decoded.image, { detector, detect: 'on' });
    const t2 = performance.now();
    await classifyFaceCrops(
      model,
      faces.map((f) => f.crop),
    );
    const t3 = performance.now();
    decodeMs += t1 - t0;
    detectMs += t2 - t1;
    classifyMs += t3 - t2;
    faceCount += faces.length;
    photoCount++;
    if (r === 0) {
      perPhoto.push({
        photo: path.basename(photo),
        width: decoded.originalWidth,
        height: decoded.originalHeight,
        faces: faces.length,
        ms: t3 - t0,
      });
    }
  }
}
const total = (decodeMs + detectMs + classifyMs) / 1000;
const row = {
  backend,
  threads: values.threads ? Number(values.threads) : 'default',
  model: modelName,
  photos: photoCount,
  faces: faceCount,
  photosPerSec: photoCount / total,
  facesPerSec: faceCount / total,
  msPerPhoto: {
    decode: decodeMs / photoCount,
    detectAndCrop: detectMs / photoCount,
    classify: classifyMs / photoCount,
  },
  msPerFaceClassify: faceCount ? classifyMs / faceCount : null,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  tfjs: tf.version_core,
};
console.log(`face pipeline on ${backend} (${row.cores} cores, ${row.cpu}), classifier ${modelName}`);
for (const p of perPhoto)
  console.log(`  ${p.photo} ${p.width}x${p.height}: ${p.faces} faces, ${p.ms.toFixed(0)} ms`);
console.log(
  `${photoCount} photos, ${faceCount} faces in ${total.toFixed(2)} s: ${row.photosPerSec.toFixed(2)} photos/s, ` +
    `${row.facesPerSec.toFixed(1)} faces/s | per photo: decode ${row.msPerPhoto.decode.toFixed(0)} ms, ` +
    `detect+crop ${row.msPerPhoto.detectAndCrop.toFixed(0)} ms, classify ${row.msPerPhoto.classify.toFixed(0)} ms`,
);
if (values.json) writeFileSync(values.json, `${JSON.stringify(row, null, 2)}\n`);
detector.dispose();
model.dispose();
