/**
 * What `predict` and `attention` share: the face options, the inputs named on the command line
 * (folders expanded, outputs checked before any work), the lazily loaded detector, the per-picture
 * messages and the heatmap files.
 * @module
 * @internal
 */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, extname, join, resolve, sep } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Command } from 'commander';
import { BackendMemoryError } from '../../backends/memory';
import { loadFaceDetector } from '../../faces/blazeface';
import {
  DETECT_MODES,
  type DetectMode,
  type FaceCrop,
  type FaceCrops,
  findFaceCrops,
} from '../../faces/recognize';
import type { FaceDetector } from '../../faces/types';
import { IMAGE_EXTENSIONS, isImageFile } from '../../image/files';
import { resizeGray, rgbToGray } from '../../image/gray';
import { encodePng } from '../../image/png';
import { writeFileAtomic } from '../../io/atomic';
import { facesToInput } from '../../models/predict';
import type { Preprocessing } from '../../models/preprocessing';
import { DEFAULT_PRETRAINED } from '../../pretrained/catalog';
import { explainFaces } from '../../visualize/heatmaps';
import { CliError, checkOutputDir, checkOutputFile, intOption, numberOption } from '../common';

/**
 * The image files named on the command line: files as given, folders expanded to the image files
 * inside them (recursively, sorted). Inside folders the rule of the training loaders applies
 * (`isImageFile`): hidden entries (`._photo.png`, `.thumbnails/`) and files of other formats are
 * skipped, and so is anything that is not a regular file (a FIFO would block the decoder forever);
 * symbolic links count as what they point to. Skipped entries are added to `skipped`, for a notice.
 * A missing path is returned as is, so it is reported as failed.
 * @internal
 */
export function expandInputs(inputs: string[], skipped: string[] = []): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      const target = entry.isSymbolicLink() ? statSync(path, { throwIfNoEntry: false }) : entry;
      if (entry.name.startsWith('.')) skipped.push(path);
      else if (target?.isDirectory()) walk(path);
      else if (target?.isFile() && isImageFile(entry.name)) out.push(path);
      else skipped.push(path);
    }
  };
  for (const input of inputs) {
    if (existsSync(input) && statSync(input).isDirectory()) walk(input);
    else out.push(input);
  }
  return out;
}

/** The notice for entries of folders that were not read. @internal */
export function skippedNotice(command: string, skipped: string[]): string {
  const shown = skipped.slice(0, 5).map((f) => `"${f}"`);
  return `fer-cbam: ${command}: skipped ${skipped.length} ${skipped.length === 1 ? 'entry' : 'entries'} of the given folders that ${skipped.length === 1 ? 'is' : 'are'} hidden, not a regular file, or not an image it reads (${IMAGE_EXTENSIONS.join(' ')}; convert others, such as BMP, to PNG): ${shown.join(', ')}${skipped.length > 5 ? ', ...' : ''}\n`;
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

export interface FaceOptions {
  detect: DetectMode;
  minScore: number;
  tiles: number;
  maxSide: number;
  centerCrop: boolean;
}

export function addFaceOptions(cmd: Command): Command {
  return cmd
    .option(
      '--detect <mode>',
      'find faces first: auto (a picture of at most 128 px, nearly square, is taken as a face crop; any ' +
        'other is searched, faces that fill it included), on, or off (the picture is one face crop: ' +
        `use it for crops auto does not find a face in) (${DETECT_MODES.join('|')})`,
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

export function faceOptions(detect: DetectMode, opts: Record<string, unknown>): FaceOptions {
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

export function checkDetect(value: string): DetectMode {
  if (!(DETECT_MODES as readonly string[]).includes(value)) {
    throw new CliError(`--detect: expected one of ${DETECT_MODES.join(', ')}, but got "${value}".`);
  }
  return value as DetectMode;
}

/** Loads the detector once, only when some picture needs it. */
export function lazyDetector(): () => Promise<FaceDetector> {
  let detector: Promise<FaceDetector> | null = null;
  return () => {
    detector ??= loadFaceDetector().catch((e: Error) => {
      throw new CliError(e.message);
    });
    return detector;
  };
}

export async function facesOf(
  file: string,
  o: FaceOptions,
  pre: Preprocessing,
  detector: () => Promise<FaceDetector>,
): Promise<FaceCrops> {
  // A FIFO, socket or device would block the decoder forever (no error, no output): refuse it.
  const stat = statSync(file, { throwIfNoEntry: false });
  if (stat && !stat.isFile() && !stat.isDirectory()) {
    throw new Error(`${file}: not a regular file (a FIFO, socket or device); give an image file.`);
  }
  const found = await findFaceCrops(file, {
    detect: o.detect,
    size: pre.imageSize,
    minScore: o.minScore,
    tiles: o.tiles,
    maxSide: o.maxSide,
    detector: lazyProxy(detector), // loaded only when a picture needs detection
  });
  if (found.mode === 'whole' && !o.centerCrop) {
    // The whole picture stretched, from the same decoded pixels, gray conversion and sampler as
    // the centre crop and the folder loaders (not a second decode with other ones).
    const { image } = found.image;
    found.faces[0]!.crop = resizeGray(
      { data: rgbToGray(image), width: image.width, height: image.height },
      pre.imageSize,
      'fill',
    );
  }
  return found;
}

/** A FaceDetector that loads the real one on first `detect`. */
export function lazyProxy(get: () => Promise<FaceDetector>): FaceDetector {
  return {
    name: 'blazeface',
    detect: async (image, options) => (await get()).detect(image, options),
    dispose: () => {},
  };
}

export function top(names: string[], row: number[], k: number): string {
  return row
    .map((p, c) => ({ p, c }))
    .sort((a, b) => b.p - a.p)
    .slice(0, k)
    .map(({ p, c }) => `${names[c]} ${(100 * p).toFixed(1)}%`)
    .join(', ');
}

export function boxText(f: FaceCrop): string {
  const b = f.box;
  return `x=${Math.round(b.x)} y=${Math.round(b.y)} w=${Math.round(b.width)} h=${Math.round(b.height)}`;
}

export interface FileResult {
  file: string;
  width?: number;
  height?: number;
  mode?: 'detected' | 'whole';
  faces?: (FaceCrop & { label: string; probabilities: number[] })[];
  error?: string;
  warning?: string;
  /** Why no face was found and what to try (findFaceCrops' notice). */
  notice?: string;
}

/** The line printed for a picture without a face: its size and the options that would help. */
export function noFaceLine(file: string, width?: number, height?: number): string {
  return (
    `${file}: no face found (${width}x${height}; if it already is a face crop use --detect off, ` +
    'for small faces in a big photo --tiles 2 or --min-score 0.4)\n'
  );
}

/** Image extensions `--annotate` writes a single file in, and the sharp format of each. */
export const ANNOTATE_FORMATS: Record<string, 'png' | 'jpeg' | 'webp'> = {
  '.png': 'png',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.webp': 'webp',
};

/** What `--annotate <path>` means: a file for one picture (by its extension), else a folder. @internal */
export type AnnotateTarget =
  | { kind: 'file'; path: string; format: 'png' | 'jpeg' | 'webp' }
  | { kind: 'dir'; path: string };

/**
 * Resolves and checks `--annotate` before any work: a path ending in .png, .jpg, .jpeg or .webp is
 * one file (its folder must exist) and needs exactly one picture; any other path is a folder (made
 * if missing) that gets `<name>_annotated.png` per picture. @internal
 */
export function annotateTarget(path: string, pictures: number): AnnotateTarget {
  const ext = extname(path).toLowerCase();
  const format = ANNOTATE_FORMATS[ext];
  if (format === undefined && IMAGE_EXTENSIONS.includes(ext)) {
    throw new CliError(
      `--annotate: "${path}" names a ${ext} file, but annotated pictures are written as .png, .jpg or .webp; name it so, or give a folder.`,
    );
  }
  if (format === undefined) {
    checkOutputDir(path, '--annotate');
    return { kind: 'dir', path };
  }
  if (pictures > 1) {
    throw new CliError(
      `--annotate: "${path}" names one file, but there are ${pictures} pictures; give a folder instead (it gets <name>_annotated.png per picture).`,
    );
  }
  checkOutputFile(path, '--annotate');
  return { kind: 'file', path, format };
}

/**
 * A check that an output path is none of the input pictures (by real path, so `./a.png`, `a.png`
 * and a link to it are one file): writing there would replace a photo with its annotated copy.
 * @internal
 */
export function inputGuard(files: string[]): (out: string, arg: string) => void {
  const real = (path: string) => {
    try {
      return realpathSync(path);
    } catch {
      return resolve(path);
    }
  };
  const inputs = new Set(files.map(real));
  return (out, arg) => {
    if (inputs.has(real(out))) {
      throw new CliError(
        `${arg}: "${out}" is one of the input pictures; writing there would replace it: give another ${arg === '--annotate' ? 'file name or folder' : 'folder'}.`,
      );
    }
  };
}

/** Makes an output folder, naming the option when that fails (a file in the way, no permission). */
export async function makeOutputDir(path: string, arg: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    throw new CliError(`${arg}: cannot create the folder "${path}": ${(error as Error).message}`);
  }
}

/**
 * The message of a picture that failed, in the CLI's terms; a failure of the wasm backend itself
 * (after which every later tensor fails too) becomes a CliError that stops the command.
 */
export function pictureFailure(file: string, e: unknown, o: FaceOptions): string {
  if (e instanceof BackendMemoryError) return e.message.replace('`maxSide`', '--max-side');
  if (e instanceof WebAssembly.RuntimeError) {
    throw new CliError(
      `the wasm backend failed on "${file}" (${e.message}) and cannot go on; lower --max-side (now ${o.maxSide}) or use --backend cpu.`,
    );
  }
  return (e as Error).message;
}

/** A picture upscaled this much or more is too small for an expression worth reporting. */
export const MAX_UPSCALE = 2;

/** The warning for a picture taken whole that is much smaller than the model's input. */
export function smallPictureWarning(r: FileResult, pre: Preprocessing): string | undefined {
  const side = Math.min(r.width ?? 0, r.height ?? 0);
  if (r.mode !== 'whole' || side * MAX_UPSCALE > pre.imageSize) return undefined;
  return `${r.file} is only ${r.width}x${r.height} pixels, upscaled ${(pre.imageSize / side).toFixed(1)} times to the model's ${pre.imageSize}x${pre.imageSize}: too small for a reliable expression; give a larger crop of the face.`;
}

/** The model as the user named it, for messages. */
export function modelLabel(model: string | undefined): string {
  return model === undefined ? `--model (the default, ${DEFAULT_PRETRAINED})` : `--model "${model}"`;
}

export function roundBox(b: { x: number; y: number; width: number; height: number }) {
  return { x: Math.round(b.x), y: Math.round(b.y), width: Math.round(b.width), height: Math.round(b.height) };
}

export async function writeHeatmaps(
  model: tfl.LayersModel,
  preprocessing: Preprocessing,
  faces: FaceCrop[],
  file: string,
  stem: string,
  outDir: string,
  scale: number,
  report: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  guard: (out: string, arg: string) => void = () => {},
  arg = '--out',
): Promise<void> {
  const crops = faces.map((f) => f.crop);
  const x = facesToInput(crops, preprocessing);
  const explained = explainFaces(model, crops, x, preprocessing.imageSize);
  x.dispose();
  for (const [j, e] of explained.entries()) {
    const name = faces.length === 1 ? `${stem}_attention.png` : `${stem}_face${j + 1}_attention.png`;
    const out = resolve(outDir, name);
    guard(out, arg);
    await writeFileAtomic(out, await encodePng(e.tile, scale));
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
