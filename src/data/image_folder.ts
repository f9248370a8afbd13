/**
 * Loader for the common `root/<class>/*.png|jpg` layout (for example Kaggle's image release of FER2013,
 * `train/angry/*.jpg`). Node-only: `node:fs`, `node:path` and `sharp` are imported lazily.
 * @module
 */

import { expected } from '../errors';
import { isImageFile } from '../image/files';
import { importSharp } from '../image/sharp';
import { importAtRuntime } from '../node_env';
import { DataFormatError, expectedReason, type SkippedInput } from './data_error';
import type { FaceDataset } from './dataset';
import { decodeGray, mapLimit, resolveImageOptions } from './image_io';

/** Options of {@link loadImageFolder}. @category Data */
export interface LoadImageFolderOptions {
  /**
   * Class names in label order. Every class folder must be one of them (a folder with another name is
   * an error); a class without a folder simply has no images. Defaults to the folder names, sorted.
   * Pass {@link FER2013_CLASSES} for Kaggle's FER2013 image release to get FER2013 label indices.
   */
  classNames?: readonly string[];
  /** Output side in pixels; every image is converted to grayscale and resized. Defaults to `48`. */
  size?: number;
  /** How non-square images become square: `'cover'` (centre crop) or `'fill'` (stretch). Defaults to `'cover'`. */
  fit?: 'cover' | 'fill';
  /** What to do with a file that cannot be decoded: `'throw'` or `'skip'` (listed in `skipped`). Defaults to `'throw'`. */
  onInvalidFile?: 'throw' | 'skip';
  /** Called after each decoded image. */
  onProgress?: (progress: { done: number; total: number }) => void;
}

/** Defaults of {@link LoadImageFolderOptions}. @category Data */
export const LOAD_IMAGE_FOLDER_DEFAULTS = { size: 48, fit: 'cover', onInvalidFile: 'throw' } as const;

/** What {@link loadImageFolder} returns. @category Data */
export interface ImageFolderDataset extends FaceDataset {
  /** Per image, its path. */
  files: string[];
  /** Files that were not images (by extension) or not regular files, so were not read. */
  ignored: string[];
  /** Images that failed to decode, with `onInvalidFile: 'skip'`. */
  skipped: SkippedInput[];
}

const WHERE = 'loadImageFolder';

/** A directory entry's kind, following symbolic links (a broken link is `'other'`). */
async function kindOf(
  fs: typeof import('node:fs'),
  full: string,
  entry: import('node:fs').Dirent,
): Promise<'file' | 'directory' | 'other'> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'directory';
  if (!entry.isSymbolicLink()) return 'other';
  try {
    const target = await fs.promises.stat(full);
    return target.isFile() ? 'file' : target.isDirectory() ? 'directory' : 'other';
  } catch {
    return 'other';
  }
}

/** What {@link listImageFolder} finds: the image files, their labels and what it did not read. @internal */
export interface ImageFolderListing {
  /** Image paths, sorted by class folder, then name. */
  files: string[];
  /** Per file, its class index into `classNames`. */
  labels: number[];
  /** Class names in label order. */
  classNames: string[];
  /** Entries not read (hidden, not a regular file, not an image by extension). */
  ignored: string[];
}

/**
 * Lists `root/<class>/<image>` files without decoding them, in sorted order (class, then name):
 * the walk {@link loadImageFolder} and the face-folder loader share.
 * @param root The folder holding one sub-folder per class.
 * @param wanted Class names in label order (every class folder must be one); defaults to the folders, sorted.
 * @param where Name used in error messages.
 * @throws DataFormatError naming the path for a missing root, a root without class folders, or a
 *   folder not in `wanted`.
 * @internal
 */
export async function listImageFolder(
  root: string,
  wanted: readonly string[] | undefined,
  where: string,
): Promise<ImageFolderListing> {
  const fs = await importAtRuntime<typeof import('node:fs')>('node:fs');
  const pathMod = await importAtRuntime<typeof import('node:path')>('node:path');

  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.promises.readdir(root, { withFileTypes: true });
  } catch (e) {
    throw new DataFormatError(where, root, undefined, `cannot read the folder (${(e as Error).message}).`);
  }
  const ignored: string[] = [];
  const folders: string[] = [];
  for (const entry of entries) {
    const full = pathMod.join(root, entry.name);
    if ((await kindOf(fs, full, entry)) === 'directory' && !entry.name.startsWith('.'))
      folders.push(entry.name);
    else ignored.push(full);
  }
  folders.sort();
  if (folders.length === 0) {
    throw new DataFormatError(
      where,
      root,
      undefined,
      expectedReason('root', 'a folder with one sub-folder per class', 'no sub-folders'),
    );
  }
  const classNames = wanted ? [...wanted] : folders;
  if (classNames.length > 256) {
    throw new DataFormatError(
      where,
      root,
      undefined,
      expectedReason('root', 'at most 256 class folders', folders.length),
    );
  }
  const files: string[] = [];
  const labels: number[] = [];
  for (const folder of folders) {
    const label = classNames.indexOf(folder);
    if (label < 0) {
      throw new DataFormatError(
        where,
        pathMod.join(root, folder),
        undefined,
        expectedReason('class folder', `one of the class names ${JSON.stringify(classNames)}`, folder),
      );
    }
    const dir = pathMod.join(root, folder);
    let inner: import('node:fs').Dirent[];
    try {
      inner = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (e) {
      throw new DataFormatError(
        where,
        dir,
        undefined,
        `cannot read the class folder (${(e as Error).message}).`,
      );
    }
    const names: string[] = [];
    for (const e of inner) {
      const full = pathMod.join(dir, e.name);
      // Follow symbolic links: a linked image (or class folder, above) counts like the real thing.
      const ok = !e.name.startsWith('.') && isImageFile(e.name) && (await kindOf(fs, full, e)) === 'file';
      if (ok) names.push(e.name);
      else ignored.push(full);
    }
    names.sort();
    for (const name of names) {
      files.push(pathMod.join(dir, name));
      labels.push(label);
    }
  }

  return { files, labels, classNames, ignored };
}

/**
 * Loads `root/<class>/<image>` files: any format sharp reads (PNG, JPEG, BMP, GIF, WebP, TIFF), any size
 * or colour, converted to `size` x `size` grayscale. Files are read in sorted order (class, then
 * name), so the result is deterministic. Files without an image extension (and hidden files) are not
 * read and are listed in `ignored`.
 * @param root The folder holding one sub-folder per class.
 * @param options See {@link LoadImageFolderOptions}.
 * @example
 * ```ts
 * const train = await loadImageFolder('fer2013/train', { classNames: FER2013_CLASSES });
 * const test = await loadImageFolder('fer2013/test', { classNames: FER2013_CLASSES });
 * ```
 * @throws DataFormatError naming the path for a missing root, a root without class folders, a folder
 * not in `classNames`, or an image that cannot be decoded (unless `onInvalidFile: 'skip'`).
 * @category Data
 */
export async function loadImageFolder(
  root: string,
  options: LoadImageFolderOptions = {},
): Promise<ImageFolderDataset> {
  if (typeof root !== 'string' || root === '') {
    throw new TypeError(expected(WHERE, 'root', 'a non-empty string', root));
  }
  const { size, fit } = resolveImageOptions(WHERE, options);
  const onInvalidFile = options.onInvalidFile ?? LOAD_IMAGE_FOLDER_DEFAULTS.onInvalidFile;
  if (onInvalidFile !== 'throw' && onInvalidFile !== 'skip') {
    throw new RangeError(expected(WHERE, 'onInvalidFile', "one of 'throw', 'skip'", onInvalidFile));
  }
  if (options.classNames !== undefined) {
    const names = options.classNames;
    if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string' || n === '')) {
      throw new TypeError(expected(WHERE, 'classNames', 'a non-empty array of non-empty strings', names));
    }
    if (new Set(names).size !== names.length) {
      throw new RangeError(expected(WHERE, 'classNames', 'an array without duplicates', names));
    }
    if (names.length > 256) {
      throw new RangeError(expected(WHERE, 'classNames', 'at most 256 names', names.length));
    }
  }
  const { files, labels, classNames, ignored } = await listImageFolder(root, options.classNames, WHERE);

  const sharp = await importSharp(WHERE);
  const skipped: SkippedInput[] = [];
  let done = 0;
  const decoded = await mapLimit(files, 8, async (file) => {
    try {
      return await decodeGray(sharp, file, size, fit, WHERE);
    } catch (e) {
      if (onInvalidFile === 'skip' && e instanceof DataFormatError) {
        skipped.push({ file, reason: e.reason });
        return null;
      } else throw e;
    } finally {
      options.onProgress?.({ done: ++done, total: files.length });
    }
  });
  skipped.sort((a, b) => (a.file < b.file ? -1 : 1));
  return { ...packImages(decoded, labels, files, size), classNames, ignored: ignored.sort(), skipped };
}

/**
 * The images that decoded (non-null entries of `images`, each `size * size` bytes) packed into one
 * dataset buffer, with their labels and files, in order: what both folder loaders return.
 * @example
 * ```ts
 * packImages([a, null, b], [0, 1, 2], ['a.png', 'x.png', 'b.png'], 48); // count 2, labels [0, 2]
 * ```
 * @internal
 */
export function packImages(
  images: readonly (Uint8Array | null)[],
  labels: ArrayLike<number>,
  files: readonly string[],
  size: number,
): { count: number; height: number; width: number; images: Uint8Array; labels: Uint8Array; files: string[] } {
  const keep = images.map((d, i) => (d ? i : -1)).filter((i) => i >= 0);
  const pixels = size * size;
  const packed = new Uint8Array(keep.length * pixels);
  keep.forEach((i, j) => {
    packed.set(images[i]!, j * pixels);
  });
  return {
    count: keep.length,
    height: size,
    width: size,
    images: packed,
    labels: Uint8Array.from(keep, (i) => labels[i]!),
    files: keep.map((i) => files[i]!),
  };
}
