/**
 * `npx tsx bench/faces_filling.ts [--count 100] [--offset 0] [--min-side 120] [--max-side 300]
 *  [--backend wasm] [--threads N] [--model DIR] [--zooms 1,0.8,0.667,0.5,0.4] [--json FILE]`
 *
 * Detection recall on faces that fill the picture (issue 33): `count` FER2013 PublicTest faces
 * (minus the ones FER+ calls "not a face") and `count` CK+48 faces, evenly spread from `offset`
 * (another offset, another selection), each made into one crop (`test/faces/filling_crops.ts`:
 * `--min-side`..`--max-side` px high, square, 4:5 or 3:4, little or no margin, grey or tinted,
 * rolled up to ±12°). Every crop goes through the detector twice, side by side in the same run:
 * with `largeFaces: false` (fer-cbam 0.1.0's single look) and `true` (the default), the order
 * alternating. A face counts as found when a detection is the crop's face (`isTheFace` in
 * test/faces/filling_crops.ts: box centre near the face's, width 0.4-1.5x its square). Also
 * reported: the stricter framing check (the crop square cut from the detection overlaps the face's
 * own 48x48 square with IoU ≥ 0.4) and the median crop IoU, crops with more than one face,
 * detection time, `detect: 'auto'`'s "no face" rate, and, with a model (`--model`, else
 * `models/fer2013` when present), the accuracy on the FER2013 crops of the detected, aligned crop
 * against the whole picture (`detect: 'off'`). `--zooms` also runs single looks with the picture
 * shrunk to each fraction of the detector's input (black around it, as the zoomed-out looks do; the
 * cause in docs/faces.md): found, the face's share of the input, the face-square/box ratio that the
 * framing calibration puts at 1.16, and crops with more than one box, at `minScore` 0.6 and 0.4.
 * Reads ../shared/data in place; exits when it is absent.
 */
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type BackendName, useBackend } from '../src/backends';
import {
  classifyFaceCrops,
  type DetectedFace,
  FIND_FACES_DEFAULTS,
  faceCropSquare,
  findFaceCrops,
  loadFaceDetector,
  looksLikeFaceCrop,
  sampleSquare,
} from '../src/faces';
import { rgbToGray } from '../src/image/gray';
import '../src/io/index';
import '../src/layers/index';
import { ckSamples, DATA, ferSamples, median, type Sample } from '../test/faces/calibration';
import {
  type FillingCrop,
  ferNotFaces,
  fillingCrop,
  isTheFace,
  squareIou,
} from '../test/faces/filling_crops';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100' },
    offset: { type: 'string', default: '0' },
    'min-side': { type: 'string', default: '120' },
    'max-side': { type: 'string', default: '300' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string' },
    model: { type: 'string' },
    zooms: { type: 'string' },
    json: { type: 'string' },
  },
});
const count = Number(values.count);
const offset = Number(values.offset);
const minSide = Number(values['min-side']);
const maxSide = Number(values['max-side']);

const notFaces = ferNotFaces();
const ferAll = await ferSamples(3589);
if (ferAll.length === 0) {
  console.error(`bench/faces_filling: FER2013 not found under ${DATA}`);
  process.exit(1);
}
const ferFaces = ferAll.filter((_, i) => !notFaces.has(i));
const step = Math.max(1, Math.floor(ferFaces.length / count));
const fer = Array.from(
  { length: Math.min(count, ferFaces.length) },
  (_, i) => ferFaces[(i * step + offset) % ferFaces.length]!,
);
const ck = await ckSamples(count, offset);

const backend = await useBackend(values.backend as BackendName, {
  ...(values.threads ? { wasm: { threads: Number(values.threads) } } : {}),
});
const detector = await loadFaceDetector();
// count BlazeFace runs per crop (the deterministic part of the cost) by wrapping its graph model
const graph = (detector as unknown as { model: { execute: (...a: unknown[]) => unknown } }).model;
const execute = graph.execute.bind(graph);
let runs = 0;
graph.execute = (...a: unknown[]) => {
  runs++;
  return execute(...a);
};
const modelDir =
  values.model ??
  (existsSync(path.join(root, 'models/fer2013/model.json')) ? path.join(root, 'models/fer2013') : null);
const model = modelDir
  ? await tfl.loadLayersModel(
      `file://${path.resolve(modelDir.endsWith('.json') ? modelDir : `${modelDir}/model.json`)}`,
    )
  : null;

interface Outcome {
  /** a detection is the crop's face */
  found: boolean;
  /** the crop square of a detection overlaps the face's 48x48 square with IoU ≥ 0.4 */
  framed: boolean;
  faces: number;
  iou: number;
  ms: number;
  /** detector runs */
  looks: number;
  /** the detection that is the face, if any */
  match: DetectedFace | null;
}

async function detectOne(c: FillingCrop, largeFaces: boolean): Promise<Outcome> {
  const t = tf.tensor3d(c.image.data, [c.image.height, c.image.width, 3], 'int32');
  const runsBefore = runs;
  const t0 = performance.now();
  const faces = await detector.detect(t, { largeFaces });
  const ms = performance.now() - t0;
  const looks = runs - runsBefore;
  t.dispose();
  let best = 0;
  for (const f of faces) best = Math.max(best, squareIou(faceCropSquare(f, { align: false }), c.truth));
  const match = faces.find((f) => isTheFace(f.box, c.truth)) ?? null;
  return { found: match !== null, framed: best >= 0.4, faces: faces.length, iou: best, ms, looks, match };
}

// warm-up (kernel compilation, weight upload)
await detectOne(fillingCrop(ck[0]!, 0, minSide, maxSide), true);

type Key = 'before' | 'after';
const rows: {
  set: string;
  name: string;
  shape: string;
  colour: boolean;
  before: Outcome;
  after: Outcome;
  autoNoFace: boolean;
}[] = [];
const ferCrops: { c: FillingCrop; s: Sample; match: DetectedFace | null }[] = [];
const t0 = performance.now();
for (const [set, samples] of [
  ['FER2013 PublicTest', fer],
  ['CK+48', ck],
] as const) {
  for (const [i, s] of samples.entries()) {
    const c = fillingCrop(s, i, minSide, maxSide);
    // alternate the order so neither configuration always runs on a warmer cache
    const [first, second]: Key[] = i % 2 ? ['before', 'after'] : ['after', 'before'];
    const r1 = await detectOne(c, first === 'after');
    const r2 = await detectOne(c, second === 'after');
    const before = first === 'before' ? r1 : r2;
    const after = first === 'after' ? r1 : r2;
    // what `detect: 'auto'` does with it: a small nearly square picture is taken whole, any other
    // detected exactly as `after` was
    const whole = looksLikeFaceCrop(c.image.width, c.image.height, FIND_FACES_DEFAULTS.cropMaxSide);
    rows.push({
      set,
      name: c.name,
      shape: c.shape,
      colour: c.colour,
      before,
      after,
      autoNoFace: !whole && after.faces === 0,
    });
    if (set === 'FER2013 PublicTest') ferCrops.push({ c, s, match: after.match });
  }
}
const seconds = (performance.now() - t0) / 1000;

/**
 * One look at a picture shrunk to `zoom` of the detector's input: the picture centred in a black
 * square `1 / zoom` times its longer side, which the single look letterboxes to the input.
 */
async function lookAt(c: FillingCrop, zoom: number, minScore: number): Promise<DetectedFace[]> {
  const { width: w, height: h } = c.image;
  const side = Math.round(Math.max(w, h) / zoom);
  const [x0, y0] = [Math.floor((side - w) / 2), Math.floor((side - h) / 2)];
  const t = tf.tidy(() =>
    tf.pad(tf.tensor3d(c.image.data, [h, w, 3], 'int32'), [
      [y0, side - h - y0],
      [x0, side - w - x0],
      [0, 0],
    ]),
  );
  const faces = await detector.detect(t as tf.Tensor3D, { minScore, largeFaces: false });
  t.dispose();
  const shift = (f: DetectedFace): DetectedFace => ({
    ...f,
    box: { ...f.box, x: f.box.x - x0, y: f.box.y - y0 },
  });
  return faces.map(shift);
}

let zoomRows: Record<string, unknown>[] | null = null;
if (values.zooms) {
  zoomRows = [];
  const all = [
    ...fer.map((s, i) => fillingCrop(s, i, minSide, maxSide)),
    ...ck.map((s, i) => fillingCrop(s, i, minSide, maxSide)),
  ];
  for (const zoom of values.zooms.split(',').map(Number)) {
    for (const minScore of [0.6, 0.4]) {
      let found = 0;
      let multi = 0;
      const ratios: number[] = [];
      const shares: number[] = [];
      for (const c of all) {
        const faces = await lookAt(c, zoom, minScore);
        const face = faces.find((f) => isTheFace(f.box, c.truth));
        if (face) {
          found++;
          ratios.push(c.truth.side / face.box.width);
        }
        if (faces.length > 1) multi++;
        shares.push((zoom * c.truth.side) / Math.max(c.image.width, c.image.height));
      }
      const row = {
        zoom,
        minScore,
        faceShareOfInput: Number(median(shares).toFixed(2)),
        found,
        crops: all.length,
        faceSquareOverBox: Number(median(ratios).toFixed(3)),
        moreThanOneBox: multi,
      };
      zoomRows.push(row);
      console.log(`zoom ${JSON.stringify(row)}`);
    }
  }
}

const pct = (n: number, d: number) => (d ? Number(((100 * n) / d).toFixed(2)) : null);
function summary(filter: (r: (typeof rows)[number]) => boolean) {
  const rs = rows.filter(filter);
  const one = (k: Key) => ({
    found: rs.filter((r) => r[k].found).length,
    recallPct: pct(rs.filter((r) => r[k].found).length, rs.length),
    framedPct: pct(rs.filter((r) => r[k].framed).length, rs.length),
    moreThanOneFace: rs.filter((r) => r[k].faces > 1).length,
    medianCropIou: Number(median(rs.map((r) => r[k].iou)).toFixed(3)),
    medianMs: Number(median(rs.map((r) => r[k].ms)).toFixed(1)),
    meanMs: Number((rs.reduce((a, r) => a + r[k].ms, 0) / Math.max(1, rs.length)).toFixed(1)),
    meanDetectorRuns: Number((rs.reduce((a, r) => a + r[k].looks, 0) / Math.max(1, rs.length)).toFixed(2)),
  });
  return { crops: rs.length, before: one('before'), after: one('after') };
}

const groups: Record<string, ReturnType<typeof summary>> = {
  all: summary(() => true),
  'FER2013 PublicTest': summary((r) => r.set === 'FER2013 PublicTest'),
  'CK+48': summary((r) => r.set === 'CK+48'),
  square: summary((r) => r.shape === 'square'),
  '4:5': summary((r) => r.shape === '4:5'),
  '3:4': summary((r) => r.shape === '3:4'),
  grey: summary((r) => !r.colour),
  colour: summary((r) => r.colour),
};

let accuracy: Record<string, unknown> | null = null;
if (model) {
  // the FER2013 crops: the detected face's crop (none found counts as wrong) vs the whole picture
  const detected: (Uint8Array | null)[] = [];
  const whole: Uint8Array[] = [];
  for (const { c, match } of ferCrops) {
    const gray = { data: rgbToGray(c.image), width: c.image.width, height: c.image.height };
    // the crop findFaceCrops cuts from that detection: eyes levelled, FER2013 framing
    detected.push(match ? sampleSquare(gray, faceCropSquare(match), 48) : null);
    whole.push((await findFaceCrops(c.image, { detector, detect: 'off' })).faces[0]!.crop);
  }
  const labels = ferCrops.map(({ s }) => s.label!);
  const hits = (predicted: string[], names: string[]) =>
    predicted.filter((l, i) => names.indexOf(l) === labels[i]).length;
  const w = await classifyFaceCrops(model, whole);
  const d = await classifyFaceCrops(
    model,
    detected.flatMap((x) => (x ? [x] : [])),
  );
  let k = 0;
  const detectedLabels = detected.map((x) => (x ? d.labels[k++]! : '-'));
  accuracy = {
    model: path.relative(root, modelDir!) || modelDir,
    crops: ferCrops.length,
    detectedPct: pct(hits(detectedLabels, d.classNames), ferCrops.length),
    wholePct: pct(hits(w.labels, w.classNames), ferCrops.length),
  };
}

const out = {
  what: 'detection recall on face-filling crops (issue 33), before (largeFaces: false) and after, same run',
  command: `npx tsx bench/faces_filling.ts ${process.argv.slice(2).join(' ')}`,
  crops: `${fer.length} FER2013 PublicTest + ${ck.length} CK+48 faces from offset ${offset}, ${minSide}-${maxSide} px high; FER+ "not a face" rows excluded (${notFaces.size})`,
  backend,
  threads: values.threads ? Number(values.threads) : 'default',
  seconds: Number(seconds.toFixed(0)),
  groups,
  autoNoFacePct: pct(rows.filter((r) => r.autoNoFace).length, rows.length),
  accuracy,
  ...(zoomRows ? { zooms: zoomRows } : {}),
  missedBefore: rows.filter((r) => !r.before.found).map((r) => r.name),
  missedAfter: rows.filter((r) => !r.after.found).map((r) => r.name),
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
  tfjs: tf.version_core,
};
console.log(`face-filling crops on ${backend}: ${rows.length} crops in ${seconds.toFixed(0)} s`);
console.log(
  'group | crops | found before → after | framed (IoU ≥ 0.4) before → after | >1 face before → after | ' +
    'median crop IoU before → after | median ms before → after | detector runs before → after',
);
for (const [name, g] of Object.entries(groups)) {
  console.log(
    `${name} | ${g.crops} | ${g.before.found} (${g.before.recallPct}%) → ${g.after.found} (${g.after.recallPct}%) | ` +
      `${g.before.framedPct}% → ${g.after.framedPct}% | ${g.before.moreThanOneFace} → ${g.after.moreThanOneFace} | ` +
      `${g.before.medianCropIou} → ${g.after.medianCropIou} | ${g.before.medianMs} → ${g.after.medianMs} | ` +
      `${g.before.meanDetectorRuns} → ${g.after.meanDetectorRuns}`,
  );
}
console.log(`detect: 'auto' found no face in ${out.autoNoFacePct}% of the crops`);
if (accuracy) console.log(`accuracy on the FER2013 crops: ${JSON.stringify(accuracy)}`);
if (out.missedAfter.length) console.log(`missed: ${out.missedAfter.join('; ')}`);
if (values.json) writeFileSync(values.json, `${JSON.stringify(out, null, 2)}\n`);
detector.dispose();
model?.dispose();
