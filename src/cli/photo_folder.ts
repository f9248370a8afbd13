/**
 * `fer-cbam train` on a folder of ordinary photos (`DIR/<class>/*.jpg`): the face options, loading
 * the faces with the notices (what was skipped, where no face was found), the errors that name the
 * file and the fix, the stratified validation split, matching the classes of `--init` by name, and
 * the fine-tuning defaults.
 * @module
 */
import { accessSync, constants, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Command } from 'commander';
import { DataFormatError } from '../data/data_error';
import type { FaceDataset } from '../data/dataset';
import { stratifiedSplit } from '../data/folds';
import { remapClasses } from '../data/remap';
import { subsetDataset } from '../data/stats';
import { loadFaceDetector } from '../faces/blazeface';
import { FACE_PICKS, type FaceFolderDataset, type FacePick, loadFaceFolder } from '../faces/face_folder';
import { DETECT_MODES, type DetectMode } from '../faces/recognize';
import type { FaceDetector } from '../faces/types';
import { IMAGE_EXTENSIONS } from '../image/files';
import { ImageInputError } from '../image/read_image';
import { type ClassMatch, fitClassifierToClasses } from '../models/class_match';
import { CliError, intOption, nonNegativeIntOption, numberOption } from './common';
import { startProgress } from './progress';

/** The sub-folder of the run directory that holds the face-crop cache (not part of a run). */
export const FACE_CACHE_DIR = 'face-cache';

/**
 * Defaults for fine-tuning (`--init` given, option not set): measured on a few hundred photos
 * (docs/fine-tuning.md). Training from scratch keeps the command's own defaults.
 */
export const FINE_TUNE_DEFAULTS = { epochs: 12, batchSize: 32, lr: 0.01, valFraction: 0.2 } as const;

/** Adds the options for folders of photos to `train`. */
export function addPhotoOptions(cmd: Command): Command {
  return cmd
    .option('--val <path>', 'short for --validation')
    .option(
      '--detect <mode>',
      `for folders: find the face in each photo first, as predict does: auto (a picture of at most 128 px, nearly square, is taken as a face crop; any other is searched), on, or off (every picture is a face crop) (${DETECT_MODES.join('|')})`,
      'auto',
    )
    .option(
      '--pick <face>',
      `for folders: the face kept from a photo with several: largest, or best (most confident) (${FACE_PICKS.join('|')})`,
      'largest',
    )
    .option(
      '--min-score <p>',
      'for folders: drop detections below this confidence',
      numberOption('--min-score'),
      0.6,
    )
    .option(
      '--tiles <n>',
      'for folders: also search n x n tiles, for small faces in big photos',
      intOption('--tiles'),
      1,
    )
    .option(
      '--skip-invalid',
      'for folders: skip (and list) photos that cannot be decoded instead of stopping',
      false,
    )
    .option(
      '--val-fraction <f>',
      `for folders without --validation: hold out this share of each class (seeded by --seed) to choose best/ on; default ${FINE_TUNE_DEFAULTS.valFraction} with --init, else 0`,
      numberOption('--val-fraction'),
    )
    .option(
      '--head-epochs <n>',
      'with --init: first train only the classifier for n epochs (the rest frozen), then everything for --epochs',
      nonNegativeIntOption('--head-epochs'),
      0,
    )
    .option(
      '--face-cache <dir>',
      `for folders: where the face crops are cached (default: <out>/${FACE_CACHE_DIR}); a second run does not detect again`,
    );
}

/** The face options of {@link addPhotoOptions}, checked. */
export interface PhotoOptions {
  detect: DetectMode;
  pick: FacePick;
  minScore: number;
  tiles: number;
  skipInvalid: boolean;
  cacheDir: string;
}

/** Checks the face options before anything is read. */
export function photoOptions(opts: Record<string, unknown>, out: string): PhotoOptions {
  const detect = opts.detect as string;
  if (!(DETECT_MODES as readonly string[]).includes(detect)) {
    throw new CliError(`--detect: expected one of ${DETECT_MODES.join(', ')}, but got "${detect}".`);
  }
  const pick = opts.pick as string;
  if (!(FACE_PICKS as readonly string[]).includes(pick)) {
    throw new CliError(`--pick: expected one of ${FACE_PICKS.join(', ')}, but got "${pick}".`);
  }
  const minScore = opts.minScore as number;
  if (!(minScore >= 0 && minScore <= 1)) {
    throw new CliError(`--min-score: expected a number in [0, 1], but got ${minScore}.`);
  }
  const fraction = opts.valFraction as number | undefined;
  if (fraction !== undefined && !(fraction >= 0 && fraction < 1)) {
    throw new CliError(`--val-fraction: expected a number in [0, 1), but got ${fraction}.`);
  }
  if (opts.faceCache !== undefined) checkWritableDir(opts.faceCache as string, '--face-cache');
  return {
    detect: detect as DetectMode,
    pick: pick as FacePick,
    minScore,
    tiles: opts.tiles as number,
    skipInvalid: opts.skipInvalid as boolean,
    cacheDir: resolve((opts.faceCache as string | undefined) ?? resolve(out, FACE_CACHE_DIR)),
  };
}

/**
 * Checks that `--out` can be written before any work: the folder, or the nearest folder above it
 * that exists, is writable.
 */
export function checkWritableDir(path: string, arg: string): void {
  let dir = resolve(path);
  while (!existsSync(dir)) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  try {
    if (!statSync(dir).isDirectory()) {
      throw new CliError(
        `${arg}: "${dir}" is a file, so "${path}" cannot be created; choose another ${arg}.`,
      );
    }
    accessSync(dir, constants.W_OK);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(
      `${arg}: cannot write to "${dir}" (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); choose a ${arg} in a folder you can write to, or fix its permissions.`,
    );
  }
}

/** Loads the detector once, only when some photo needs it; a missing peer becomes a CliError. */
function lazyDetector(): FaceDetector {
  let detector: Promise<FaceDetector> | null = null;
  return {
    name: 'blazeface',
    detect: async (image, options) => {
      detector ??= loadFaceDetector().catch((e: Error) => {
        throw new CliError(e.message);
      });
      return (await detector).detect(image, options);
    },
    dispose: () => {},
  };
}

const list = (files: string[], n = 5) =>
  `${files
    .slice(0, n)
    .map((f) => `"${f}"`)
    .join(', ')}${files.length > n ? ', ...' : ''}`;

/**
 * Loads a folder of photos for `train` (`arg` is `--data` or `--validation`): one face per photo,
 * cached, with a progress line, and a notice for everything left out (never silent). Errors name the
 * file and the fix.
 */
export async function loadPhotoFolder(
  path: string,
  arg: string,
  o: PhotoOptions,
  size: number,
): Promise<FaceFolderDataset> {
  let bar: ReturnType<typeof startProgress> | null = null;
  let data: FaceFolderDataset;
  try {
    data = await loadFaceFolder(path, {
      size,
      detect: o.detect,
      pick: o.pick,
      minScore: o.minScore,
      tiles: o.tiles,
      detector: lazyDetector(),
      cacheDir: o.cacheDir,
      onInvalidFile: o.skipInvalid ? 'skip' : 'throw',
      onProgress: (p) => {
        bar ??= startProgress(`faces ${arg}`, p.total, 'photo');
        bar.update(p.done, { cached: p.cached });
      },
    });
  } catch (error) {
    if (error instanceof CliError) throw error;
    if (error instanceof ImageInputError) {
      throw new CliError(
        `${arg}: ${error.message.replace(/^\w+: /, '')} Remove or convert that photo, or pass --skip-invalid to skip (and list) the photos that cannot be decoded.`,
      );
    }
    if (error instanceof DataFormatError) {
      const noClasses = /sub-folder per class/.test(error.reason);
      throw new CliError(
        noClasses
          ? `${arg}: "${error.file}" holds no class folders: put each class's photos in a sub-folder named for the class (${path}/happy/*.jpg, ${path}/sad/*.jpg, ...).`
          : `${arg}: ${error.file}: ${error.reason}`,
      );
    }
    throw error;
  } finally {
    (bar as ReturnType<typeof startProgress> | null)?.stop();
  }
  const say = (s: string) => process.stderr.write(`fer-cbam: train: ${arg}: ${s}\n`);
  const photos = data.perClass.reduce((s, c) => s + c.photos, 0);
  say(
    `${photos} photos in ${data.classNames.length} ${data.classNames.length === 1 ? 'class' : 'classes'}: ${data.count} faces (${data.cached} from the cache${data.whole > 0 ? `, ${data.whole} taken whole as face crops` : ''})`,
  );
  if (data.ignored.length > 0) {
    say(
      `skipped ${data.ignored.length} ${data.ignored.length === 1 ? 'entry' : 'entries'} that ${data.ignored.length === 1 ? 'is' : 'are'} hidden, not a regular file, or not an image fer-cbam reads (${IMAGE_EXTENSIONS.join(' ')}): ${list(data.ignored)}`,
    );
  }
  if (data.skipped.length > 0) {
    say(
      `skipped ${data.skipped.length} ${data.skipped.length === 1 ? 'photo' : 'photos'} that cannot be decoded: ${data.skipped
        .slice(0, 5)
        .map((s) => `"${s.file}" (${s.reason})`)
        .join(', ')}${data.skipped.length > 5 ? ', ...' : ''}`,
    );
  }
  // The whole list of photos without a face, next to the cache, so nothing is hidden behind "...".
  const listFile = resolve(o.cacheDir, arg === '--data' ? 'no-face.txt' : 'no-face-validation.txt');
  if (data.noFace.length === 0) rmSync(listFile, { force: true });
  else {
    let listed = '';
    try {
      mkdirSync(o.cacheDir, { recursive: true });
      writeFileSync(listFile, `${data.noFace.join('\n')}\n`);
      listed = ` (all of them in ${listFile})`;
    } catch {
      // the notice still names the first ones
    }
    say(
      `no face found in ${data.noFace.length} of ${photos} photos, left out${listed}; if they are face crops use --detect off, for small faces --tiles 2 or --min-score 0.4: ${list(data.noFace)}`,
    );
  }
  if (data.severalFaces.length > 0) {
    say(
      `${data.severalFaces.length} photos show several faces; the ${o.pick === 'largest' ? 'largest (--pick best: the most confident)' : 'most confident (--pick largest: the largest)'} was kept: ${list(data.severalFaces, 3)}`,
    );
  }
  const noPhotos = data.classNames.filter((_, c) => data.perClass[c]!.photos === 0);
  if (noPhotos.length > 0) {
    throw new CliError(
      `${arg}: the class ${noPhotos.length === 1 ? 'folder' : 'folders'} ${noPhotos.map((c) => `"${resolve(path, c)}"`).join(', ')} ${noPhotos.length === 1 ? 'holds' : 'hold'} no photos (${IMAGE_EXTENSIONS.join(' ')}); add photos or remove the folder.`,
    );
  }
  const empty = data.classNames.filter(
    (_, c) => data.perClass[c]!.photos > 0 && data.perClass[c]!.faces === 0,
  );
  if (empty.length > 0) {
    throw new CliError(
      `${arg}: no face found in any photo of ${empty.map((c) => `"${c}" (${resolve(path, c)})`).join(', ')}; if those pictures are face crops, pass --detect off; for small faces try --tiles 2 or --min-score 0.4.`,
    );
  }
  if (data.count === 0) {
    throw new CliError(
      `${arg}: no photos in the class folders of "${path}" (${IMAGE_EXTENSIONS.join(' ')}).`,
    );
  }
  return data;
}

/**
 * Holds out a stratified share of each class for validation (seeded): the run's best/ is chosen on it.
 */
export function holdOut(
  data: FaceDataset,
  fraction: number,
  seed: number,
): { train: FaceDataset; validation: FaceDataset | undefined } {
  if (fraction <= 0) return { train: data, validation: undefined };
  const split = stratifiedSplit(data.labels, fraction, seed);
  if (split.validation.length === 0) return { train: data, validation: undefined };
  process.stderr.write(
    `fer-cbam: train: holding out ${split.validation.length} of ${data.count} faces (${Math.round(100 * fraction)} % of each class, --val-fraction) for validation; best/ is chosen on them\n`,
  );
  return { train: subsetDataset(data, split.train), validation: subsetDataset(data, split.validation) };
}

/**
 * Fits the `--init` model to the data's classes by name (any order and case): the same classes or a
 * subset keep its classifier, new classes get a new one (and the run says so). Returns the model and
 * the data relabelled into the model's class order.
 */
export function matchInitClasses(
  init: tfl.LayersModel,
  name: string, // how messages name the model: `--init fer2013`, `--resume`
  datasets: { train: FaceDataset; validation: FaceDataset | undefined },
  seed: number,
): { model: tfl.LayersModel; train: FaceDataset; validation: FaceDataset | undefined; match: ClassMatch } {
  let fitted: ReturnType<typeof fitClassifierToClasses>;
  try {
    fitted = fitClassifierToClasses(init, datasets.train.classNames, { seed });
  } catch (error) {
    throw new CliError(`--init: ${(error as Error).message}`);
  }
  const { model, match } = fitted;
  const say = (s: string) => process.stderr.write(`fer-cbam: train: ${name}: ${s}\n`);
  if (match.kind === 'new') {
    say(
      `the data has classes it lacks (${match.newClasses.join(', ')}): a new classifier for ${match.classNames.join(', ')} (replaceClassifier), starting from its weights for the ${match.classNames.length - match.newClasses.length} classes both have${match.missing.length > 0 ? `; ${match.missing.join(', ')} ${match.missing.length === 1 ? 'leaves' : 'leave'} the model` : ''}`,
    );
  } else if (match.kind === 'subset') {
    say(
      `the data has ${datasets.train.classNames.length} of its ${match.classNames.length} classes (no ${match.missing.join(', ')}): its classifier is kept, and the model still predicts all ${match.classNames.length}`,
    );
  } else if (datasets.train.classNames.join(',') !== match.classNames.join(',')) {
    say(`the same classes, matched by name (${match.classNames.join(', ')})`);
  }
  const relabel = (ds: FaceDataset, arg: string) => {
    const mapping: Record<string, string> = {};
    for (const n of ds.classNames) {
      const to = match.mapping[n] ?? match.classNames.find((c) => c.toLowerCase() === n.trim().toLowerCase());
      if (to === undefined) {
        throw new CliError(
          `${arg}: the class "${n}" is not one of the training classes (${datasets.train.classNames.join(', ')}).`,
        );
      }
      mapping[n] = to;
    }
    const out = remapClasses(ds, match.classNames, mapping, arg);
    // remapClasses returns the data itself when only the spelling (case) differs: use the model's.
    return out === ds ? { ...ds, classNames: [...match.classNames] } : out;
  };
  return {
    model,
    match,
    train: relabel(datasets.train, '--data'),
    validation: datasets.validation ? relabel(datasets.validation, '--validation') : undefined,
  };
}
