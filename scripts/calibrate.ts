/**
 * Calibrates the shipped models' probabilities and measures it:
 *
 *   npx tsx scripts/calibrate.ts                 # measure: temperature, ECE before/after, diagrams
 *   npx tsx scripts/calibrate.ts --write         # also store each temperature in models/<name>/model.json
 *   npx tsx scripts/calibrate.ts --models ferplus # one model (its entry of calibration.json is replaced)
 *
 * For each model the temperature is fitted (fitTemperature) on its validation split, FER2013's
 * PublicTest rows (FER+ majority labels for ferplus), single centre crop as `predictProbabilities`
 * sees it; PrivateTest is never read. The expected calibration error (15 bins) is reported on
 * PublicTest (the fitting set, so optimistic) and on faces the model never saw in training or in the
 * fit: the CK+ hold-out of examples/train-realfaces.ts (39 subjects, classes mapped by name, contempt
 * only for models that have it). `ckplus` was trained on every CK+ face and has no other validation
 * set with its classes, so it is left uncalibrated. Writes docs/models/calibration.json and
 * docs/models/<name>-reliability.png.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type * as tfl from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import {
  expectedCalibrationError,
  type FaceDataset,
  fitTemperature,
  getPreprocessing,
  listPretrained,
  loadCkPlus,
  loadFer2013,
  loadFerPlus,
  loadPretrained,
  reliabilityDiagramSvg,
  usageIndices,
  useBackend,
} from '../src/index';
import { writeFileAtomic } from '../src/io/index';
import { CKPLUS_TO_FER2013, ckplusHoldout } from './ckplus-holdout';
import { rawProbabilities } from './raw-probabilities';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/fer2013/fer2013.csv.gz' },
    votes: { type: 'string', default: '../shared/data/ferplus/fer2013new.csv' },
    ckplus: { type: 'string', default: '../shared/data/ckplus/CK+48' },
    models: { type: 'string', default: 'fer2013,ferplus' },
    write: { type: 'boolean', default: false },
  },
});
await useBackend('wasm');

const fer = await loadFer2013(args.data!);
const ck = await loadCkPlus(args.ckplus!);
const CK_TO_FERPLUS: Record<string, string | null> = {
  anger: 'anger',
  happy: 'happiness',
  sadness: 'sadness',
};

/** Raw class probabilities (no temperature) of the faces `idx` of a dataset, single centre crop. */
function datasetProbabilities(model: tfl.LayersModel, ds: FaceDataset, idx: number[]): number[][] {
  const px = ds.height * ds.width;
  const faces = idx.map((i) => ds.images.subarray(i * px, (i + 1) * px));
  return rawProbabilities(model, faces).map((row) => Array.from(row));
}

const logOf = (rows: number[][]) => rows.map((r) => r.map((v) => Math.log(Math.max(v, 1e-30))));
const scale = (rows: number[][], t: number) =>
  rows.map((r) => {
    const z = r.map((v) => Math.log(Math.max(v, 1e-30)) / t);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });

const report: Record<string, unknown> = {};
for (const name of args.models!.split(',')) {
  const info = listPretrained().find((m) => m.name === name);
  if (!info) throw new Error(`--models: unknown model "${name}"`);
  const model = await loadPretrained(name as 'fer2013');
  const pre = getPreprocessing(model)!;
  const val = name === 'ferplus' ? await loadFerPlus(fer, args.votes!, { mode: 'majority' }) : fer;
  const valIdx = usageIndices(val, 'PublicTest');
  const valLabels = valIdx.map((i) => val.labels[i]!);
  const rawVal = datasetProbabilities(model, val, valIdx);
  const fit = fitTemperature(logOf(rawVal), valLabels);
  const t = fit.temperature;
  const ck7 = ckplusHoldout(ck, pre.classNames, name === 'ferplus' ? CK_TO_FERPLUS : CKPLUS_TO_FER2013);
  const ckIdx = [...Array(ck7.count).keys()];
  const rawCk = datasetProbabilities(model, ck7, ckIdx);
  const ckLabels = Array.from(ck7.labels);
  const e = {
    publicTest: {
      before: expectedCalibrationError(rawVal, valLabels),
      after: expectedCalibrationError(scale(rawVal, t), valLabels),
    },
    ckplusHoldout: {
      before: expectedCalibrationError(rawCk, ckLabels),
      after: expectedCalibrationError(scale(rawCk, t), ckLabels),
    },
  };
  // Held-out within FER2013: fit on half of PublicTest, measure on the other half, and the other way
  // round (the ECE above is measured on the faces the temperature was fitted on, so optimistic).
  const halves = [0, 1].map((r) => rawVal.map((_, i) => i).filter((i) => i % 2 === r));
  const crossFit = halves.map((fitOn, h) => {
    const other = halves[1 - h]!;
    const tHalf = fitTemperature(
      logOf(fitOn.map((i) => rawVal[i]!)),
      fitOn.map((i) => valLabels[i]!),
    ).temperature;
    const rows = other.map((i) => rawVal[i]!);
    const labels = other.map((i) => valLabels[i]!);
    return {
      temperature: tHalf,
      before: expectedCalibrationError(rows, labels).ece,
      after: expectedCalibrationError(scale(rows, tHalf), labels).ece,
    };
  });
  const mean = (k: 'before' | 'after') => (crossFit[0]![k] + crossFit[1]![k]) / 2;
  // Cross-fitted over all of PublicTest: each face scaled by the temperature fitted on the other
  // half, never on itself, then one ECE over every face (twice the faces of one half, so half the
  // estimator's noise floor of a half's ECE).
  const crossFitted = new Array<number[]>(rawVal.length);
  halves.forEach((half, h) => {
    const scaled = scale(
      half.map((i) => rawVal[i]!),
      crossFit[1 - h]!.temperature,
    );
    half.forEach((i, j) => {
      crossFitted[i] = scaled[j]!;
    });
  });
  const pooled = expectedCalibrationError(crossFitted, valLabels).ece;
  // What a perfectly calibrated model would score: labels drawn from the calibrated probabilities
  // themselves (seeded), so the ECE left is the estimator's own noise at this many faces and bins.
  let seed = 7;
  const rand = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 4294967296;
  };
  const floorAt = (rows: number[][], draws = 20) => {
    let sum = 0;
    for (let d = 0; d < draws; d++) {
      const labels = rows.map((r) => {
        let u = rand();
        for (let k = 0; k < r.length; k++) {
          u -= r[k]!;
          if (u < 0) return k;
        }
        return r.length - 1;
      });
      sum += expectedCalibrationError(rows, labels).ece;
    }
    return sum / draws;
  };
  const calibratedVal = scale(rawVal, t);
  const noiseFloor = {
    all: floorAt(calibratedVal),
    half: floorAt(halves[1]!.map((i) => calibratedVal[i]!)),
  };
  const pct = (v: number) => `${(100 * v).toFixed(2)} %`;
  console.log(
    `${name}: ECE of a perfectly calibrated model with these probabilities (labels drawn from them, 20 draws): ${pct(noiseFloor.all)} on ${rawVal.length} faces, ${pct(noiseFloor.half)} on ${halves[1]!.length}`,
  );
  console.log(
    `${name}: PublicTest split in halves, temperature fitted on one and ECE on the other (mean of both ways): ${pct(mean('before'))} -> ${pct(mean('after'))} (T ${crossFit.map((c) => c.temperature.toFixed(3)).join(', ')}); cross-fitted over all ${rawVal.length} faces: ${pct(pooled)}`,
  );
  console.log(
    `${name}: temperature ${t.toFixed(3)} (NLL ${fit.nllBefore.toFixed(4)} -> ${fit.nllAfter.toFixed(4)} on ${valIdx.length} PublicTest faces); ` +
      `ECE PublicTest ${pct(e.publicTest.before.ece)} -> ${pct(e.publicTest.after.ece)}, ` +
      `CK+ hold-out (${ck7.count} faces) ${pct(e.ckplusHoldout.before.ece)} -> ${pct(e.ckplusHoldout.after.ece)}`,
  );
  report[name] = {
    temperature: t,
    nllBefore: fit.nllBefore,
    nllAfter: fit.nllAfter,
    fittedOn: `PublicTest (${valIdx.length} faces, single centre crop)`,
    ece: {
      publicTest: { before: e.publicTest.before.ece, after: e.publicTest.after.ece },
      publicTestHalves: {
        what: 'temperature fitted on one half of PublicTest (even or odd positions), ECE on the other half; mean of both ways',
        before: mean('before'),
        after: mean('after'),
        temperatures: crossFit.map((c) => c.temperature),
        crossFittedAllFaces: pooled,
      },
      noiseFloor: {
        what: 'ECE of labels drawn from the calibrated probabilities themselves (a perfectly calibrated model), mean of 20 draws: the estimator noise at this many faces',
        allFaces: noiseFloor.all,
        halfFaces: noiseFloor.half,
      },
      ckplusHoldout: {
        faces: ck7.count,
        before: e.ckplusHoldout.before.ece,
        after: e.ckplusHoldout.after.ece,
      },
    },
    bins: { publicTest: e.publicTest, ckplusHoldout: e.ckplusHoldout },
  };
  const svg = reliabilityDiagramSvg(
    [
      {
        label: `PublicTest raw, ECE ${pct(e.publicTest.before.ece)}`,
        bins: e.publicTest.before.bins,
        color: '#e57373',
      },
      {
        label: `PublicTest T=${t.toFixed(2)}, ECE ${pct(e.publicTest.after.ece)}`,
        bins: e.publicTest.after.bins,
        color: '#1e88e5',
      },
      {
        label: `CK+ hold-out raw, ECE ${pct(e.ckplusHoldout.before.ece)}`,
        bins: e.ckplusHoldout.before.bins,
        color: '#ffb74d',
      },
      {
        label: `CK+ hold-out T=${t.toFixed(2)}, ECE ${pct(e.ckplusHoldout.after.ece)}`,
        bins: e.ckplusHoldout.after.bins,
        color: '#43a047',
      },
    ],
    `${name}: reliability (single centre crop)`,
  );
  await writeFileAtomic(
    resolve('docs/models', `${name}-reliability.png`),
    await sharp(Buffer.from(svg)).png().toBuffer(),
  );
  if (args.write) {
    const file = resolve('models', name, 'model.json');
    const json = JSON.parse(await readFile(file, 'utf8'));
    json.userDefinedMetadata.ferCbam.temperature = Number(t.toFixed(4));
    await writeFileAtomic(file, JSON.stringify(json));
    console.log(`  stored temperature ${t.toFixed(4)} in ${file}`);
  }
  model.dispose();
}
// Merged into the file's other models, so one model can be re-run alone.
const file = 'docs/models/calibration.json';
const before = await readFile(file, 'utf8').then(
  (t) => JSON.parse(t) as Record<string, unknown>,
  () => ({}),
);
await writeFile(file, `${JSON.stringify({ ...before, ...report }, null, 1)}\n`);
