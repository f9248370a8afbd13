/**
 * Calibrates the FER2013 crop framing (`FER2013_FRAMING` in src/faces/align.ts): FER2013 and CK+
 * faces (48x48) are upscaled and pasted at known places into larger gray pictures, BlazeFace finds
 * them, and we measure where the original 48x48 square lies relative to the detector's box.
 * Then the crops made with the framing are compared with the originals.
 *
 * Run: `nice -n 19 npx tsx test/faces/calibration.ts [count] [modelDir]` (prints the numbers in
 * docs/faces.md; with a model directory, also its FER2013 accuracy on the originals vs the crops);
 * `test/faces/detect.test.ts` runs a smaller version. Reads ../shared/data; copies nothing.
 * @module
 */

import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { type CropFraming, FER2013_FRAMING, faceCropSquare } from '../../src/faces/align';
import type { FaceDetector } from '../../src/faces/types';
import { sampleSquare } from '../../src/image/sample';

export const DATA = resolve(import.meta.dirname, '../../../shared/data');
export const FER_CSV = join(DATA, 'fer2013/fer2013.csv.gz');
export const CK_DIR = join(DATA, 'ckplus/CK+48');

export interface Sample {
  name: string;
  pixels: Uint8Array; // 48x48 gray
  /** FER2013 class index (FER2013 samples only). */
  label?: number;
}

/** `count` FER2013 PublicTest faces, evenly spread (reads the gzip once). */
export async function ferSamples(count: number): Promise<Sample[]> {
  if (!existsSync(FER_CSV)) return [];
  const text = gunzipSync(await readFile(FER_CSV)).toString('latin1');
  const lines = text.split('\n').filter((l) => l.endsWith('PublicTest'));
  const out: Sample[] = [];
  const step = Math.max(1, Math.floor(lines.length / count));
  for (let i = 0; i < lines.length && out.length < count; i += step) {
    const [label, pixels] = lines[i]!.split(',') as [string, string];
    out.push({
      name: `fer2013 PublicTest #${i}`,
      pixels: Uint8Array.from(pixels.split(' ').map(Number)),
      label: Number(label),
    });
  }
  return out;
}

/** `count` CK+48 faces spread over the classes, starting at file `offset` (another selection). */
export async function ckSamples(count: number, offset = 0): Promise<Sample[]> {
  if (!existsSync(CK_DIR)) return [];
  const files = readdirSync(CK_DIR)
    .flatMap((c) => readdirSync(join(CK_DIR, c)).map((f) => join(CK_DIR, c, f)))
    .sort();
  const step = Math.max(1, Math.floor(files.length / count));
  const out: Sample[] = [];
  for (let i = offset; i < files.length && out.length < count; i += step) {
    const { data } = await sharp(files[i]!)
      .greyscale()
      .resize(48, 48)
      .raw()
      .toBuffer({ resolveWithObject: true });
    out.push({ name: files[i]!.slice(DATA.length + 1), pixels: new Uint8Array(data) });
  }
  return out;
}

export interface Composite {
  rgb: { data: Uint8Array; width: number; height: number };
  gray: Float32Array;
  truth: { x: number; y: number; side: number };
}

/** Pastes a 48x48 face upscaled to `side` at (x, y) into a `width x height` mid-gray picture. */
export async function composite(
  face: Uint8Array,
  side: number,
  x: number,
  y: number,
  width = 480,
  height = 360,
): Promise<Composite> {
  const up = await sharp(Buffer.from(face), { raw: { width: 48, height: 48, channels: 1 } })
    .resize(side, side, { kernel: 'cubic' })
    .greyscale()
    .raw()
    .toBuffer();
  const gray = new Float32Array(width * height).fill(128);
  for (let r = 0; r < side; r++) {
    for (let c = 0; c < side; c++) {
      const yy = y + r;
      const xx = x + c;
      if (yy >= 0 && yy < height && xx >= 0 && xx < width) gray[yy * width + xx] = up[r * side + c]!;
    }
  }
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < gray.length; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = gray[i]!;
  return { rgb: { data, width, height }, gray, truth: { x, y, side } };
}

export interface Measurement {
  name: string;
  found: boolean;
  /** truth side / box width */
  scale?: number;
  /** (truth centre - box centre) / truth side, in the levelled face frame */
  offsetX?: number;
  offsetY?: number;
  /** eye roll in degrees */
  rollDeg?: number;
  /** IoU of the crop square (framing applied, not rotated) with the truth */
  iou?: number;
  /** mean absolute difference (0-255) between the 48x48 crop and the original */
  mad?: number;
  /** the aligned crop recognizeExpressions would classify (48x48) */
  crop?: Uint8Array;
}

function iouSquares(a: { x: number; y: number; side: number }, b: { x: number; y: number; side: number }) {
  const w = Math.min(a.x + a.side, b.x + b.side) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.side, b.y + b.side) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.side ** 2 + b.side ** 2 - w * h);
}

/** Detects each sample in a composite and measures the framing; deterministic placement. */
export async function measure(
  detector: FaceDetector,
  samples: Sample[],
  framing: CropFraming = FER2013_FRAMING,
): Promise<Measurement[]> {
  const tf = await import('@tensorflow/tfjs-core');
  const out: Measurement[] = [];
  for (const [i, s] of samples.entries()) {
    const side = 96 + ((i * 37) % 129);
    const x = 20 + ((i * 53) % (480 - side - 40));
    const y = 20 + ((i * 29) % (360 - side - 40));
    const c = await composite(s.pixels, side, x, y);
    const t = tf.tensor3d(c.rgb.data, [c.rgb.height, c.rgb.width, 3], 'int32');
    const faces = await detector.detect(t, { minScore: 0.5 });
    t.dispose();
    const face = faces
      .map((f) => ({ f, iou: iouSquares({ x: f.box.x, y: f.box.y, side: f.box.width }, c.truth) }))
      .filter((m) => m.iou > 0.2)
      .sort((a, b) => b.iou - a.iou)[0]?.f;
    if (!face) {
      out.push({ name: s.name, found: false });
      continue;
    }
    const roll = faceCropSquare(face, { framing }).angle;
    const bcx = face.box.x + face.box.width / 2;
    const bcy = face.box.y + face.box.height / 2;
    const tcx = x + side / 2;
    const tcy = y + side / 2;
    // truth offset in the face's own (levelled) axes
    const dx = tcx - bcx;
    const dy = tcy - bcy;
    const ox = Math.cos(roll) * dx + Math.sin(roll) * dy;
    const oy = -Math.sin(roll) * dx + Math.cos(roll) * dy;
    const aligned = sampleSquare(
      { data: c.gray, width: c.rgb.width, height: c.rgb.height },
      faceCropSquare(face, { framing }),
      48,
    );
    const square = faceCropSquare(face, { framing, align: false });
    const crop = sampleSquare({ data: c.gray, width: c.rgb.width, height: c.rgb.height }, square, 48);
    let mad = 0;
    for (let p = 0; p < 2304; p++) mad += Math.abs(crop[p]! - s.pixels[p]!);
    out.push({
      name: s.name,
      found: true,
      scale: side / face.box.width,
      offsetX: ox / side,
      offsetY: oy / side,
      rollDeg: (roll * 180) / Math.PI,
      iou: iouSquares(
        { x: square.center[0] - square.side / 2, y: square.center[1] - square.side / 2, side: square.side },
        c.truth,
      ),
      mad: mad / 2304,
      crop: aligned,
    });
  }
  return out;
}

export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** Median and median absolute deviation of one field over the found faces. */
export function summarize(
  ms: Measurement[],
  key: 'scale' | 'offsetX' | 'offsetY' | 'rollDeg' | 'iou' | 'mad',
) {
  const v = ms.filter((m) => m.found).map((m) => m[key]!);
  const med = median(v);
  return { median: med, mad: median(v.map((x) => Math.abs(x - med))) };
}

/** Accuracy of `model` on the original faces and on the detected, aligned crops of the same faces. */
async function accuracyCheck(modelDir: string, samples: Sample[], ms: Measurement[]) {
  const tfl = await import('@tensorflow/tfjs-layers');
  await import('../../src/io/index');
  await import('../../src/layers/index');
  const { classifyFaceCrops } = await import('../../src/faces/recognize');
  const model = await tfl.loadLayersModel(`file://${resolve(modelDir, 'model.json')}`);
  const found = ms.map((m, i) => ({ m, s: samples[i]! })).filter(({ m }) => m.found);
  const original = await classifyFaceCrops(
    model,
    found.map(({ s }) => s.pixels),
  );
  const detected = await classifyFaceCrops(
    model,
    found.map(({ m }) => m.crop!),
  );
  const acc = (p: number[][]) =>
    p.filter((row, i) => row.indexOf(Math.max(...row)) === found[i]!.s.label).length / found.length;
  const agree = original.labels.filter((l, i) => l === detected.labels[i]).length / found.length;
  console.log(
    `  ${modelDir} on the ${found.length} found faces: accuracy ${(100 * acc(original.probabilities)).toFixed(1)} % on the originals, ` +
      `${(100 * acc(detected.probabilities)).toFixed(1)} % on the detected aligned crops; same label ${(100 * agree).toFixed(1)} %`,
  );
  model.dispose();
}

async function main() {
  const count = Number(process.argv[2] ?? 150);
  const modelDir = process.argv[3];
  const { useBackend } = await import('../../src/backends/select');
  await useBackend('wasm');
  const { loadFaceDetector } = await import('../../src/faces/blazeface');
  const detector = await loadFaceDetector();
  for (const [set, samples] of [
    ['FER2013 PublicTest', await ferSamples(count)],
    ['CK+48', await ckSamples(count)],
  ] as const) {
    if (samples.length === 0) {
      console.log(`${set}: not found under ${DATA}`);
      continue;
    }
    const ms = await measure(detector, samples);
    const found = ms.filter((m) => m.found).length;
    const f = (k: Parameters<typeof summarize>[1]) => {
      const s = summarize(ms, k);
      return `${s.median.toFixed(3)} ± ${s.mad.toFixed(3)}`;
    };
    console.log(
      `${set}: found ${found}/${ms.length} | scale ${f('scale')} | offsetX ${f('offsetX')} | offsetY ${f('offsetY')} | roll° ${f('rollDeg')} | IoU ${f('iou')} | MAD ${f('mad')}`,
    );
    if (modelDir && samples[0]?.label !== undefined) await accuracyCheck(modelDir, samples, ms);
  }
  detector.dispose();
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await main();
}
