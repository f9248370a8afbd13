/**
 * `npx tsx bench/faces.ts [--backend wasm] [--model DIR] [--rounds 3] [--threads N] [--json FILE] [--compare]`
 *
 * Speed of the face pipeline in Node: photos/s and faces/s for detect → crop → recognise, with the
 * time split into decoding, detection (BlazeFace) and classification. The photos are the real ones
 * shipped inside the optional dev dependency `@vladmandic/human` (read in place, never copied), plus
 * a composite of CK+ faces when ../shared/data is there. The classifier is `--model` (a saved
 * fer-cbam model), else `models/fer2013` when present, else an untrained ResNet-18 + CBAM (paper
 * placement, 44x44 input), which costs the same. Numbers are benchmarks; nothing is asserted.
 *
 * `--compare` also times detection + cropping with `largeFaces: false` (fer-cbam 0.1.0's single
 * look) beside the default, photo by photo in the same rounds (the order alternating), and checks
 * that both find the same faces with the same boxes.
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
    compare: { type: 'boolean', default: false },
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
// before/after: the single look (largeFaces: false) and the default, on the same decoded photos,
// alternating which goes first so neither always runs on a warmer cache
let compare: Record<string, unknown> | null = null;
if (values.compare) {
  const decoded = await Promise.all(photos.map((p) => readImage(p)));
  // count BlazeFace runs (the deterministic part of the cost) by wrapping its graph model's execute
  const graph = (detector as unknown as { model: { execute: (...a: unknown[]) => unknown } }).model;
  const execute = graph.execute.bind(graph);
  let runs = 0;
  graph.execute = (...a: unknown[]) => {
    runs++;
    return execute(...a);
  };
  const looks = photos.map(() => ({ single: 0, largeFaces: 0 }));
  const ms = { single: 0, largeFaces: 0 };
  const perPhotoMs = photos.map(() => ({ single: 0, largeFaces: 0 }));
  const same: boolean[] = photos.map(() => true);
  const faces = photos.map(() => ({ single: 0, largeFaces: 0 }));
  for (let r = 0; r < rounds; r++) {
    for (const [i, d] of decoded.entries()) {
      const order: ('single' | 'largeFaces')[] =
        (r + i) % 2 ? ['single', 'largeFaces'] : ['largeFaces', 'single'];
      const boxes: Record<string, string> = {};
      for (const which of order) {
        const runsBefore = runs;
        const t0 = performance.now();
        const found = await findFaceCrops(d.image, {
          detector,
          detect: 'on',
          largeFaces: which === 'largeFaces',
        });
        const dt = performance.now() - t0;
        looks[i]![which] = runs - runsBefore;
        ms[which] += dt;
        perPhotoMs[i]![which] += dt / rounds;
        faces[i]![which] = found.faces.length;
        boxes[which] = JSON.stringify(found.faces.map((f) => [f.box, f.score]));
      }
      if (boxes.single !== boxes.largeFaces) same[i] = false;
    }
  }
  const n = rounds * photos.length;
  compare = {
    msPerPhotoDetectAndCrop: { single: ms.single / n, largeFaces: ms.largeFaces / n },
    ratio: ms.largeFaces / ms.single,
    perPhoto: photos.map((p, i) => ({
      photo: path.basename(p),
      faces: faces[i],
      sameFacesAndBoxes: same[i],
      detectorRuns: looks[i],
      ms: perPhotoMs[i],
    })),
  };
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
  ...(compare ? { compare } : {}),
  loadAverage: os.loadavg(),
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
if (compare) {
  const c = compare as {
    msPerPhotoDetectAndCrop: { single: number; largeFaces: number };
    ratio: number;
    perPhoto: {
      photo: string;
      faces: unknown;
      sameFacesAndBoxes: boolean;
      detectorRuns: { single: number; largeFaces: number };
    }[];
  };
  console.log(
    `detect+crop per photo, same run: single look ${c.msPerPhotoDetectAndCrop.single.toFixed(1)} ms, ` +
      `largeFaces ${c.msPerPhotoDetectAndCrop.largeFaces.toFixed(1)} ms (x${c.ratio.toFixed(3)}); ` +
      `same faces and boxes, detector runs single/largeFaces: ${c.perPhoto
        .map((p) => `${p.photo} ${p.sameFacesAndBoxes} ${p.detectorRuns.single}/${p.detectorRuns.largeFaces}`)
        .join(', ')}`,
  );
}
if (values.json) writeFileSync(values.json, `${JSON.stringify(row, null, 2)}\n`);
detector.dispose();
model.dispose();
