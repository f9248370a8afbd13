import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Command } from 'commander';
import { type BackendName, useBackend } from '../backends/select';
import { CKPLUS_CLASSES_WITH_NEUTRAL, loadCkPlus } from '../data/ckplus';
import type { FaceDataset } from '../data/dataset';
import { FER2013_CLASSES } from '../data/dataset';
import { loadFer2013 } from '../data/fer2013';
import { loadFerPlus } from '../data/ferplus';
import { loadImageFolder } from '../data/image_folder';
import { resizeDataset } from '../data/remap';
import { IMAGE_EXTENSIONS } from '../image/files';
import { listAttention } from '../layers/attention_registry';
import { checkFiniteWeights } from '../models/finite';
import { getModelPreset, listModels, PRESET_GRAMMAR } from '../models/model_registry';
import {
  getPreprocessing,
  type Preprocessing,
  setPreprocessing,
  trainingJsonPreprocessing,
} from '../models/preprocessing';
import { PLACEMENTS, type Placement, RESNET_DEPTHS, type ResNetCbamOptions } from '../models/resnet_cbam';
import { DEFAULT_PRETRAINED } from '../pretrained/catalog';
import { isPretrainedName, listPretrained, loadPretrained } from '../pretrained/load';

/** Dataset kinds the CLI reads. */
/** The help of every `--model` option: what it takes, with the shipped names and the default from the catalog. */
export const MODEL_OPTION_HELP = `saved model directory (or its model.json), or a pretrained name (${listPretrained()
  .map((m) => m.name)
  .join(', ')}); defaults to ${DEFAULT_PRETRAINED}`;

export const DATASET_KINDS = ['auto', 'fer2013', 'ferplus', 'ckplus', 'folder'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];

/**
 * An error whose message is shown to the user without a stack trace; the command exits with
 * `exitCode` (1, or 130 for a run stopped by Ctrl-C).
 */
export class CliError extends Error {
  override name = 'CliError';
  /** The exit status. */
  readonly exitCode: number;
  /**
   * @param message The one line shown.
   * @param exitCode The exit status. Defaults to `1`.
   */
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Guesses the dataset kind from a path: a file is FER2013, a folder in CK+ layout is CK+, else an image folder. */
export function detectDatasetKind(path: string, arg = '--data'): Exclude<DatasetKind, 'auto' | 'ferplus'> {
  if (!existsSync(path)) throw new CliError(`${arg}: no such file or directory: "${path}"`);
  if (statSync(path).isFile()) return 'fer2013';
  // By content, never by name (a home folder called "jack" is no CK+): the original release has
  // cohn-kanade-images/, CK+48 has class folders named with CK+'s words (anger, sadness, contempt).
  if (existsSync(resolve(path, 'cohn-kanade-images'))) return 'ckplus';
  let folders: string[] = [];
  try {
    folders = readdirSync(path, { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.') && (e.isDirectory() || e.isSymbolicLink()))
      .map((e) => e.name);
  } catch (error) {
    throw new CliError(`${arg}: cannot read the folder "${path}": ${(error as Error).message}`);
  }
  const ck = new Set<string>(CKPLUS_CLASSES_WITH_NEUTRAL);
  const fer = new Set<string>(FER2013_CLASSES);
  if (folders.length > 0 && folders.every((f) => ck.has(f)) && folders.some((f) => !fer.has(f))) {
    return 'ckplus';
  }
  return 'folder';
}

/** Options of {@link loadDataset}. @internal */
export interface LoadDatasetOptions {
  /** FER+ votes file (`fer2013new.csv`). */
  ferPlusVotes?: string;
  /** FER+ label mode. */
  ferPlusMode?: 'majority' | 'probability';
  /** Image side: folders and CK+ are decoded at it, FER2013 (48x48) is resized to it. Defaults to 48. */
  size?: number;
  /** The option name used in errors. Defaults to `--data`. */
  arg?: string;
}

/** Checks a `--dataset` value. @internal */
export function checkDatasetKind(kind: string): DatasetKind {
  if (!(DATASET_KINDS as readonly string[]).includes(kind)) {
    throw new CliError(`--dataset: expected one of ${DATASET_KINDS.join(', ')}, but got "${kind}".`);
  }
  return kind as DatasetKind;
}

/** Loads a dataset for the CLI, with a progress line for FER2013. */
export async function loadDataset(
  path: string,
  kind: DatasetKind,
  options: LoadDatasetOptions = {},
): Promise<FaceDataset> {
  const arg = options.arg ?? '--data';
  checkDatasetKind(kind);
  checkInputFile(path, arg, { directoryOk: true });
  if (options.ferPlusVotes !== undefined) checkInputFile(options.ferPlusVotes, '--ferplus-votes');
  const resolved = kind === 'auto' ? (options.ferPlusVotes ? 'ferplus' : detectDatasetKind(path, arg)) : kind;
  const size = options.size ?? 48;
  switch (resolved) {
    case 'fer2013':
    case 'ferplus': {
      if (!statSync(path).isFile()) {
        throw new CliError(
          `${arg}: expected a FER2013 CSV file for --dataset ${resolved}, but "${path}" is a directory.`,
        );
      }
      if (resolved === 'ferplus' && !options.ferPlusVotes)
        throw new CliError('--dataset ferplus needs --ferplus-votes <fer2013new.csv>.');
      let last = 0;
      const fer = await loadFer2013(path, {
        onProgress: (p) => {
          const now = performance.now();
          if (now - last > 1000) {
            last = now;
            process.stderr.write(`reading ${path}: ${p.rows} rows\n`);
          }
        },
      });
      const data =
        resolved === 'fer2013'
          ? fer
          : await loadFerPlus(fer, options.ferPlusVotes!, { mode: options.ferPlusMode ?? 'majority' });
      return resizeDataset(data, size);
    }
    case 'ckplus':
      return loadCkPlus(path, { size });
    case 'folder': {
      const data = await loadImageFolder(path, { size });
      // Nothing is dropped without a word: name what was not read (BMP, hidden files, FIFOs...).
      if (data.ignored.length > 0) {
        const shown = data.ignored.slice(0, 5).map((f) => `"${f}"`);
        process.stderr.write(
          `fer-cbam: ${arg}: skipped ${data.ignored.length} ${data.ignored.length === 1 ? 'entry' : 'entries'} of "${path}" that ${data.ignored.length === 1 ? 'is' : 'are'} hidden, not a regular file, or not an image fer-cbam reads (${IMAGE_EXTENSIONS.join(' ')}; convert others, such as BMP, to PNG): ${shown.join(', ')}${data.ignored.length > 5 ? ', ...' : ''}\n`,
        );
      }
      return data;
    }
  }
}

/**
 * Checks an input path before any work: it exists, is readable, and is a file (unless
 * `directoryOk`). Names the option in the error.
 * @internal
 */
export function checkInputFile(path: string, arg: string, options: { directoryOk?: boolean } = {}): void {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `${arg}: no such file or directory: "${path}"`
        : `${arg}: cannot read "${path}": ${(error as Error).message}`,
    );
  }
  if (stat.isDirectory() && !options.directoryOk) {
    throw new CliError(`${arg}: expected a file, but "${path}" is a directory.`);
  }
  try {
    accessSync(path, constants.R_OK);
  } catch (error) {
    throw new CliError(`${arg}: cannot read "${path}": ${(error as Error).message}`);
  }
}

/**
 * Checks an output file path before any work, so a long evaluation does not end in ENOENT: its
 * folder exists and it is not a directory. @internal
 */
export function checkOutputFile(path: string, arg: string): void {
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) throw new CliError(`${arg}: the folder of "${path}" does not exist: "${dir}"`);
  if (!statSync(dir).isDirectory()) throw new CliError(`${arg}: "${dir}" is not a folder (for "${path}")`);
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw new CliError(`${arg}: expected a file name, but "${path}" is a directory.`);
  }
}

/** Checks an output directory path before any work: it is not an existing file. @internal */
export function checkOutputDir(path: string, arg: string): void {
  if (existsSync(path) && !statSync(path).isDirectory()) {
    throw new CliError(`${arg}: expected a directory, but "${path}" is a file.`);
  }
}

/** Overrides of the stored preprocessing, from `--image-size`, `--normalization` and `--class-names`. */
export interface PreprocessingOverrides {
  /** `--image-size`: side the images are resized to before cropping. */
  imageSize?: number;
  /** `--normalization`: `(x - mean) / std` on the 0-1 scale. */
  normalization?: { mean: number; std: number };
  /** `--class-names`: the model's classes in output order. */
  classNames?: string[];
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions extends PreprocessingOverrides {
  /** The option naming the model in errors. Defaults to `--model`. */
  arg?: string;
  /** Where notices go (an old run read from `training.json`). Defaults to stderr. */
  notice?: (line: string) => void;
  /**
   * Whether the command has `--image-size`, `--normalization` and `--class-names` (see
   * {@link addPreprocessingOptions}), so the advice for a model without preprocessing may name them.
   * Defaults to `true`.
   */
  preprocessingFlags?: boolean;
}

const STORE_PREPROCESSING =
  'store it with setPreprocessing(model, { imageSize, cropSize, normalization, classNames }) from fer-cbam before saving';

/** The fix for a model without preprocessing; only commands that have the flags may suggest them. */
function preprocessingFix(flags: boolean): string {
  return flags
    ? `${STORE_PREPROCESSING}, or pass --image-size <n> and --normalization <mean>,<std>`
    : STORE_PREPROCESSING;
}

/**
 * Loads a saved model (a directory holding model.json, or the model.json path) with its
 * preprocessing. The preprocessing comes from model.json (stored by `train()` and the CLI), else
 * from a `training.json` beside it (runs saved by older versions; a notice says so), else from the
 * overrides; a model with none of them is refused, never given a guessed normalisation.
 * Flags override stored values.
 * @throws CliError naming the file for a missing, corrupt or truncated model, weights that do not
 *   fit, a model that is not a one-output classifier, or missing preprocessing.
 * @example
 * ```ts
 * const { model, preprocessing } = await loadModel('runs/r18/best');
 * ```
 */
export async function loadModel(
  path: string | undefined,
  options: LoadModelOptions = {},
): Promise<{ model: tfl.LayersModel; preprocessing: Preprocessing }> {
  const arg = options.arg ?? '--model';
  const notice = options.notice ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const PREPROCESSING_FIX = preprocessingFix(options.preprocessingFlags ?? true);
  // No --model: the packaged default; a pretrained name (that is not also a local path): that model.
  if (path === undefined || (isPretrainedName(path) && !existsSync(path))) {
    let model: tfl.LayersModel;
    try {
      model = await loadPretrained(path ?? DEFAULT_PRETRAINED);
    } catch (error) {
      throw new CliError(`${arg}: ${(error as Error).message}`);
    }
    return { model, preprocessing: getPreprocessing(model)! };
  }
  if (!existsSync(path)) {
    const names = listPretrained().map((m) => m.name);
    const near = names.find((n) => n.toLowerCase() === path.toLowerCase().replace(/[^a-z0-9+]/g, ''));
    throw new CliError(
      `${arg}: no such file or directory: "${path}"${
        near
          ? `; the pretrained model is named "${near}" (lower case)`
          : `; give a saved model's directory or a pretrained name: ${names.join(', ')}`
      }.`,
    );
  }
  const file = statSync(path).isDirectory() ? resolve(path, 'model.json') : resolve(path);
  if (!existsSync(file)) {
    throw new CliError(
      `${arg}: "${path}" is a directory without a model.json (give a saved model's directory).`,
    );
  }
  if (statSync(file).isDirectory())
    throw new CliError(`${arg}: expected a file, but "${file}" is a directory.`);
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(`file://${file}`);
  } catch (error) {
    const message = (error as Error).message.replace(/^fileSystem: /, '');
    if (/Unknown layer|Unknown (constraint|initializer|regularizer)/.test(message)) {
      throw new CliError(
        `${arg}: cannot load "${file}": ${message} (a layer fer-cbam does not register; was the model made with another library?)`,
      );
    }
    if (
      /[Ss]hape|[Ss]ize|weights?/.test(message) &&
      !message.includes(file) &&
      !message.includes('weights.bin')
    ) {
      throw new CliError(
        `${arg}: the weights of "${file}" do not fit its layers (${message}); model.json and weights.bin are from different models?`,
      );
    }
    throw new CliError(
      message.includes(file) || message.includes(path)
        ? `${arg}: ${message}`
        : `${arg}: cannot load "${file}": ${message}`,
    );
  }
  try {
    // A NaN weight (a damaged copy keeps its length) would make every prediction NaN.
    checkFiniteWeights(model, arg, `"${file}"`);
  } catch (error) {
    model.dispose();
    throw new CliError((error as Error).message);
  }
  const units = model.outputs[0]?.shape.at(-1);
  if (model.outputs.length !== 1 || typeof units !== 'number') {
    throw new CliError(
      `${arg}: "${file}" has ${model.outputs.length} outputs; fer-cbam needs a classifier with one output of one score per class.`,
    );
  }
  const inputSide = model.inputs[0]?.shape[1];
  let stored = getPreprocessing(model);
  if (stored === null) {
    const training = resolve(dirname(file), 'training.json');
    if (existsSync(training)) {
      let info: ReturnType<typeof trainingJsonPreprocessing>;
      try {
        info = trainingJsonPreprocessing(JSON.parse(readFileSync(training, 'utf8')));
      } catch (error) {
        throw new CliError(`${arg}: "${training}" is not valid JSON: ${(error as Error).message}`);
      }
      if (!info.normalization || !info.classNames) {
        throw new CliError(
          `${arg}: "${training}" holds no normalization and classNames; ${PREPROCESSING_FIX}.`,
        );
      }
      const imageSize = options.imageSize ?? 48;
      notice(
        `fer-cbam: "${file}" stores no preprocessing; read it from "${training}" (a run saved by an older version), with image size ${imageSize}${options.imageSize === undefined ? ` (assumed${(options.preprocessingFlags ?? true) ? '; pass --image-size to change it' : ''})` : ''}.`,
      );
      stored = {
        imageSize,
        cropSize: info.cropSize ?? (typeof inputSide === 'number' ? inputSide : imageSize),
        normalization: info.normalization,
        classNames: info.classNames,
      };
    }
  }
  let preprocessing: Preprocessing;
  if (stored) {
    preprocessing = {
      ...stored,
      ...(options.imageSize !== undefined ? { imageSize: options.imageSize } : {}),
      ...(options.normalization !== undefined ? { normalization: options.normalization } : {}),
      ...(options.classNames !== undefined ? { classNames: options.classNames } : {}),
    };
  } else {
    const missing = [
      ...(options.imageSize === undefined ? ['--image-size <n>'] : []),
      ...(options.normalization === undefined ? ['--normalization <mean>,<std>'] : []),
    ];
    if (missing.length > 0) {
      throw new CliError(
        `${arg}: "${file}" stores no preprocessing (image size, normalization, class names) and fer-cbam will not guess it: ${PREPROCESSING_FIX}${missing.length === 1 ? ` (missing: ${missing[0]})` : ''}.`,
      );
    }
    const classNames =
      options.classNames ?? (units === FER2013_CLASSES.length ? [...FER2013_CLASSES] : undefined);
    if (!classNames) {
      throw new CliError(
        `${arg}: "${file}" stores no class names and has ${units} outputs (not FER2013's 7): pass --class-names with ${units} comma-separated names.`,
      );
    }
    preprocessing = {
      imageSize: options.imageSize!,
      cropSize: typeof inputSide === 'number' ? inputSide : options.imageSize!,
      normalization: options.normalization!,
      classNames,
    };
  }
  if (preprocessing.classNames.length !== units) {
    throw new CliError(
      `${arg}: "${file}" has ${units} outputs but ${preprocessing.classNames.length} class names (${preprocessing.classNames.join(', ')}).`,
    );
  }
  if (preprocessing.cropSize > preprocessing.imageSize) {
    throw new CliError(
      `${arg}: the crop size ${preprocessing.cropSize} of "${file}" is larger than the image size ${preprocessing.imageSize}${options.imageSize !== undefined ? ' given by --image-size' : ''}.`,
    );
  }
  // The library's own functions (classifyFaceCrops, explainFaces) read the model's preprocessing:
  // give them the resolved one, flags included (in memory only; the file is not changed).
  setPreprocessing(model, preprocessing);
  return { model, preprocessing };
}

/**
 * Adds `--image-size`, `--normalization` and `--class-names` (the preprocessing of a model that does
 * not store its own) to a command; read them back with {@link preprocessingOverrides}.
 */
export function addPreprocessingOptions(command: Command): Command {
  return command
    .option(
      '--image-size <n>',
      "image side before cropping (overrides the model's stored preprocessing)",
      intOption('--image-size'),
    )
    .option(
      '--normalization <mean,std>',
      "pixel normalisation on the 0-1 scale, e.g. 0.5,0.25 (overrides the model's stored preprocessing)",
      normalizationOption('--normalization'),
    )
    .option(
      '--class-names <list>',
      "comma-separated class names in output order (overrides the model's stored preprocessing)",
      (value: string) => {
        const names = value.split(',').map((n) => n.trim());
        if (names.some((n) => n === '') || new Set(names).size !== names.length) {
          throw new CliError(`--class-names: expected distinct comma-separated names, but got "${value}".`);
        }
        return names;
      },
    );
}

/** The overrides parsed by {@link addPreprocessingOptions}. */
export function preprocessingOverrides(opts: Record<string, unknown>): PreprocessingOverrides {
  return {
    ...(opts.imageSize !== undefined ? { imageSize: opts.imageSize as number } : {}),
    ...(opts.normalization !== undefined
      ? { normalization: opts.normalization as { mean: number; std: number } }
      : {}),
    ...(opts.classNames !== undefined ? { classNames: opts.classNames as string[] } : {}),
  };
}

/** Parses `mean,std` (0-1 scale, std > 0). */
export function normalizationOption(name: string) {
  return (value: string): { mean: number; std: number } => {
    const parts = value.split(',');
    const [mean, std] = parts.map((v) => (v.trim() === '' ? Number.NaN : Number(v)));
    if (parts.length !== 2 || !Number.isFinite(mean) || !Number.isFinite(std) || std! <= 0) {
      throw new CliError(`${name}: expected <mean>,<std> with std > 0 (e.g. 0.5,0.25), but got "${value}".`);
    }
    return { mean: mean!, std: std! };
  };
}

/** Parses a positive integer option, naming it in the error. */
export function intOption(name: string) {
  return (value: string): number => {
    const n = value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new CliError(`${name}: expected a positive integer, but got "${value}".`);
    return n;
  };
}

/** Parses a non-negative integer option (0 allowed), naming it in the error. */
export function nonNegativeIntOption(name: string) {
  return (value: string): number => {
    const n = value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new CliError(`${name}: expected a non-negative integer, but got "${value}".`);
    return n;
  };
}

/** Parses a finite number option, naming it in the error. */
export function numberOption(name: string) {
  return (value: string): number => {
    const n = value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isFinite(n)) throw new CliError(`${name}: expected a number, but got "${value}".`);
    return n;
  };
}

/** Parses a finite number > 0, naming the option in the error. */
export function positiveNumberOption(name: string) {
  return (value: string): number => {
    const n = value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new CliError(`${name}: expected a positive number, but got "${value}".`);
    return n;
  };
}

/**
 * The {@link useBackend} call of every command: the global `--backend` and `--threads` options.
 * @throws CliError when `--threads` is given for a backend other than wasm or auto.
 * @example
 * ```ts
 * const backend = await selectBackend(cmd.optsWithGlobals());
 * ```
 */
export async function selectBackend(globals: { backend?: string; threads?: number }): Promise<string> {
  const name = (globals.backend ?? 'auto') as BackendName;
  if (globals.threads !== undefined) {
    if (globals.threads > 8) throw new CliError(`--threads: expected 1 to 8, but got ${globals.threads}.`);
    if (name !== 'wasm' && name !== 'auto') {
      throw new CliError(
        `--threads sets the wasm backend's threads; it does not apply to --backend ${name}.`,
      );
    }
  }
  return useBackend(name, globals.threads === undefined ? {} : { wasm: { threads: globals.threads } });
}

/** Options {@link addArchitectureOptions} adds, as commander parses them. */
export interface ArchitectureOptions {
  arch: string;
  depth?: number;
  width?: number;
  placement?: string;
  attention?: string;
}

/**
 * Adds `--arch <preset>` (a preset name from the library's registry, e.g. `resnet10w16-cbam`) and
 * `--depth`, `--width`, `--placement`, `--attention` (overrides of the preset) to a command. Their
 * help lists the depths, placements and attention names the library has (`RESNET_DEPTHS`,
 * `PLACEMENTS`, `listAttention()`), so it never goes stale. Read them with {@link architectureFrom}.
 */
export function addArchitectureOptions(command: Command, defaultArch = 'resnet18-cbam'): Command {
  return command
    .option(
      '--arch <preset>',
      `the network: a registered preset (${listModels().slice(0, 3).join(', ')}, ...) or ${PRESET_GRAMMAR}, e.g. resnet10w16-cbam`,
      defaultArch,
    )
    .option(
      '--depth <n>',
      `override the preset's ResNet depth: ${Object.keys(RESNET_DEPTHS).join(', ')}`,
      intOption('--depth'),
    )
    .option('--width <n>', "override the preset's channels of the first stage", intOption('--width'))
    .option('--placement <where>', `override the preset's attention placement: ${PLACEMENTS.join(' | ')}`)
    .option('--attention <name>', `override the preset's attention module: ${listAttention().join(' | ')}`);
}

/**
 * The preset name and the {@link resnetCbam} options of {@link addArchitectureOptions}' flags: the
 * preset's options with the given overrides merged over them (build it with `createModel(name, options)`).
 * @throws CliError naming the flag for an unknown preset, depth, placement or attention name.
 */
export function architectureFrom(opts: ArchitectureOptions): { name: string; overrides: ResNetCbamOptions } {
  try {
    getModelPreset(opts.arch);
  } catch (error) {
    throw new CliError(
      `--arch: ${(error as Error).message.replace(/^getModelPreset: expected `name` to be /, 'expected ')}`,
    );
  }
  const overrides: ResNetCbamOptions = {};
  if (opts.depth !== undefined) {
    if (!RESNET_DEPTHS[opts.depth]) {
      throw new CliError(
        `--depth: expected one of ${Object.keys(RESNET_DEPTHS).join(', ')}, but got ${opts.depth}.`,
      );
    }
    overrides.depth = opts.depth;
  }
  if (opts.width !== undefined) overrides.width = opts.width;
  if (opts.placement !== undefined) {
    if (!(PLACEMENTS as readonly string[]).includes(opts.placement)) {
      throw new CliError(
        `--placement: expected one of ${PLACEMENTS.join(', ')}, but got "${opts.placement}".`,
      );
    }
    overrides.placement = opts.placement as Placement;
  }
  if (opts.attention !== undefined) {
    if (!listAttention().includes(opts.attention)) {
      throw new CliError(
        `--attention: expected one of ${listAttention().join(', ')}, but got "${opts.attention}".`,
      );
    }
    overrides.attention = opts.attention;
  }
  return { name: opts.arch, overrides };
}
