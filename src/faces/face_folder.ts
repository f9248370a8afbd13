/**
 * A folder of ordinary photos, `root/<class>/*.jpg`, as a training set of aligned face crops: every
 * photo goes through the same detector, alignment and FER2013 framing as `predict`
 * ({@link findFaceCrops}), one face per photo is kept, and the crops can be cached on disk so that a
 * second run does not detect again. Node-only (paths): `node:fs` and `sharp` are imported lazily.
 * @module
 */

import type { SkippedInput } from '../data/data_error';
import type { FaceDataset } from '../data/dataset';
import { listImageFolder, packImages } from '../data/image_folder';
import { mapLimit } from '../data/image_io';
import { checkOneOf, checkPositiveInteger, expected } from '../errors';
import { ImageInputError } from '../image/read_image';
import { writeFileAtomic } from '../io/atomic';
import { nodeFs, nodePath } from '../node_env';
import { CROP_DEFAULTS } from './align';
import { type FaceCrop, FIND_FACES_DEFAULTS, type FindFacesOptions, findFaceCrops } from './recognize';
import { DETECT_DEFAULTS } from './types';

/** Which face of a photo with several is kept: the largest box, or the most confident detection. @category Faces */
export type FacePick = 'largest' | 'best';

/** The values of {@link FacePick}. @category Faces */
export const FACE_PICKS: readonly FacePick[] = ['largest', 'best'];

/** Options of {@link loadFaceFolder}. @category Faces */
export interface LoadFaceFolderOptions extends Omit<FindFacesOptions, 'name'> {
  /**
   * Class names in label order. Every class folder must be one of them; a class without a folder
   * has no images. Defaults to the folder names, sorted.
   */
  classNames?: readonly string[];
  /** Which face to keep when a photo holds several. Defaults to `'largest'` (the person the photo is of). */
  pick?: FacePick;
  /**
   * A folder for the crop cache (created when missing): the crops and "no face" results of detected
   * photos are stored there, keyed by path, size and modification time of each photo and by the
   * options that shape a crop, so a second load with the same options does not detect again.
   * Defaults to no cache.
   */
  cacheDir?: string;
  /** What to do with a photo that cannot be decoded: `'throw'` or `'skip'` (listed in `skipped`). Defaults to `'throw'`. */
  onInvalidFile?: 'throw' | 'skip';
  /** Photos decoded and searched at once (decoding overlaps detection). Defaults to `4`. */
  concurrency?: number;
  /** Called after each photo. */
  onProgress?: (progress: FaceFolderProgress) => void;
}

/** Progress of {@link loadFaceFolder}. @category Faces */
export interface FaceFolderProgress {
  /** Photos done. */
  done: number;
  /** Photos in the folder. */
  total: number;
  /** Of `done`, photos whose result came from the cache. */
  cached: number;
}

/** Defaults of {@link LoadFaceFolderOptions}. @category Faces */
export const LOAD_FACE_FOLDER_DEFAULTS = {
  pick: 'largest',
  onInvalidFile: 'throw',
  concurrency: 4,
} as const;

/** Photos and faces of one class, in {@link FaceFolderDataset.perClass}. @category Faces */
export interface FaceFolderClassCount {
  /** Photos read in the class folder (decoded). */
  photos: number;
  /** Of those, photos in which a face was found (each gives one training image). */
  faces: number;
}

/** What {@link loadFaceFolder} returns. @category Faces */
export interface FaceFolderDataset extends FaceDataset {
  /** Per image, the photo it was cut from. */
  files: string[];
  /** Entries not read: hidden, not a regular file, or not an image by extension. */
  ignored: string[];
  /** Photos that could not be decoded (with `onInvalidFile: 'skip'`), with the reason. */
  skipped: SkippedInput[];
  /** Photos in which no face was found (not in the dataset), sorted. */
  noFace: string[];
  /** Photos with more than one face, where `pick` chose one, sorted. */
  severalFaces: string[];
  /** Per class (in `classNames` order), photos read and faces found. */
  perClass: FaceFolderClassCount[];
  /** Photos whose crop (or "no face") came from the cache. */
  cached: number;
  /** Photos taken whole as face crops (`detect: 'off'`, or `'auto'` on small square pictures), not detected. */
  whole: number;
}

const WHERE = 'loadFaceFolder';
const CACHE_FORMAT = 'fer-cbam-face-cache';

/** One photo's cached result: its identity on disk and its crop (base64) or `null` for no face. */
interface CacheEntry {
  size: number;
  mtimeMs: number;
  crop: string | null;
  faces: number;
}

interface CacheFile {
  format: string;
  version: 1;
  key: Record<string, unknown>;
  entries: Record<string, CacheEntry>;
}

/** FNV-1a, 32 bits, as 8 hex digits: a short file name for a cache key. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** The face `pick` keeps, or undefined. */
function pickFace(faces: FaceCrop[], pick: FacePick): FaceCrop | undefined {
  if (pick === 'best' || faces.length < 2) return faces[0];
  let best = faces[0]!;
  for (const f of faces) if (f.box.width * f.box.height > best.box.width * best.box.height) best = f;
  return best;
}

/**
 * Loads a folder of photos, `root/<class>/<photo>`, as a dataset of aligned grayscale face crops for
 * training or evaluation: each photo is decoded, searched with the detector, and the face `pick`
 * chooses (the largest by default) is cut exactly as `predict` and {@link recognizeExpressions} cut
 * it (eye alignment, FER2013 framing, `size` x `size`). Photos without a face are left out and listed
 * in `noFace`, never silently; undecodable photos throw (or are listed in `skipped`). Pictures that
 * already are face crops work too (`detect: 'auto'` takes small square pictures whole, `'off'` takes
 * every picture whole). Files are read in sorted order (class, then name), so the result is
 * deterministic.
 * @param root The folder holding one sub-folder per class.
 * @param options See {@link LoadFaceFolderOptions} (and {@link FindFacesOptions}: `detector`,
 *   `detect`, `minScore`, `tiles`, framing).
 * @example
 * ```ts
 * const photos = await loadFaceFolder('my-photos', { cacheDir: 'run/face-cache' });
 * console.log(`${photos.count} faces; no face in ${photos.noFace.length} photos:`, photos.noFace);
 * const model = await loadPretrained('realfaces');
 * await train(model, { train: remapClasses(photos, getPreprocessing(model)!.classNames) }, { epochs: 8 });
 * ```
 * @throws DataFormatError naming the path for a missing root, a root without class folders, or a
 *   folder not in `classNames`; ImageInputError naming the photo that cannot be decoded (unless
 *   `onInvalidFile: 'skip'`); Error naming the package when the detector is needed and missing.
 * @category Faces
 */
export async function loadFaceFolder(
  root: string,
  options: LoadFaceFolderOptions = {},
): Promise<FaceFolderDataset> {
  if (typeof root !== 'string' || root === '') {
    throw new TypeError(expected(WHERE, 'root', 'a non-empty string', root));
  }
  const size = checkPositiveInteger(options.size ?? CROP_DEFAULTS.size, 'size', WHERE);
  const pick = checkOneOf(options.pick ?? LOAD_FACE_FOLDER_DEFAULTS.pick, FACE_PICKS, 'pick', WHERE);
  const onInvalidFile = checkOneOf(
    options.onInvalidFile ?? LOAD_FACE_FOLDER_DEFAULTS.onInvalidFile,
    ['throw', 'skip'] as const,
    'onInvalidFile',
    WHERE,
  );
  const concurrency = checkPositiveInteger(
    options.concurrency ?? LOAD_FACE_FOLDER_DEFAULTS.concurrency,
    'concurrency',
    WHERE,
  );
  const fs = await nodeFs(WHERE);
  const p = await nodePath(WHERE);
  const { files, labels, classNames, ignored } = await listImageFolder(root, options.classNames, WHERE);

  // Everything that shapes a crop is part of the cache key; a cache made with other options is ignored.
  const key: Record<string, unknown> = {
    size,
    pick,
    detect: options.detect ?? FIND_FACES_DEFAULTS.detect,
    cropMaxSide: options.cropMaxSide ?? FIND_FACES_DEFAULTS.cropMaxSide,
    align: options.align ?? CROP_DEFAULTS.align,
    framing: options.framing ?? null,
    minScore: options.minScore ?? DETECT_DEFAULTS.minScore,
    iouThreshold: options.iouThreshold ?? DETECT_DEFAULTS.iouThreshold,
    maxFaces: options.maxFaces ?? DETECT_DEFAULTS.maxFaces,
    minFaceSize: options.minFaceSize ?? DETECT_DEFAULTS.minFaceSize,
    largeFaces: options.largeFaces ?? DETECT_DEFAULTS.largeFaces,
    tiles: options.tiles ?? 1,
    maxSide: options.maxSide ?? null,
    detector: options.detector?.name ?? 'blazeface',
  };
  const cachePath = options.cacheDir
    ? p.join(options.cacheDir, `faces-${size}-${fnv1a(JSON.stringify(key))}.json`)
    : null;
  let cache: CacheFile = { format: CACHE_FORMAT, version: 1, key, entries: {} };
  if (cachePath) {
    try {
      const read = JSON.parse(await fs.readFile(cachePath, 'utf8')) as CacheFile;
      if (read.format === CACHE_FORMAT && JSON.stringify(read.key) === JSON.stringify(key)) cache = read;
    } catch {
      // no cache yet, or an unreadable one: detect again and write a new one
    }
  }
  let dirty = 0;
  const save = async () => {
    if (!cachePath || dirty === 0) return;
    dirty = 0;
    await fs.mkdir(p.dirname(cachePath), { recursive: true });
    await writeFileAtomic(cachePath, JSON.stringify(cache), { fsync: false });
  };

  const skipped: SkippedInput[] = [];
  const noFace: string[] = [];
  const severalFaces: string[] = [];
  let cached = 0;
  let whole = 0;
  let done = 0;
  const crops = await mapLimit(files, concurrency, async (file): Promise<Uint8Array | null> => {
    try {
      const absolute = p.resolve(file);
      const stat = await fs.stat(absolute);
      const hit = cache.entries[absolute];
      if (hit && hit.size === stat.size && hit.mtimeMs === stat.mtimeMs) {
        cached++;
        if (hit.faces > 1) severalFaces.push(file);
        if (hit.crop === null) {
          noFace.push(file);
          return null;
        }
        return fromBase64(hit.crop);
      }
      let found: Awaited<ReturnType<typeof findFaceCrops>>;
      try {
        found = await findFaceCrops(file, { ...options, size, name: file });
      } catch (e) {
        if (e instanceof ImageInputError && onInvalidFile === 'skip') {
          const at = e.message.indexOf(`${e.file}: `);
          skipped.push({ file, reason: at < 0 ? e.message : e.message.slice(at + e.file.length + 2) });
          return null;
        }
        throw e;
      }
      if (found.mode === 'whole') {
        whole++;
        return found.faces[0]!.crop;
      }
      const face = pickFace(found.faces, pick);
      if (found.faces.length > 1) severalFaces.push(file);
      if (cachePath) {
        cache.entries[absolute] = {
          size: stat.size,
          mtimeMs: stat.mtimeMs,
          crop: face ? toBase64(face.crop) : null,
          faces: found.faces.length,
        };
        if (++dirty >= 100) await save();
      }
      if (!face) {
        noFace.push(file);
        return null;
      }
      return face.crop;
    } finally {
      options.onProgress?.({ done: ++done, total: files.length, cached });
    }
  }).finally(save);

  const skippedFiles = new Set(skipped.map((s) => s.file));
  const perClass: FaceFolderClassCount[] = classNames.map(() => ({ photos: 0, faces: 0 }));
  files.forEach((file, i) => {
    if (skippedFiles.has(file)) return;
    perClass[labels[i]!]!.photos++;
    if (crops[i]) perClass[labels[i]!]!.faces++;
  });
  skipped.sort((a, b) => (a.file < b.file ? -1 : 1));
  return {
    ...packImages(crops, labels, files, size),
    classNames,
    ignored: ignored.sort(),
    skipped,
    noFace: noFace.sort(),
    severalFaces: severalFaces.sort(),
    perClass,
    cached,
    whole,
  };
}
