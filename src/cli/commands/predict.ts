import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, extname, join, resolve, sep } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Command } from 'commander';
import { BackendMemoryError } from '../../backends/memory';
import { resizeGray, rgbToGray } from '../../data/gray';
import { IMAGE_EXTENSIONS, importSharp, isImageFile } from '../../data/image_io';
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
import { NonFiniteModelError } from '../../models/finite';
import { facesToInput } from '../../models/predict';
import type { Preprocessing } from '../../models/preprocessing';
import { DEFAULT_PRETRAINED } from '../../pretrained/catalog';
import { isVideoPath, VIDEO_EXTENSIONS } from '../../video/ffmpeg';
import { TRACKER_DEFAULTS } from '../../video/tracker';
import { explainFaces } from '../../visualize/heatmaps';
import { encodePng } from '../../visualize/png';
import {
  addPreprocessingOptions,
  CliError,
  checkOutputDir,
  checkOutputFile,
  intOption,
  loadModel,
  numberOption,
  preprocessingOverrides,
  selectBackend,
} from '../common';
import { startProgress } from '../progress';
import { predictVideo } from './predict_video';

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
  warning?: string;
  /** Why no face was found and what to try (findFaceCrops' notice). */
  notice?: string;
}

/** The line printed for a picture without a face: its size and the options that would help. */
function noFaceLine(file: string, width?: number, height?: number): string {
  return (
    `${file}: no face found (${width}x${height}; if it already is a face crop use --detect off, ` +
    'for small faces in a big photo --tiles 2 or --min-score 0.4)\n'
  );
}

/** Image extensions `--annotate` writes a single file in, and the sharp format of each. */
const ANNOTATE_FORMATS: Record<string, 'png' | 'jpeg' | 'webp'> = {
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
async function makeOutputDir(path: string, arg: string): Promise<void> {
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
function pictureFailure(file: string, e: unknown, o: FaceOptions): string {
  if (e instanceof BackendMemoryError) return e.message.replace('`maxSide`', '--max-side');
  if (e instanceof WebAssembly.RuntimeError) {
    throw new CliError(
      `the wasm backend failed on "${file}" (${e.message}) and cannot go on; lower --max-side (now ${o.maxSide}) or use --backend cpu.`,
    );
  }
  return (e as Error).message;
}

/** A picture upscaled this much or more is too small for an expression worth reporting. */
const MAX_UPSCALE = 2;

/** The warning for a picture taken whole that is much smaller than the model's input. */
function smallPictureWarning(r: FileResult, pre: Preprocessing): string | undefined {
  const side = Math.min(r.width ?? 0, r.height ?? 0);
  if (r.mode !== 'whole' || side * MAX_UPSCALE > pre.imageSize) return undefined;
  return `${r.file} is only ${r.width}x${r.height} pixels, upscaled ${(pre.imageSize / side).toFixed(1)} times to the model's ${pre.imageSize}x${pre.imageSize}: too small for a reliable expression; give a larger crop of the face.`;
}

/** The model as the user named it, for messages. */
function modelLabel(model: string | undefined): string {
  return model === undefined ? `--model (the default, ${DEFAULT_PRETRAINED})` : `--model "${model}"`;
}

/**
 * `predict` on video files: every option checked first, then each video through
 * {@link predictVideo} (per-frame lines, the tracker, a per-track summary).
 */
async function predictVideos(
  videos: string[],
  pictures: number,
  o: FaceOptions,
  opts: Record<string, unknown>,
  all: Record<string, unknown>,
): Promise<void> {
  if (pictures > 0) {
    throw new CliError(
      `predict: got ${videos.length} video ${videos.length === 1 ? 'file' : 'files'} and ${pictures} ${pictures === 1 ? 'picture' : 'pictures'}; run predict once for the pictures and once for the videos.`,
    );
  }
  if (opts.heatmap) throw new CliError('--heatmap: not available for videos; use it with pictures.');
  const annotate = opts.annotate as string | undefined;
  if (annotate !== undefined) {
    if (!isVideoPath(annotate)) {
      throw new CliError(
        `--annotate: "${annotate}" must name a video file for a video (${VIDEO_EXTENSIONS.join(' ')}), such as out.mp4.`,
      );
    }
    if (videos.length > 1) {
      throw new CliError(
        `--annotate: "${annotate}" names one video, but there are ${videos.length}; annotate one video per run.`,
      );
    }
    checkOutputFile(annotate, '--annotate');
    inputGuard(videos)(annotate, '--annotate');
  }
  for (const file of videos) {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (!stat?.isFile()) throw new CliError(`predict: "${file}" is not a video file that exists.`);
  }
  const fps = opts.fps as number | undefined;
  if (fps !== undefined && !(fps > 0 && fps <= 1000)) {
    throw new CliError(`--fps: expected a number of frames per second in (0, 1000], but got ${fps}.`);
  }
  for (const [name, value, max] of [
    ['--smoothing', opts.smoothing, Number.POSITIVE_INFINITY],
    ['--hysteresis', opts.hysteresis, 1],
  ] as const) {
    if (!(typeof value === 'number' && value >= 0 && value <= max)) {
      throw new CliError(`${name}: expected a number in [0, ${max === 1 ? 1 : '∞'}), but got ${value}.`);
    }
  }
  await selectBackend(all);
  const { model, preprocessing } = await loadModel(
    opts.model as string | undefined,
    preprocessingOverrides(opts),
  );
  const detector = lazyProxy(lazyDetector());
  for (const file of videos) {
    try {
      await predictVideo(file, {
        model,
        preprocessing,
        detector,
        detect: o.detect,
        minScore: o.minScore,
        tiles: o.tiles,
        maxSide: o.maxSide,
        ...(fps !== undefined ? { fps } : {}),
        json: opts.json as boolean,
        batchSize: opts.batchSize as number,
        ...(annotate !== undefined ? { annotate } : {}),
        tracker: { timeConstant: opts.smoothing as number, hysteresis: opts.hysteresis as number },
        write: (line) => process.stdout.write(`${line}\n`),
      });
    } catch (e) {
      if (e instanceof CliError) throw e;
      if (e instanceof NonFiniteModelError)
        throw new CliError(`${modelLabel(opts.model as string)}: ${e.message}`);
      throw new CliError(`predict: ${(e as Error).message}`);
    }
    if (annotate !== undefined && !opts.json) process.stderr.write(`wrote ${annotate}\n`);
  }
}

/** Registers `fer-cbam predict` and `fer-cbam attention`. */
export function registerPredict(program: Command): void {
  addPreprocessingOptions(
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
        .argument(
          '<images...>',
          `image files (png, jpg, webp, ...) and folders of them, or video files (${VIDEO_EXTENSIONS.join(' ')}; read with ffmpeg)`,
        ),
    ),
  )
    .option('--top <k>', 'classes shown per face', intOption('--top'), 3)
    .option('--json', 'print JSON instead of text', false)
    .option(
      '--annotate <path>',
      'write each picture with boxes and labels: a .png, .jpg or .webp file for one picture; any other path is a folder (made if missing) that gets <name>_annotated.png per picture; never over an input',
    )
    .option(
      '--heatmap <dir>',
      'also write the CBAM attention and Grad-CAM of each face as PNG into this folder (made if missing)',
    )
    .option('--batch-size <n>', 'faces per forward pass', intOption('--batch-size'), 32)
    .option('--fps <n>', 'videos: frames per second to analyse (default: every frame)', numberOption('--fps'))
    .option(
      '--smoothing <seconds>',
      'videos: time constant of the per-face smoothing of probabilities (0: none)',
      numberOption('--smoothing'),
      TRACKER_DEFAULTS.timeConstant,
    )
    .option(
      '--hysteresis <p>',
      "videos: a face's shown label changes only when another class leads it by more than this",
      numberOption('--hysteresis'),
      TRACKER_DEFAULTS.hysteresis,
    )
    .action(async (images: string[], opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      const detect = checkDetect(opts.detect);
      const o = faceOptions(detect, opts);
      // Every input and output is checked before the backend, the model and the first picture.
      const skipped: string[] = [];
      const inputs = expandInputs(images, skipped);
      if (skipped.length > 0) process.stderr.write(skippedNotice('predict', skipped));
      if (inputs.length === 0) throw new CliError('predict: no image files in the given folders.');
      const videos = inputs.filter(isVideoPath);
      if (videos.length > 0) {
        await predictVideos(videos, inputs.length - videos.length, o, opts, all);
        return;
      }
      const files = inputs;
      const guard = inputGuard(files);
      const annotate: AnnotateTarget | null = opts.annotate
        ? annotateTarget(opts.annotate, files.length)
        : null;
      if (annotate?.kind === 'file') guard(annotate.path, '--annotate');
      if (opts.heatmap) checkOutputDir(opts.heatmap, '--heatmap');
      await selectBackend(all);
      const { model, preprocessing } = await loadModel(opts.model, preprocessingOverrides(opts));
      const detector = lazyDetector();
      const names = preprocessing.classNames;
      const stems = annotate?.kind === 'dir' || opts.heatmap ? uniqueStems(files) : [];
      if (annotate?.kind === 'dir') await makeOutputDir(annotate.path, '--annotate');
      if (opts.heatmap) await makeOutputDir(opts.heatmap, '--heatmap');
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
            found.push({
              file,
              width: f.image.originalWidth,
              height: f.image.originalHeight,
              mode: f.mode,
              ...(f.notice ? { notice: f.notice } : {}),
            });
          } catch (e) {
            if (e instanceof CliError) throw e; // the detector itself is missing: every file would fail
            failed++;
            found.push({ file, error: pictureFailure(file, e, o) });
            crops.push({ faces: [], mode: 'detected', image: null as never });
          }
        }
        const flat = crops.flatMap((c) => c.faces);
        let classified: Awaited<ReturnType<typeof classifyFaceCrops>>;
        try {
          classified = await classifyFaceCrops(
            model,
            flat.map((f) => f.crop),
            opts.batchSize,
          );
        } catch (e) {
          if (e instanceof NonFiniteModelError) throw new CliError(`${modelLabel(opts.model)}: ${e.message}`);
          throw e;
        }
        const { probabilities, labels } = classified;
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
          const warning = smallPictureWarning(r, preprocessing);
          if (warning) {
            r.warning = warning;
            process.stderr.write(`fer-cbam: predict: warning: ${warning}\n`);
          }
          results.push(r);
          if (!opts.json) {
            if (r.faces.length === 0) process.stdout.write(noFaceLine(r.file, r.width, r.height));
            for (const [j, f] of r.faces.entries()) {
              const where =
                r.mode === 'whole' ? 'whole image' : `face ${j + 1}/${r.faces.length} ${boxText(f)}`;
              process.stdout.write(`${r.file}: ${where}: ${top(names, f.probabilities, opts.top)}\n`);
            }
          }
          if (annotate) {
            let picture = await annotateImage(
              r.file,
              r.faces.map((f) => ({
                box: f.box,
                label: `${f.label} ${(100 * Math.max(...f.probabilities)).toFixed(0)}%`,
                ...(f.keypoints ? { keypoints: f.keypoints } : {}),
              })),
            );
            const out =
              annotate.kind === 'file'
                ? annotate.path
                : join(annotate.path, `${stems[start + i]}_annotated.png`);
            guard(out, '--annotate');
            if (annotate.kind === 'file' && annotate.format !== 'png') {
              const sharp = await importSharp('predict --annotate');
              picture = await sharp(picture).toFormat(annotate.format).toBuffer();
            }
            await writeFileAtomic(out, picture);
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
              guard,
              '--heatmap',
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
                ...(r.warning ? { warning: r.warning } : {}),
                ...(r.notice ? { notice: r.notice } : {}),
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

  addPreprocessingOptions(
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
    ),
  )
    .option('--out <dir>', 'output folder (made if missing)', 'attention-out')
    .option('--scale <n>', 'upscaling of the 48x48 output', intOption('--scale'), 4)
    .action(async (images: string[], opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      const detect = checkDetect(opts.detect);
      const o = faceOptions(detect, opts);
      const skipped: string[] = [];
      const files = expandInputs(images, skipped);
      if (skipped.length > 0) process.stderr.write(skippedNotice('attention', skipped));
      if (files.length === 0) throw new CliError('attention: no image files in the given folders.');
      const guard = inputGuard(files);
      checkOutputDir(opts.out, '--out');
      await selectBackend(all);
      const { model, preprocessing } = await loadModel(opts.model, preprocessingOverrides(opts));
      const detector = lazyDetector();
      const stems = uniqueStems(files);
      await makeOutputDir(opts.out, '--out');
      let failed = 0;
      for (const [i, file] of files.entries()) {
        let found: FaceCrops;
        try {
          found = await facesOf(file, o, preprocessing, detector);
        } catch (e) {
          if (e instanceof CliError) throw e;
          failed++;
          process.stderr.write(`fer-cbam: attention: ${pictureFailure(file, e, o)}\n`);
          continue;
        }
        if (found.faces.length === 0) {
          process.stdout.write(noFaceLine(file, found.image.originalWidth, found.image.originalHeight));
          continue;
        }
        await writeHeatmaps(
          model,
          preprocessing,
          found.faces,
          file,
          stems[i]!,
          opts.out,
          opts.scale,
          undefined,
          guard,
          '--out',
        );
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
