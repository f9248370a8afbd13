/**
 * CK+ loader (Lucey et al., CVPR-W 2010) for two layouts: the widespread "CK+48" crops
 * (`<class>/S###_###_########.png`) and the original release (`cohn-kanade-images/` + `Emotion/`).
 * Subject and sequence ids come from the file names, for subject-independent folds. Node-only
 * (`node:fs`, `node:path` and `sharp` are imported lazily).
 * @module
 */

import { expected } from '../errors';
import { isImageFile } from '../image/files';
import { importSharp } from '../image/sharp';
import { importAtRuntime } from '../node_env';
import { DataFormatError, expectedReason } from './data_error';
import type { FaceDataset } from './dataset';
import { decodeGray, mapLimit, resolveImageOptions } from './image_io';

/**
 * The seven CK+ emotion classes in label order: the CK+48 folder names, sorted, which is also the
 * order of the original `Emotion` codes 1-7. @category Data
 */
export const CKPLUS_CLASSES: readonly string[] = [
  'anger',
  'contempt',
  'disgust',
  'fear',
  'happy',
  'sadness',
  'surprise',
];

/** The original CK+ `Emotion` code order, 0-7, used when `includeNeutral` is set. @category Data */
export const CKPLUS_CLASSES_WITH_NEUTRAL: readonly string[] = ['neutral', ...CKPLUS_CLASSES];

/** Options of {@link loadCkPlus}. @category Data */
export interface LoadCkPlusOptions {
  /** Output side in pixels (images are converted to grayscale and resized). Defaults to `48`. */
  size?: number;
  /**
   * Original layout only: how many of the last frames of each labelled sequence to take (CK+48 took 3).
   * Defaults to `3`.
   */
  peakFrames?: number;
  /**
   * Original layout only: also take the first frame of each labelled sequence as `neutral`; the class
   * names are then {@link CKPLUS_CLASSES_WITH_NEUTRAL} (the `Emotion` code order). Defaults to `false`.
   */
  includeNeutral?: boolean;
  /** Called after each decoded image. */
  onProgress?: (progress: { done: number; total: number }) => void;
}

/** Defaults of {@link LoadCkPlusOptions}. @category Data */
export const LOAD_CKPLUS_DEFAULTS = { size: 48, peakFrames: 3, includeNeutral: false } as const;

/** What {@link loadCkPlus} returns. @category Data */
export interface CkPlusDataset extends FaceDataset {
  /** Subject id per image, e.g. `'S010'`. */
  subjects: string[];
  /** Sequence id per image, e.g. `'S010_004'` (frames of one sequence are near-duplicates). */
  sequences: string[];
  /** Path of each image. */
  files: string[];
  /** Which layout was found. */
  layout: 'ck+48' | 'original';
}

const WHERE = 'loadCkPlus';
const NAME_RE = /^(S\d+)_(\d+)_(\d+)(?:_emotion)?\.[A-Za-z0-9]+$/;

interface Item {
  file: string;
  label: number;
  subject: string;
  sequence: string;
}

function parseName(file: string, name: string): { subject: string; sequence: string; frame: number } {
  const m = NAME_RE.exec(name);
  if (!m) {
    throw new DataFormatError(
      WHERE,
      file,
      undefined,
      expectedReason(
        'file name',
        'of the form S<subject>_<sequence>_<frame>.png, e.g. S010_004_00000017.png',
        name,
      ),
    );
  }
  return { subject: m[1]!, sequence: `${m[1]}_${m[2]}`, frame: Number(m[3]) };
}

/**
 * Loads CK+ in either layout, detected from `root`:
 * - **CK+48**: `root/<class>/S###_###_########.png` (or `root/CK+48/...`), class folders among
 *   {@link CKPLUS_CLASSES}; 981 images of 118 subjects in the common release.
 * - **Original**: `root/cohn-kanade-images/S###/###/*.png` and `root/Emotion/S###/###/*_emotion.txt`;
 *   for each sequence with an emotion file, its last `peakFrames` frames get that label (and its first
 *   frame `neutral` with `includeNeutral`). The frames are whole camera images, not face crops: they
 *   are centre-cropped to a square and resized, so crop faces first if you can.
 *
 * Evaluate CK+ with {@link subjectKFold} on `subjects`: frames of one person must not be in both
 * train and test.
 * @param root The data folder.
 * @param options See {@link LoadCkPlusOptions}.
 * @example
 * ```ts
 * const ck = await loadCkPlus('data/ckplus');
 * const folds = subjectKFold(ck.subjects, 10, 0, ck.labels);
 * ```
 * @throws DataFormatError naming the path for a missing folder, an unknown class folder, a file name
 * without a subject id, an unreadable image, or a malformed emotion file.
 * @category Data
 */
export async function loadCkPlus(root: string, options: LoadCkPlusOptions = {}): Promise<CkPlusDataset> {
  if (typeof root !== 'string' || root === '') {
    throw new TypeError(expected(WHERE, 'root', 'a non-empty string', root));
  }
  const { size } = resolveImageOptions(WHERE, { size: options.size ?? LOAD_CKPLUS_DEFAULTS.size });
  const peakFrames = options.peakFrames ?? LOAD_CKPLUS_DEFAULTS.peakFrames;
  if (!Number.isInteger(peakFrames) || peakFrames < 1) {
    throw new RangeError(expected(WHERE, 'peakFrames', 'a positive integer', peakFrames));
  }
  const includeNeutral = options.includeNeutral ?? LOAD_CKPLUS_DEFAULTS.includeNeutral;
  if (typeof includeNeutral !== 'boolean') {
    throw new TypeError(expected(WHERE, 'includeNeutral', 'a boolean', includeNeutral));
  }
  const fs = await importAtRuntime<typeof import('node:fs')>('node:fs');
  const pathMod = await importAtRuntime<typeof import('node:path')>('node:path');
  const listDir = async (dir: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (e) {
      throw new DataFormatError(WHERE, dir, undefined, `cannot read the folder (${(e as Error).message}).`);
    }
    // Follow symbolic links (to frames, class or sequence folders): they count like the real thing.
    return Promise.all(
      entries.map(async (e) => {
        if (!e.isSymbolicLink()) return e;
        const target = await fs.promises.stat(pathMod.join(dir, e.name)).catch(() => null);
        const resolved = Object.create(Object.getPrototypeOf(e)) as import('node:fs').Dirent;
        Object.assign(resolved, e, {
          isFile: () => target?.isFile() ?? false,
          isDirectory: () => target?.isDirectory() ?? false,
          isSymbolicLink: () => false,
        });
        return resolved;
      }),
    );
  };
  const top = await listDir(root);
  const hasDir = (name: string) => top.some((e) => e.isDirectory() && e.name === name);

  let items: Item[];
  let layout: CkPlusDataset['layout'];
  let classNames: string[];
  if (hasDir('cohn-kanade-images') || hasDir('Emotion')) {
    layout = 'original';
    classNames = includeNeutral ? [...CKPLUS_CLASSES_WITH_NEUTRAL] : [...CKPLUS_CLASSES];
    items = await listOriginal(root, peakFrames, includeNeutral, listDir, fs, pathMod);
  } else {
    layout = 'ck+48';
    classNames = [...CKPLUS_CLASSES];
    const dir = hasDir('CK+48') ? pathMod.join(root, 'CK+48') : root;
    items = await listCk48(dir, dir === root ? top : await listDir(dir), listDir, pathMod);
  }
  if (items.length === 0) {
    throw new DataFormatError(
      WHERE,
      root,
      undefined,
      expectedReason('root', 'a CK+ folder with images', 'none'),
    );
  }

  const sharp = await importSharp(WHERE);
  const pixels = size * size;
  const images = new Uint8Array(items.length * pixels);
  let done = 0;
  await mapLimit(items, 8, async (item, i) => {
    images.set(await decodeGray(sharp, item.file, size, 'cover', WHERE), i * pixels);
    options.onProgress?.({ done: ++done, total: items.length });
  });
  return {
    count: items.length,
    height: size,
    width: size,
    images,
    labels: Uint8Array.from(items, (it) => it.label),
    classNames,
    subjects: items.map((it) => it.subject),
    sequences: items.map((it) => it.sequence),
    files: items.map((it) => it.file),
    layout,
  };
}

type ListDir = (dir: string) => Promise<import('node:fs').Dirent[]>;

async function listCk48(
  dir: string,
  entries: import('node:fs').Dirent[],
  listDir: ListDir,
  pathMod: typeof import('node:path'),
): Promise<Item[]> {
  const folders = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (folders.length === 0) {
    throw new DataFormatError(
      WHERE,
      dir,
      undefined,
      expectedReason(
        'root',
        'a CK+48 folder (<class>/S###_###_########.png) or an original CK+ folder (cohn-kanade-images/, Emotion/)',
        'no sub-folders',
      ),
    );
  }
  const items: Item[] = [];
  for (const folder of folders) {
    const label = CKPLUS_CLASSES.indexOf(folder.toLowerCase());
    const classDir = pathMod.join(dir, folder);
    if (label < 0) {
      throw new DataFormatError(
        WHERE,
        classDir,
        undefined,
        expectedReason('class folder', `one of ${CKPLUS_CLASSES.join(', ')}`, folder),
      );
    }
    const files = (await listDir(classDir))
      .filter((e) => e.isFile() && !e.name.startsWith('.') && isImageFile(e.name))
      .map((e) => e.name)
      .sort();
    for (const name of files) {
      const file = pathMod.join(classDir, name);
      const { subject, sequence } = parseName(file, name);
      items.push({ file, label, subject, sequence });
    }
  }
  return items;
}

async function listOriginal(
  root: string,
  peakFrames: number,
  includeNeutral: boolean,
  listDir: ListDir,
  fs: typeof import('node:fs'),
  pathMod: typeof import('node:path'),
): Promise<Item[]> {
  const imagesRoot = pathMod.join(root, 'cohn-kanade-images');
  const emotionRoot = pathMod.join(root, 'Emotion');
  const items: Item[] = [];
  const subjects = (await listDir(emotionRoot))
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  for (const subjectDir of subjects) {
    const sequences = (await listDir(pathMod.join(emotionRoot, subjectDir)))
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
    for (const seqDir of sequences) {
      const emoDir = pathMod.join(emotionRoot, subjectDir, seqDir);
      const emoFiles = (await listDir(emoDir)).filter((e) => e.isFile() && e.name.endsWith('_emotion.txt'));
      if (emoFiles.length === 0) continue; // an unlabelled sequence
      if (emoFiles.length > 1) {
        throw new DataFormatError(
          WHERE,
          emoDir,
          undefined,
          expectedReason(
            'sequence folder',
            'one *_emotion.txt file',
            emoFiles.map((e) => e.name),
          ),
        );
      }
      const emoFile = pathMod.join(emoDir, emoFiles[0]!.name);
      const { subject, sequence } = parseName(emoFile, emoFiles[0]!.name);
      const text = (await fs.promises.readFile(emoFile, 'utf8')).trim();
      const code = Number(text);
      if (text === '' || !Number.isInteger(code) || code < 1 || code > 7) {
        throw new DataFormatError(
          WHERE,
          emoFile,
          1,
          expectedReason('emotion code', 'an integer in 1-7 (e.g. 3.0000000e+00)', text.slice(0, 40)),
        );
      }
      const frameDir = pathMod.join(imagesRoot, subjectDir, seqDir);
      const frames = (await listDir(frameDir))
        .filter((e) => e.isFile() && !e.name.startsWith('.') && isImageFile(e.name))
        .map((e) => {
          const file = pathMod.join(frameDir, e.name);
          const parsed = parseName(file, e.name);
          if (parsed.sequence !== sequence) {
            throw new DataFormatError(
              WHERE,
              file,
              undefined,
              expectedReason('file name', `a frame of sequence ${sequence}`, e.name),
            );
          }
          return { file, frame: parsed.frame };
        })
        .sort((a, b) => a.frame - b.frame);
      if (frames.length === 0) {
        throw new DataFormatError(
          WHERE,
          frameDir,
          undefined,
          expectedReason('sequence folder', `the frames of labelled sequence ${sequence}`, 'no images'),
        );
      }
      const label = includeNeutral ? code : code - 1;
      if (includeNeutral) items.push({ file: frames[0]!.file, label: 0, subject, sequence });
      const start = Math.max(includeNeutral ? 1 : 0, frames.length - peakFrames);
      for (let k = start; k < frames.length; k++)
        items.push({ file: frames[k]!.file, label, subject, sequence });
    }
  }
  return items;
}
