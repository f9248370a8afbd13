/**
 * The recipe of the `realfaces` model: FER2013's seven classes, trained for photos of real people.
 * FER2013's Training rows plus the CK+48 faces of two thirds of CK+'s subjects (posed studio faces,
 * repeated `--ck-repeat` times per epoch), with augmentation for the shift from web thumbnails to
 * photos (rotation, zoom, brightness, contrast, random erasing, on top of crops and mirrors).
 *
 *   npx tsx examples/train-realfaces.ts --out campaign/realfaces            # start (or --resume)
 *   npx tsx examples/train-realfaces.ts --out campaign/realfaces --resume   # continue a stopped run
 *
 * Selection uses two checks the model never trains on: FER2013's PublicTest rows (train()'s
 * validation, `best/`), and the **CK+ hold-out**, the other third of CK+'s subjects (fold 0 of
 * `subjectKFold(subjects, 3, 0, labels)`, contempt left out since FER2013 has no such class). After
 * every epoch the run scores the hold-out with one centre crop (what `predictProbabilities` sees) and
 * appends it to `<out>/holdout.jsonl`, with the recall of each class; before the first epoch it
 * scores the shipped `fer2013` model on the same faces, for reference.
 *
 * Every option is recorded in `<out>/recipe.json` on a fresh start; `--resume` refuses a different
 * recipe, since the data and augmentation must match the checkpoint for an exact resume.
 *
 * **Distillation** (a second stage): `--teachers a,b` trains on soft targets that blend each image's
 * label with the mean probabilities of trained models (`teacherTargets`; pretrained names or saved
 * model folders, e.g. an ensemble of two seeds), `--teacher-weight` of them; `--init` starts from a
 * trained model's weights (same architecture) instead of new ones. The targets are computed once and
 * kept in `<out>/teacher-targets.f32`, so a resume reads them back.
 *
 *   npx tsx examples/train-realfaces.ts --out campaign/distil --init realfaces \
 *     --teachers realfaces,campaign/realfaces-seed2/best --epochs 30 --lr 0.02
 *
 * Data: `--fer` (fer2013.csv.gz) and `--ckplus` (the CK+48 folder); both are research-only and are
 * never copied into the repository. In your project import from 'fer-cbam'.
 */

import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  type AugmentOptions,
  type BackendName,
  createModel,
  datasetStats,
  evaluate,
  type FaceDataset,
  FER2013_CLASSES,
  getPreprocessing,
  isPretrainedName,
  loadCkPlus,
  loadFer2013,
  loadPretrained,
  type Normalization,
  remapClasses,
  subjectKFold,
  subsetDataset,
  teacherTargets,
  train,
  useBackend,
} from '../src/index';
import { writeFileAtomic } from '../src/io/index';

const { values: args } = parseArgs({
  options: {
    fer: { type: 'string', default: '../shared/data/fer2013/fer2013.csv.gz' },
    ckplus: { type: 'string', default: '../shared/data/ckplus/CK+48' },
    arch: { type: 'string', default: 'resnet10w24-cbam' },
    epochs: { type: 'string', default: '60' },
    'batch-size': { type: 'string', default: '128' },
    lr: { type: 'string', default: '0.05' },
    seed: { type: 'string', default: '1' },
    'ck-repeat': { type: 'string', default: '4' },
    rotation: { type: 'string', default: '10' },
    scale: { type: 'string', default: '0.1' },
    brightness: { type: 'string', default: '0.25' },
    contrast: { type: 'string', default: '0.25' },
    erase: { type: 'string', default: '0.25' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: '1' },
    workers: { type: 'string', default: '1' },
    limit: { type: 'string' },
    out: { type: 'string', default: 'campaign/realfaces' },
    init: { type: 'string' },
    teachers: { type: 'string' },
    'teacher-weight': { type: 'string', default: '0.5' },
    'teacher-temperature': { type: 'string', default: '1' },
    resume: { type: 'boolean', default: false },
    overwrite: { type: 'boolean', default: false },
  },
});

const recipe = {
  arch: args.arch!,
  epochs: Number(args.epochs),
  batchSize: Number(args['batch-size']),
  lr: Number(args.lr),
  seed: Number(args.seed),
  ckRepeat: Number(args['ck-repeat']),
  augment: {
    crop: true,
    flip: true,
    rotation: Number(args.rotation),
    scale: Number(args.scale),
    brightness: Number(args.brightness),
    contrast: Number(args.contrast),
    erase: Number(args.erase),
  } satisfies AugmentOptions,
  workers: Number(args.workers),
  limit: args.limit === undefined ? null : Number(args.limit),
  holdout: 'ckplus subjectKFold(subjects, 3, 0, labels) fold 0, contempt left out',
  // Recorded only when given, so the recipes of runs without them read as before.
  ...(args.init === undefined ? {} : { init: args.init }),
  ...(args.teachers === undefined
    ? {}
    : {
        teachers: args.teachers.split(','),
        teacherWeight: Number(args['teacher-weight']),
        teacherTemperature: Number(args['teacher-temperature']),
      }),
};
const out = args.out!;
const recipeFile = path.join(out, 'recipe.json');
if (args.resume && existsSync(recipeFile)) {
  const before = readFileSync(recipeFile, 'utf8');
  if (before !== JSON.stringify(recipe, null, 2)) {
    throw new Error(
      `--resume: ${recipeFile} records another recipe than these options:\n${before}\nrun with the same options (or start a new --out).`,
    );
  }
}

const backend = await useBackend(args.backend as BackendName, {
  wasm: { threads: Number(args.threads) },
});

/** FER2013 rows and CK+ faces in one dataset (CK+ rows marked Training, so PublicTest stays validation). */
function concatDatasets(parts: { ds: FaceDataset; repeat: number; usage: number }[]): FaceDataset {
  const { height, width } = parts[0]!.ds;
  const count = parts.reduce((n, p) => n + p.ds.count * p.repeat, 0);
  const images = new Uint8Array(count * height * width);
  const labels = new Uint8Array(count);
  const usages = new Uint8Array(count);
  let at = 0;
  for (const { ds, repeat, usage } of parts) {
    if (ds.height !== height || ds.width !== width) throw new Error('concatDatasets: sizes differ');
    for (let r = 0; r < repeat; r++) {
      images.set(ds.images, at * height * width);
      labels.set(ds.labels, at);
      usages.fill(usage, at, at + ds.count);
      at += ds.count;
    }
  }
  return { count, height, width, images, labels, usages, classNames: [...FER2013_CLASSES] };
}

const fer = await loadFer2013(args.fer!);
const ckAll = await loadCkPlus(args.ckplus!);
const folds = subjectKFold(ckAll.subjects, 3, 0, ckAll.labels);
const toFer = (ds: FaceDataset) =>
  remapClasses(ds, FER2013_CLASSES, { anger: 'angry', sadness: 'sad', contempt: null }, 'ckplus');
const ckTrain = toFer(subsetDataset(ckAll, folds[0]!.train));
const ckHoldout = toFer(subsetDataset(ckAll, folds[0]!.test));
const ferTrainIdx: number[] = [];
for (let i = 0; i < fer.count; i++) if (fer.usages![i] === 0) ferTrainIdx.push(i);
const ferTrain = subsetDataset(fer, recipe.limit === null ? ferTrainIdx : ferTrainIdx.slice(0, recipe.limit));
const trainSet = concatDatasets([
  { ds: ferTrain, repeat: 1, usage: 0 },
  { ds: ckTrain, repeat: recipe.ckRepeat, usage: 0 },
]);
const subjectsOf = (idx: number[]) => new Set(idx.map((i) => ckAll.subjects[i])).size;
console.log(
  `backend ${backend}; training on ${ferTrain.count} FER2013 rows + ${ckTrain.count} CK+ faces x${recipe.ckRepeat} ` +
    `(${subjectsOf(folds[0]!.train)} subjects); CK+ hold-out ${ckHoldout.count} faces of ${subjectsOf(folds[0]!.test)} other subjects`,
);

const CLASS_SHORT = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise'];
async function scoreHoldout(model: tfl.LayersModel, normalization: Normalization) {
  const r = await evaluate(model, ckHoldout, { normalization, cropSize: 44 });
  const recall: Record<string, number> = {};
  for (const name of CLASS_SHORT) {
    const c = FER2013_CLASSES.indexOf(name);
    recall[name] = r.perClass[c]!.recall;
  }
  return { accuracy: r.accuracy, recall };
}

await mkdir(out, { recursive: true });
const holdoutLog = path.join(out, 'holdout.jsonl');
if (!args.resume) {
  const reference = await loadPretrained('fer2013');
  const ref = await scoreHoldout(reference, getPreprocessing(reference)!.normalization);
  reference.dispose();
  console.log(`CK+ hold-out, shipped fer2013 (reference): ${(100 * ref.accuracy).toFixed(2)} %`);
  await writeFile(holdoutLog, `${JSON.stringify({ model: 'fer2013 0.1.0', ...ref })}\n`);
  await writeFile(recipeFile, JSON.stringify(recipe, null, 2));
}

/** A pretrained name (`realfaces`) or a saved model folder. */
const loadModel = (from: string) =>
  isPretrainedName(from)
    ? loadPretrained(from)
    : tfl.loadLayersModel(`file://${path.resolve(from.replace(/\/model\.json$/, ''))}/model.json`);

let trainData = trainSet;
if (recipe.teachers) {
  // Soft targets from the teachers, computed once per run (a few minutes) and read back on resume.
  const file = path.join(out, 'teacher-targets.f32');
  const classes = FER2013_CLASSES.length;
  if (args.resume && existsSync(file)) {
    const bytes = await readFile(file);
    const softLabels = new Float32Array(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    );
    if (softLabels.length !== trainSet.count * classes) {
      throw new Error(
        `${file}: ${softLabels.length} values, expected ${trainSet.count * classes}; delete it to recompute`,
      );
    }
    trainData = { ...trainSet, softLabels };
  } else {
    const teachers = await Promise.all(recipe.teachers.map(loadModel));
    let lastLog = 0;
    trainData = await teacherTargets(teachers, trainSet, {
      weight: recipe.teacherWeight,
      temperature: recipe.teacherTemperature,
      onProgress(done, total) {
        if (performance.now() - lastLog < 30_000 && done !== total) return;
        lastLog = performance.now();
        console.log(`teacher targets ${done}/${total}`);
      },
    });
    for (const t of teachers) t.dispose();
    await writeFileAtomic(file, new Uint8Array(trainData.softLabels!.buffer));
  }
}

const model = createModel(recipe.arch, {
  numClasses: FER2013_CLASSES.length,
  classifierActivation: 'linear',
  seed: recipe.seed,
});
if (recipe.init && !args.resume) {
  // Start from a trained model's weights (the same architecture: setWeights checks every shape).
  const init = await loadModel(recipe.init);
  model.setWeights(init.getWeights());
  init.dispose();
}
// The training images' statistics, as train()'s 'dataset' default would compute them; explicit so
// the per-epoch hold-out check uses the same values.
const normalization = datasetStats(trainSet);
const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
const started = performance.now();
let lastLine = 0;
const result = await train(
  model,
  { train: trainData, validation: fer },
  {
    epochs: recipe.epochs,
    batchSize: recipe.batchSize,
    schedule: { type: 'onecycle', maxLearningRate: recipe.lr },
    nesterov: true,
    normalization,
    augment: recipe.augment,
    seed: recipe.seed,
    workers: recipe.workers,
    checkpointDir: out,
    resume: args.resume,
    overwrite: args.overwrite,
    signal: stop.signal,
    callbacks: {
      onProgress(p) {
        const now = performance.now();
        if (now - lastLine < 60_000 && p.batch !== p.batches) return;
        lastLine = now;
        console.log(
          `epoch ${p.epoch + 1}/${p.epochs} ${p.phase} ${p.batch}/${p.batches} loss ${p.loss.toFixed(3)} ` +
            `acc ${(100 * p.accuracy).toFixed(1)} % lr ${p.lr.toFixed(4)} ${p.imagesPerSec.toFixed(0)} img/s ` +
            `eta ${(p.etaSeconds / 3600).toFixed(2)} h`,
        );
      },
      async onEpochEnd(log) {
        const h = await scoreHoldout(model, normalization);
        const line = {
          epoch: log.epoch,
          valAccuracy: log.valAccuracy,
          holdout: h.accuracy,
          recall: h.recall,
        };
        await appendFile(holdoutLog, `${JSON.stringify(line)}\n`);
        console.log(
          `epoch ${log.epoch}: PublicTest ${(100 * (log.valAccuracy ?? 0)).toFixed(2)} %, CK+ hold-out ` +
            `${(100 * h.accuracy).toFixed(2)} % (${CLASS_SHORT.map((n) => `${n} ${(100 * h.recall[n]!).toFixed(0)}`).join(', ')})`,
        );
      },
    },
  },
);
console.log(
  `${result.stopped ? 'stopped' : 'done'} after epoch ${result.epochsCompleted} in ` +
    `${((performance.now() - started) / 60000).toFixed(1)} min; best PublicTest ` +
    `${(100 * (result.best?.value ?? 0)).toFixed(2)} % at epoch ${result.best?.epoch}`,
);
