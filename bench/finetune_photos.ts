/**
 * `npx tsx bench/finetune_photos.ts [--train-subjects 20] [--test-subjects 0] [--seed 1] [--work DIR]
 *   [--json FILE] [--threads 1] [--workers 1] [--keep-photos] [--photos-only] [--reuse-photos] [-- extra train options]`
 *
 * Fine-tuning on a folder of "ordinary photos", end to end, measured on people the model never saw.
 * The photos are made from CK+48 (../shared/data/ckplus, never copied into the repository): each
 * 48x48 face is upscaled (100-170 px), colour-tinted and pasted with a soft edge at a random place
 * into a 320x240 JPEG with a random gradient-and-noise background, in `WORK/photos/{train,test}/<class>/`.
 * CK+'s class names become FER2013's (anger → angry, sadness → sad); contempt, which `fer2013` lacks,
 * stays, so the fine-tuned model gets a new classifier. Subjects are split, not images:
 * `--train-subjects` people (seeded) for training, the others (or `--test-subjects` of them) held back.
 *
 * It reports:
 * - zero-shot: the pretrained `fer2013` model on the held-back photos (same detector and crops), on
 *   the six classes it has (contempt photos left out);
 * - fine-tuned: `fer-cbam train --data WORK/photos/train --init fer2013 --out WORK/run` run as a user
 *   runs it (a child process, wall time end to end: detection, training, best/), then best/ on the
 *   held-back photos, on all seven classes and on the six.
 * `--keep-photos` keeps WORK/photos; `--reuse-photos` takes them (and the held-back photos' crop cache)
 * from an earlier run instead of making them again. Numbers are a benchmark; nothing is asserted.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tfl from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import { useBackend } from '../src/backends';
import { classifyFaceCrops, loadFaceFolder } from '../src/faces';
import '../src/io/index';
import { getPreprocessing } from '../src/models/preprocessing';
import { loadPretrained } from '../src/pretrained';
import { Random } from '../src/random';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const CK = path.resolve(repo, '../shared/data/ckplus/CK+48');
const RENAME: Record<string, string> = { anger: 'angry', sadness: 'sad' };

const { values: args, positionals: extra } = parseArgs({
  allowPositionals: true,
  options: {
    'train-subjects': { type: 'string', default: '20' },
    'test-subjects': { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    work: { type: 'string', default: path.join(os.tmpdir(), 'fer-cbam-finetune-photos') },
    json: { type: 'string' },
    threads: { type: 'string', default: '1' },
    workers: { type: 'string', default: '1' },
    'keep-photos': { type: 'boolean', default: false },
    'photos-only': { type: 'boolean', default: false },
    'reuse-photos': { type: 'boolean', default: false },
  },
});

if (!existsSync(CK)) {
  console.log(`CK+48 not found at ${CK}; nothing to measure.`);
  process.exit(0);
}

/** A 320x240 RGB photo with `face` (48x48 gray) pasted into it. */
async function makePhoto(face: Buffer, rng: Random): Promise<Buffer> {
  const W = 320;
  const H = 240;
  const side = rng.int(100, 171);
  const big = await sharp(face, { raw: { width: 48, height: 48, channels: 1 } })
    .resize(side, side, { kernel: 'cubic' })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  const rgb = Buffer.alloc(W * H * 3);
  const c0 = [rng.int(30, 230), rng.int(30, 230), rng.int(30, 230)];
  const c1 = [rng.int(30, 230), rng.int(30, 230), rng.int(30, 230)];
  const vertical = rng.bool();
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const t = vertical ? y / H : x / W;
      for (let c = 0; c < 3; c++) {
        const v = c0[c]! * (1 - t) + c1[c]! * t + rng.normal(0, 8);
        rgb[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  const tint = [rng.float(0.8, 1.15), rng.float(0.75, 1.0), rng.float(0.6, 0.95)];
  const gain = rng.float(0.75, 1.2);
  const x0 = rng.int(0, W - side + 1);
  const y0 = rng.int(0, Math.max(1, H - side + 1));
  const r = side / 2;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const py = y0 + y;
      const px = x0 + x;
      if (py >= H || px >= W) continue;
      // a soft square edge: full inside, fading over the outer 8 %
      const d = Math.max(Math.abs(x - r + 0.5), Math.abs(y - r + 0.5)) / r;
      const a = d < 0.92 ? 1 : Math.max(0, (1 - d) / 0.08);
      const g = big[y * side + x]! * gain;
      for (let c = 0; c < 3; c++) {
        const i = (py * W + px) * 3 + c;
        rgb[i] = Math.max(0, Math.min(255, Math.round(a * g * tint[c]! + (1 - a) * rgb[i]!)));
      }
    }
  }
  return sharp(rgb, { raw: { width: W, height: H, channels: 3 } })
    .jpeg({ quality: 88 })
    .toBuffer();
}

async function makePhotos(work: string, seed: number, trainSubjects: number, testSubjects: number) {
  const rng = new Random(seed);
  const classes = readdirSync(CK)
    .filter((c) => !c.startsWith('.'))
    .sort();
  const all: { cls: string; file: string; subject: string }[] = [];
  for (const cls of classes) {
    for (const file of readdirSync(path.join(CK, cls)).sort()) {
      if (file.endsWith('.png')) all.push({ cls, file, subject: file.slice(0, 4) });
    }
  }
  const subjects = rng.shuffle([...new Set(all.map((a) => a.subject))].sort());
  const train = new Set(subjects.slice(0, trainSubjects));
  const rest = subjects.slice(trainSubjects);
  const test = new Set(testSubjects > 0 ? rest.slice(0, testSubjects) : rest);
  rmSync(path.join(work, 'photos'), { recursive: true, force: true });
  const counts = { train: 0, test: 0 };
  for (const a of all) {
    const split = train.has(a.subject) ? 'train' : test.has(a.subject) ? 'test' : null;
    if (!split) continue;
    const dir = path.join(work, 'photos', split, RENAME[a.cls] ?? a.cls);
    mkdirSync(dir, { recursive: true });
    const face = await sharp(path.join(CK, a.cls, a.file))
      .greyscale()
      .toColourspace('b-w')
      .resize(48, 48)
      .raw()
      .toBuffer();
    writeFileSync(path.join(dir, a.file.replace('.png', '.jpg')), await makePhoto(face, rng));
    counts[split]++;
  }
  return { counts, trainSubjects: [...train].sort(), testSubjects: rest.length };
}

async function accuracyOn(model: tfl.LayersModel, folder: string, cacheDir: string) {
  const pre = getPreprocessing(model)!;
  const ds = await loadFaceFolder(folder, { size: pre.imageSize, cacheDir });
  const { labels } = await classifyFaceCrops(
    model,
    Array.from({ length: ds.count }, (_, i) =>
      ds.images.subarray(i * pre.imageSize ** 2, (i + 1) * pre.imageSize ** 2),
    ),
  );
  let all = 0;
  let allN = 0;
  let six = 0;
  let sixN = 0;
  for (let i = 0; i < ds.count; i++) {
    const truth = ds.classNames[ds.labels[i]!]!;
    const ok = labels[i] === truth ? 1 : 0;
    if (pre.classNames.includes(truth)) {
      all += ok;
      allN++;
    }
    if (truth !== 'contempt') {
      six += ok;
      sixN++;
    }
  }
  return {
    photos: ds.perClass.reduce((s, c) => s + c.photos, 0),
    faces: ds.count,
    noFace: ds.noFace.length,
    accuracy: allN > 0 ? all / allN : null,
    scored: allN,
    accuracySixClasses: sixN > 0 ? six / sixN : null,
    scoredSix: sixN,
  };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((c) => readdirSync(path.join(dir, c)));
}
const countFiles = (dir: string) => listFiles(dir).length;

const work = path.resolve(args.work!);
mkdirSync(work, { recursive: true });
const seed = Number(args.seed);
const t0 = performance.now();
const reuse = args['reuse-photos'] && existsSync(path.join(work, 'photos', 'test'));
const made = reuse
  ? {
      counts: {
        train: countFiles(path.join(work, 'photos', 'train')),
        test: countFiles(path.join(work, 'photos', 'test')),
      },
      trainSubjects: [...new Set(listFiles(path.join(work, 'photos', 'train')).map((f) => f.slice(0, 4)))],
      testSubjects: new Set(listFiles(path.join(work, 'photos', 'test')).map((f) => f.slice(0, 4))).size,
    }
  : await makePhotos(work, seed, Number(args['train-subjects']), Number(args['test-subjects']));
console.log(
  `photos: ${made.counts.train} training photos of ${made.trainSubjects.length} people, ${made.counts.test} held-back photos of the others (${((performance.now() - t0) / 1000).toFixed(0)} s to make)`,
);

if (args['photos-only']) {
  console.log(`in ${path.join(work, 'photos')}`);
  process.exit(0);
}
await useBackend('wasm', { wasm: { threads: Number(args.threads) } });
const cache = path.join(work, 'test-cache');
const zero = await accuracyOn(await loadPretrained('fer2013'), path.join(work, 'photos', 'test'), cache);
console.log(
  `zero-shot fer2013 on held-back photos: ${(100 * zero.accuracySixClasses!).toFixed(1)} % on the six classes it has (${zero.scoredSix} faces; no face in ${zero.noFace} of ${zero.photos} photos)`,
);

const run = path.join(work, 'run');
rmSync(run, { recursive: true, force: true });
const command = [
  'tsx',
  path.join(repo, 'src/cli/main.ts'),
  '--backend',
  'wasm',
  '--threads',
  args.threads!,
  'train',
  '--data',
  path.join(work, 'photos', 'train'),
  '--init',
  'fer2013',
  '--out',
  run,
  '--workers',
  args.workers!,
  ...extra,
];
console.log(`$ npx ${command.join(' ')}`);
const started = performance.now();
const child = spawnSync('npx', command, { stdio: ['ignore', 'inherit', 'inherit'], cwd: repo });
const seconds = (performance.now() - started) / 1000;
if (child.status !== 0) {
  console.log(`train failed with status ${child.status}`);
  process.exit(1);
}
const tuned = await tfl.loadLayersModel(`file://${path.join(run, 'best', 'model.json')}`);
const after = await accuracyOn(tuned, path.join(work, 'photos', 'test'), cache);
console.log(
  `fine-tuned (train: ${seconds.toFixed(0)} s end to end): ${(100 * after.accuracy!).toFixed(1)} % on all ${getPreprocessing(tuned)!.classNames.length} classes (${after.scored} faces), ${(100 * after.accuracySixClasses!).toFixed(1)} % on the six fer2013 has`,
);
const report = {
  seed,
  trainPhotos: made.counts.train,
  trainPeople: made.trainSubjects.length,
  testPhotos: made.counts.test,
  testPeople: made.testSubjects,
  zeroShot: zero,
  fineTuned: after,
  trainSeconds: seconds,
  command: `npx ${command.join(' ')}`,
  cpus: os.cpus().length,
  date: new Date().toISOString(),
};
if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
if (!args['keep-photos']) rmSync(path.join(work, 'photos'), { recursive: true, force: true });
