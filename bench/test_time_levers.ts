/**
 * What test-time levers buy on FER2013 PublicTest, every face, one run: each FER2013-class model
 * alone (one centre crop, what `predict` does), averaged with its mirrored crop, and the mean
 * probabilities of model pairs (an ensemble: the ceiling of what distilling them into one network
 * could reach). Raw softmax (no temperature), so the figures are argmax accuracies. With
 * `--ten-crop`, also each model's mean softmax over ten 44x44 crops (corners, centre, their mirrors)
 * and the pairs of those (the targets `teacherTargets({ tenCrop: true })` would hand a student).
 *
 *   npx tsx bench/test_time_levers.ts [--models realfaces,fer2013] [--teachers dir1,dir2] [--ten-crop] [--json out.json]
 *
 * `--teachers` adds saved model folders (e.g. a second seed's `best/`) under their folder path.
 * PrivateTest is never read.
 */
import { parseArgs } from 'node:util';
import * as tfl from '@tensorflow/tfjs-layers';
import { rawProbabilities } from '../scripts/raw-probabilities';
import {
  DEFAULT_PRETRAINED,
  FER2013_CLASSES,
  getPreprocessing,
  loadFer2013,
  loadPretrained,
  subsetDataset,
  teacherTargets,
  usageIndices,
  useBackend,
} from '../src/index';
import { fileSystem, writeFileAtomic } from '../src/io/index';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/fer2013/fer2013.csv.gz' },
    models: { type: 'string', default: [...new Set([DEFAULT_PRETRAINED, 'fer2013'])].join(',') },
    teachers: { type: 'string', default: '' },
    'ten-crop': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
await useBackend('wasm');

const fer = await loadFer2013(args.data!);
const rows = usageIndices(fer, 'PublicTest');
const truth = rows.map((r) => fer.labels[r]!);
const side = fer.width;
const faces = rows.map((r) => fer.images.subarray(r * side * side, (r + 1) * side * side));
const mirrored = faces.map((f) => {
  const m = new Uint8Array(f.length);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) m[y * side + x] = f[y * side + side - 1 - x]!;
  return m;
});

const C = FER2013_CLASSES.length;
/** Argmax accuracy of the summed probabilities of `parts` (each one row per PublicTest face). */
function accuracy(parts: Float32Array[][]): number {
  let right = 0;
  for (let i = 0; i < truth.length; i++) {
    let best = 0;
    let bestValue = -1;
    for (let c = 0; c < C; c++) {
      let v = 0;
      for (const p of parts) v += p[i]![c]!;
      if (v > bestValue) [best, bestValue] = [c, v];
    }
    if (best === truth[i]) right++;
  }
  return right / truth.length;
}

const sources = [
  ...args.models!.split(',').map((name) => ({ name, load: () => loadPretrained(name) })),
  ...args
    .teachers!.split(',')
    .filter(Boolean)
    .map((dir) => ({
      name: dir,
      load: () => tfl.loadLayersModel(fileSystem(`${dir.replace(/\/model\.json$/, '')}/model.json`)),
    })),
];
const publicTest = subsetDataset(fer, rows);
/** Mean softmax over ten crops per face: teacherTargets with weight 1 is exactly that. */
async function tenCropProbabilities(model: tfl.LayersModel): Promise<Float32Array[]> {
  const { softLabels } = await teacherTargets([model], publicTest, { weight: 1, tenCrop: true });
  return truth.map((_, i) => softLabels!.slice(i * C, (i + 1) * C));
}
const single = new Map<string, Float32Array[]>();
const tenCrops = new Map<string, Float32Array[]>();
const rowsOut: { lever: string; accuracy: number }[] = [];
const report = (lever: string, parts: Float32Array[][]) => {
  const a = accuracy(parts);
  rowsOut.push({ lever, accuracy: a });
  console.log(`${lever.padEnd(48)} ${(100 * a).toFixed(2)} %`);
};
for (const { name, load } of sources) {
  const model = await load();
  const pre = getPreprocessing(model);
  if (pre?.classNames.join() !== FER2013_CLASSES.join()) {
    throw new Error(`"${name}" does not answer FER2013's seven classes in their order`);
  }
  const p = rawProbabilities(model, faces);
  single.set(name, p);
  report(`${name}, one centre crop`, [p]);
  report(`${name}, averaged with its mirror`, [p, rawProbabilities(model, mirrored)]);
  if (args['ten-crop']) {
    const t = await tenCropProbabilities(model);
    tenCrops.set(name, t);
    report(`${name}, ten crops`, [t]);
  }
  model.dispose();
}
const names = [...single.keys()];
for (let a = 0; a < names.length; a++) {
  for (let b = a + 1; b < names.length; b++) {
    report(`${names[a]} + ${names[b]} (mean probabilities)`, [
      single.get(names[a]!)!,
      single.get(names[b]!)!,
    ]);
    if (args['ten-crop']) {
      report(`${names[a]} + ${names[b]} (ten crops each, mean probabilities)`, [
        tenCrops.get(names[a]!)!,
        tenCrops.get(names[b]!)!,
      ]);
    }
  }
}
if (args.json) {
  await writeFileAtomic(args.json, `${JSON.stringify({ faces: truth.length, results: rowsOut }, null, 1)}\n`);
}
