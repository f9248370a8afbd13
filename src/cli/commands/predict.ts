import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Command } from 'commander';
import { isImageFile, loadGrayImage } from '../../data/image_io';
import { annotateImage } from '../../faces/annotate';
import { loadFaceDetector } from '../../faces/blazeface';
import {
  classifyFaceCrops,
  DETECT_MODES,
  type DetectMode,
  type FaceCrop,
  type FaceCrops,
  findFaceCrops,
} from '../../faces/recognize';
import type { FaceDetector } from '../../faces/types';
import { writeFileAtomic } from '../../io/atomic';
import { facesToInput } from '../../models/predict';
import type { Preprocessing } from '../../models/preprocessing';
import { explainFaces } from '../../visualize/heatmaps';
import { encodePng } from '../../visualize/png';
import { CliError, intOption, loadModel, numberOption, selectBackend } from '../common';
import { startProgress } from '../progress';

/**
 * The image files named on the command line: files as given, folders expanded to the image files
 * inside them (recursively, sorted). A missing path is returned as is, so it is reported as failed.
 * @internal
 */
export function expandInputs(inputs: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (isImageFile(entry.name)) out.push(path);
    }
  };
  for (const input of inputs) {
    if (existsSync(input) && statSync(input).isDirectory()) walk(input);
    else out.push(input);
  }
  return out;
}

/**
 * Output names for `files` that never collide: the file's stem (`face` for `a/face.png`), then the
 * stem with its extension (`face_jpg`) when two stems collide, then with parent folders
 * (`a_face_png`), then a counter.
 * @internal
 */
export function uniqueStems(files: string[]): string[] {
  const clean = (s: string) => s.replace(/[^\w.-]+/g, '_');
  const candidates = (file: string): string[] => {
    const ext = extname(file);
    const stem = basename(file, ext);
    const withExt = ext ? `${stem}_${ext.slice(1)}` : stem;
    const parts = resolve(file).split(sep).filter(Boolean);
    const parents = parts.slice(0, -1).reverse();
    const out = [stem, withExt];
    let prefix = withExt;
    for (const p of parents) {
      prefix = `${p}_${prefix}`;
      out.push(prefix);
    }
    return out.map(clean);
  };
  const all = files.map(candidates);
  const level = files.map(() => 0);
  for (let round = 0; round < 64; round++) {
    const names = all.map((c, i) => c[Math.min(level[i]!, c.length - 1)]!);
    const counts = new Map<string, number>();
    for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
    let changed = false;
    names.forEach((n, i) => {
      if (counts.get(n)! > 1 && level[i]! < all[i]!.length - 1) {
        level[i]!++;
        changed = true;
      }
    });
    if (!changed) break;
  }
  const names = all.map((c, i) => c[Math.min(level[i]!, c.length - 1)]!);
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return k === 1 ? n : `${n}_${k}`;
  });
}

interface FaceOptions {
  detect: DetectMode;
  minScore: number;
  tiles: number;
  maxSide: number;
  centerCrop: boolean;
}

function addFaceOptions(cmd: Command): Command {
  return cmd
    .option(
      '--detect <mode>',
      `find faces first: auto (skip for pictures that already are small face crops), on, off (${DETECT_MODES.join('|')})`,
      'auto',
    )
    .option('--min-score <p>', 'drop detections below this confidence', numberOption('--min-score'), 0.6)
    .option('--tiles <n>', 'also search n x n tiles, for small faces in big photos', intOption('--tiles'), 1)
    .option(
      '--max-side <px>',
      'downscale bigger pictures to this longer side first',
      intOption('--max-side'),
      2048,
    )
    .option(
      '--no-center-crop',
      'with --detect off: squash the whole picture to a square instead of cropping its centre',
    );
}

function faceOptions(detect: DetectMode, opts: Record<string, unknown>): FaceOptions {
  const minScore = opts.minScore as number;
  if (!(minScore >= 0 && minScore <= 1)) {
    throw new CliError(`--min-score: expected a number in [0, 1], but got ${minScore}.`);
  }
  return {
    detect,
    minScore,
    tiles: opts.tiles as number,
    maxSide: opts.maxSide as number,
    centerCrop: opts.centerCrop as boolean,
  };
}

function checkDetect(value: string): DetectMode {
  if (!(DETECT_MODES as readonly string[]).includes(value)) {
    throw new CliError(`--detect: expected one of ${DETECT_MODES.join(', ')}, but got "${value}".`);
  }
  return value as DetectMode;
}

/** Loads the detector once, only when some picture needs it. */
function lazyDetector(): () => Promise<FaceDetector> {
  let detector: Promise<FaceDetector> | null = null;
  return () => {
    detector ??= loadFaceDetector().catch((e: Error) => {
      throw new CliError(e.message);
    });
    return detector;
  };
}

async function facesOf(
  file: string,
  o: FaceOptions,
  pre: Preprocessing,
  detector: () => Promise<FaceDetector>,
): Promise<FaceCrops> {
  const found = await findFaceCrops(file, {
    detect: o.detect,
    size: pre.imageSize,
    minScore: o.minScore,
    tiles: o.tiles,
    maxSide: o.maxSide,
    detector: lazyProxy(detector), // loaded only when a picture needs detection
  });
  if (found.mode === 'whole' && !o.centerCrop) {
    found.faces[0]!.crop = await loadGrayImage(file, { size: pre.imageSize, fit: 'fill' });
  }
  return found;
}

/** A FaceDetector that loads the real one on first `detect`. */
function lazyProxy(get: () => Promise<FaceDetector>): FaceDetector {
  return {
    name: 'blazeface',
    detect: async (image, options) => (await get()).detect(image, options),
    dispose: () => {},
  };
}

function top(names: string[], row: number[], k: number): string {
  return row
    .map((p, c) => ({ p, c }))
    .sort((a, b) => b.p - a.p)
    .slice(0, k)
    .map(({ p, c }) => `${names[c]} ${(100 * p).toFixed(1)}%`)
    .join(', ');
}

function boxText(f: FaceCrop): string {
  const b = f.box;
  return `x=${Math.round(b.x)} y=${Math.round(b.y)} w=${Math.round(b.width)} h=${Math.round(b.height)}`;
}

interface FileResult {
  file: string;
  width?: number;
  height?: number;
  mode?: 'detected' | 'whole';
  faces?: (FaceCrop & { label: string; probabilities: number[] })[];
  error?: string;
}

/** Registers `fer-cbam predict` and `fer-cbam attention`. */
export function registerPredict(program: Command): void {
  addFaceOptions(
    program
      .command('predict')
      .description(
        'find the faces in photos and print their expressions: one line per face (box, top classes)',
      )
      .option(
        '--model <dir|name>',
        'saved model directory (or its model.json), or a pretrained name (fer2013, ferplus, ckplus); defaults to fer2013',
      )
      .argument('<images...>', 'image files (png, jpg, webp, ...) and folders of them'),
  )
    .option('--top <k>', 'classes shown per face', intOption('--top'), 3)
    .option('--json', 'print JSON instead of text', false)
    .option(
      '--annotate <png>',
      'write the picture with boxes and labels (a folder when there are several pictures)',
    )
    .option(
      '--heatmap <dir>',
      'also write the CBAM attention and Grad-CAM of each face as PNG into this folder',
    )
    .option('--batch-size <n>', 'faces per forward pass', intOption('--batch-size'), 32)
    .action(async (images: string[], opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      const detect = checkDetect(opts.detect);
      await selectBackend(all);
      const { model, preprocessing } = await loadModel(opts.model);
      const files = expandInputs(images);
      if (files.length === 0) throw new CliError('predict: no image files in the given folders.');
      const o = faceOptions(detect, opts);
      const detector = lazyDetector();
      const names = preprocessing.classNames;
      const annotateOne = opts.annotate && files.length === 1 && /\.png$/i.test(opts.annotate);
      const annotateDir = opts.annotate && !annotateOne ? opts.annotate : null;
      const stems = annotateDir || opts.heatmap ? uniqueStems(files) : [];
      if (annotateDir) await mkdir(annotateDir, { recursive: true });
      if (opts.heatmap) await mkdir(opts.heatmap, { recursive: true });
      const progress = files.length >= 10 ? startProgress('predict', files.length, 'img') : null;
      const results: FileResult[] = [];
      let failed = 0;
      const chunk = Math.max(1, Math.min(16, opts.batchSize));
      for (let start = 0; start < files.length; start += chunk) {
        const group = files.slice(start, start + chunk);
        const found: FileResult[] = [];
        const crops: FaceCrops[] = [];
        for (const file of group) {
          try {
            const f = await facesOf(file, o, preprocessing, detector);
            crops.push(f);
            found.push({ file, width: f.image.originalWidth, height: f.image.originalHeight, mode: f.mode });
          } catch (e) {
            if (e instanceof CliError) throw e; // the detector itself is missing: every file would fail
            failed++;
            const message = (e as Error).message;
            found.push({ file, error: message });
            crops.push({ faces: [], mode: 'detected', image: null as never });
          }
        }
        const flat = crops.flatMap((c) => c.faces);
        const { probabilities, labels } = await classifyFaceCrops(
          model,
          flat.map((f) => f.crop),
          opts.batchSize,
        );
        let k = 0;
        for (const [i, r] of found.entries()) {
          if (r.error) {
            process.stderr.write(`fer-cbam: predict: ${r.error}\n`); // in input order
            results.push(r);
            continue;
          }
          r.faces = crops[i]!.faces.map((f) => ({
            ...f,
            label: labels[k]!,
            probabilities: probabilities[k++]!,
          }));
          results.push(r);
          if (!opts.json) {
            if (r.faces.length === 0) {
              process.stdout.write(
                `${r.file}: no face found (${r.width}x${r.height}; try --tiles 2 for small faces, --min-score 0.4, or --detect off for a face crop)\n`,
              );
            }
            for (const [j, f] of r.faces.entries()) {
              const where =
                r.mode === 'whole' ? 'whole image' : `face ${j + 1}/${r.faces.length} ${boxText(f)}`;
              process.stdout.write(`${r.file}: ${where}: ${top(names, f.probabilities, opts.top)}\n`);
            }
          }
          if (opts.annotate) {
            const png = await annotateImage(
              r.file,
              r.faces.map((f) => ({
                box: f.box,
                label: `${f.label} ${(100 * Math.max(...f.probabilities)).toFixed(0)}%`,
                ...(f.keypoints ? { keypoints: f.keypoints } : {}),
              })),
            );
            const out = annotateOne ? opts.annotate : join(annotateDir!, `${stems[start + i]}_annotated.png`);
            await writeFileAtomic(out, png);
            if (!opts.json) process.stderr.write(`wrote ${out}\n`);
          }
          if (opts.heatmap && r.faces.length > 0) {
            await writeHeatmaps(
              model,
              preprocessing,
              crops[i]!.faces,
              r.file,
              stems[start + i]!,
              opts.heatmap,
              4,
              (line) => process.stderr.write(`wrote ${line}\n`),
            );
          }
        }
        progress?.update(Math.min(files.length, start + group.length), {
          faces: results.reduce((s, r) => s + (r.faces?.length ?? 0), 0),
        });
      }
      progress?.stop();
      if (opts.json) {
        const out = results.map((r) =>
          r.error
            ? { file: r.file, error: r.error }
            : {
                file: r.file,
                width: r.width,
                height: r.height,
                mode: r.mode,
                faces: r.faces!.map((f) => ({
                  box: roundBox(f.box),
                  score: f.score === null ? null : Number(f.score.toFixed(4)),
                  ...(f.keypoints
                    ? {
                        eyes: {
                          right: f.keypoints.rightEye.map(Math.round),
                          left: f.keypoints.leftEye.map(Math.round),
                        },
                      }
                    : {}),
                  label: f.label,
                  probabilities: Object.fromEntries(
                    names.map((n, c) => [n, Number(f.probabilities[c]!.toFixed(5))]),
                  ),
                })),
              },
        );
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }
      if (failed > 0)
        throw new CliError(`predict: ${failed} of ${files.length} pictures failed (see above).`);
    });

  addFaceOptions(
    program
      .command('attention')
      .description(
        'write attention heatmaps (CBAM spatial maps and Grad-CAM) over each face in images, as PNG',
      )
      .option(
        '--model <dir|name>',
        'saved model directory (or its model.json), or a pretrained name (fer2013, ferplus, ckplus); defaults to fer2013',
      )
      .argument('<images...>', 'image files and folders of them'),
  )
    .option('--out <dir>', 'output directory', 'attention-out')
    .option('--scale <n>', 'upscaling of the 48x48 output', '4')
    .action(async (images: string[], opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      const detect = checkDetect(opts.detect);
      await selectBackend(all);
      const { model, preprocessing } = await loadModel(opts.model);
      const files = expandInputs(images);
      if (files.length === 0) throw new CliError('attention: no image files in the given folders.');
      const o = faceOptions(detect, opts);
      const detector = lazyDetector();
      const stems = uniqueStems(files);
      await mkdir(opts.out, { recursive: true });
      let failed = 0;
      for (const [i, file] of files.entries()) {
        let found: FaceCrops;
        try {
          found = await facesOf(file, o, preprocessing, detector);
        } catch (e) {
          if (e instanceof CliError) throw e;
          failed++;
          process.stderr.write(`fer-cbam: attention: ${(e as Error).message}\n`);
          continue;
        }
        if (found.faces.length === 0) {
          process.stdout.write(`${file}: no face found\n`);
          continue;
        }
        await writeHeatmaps(model, preprocessing, found.faces, file, stems[i]!, opts.out, Number(opts.scale));
      }
      if (failed > 0)
        throw new CliError(`attention: ${failed} of ${files.length} pictures failed (see above).`);
    });
}

function roundBox(b: { x: number; y: number; width: number; height: number }) {
  return { x: Math.round(b.x), y: Math.round(b.y), width: Math.round(b.width), height: Math.round(b.height) };
}

async function writeHeatmaps(
  model: tfl.LayersModel,
  preprocessing: Preprocessing,
  faces: FaceCrop[],
  file: string,
  stem: string,
  outDir: string,
  scale: number,
  report: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<void> {
  const crops = faces.map((f) => f.crop);
  const x = facesToInput(crops, preprocessing);
  const explained = explainFaces(model, crops, x, preprocessing.imageSize);
  x.dispose();
  for (const [j, e] of explained.entries()) {
    const name = faces.length === 1 ? `${stem}_attention.png` : `${stem}_face${j + 1}_attention.png`;
    const out = resolve(outDir, name);
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, await encodePng(e.tile, scale));
    const layers = [
      ...e.attention.map((a) => a.path),
      ...(e.gradCam ? [`Grad-CAM(${e.gradCam.layerName})`] : []),
    ];
    const where =
      faces.length === 1 && faces[0]!.score === null
        ? 'whole image'
        : `face ${j + 1}/${faces.length} ${boxText(faces[j]!)}`;
    report(
      `${out}: ${file} ${where} | ${layers.join(' | ')}; predicted ${preprocessing.classNames[e.predicted]}`,
    );
  }
}
