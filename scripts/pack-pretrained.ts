/**
 * Turns a trained run into a shipped pretrained model and the numbers of its model card:
 *
 *   npx tsx scripts/pack-pretrained.ts --name fer2013 --from runs/fer2013/best --log runs/fer2013/log.jsonl
 *   npx tsx scripts/pack-pretrained.ts --name ferplus --from runs/ferplus/best --log runs/ferplus/log.jsonl
 *   npx tsx scripts/pack-pretrained.ts --name ckplus  --from runs/ckplus --cv runs/ckplus-cv.json
 *   npx tsx scripts/pack-pretrained.ts --name realfaces --from campaign/realfaces/best --log campaign/realfaces/log.jsonl --holdout
 *   npx tsx scripts/pack-pretrained.ts --name fer2013 --speed-only   # re-measure faces/s on a quiet machine
 *
 * Writes models/<name>/ (model.json + float16 weights.bin, loadable with plain tf.loadLayersModel),
 * updates the entry's weightBytes and weightsSha256 in src/pretrained/catalog.ts (loadPretrained
 * checks them; after replacing models/<name>/ by other means run `npx tsx scripts/catalog-digests.ts`),
 * and docs/models/<name>.json (metrics of the float32 and the float16 model, per class, confusion
 * matrix, sizes, speed) with docs/models/<name>-confusion.png and <name>-curve.png. FER2013 and FER+
 * models are scored on the PublicTest rows (the validation split; PrivateTest is never read), CK+ by
 * its cross-validation results (--cv, from examples/train-ckplus.ts --json). `--holdout` also scores
 * the CK+ hold-out of examples/train-realfaces.ts (the CK+48 faces of 39 subjects it never trains on,
 * contempt left out, one centre crop as `predict` sees it) with the recall of each class, for the
 * packed model and, on the same faces, the shipped `fer2013` model it is compared with.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  confusionMatrixPng,
  type EvaluationResult,
  evaluate,
  type FaceDataset,
  FER2013_CLASSES,
  FERPLUS_CLASSES,
  getPreprocessing,
  loadCkPlus,
  loadFer2013,
  loadFerPlus,
  subsetDataset,
  usageIndices,
  useBackend,
} from '../src/index';
import { fileSystem, writeFileAtomic } from '../src/io/index';
import { toFloat16Artifacts } from '../src/pretrained/index';
import { CATALOG, updateCatalogDigests } from './catalog-digests';
import { CKPLUS_HOLDOUT_DEFINITION, ckplusHoldout, ckplusHoldoutIndices } from './ckplus-holdout';
import { curvePng } from './curve_png';

const { values: args } = parseArgs({
  options: {
    name: { type: 'string' },
    from: { type: 'string' },
    log: { type: 'string' },
    cv: { type: 'string' },
    data: { type: 'string', default: '../shared/data/fer2013/fer2013.csv.gz' },
    votes: { type: 'string', default: '../shared/data/ferplus/fer2013new.csv' },
    ckplus: { type: 'string', default: '../shared/data/ckplus/CK+48' },
    holdout: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'wasm' },
    'speed-only': { type: 'boolean', default: false },
  },
});
const name = args.name;
if (!name || (!args.from && !args['speed-only'])) {
  throw new Error('usage: --name <name in models/> --from <model dir> | --speed-only');
}
await useBackend(args.backend as 'wasm');
if (args['speed-only']) {
  const file = resolve('docs/models', `${name}.json`);
  const card = JSON.parse(await readFile(file, 'utf8'));
  const model = await tfl.loadLayersModel(fileSystem(resolve('models', name, 'model.json')));
  card.facesPerSecondWasmNode = await facesPerSecond(model, getPreprocessing(model)!.cropSize);
  await writeFileAtomic(file, `${JSON.stringify(card, null, 1)}\n`);
  console.log(`${name}: ${JSON.stringify(card.facesPerSecondWasmNode)} faces/s (wasm, Node)`);
  process.exit(0);
}

const fromJson = resolve(args.from!.replace(/\/model\.json$/, ''), 'model.json');
const outDir = resolve('models', name);
await mkdir(outDir, { recursive: true });
await mkdir('docs/models', { recursive: true });
const source = await tfl.loadLayersModel(fileSystem(fromJson));
const pre = getPreprocessing(source);
if (!pre) throw new Error(`${fromJson}: no stored preprocessing`);
await source.save(tf.io.withSaveHandler(async (a) => fileSystem(outDir).save(toFloat16Artifacts(a))));
const shipped = await tfl.loadLayersModel(fileSystem(join(outDir, 'model.json')));
const weightBytes = (await stat(join(outDir, 'weights.bin'))).size;
console.log(
  `${name}: wrote ${outDir} (${weightBytes} bytes of float16 weights, ${source.countParams()} parameters)`,
);
// loadPretrained refuses weights whose SHA-256 is not the catalog's: record the new file's.
for (const line of await updateCatalogDigests(resolve('.'), [name])) console.log(`${CATALOG}: ${line}`);

function summary(r: EvaluationResult) {
  return {
    accuracy: r.accuracy,
    meanClassAccuracy: r.meanClassAccuracy,
    macroF1: r.macroF1,
    perClass: r.perClass,
    confusionMatrix: r.confusionMatrix,
  };
}

const card: Record<string, unknown> = {
  name,
  parameters: source.countParams(),
  weightBytes,
  preprocessing: pre,
};
let confusion: EvaluationResult | undefined;
// The PublicTest rows score any model with FER2013's seven classes (its labels) or FER+'s eight
// (the majority of the ten votes); a model with other classes (ckplus) has no such validation set.
const sameClasses = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((c, i) => c === b[i]);
const publicTestLabels = sameClasses(pre.classNames, FER2013_CLASSES)
  ? 'fer2013'
  : sameClasses(pre.classNames, FERPLUS_CLASSES)
    ? 'ferplus'
    : null;
if (publicTestLabels) {
  let data: FaceDataset = await loadFer2013(args.data!);
  if (publicTestLabels === 'ferplus') data = await loadFerPlus(data, args.votes!, { mode: 'majority' });
  const test = subsetDataset(data, usageIndices(data, 'PublicTest'));
  const opts = { cropSize: pre.cropSize, normalization: pre.normalization };
  const results: Record<string, unknown> = {};
  for (const [label, model] of [
    ['float32', source],
    ['float16', shipped],
  ] as const) {
    const single = await evaluate(model, test, opts);
    const ten = await evaluate(model, test, { ...opts, tenCrop: true });
    results[label] = { singleCrop: summary(single), tenCrop: summary(ten) };
    if (label === 'float16') confusion = ten;
    console.log(
      `${name} ${label}: PublicTest (${test.count} images) single-crop ${(100 * single.accuracy).toFixed(2)} %, ten-crop ${(100 * ten.accuracy).toFixed(2)} %`,
    );
  }
  card.publicTest = { count: test.count, ...results };
  // Agreement of the float16 and float32 predictions, image by image.
  const x = tf.randomUniform([64, pre.cropSize, pre.cropSize, 1], -2, 2, 'float32', 7);
  const a = source.predict(x) as tf.Tensor;
  const b = shipped.predict(x) as tf.Tensor;
  card.float16MaxLogitDifference = (await tf.max(tf.abs(tf.sub(a, b))).data())[0];
}
if (args.holdout) {
  const ck = await loadCkPlus(args.ckplus!);
  const holdout = ckplusHoldout(ck);
  const reference = await tfl.loadLayersModel(fileSystem(resolve('models/fer2013/model.json')));
  const score = async (model: tfl.LayersModel) => {
    const p = getPreprocessing(model)!;
    const r = await evaluate(model, holdout, { cropSize: p.cropSize, normalization: p.normalization });
    return {
      accuracy: r.accuracy,
      meanClassAccuracy: r.meanClassAccuracy,
      recall: Object.fromEntries(r.perClass.filter((c) => c.support > 0).map((c) => [c.name, c.recall])),
      support: Object.fromEntries(r.perClass.filter((c) => c.support > 0).map((c) => [c.name, c.support])),
    };
  };
  card.ckplusHoldout = {
    what: `CK+48 faces of the 39 subjects of ${CKPLUS_HOLDOUT_DEFINITION}, contempt left out; one centre crop`,
    faces: holdout.count,
    subjects: new Set(ckplusHoldoutIndices(ck).map((i) => ck.subjects![i])).size,
    shipped: await score(shipped),
    fer2013: await score(reference),
  };
  const h = card.ckplusHoldout as { shipped: { accuracy: number }; fer2013: { accuracy: number } };
  console.log(
    `${name}: CK+ hold-out (${holdout.count} faces) ${(100 * h.shipped.accuracy).toFixed(2)} %, fer2013 ${(100 * h.fer2013.accuracy).toFixed(2)} %`,
  );
}
if (args.cv) card.crossValidation = JSON.parse(await readFile(args.cv, 'utf8'));
if (confusion) {
  await writeFile(
    resolve('docs/models', `${name}-confusion.png`),
    await confusionMatrixPng(confusion.confusionMatrix, confusion.classNames),
  );
}
if (args.log) {
  const rows = (await readFile(args.log, 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .map(
      (l) =>
        JSON.parse(l) as {
          epoch: number;
          loss: number;
          accuracy: number;
          valAccuracy?: number;
          seconds?: number;
        },
    );
  card.log = rows;
  await writeFile(resolve('docs/models', `${name}-curve.png`), await curvePng(rows, name));
}

const speed = await facesPerSecond(shipped, pre.cropSize);
card.facesPerSecondWasmNode = speed;
console.log(
  `${name}: ${speed.batch1!.toFixed(0)} faces/s at batch 1, ${speed.batch32!.toFixed(0)} at batch 32 (wasm, Node)`,
);
await writeFileAtomic(resolve('docs/models', `${name}.json`), `${JSON.stringify(card, null, 1)}\n`);

/** Inference speed on wasm in Node: faces per second at batch 1 and 32 (warm, median of 7). */
async function facesPerSecond(
  model: tfl.LayersModel,
  crop: number,
): Promise<{ batch1: number; batch32: number }> {
  const speed: Record<string, number> = {};
  for (const batch of [1, 32]) {
    const x = tf.zeros([batch, crop, crop, 1]);
    const times: number[] = [];
    for (let i = 0; i < 9; i++) {
      const t0 = performance.now();
      const y = model.predict(x) as tf.Tensor;
      await y.data();
      y.dispose();
      if (i >= 2) times.push(performance.now() - t0); // two warm-up runs
    }
    times.sort((p, q) => p - q);
    speed[`batch${batch}`] = batch / (times[3]! / 1000);
    x.dispose();
  }
  return speed as { batch1: number; batch32: number };
}
