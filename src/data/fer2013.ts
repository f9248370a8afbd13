/**
 * FER2013 loader: the Kaggle `fer2013.csv` (`emotion,pixels,Usage`), plain or gzip, streamed from disk
 * through the byte-level `Fer2013Parser` (`fer2013_parser.ts`, browser-safe). Node-only:
 * `node:fs`, `node:zlib` and `node:stream` are imported lazily inside {@link loadFer2013}, so bundling
 * the library for a browser does not pull them in.
 * @module
 */

import { expected } from '../errors';
import { importAtRuntime } from '../node_env';
import { DataFormatError, expectedReason } from './data_error';
import { FER2013_USAGES, type Fer2013Usage } from './dataset';
import { type Fer2013Dataset, Fer2013Parser } from './fer2013_parser';

const WHERE = 'loadFer2013';

/** Progress of {@link loadFer2013}, reported about once per megabyte read. @category Data */
export interface Fer2013Progress {
  /** Bytes of the file read so far (compressed bytes for a `.gz`). */
  bytesRead: number;
  /** Size of the file in bytes. */
  totalBytes: number;
  /** Data rows parsed so far (kept or not). */
  rows: number;
}

/** Options of {@link loadFer2013}. @category Data */
export interface LoadFer2013Options {
  /** Keep only rows with these `Usage` values. Defaults to all rows. */
  usages?: readonly Fer2013Usage[];
  /**
   * What to do with a malformed row: `'throw'` a {@link DataFormatError} naming the file and line, or
   * `'skip'` it and list it in the result's `skipped`. Defaults to `'throw'`.
   */
  onInvalidRow?: 'throw' | 'skip';
  /** Called with the progress about once per megabyte read. */
  onProgress?: (progress: Fer2013Progress) => void;
  /** Image side in pixels: each row holds `size * size` pixels. Defaults to `48`. */
  size?: number;
}

/** Defaults of {@link LoadFer2013Options}. @category Data */
export const LOAD_FER2013_DEFAULTS = { onInvalidRow: 'throw', size: 48 } as const;

/**
 * Loads the Kaggle FER2013 CSV (`emotion,pixels,Usage`; columns in any order, extra columns ignored;
 * a file without `Usage`, like Kaggle's `train.csv`, loads with `usages` undefined), plain or gzip
 * (detected from the first bytes, not the name). Streams the file through a byte-level parser, so
 * memory stays at the size of the result plus about a megabyte of buffers. Accepts LF or CRLF line
 * ends, a UTF-8 byte-order mark, quoted fields and blank lines (not counted as rows, as in pandas).
 *
 * On the full FER2013 file this is several times faster than `pandas.read_csv` + `np.fromstring`
 * (see `bench/fer2013_loader.ts`).
 * @param path Path of `fer2013.csv` or `fer2013.csv.gz`.
 * @param options See {@link LoadFer2013Options}.
 * @returns A {@link Fer2013Dataset}: 48x48 images, labels in {@link FER2013_CLASSES} order, `usages`,
 * the file row of each image (`rows`) and the `skipped` rows.
 * @example
 * ```ts
 * const all = await loadFer2013('data/fer2013.csv.gz', { onProgress: (p) => bar.update(p.bytesRead) });
 * const train = await loadFer2013('data/fer2013.csv.gz', { usages: ['Training'] });
 * console.log(train.count, train.classNames[train.labels[0]]);
 * ```
 * @throws DataFormatError naming the file and line for a malformed header or row (unless
 * `onInvalidRow: 'skip'`), an empty file, a truncated or corrupt gzip stream, or an unreadable path.
 * @throws RangeError for bad options.
 * @category Data
 */
export async function loadFer2013(path: string, options: LoadFer2013Options = {}): Promise<Fer2013Dataset> {
  if (typeof path !== 'string' || path === '') {
    throw new TypeError(expected(WHERE, 'path', 'a non-empty string', path));
  }
  const onInvalidRow = options.onInvalidRow ?? LOAD_FER2013_DEFAULTS.onInvalidRow;
  if (onInvalidRow !== 'throw' && onInvalidRow !== 'skip') {
    throw new RangeError(expected(WHERE, 'onInvalidRow', "one of 'throw', 'skip'", onInvalidRow));
  }
  const size = options.size ?? LOAD_FER2013_DEFAULTS.size;
  if (!Number.isInteger(size) || size < 1 || size > 4096) {
    throw new RangeError(expected(WHERE, 'size', 'an integer in [1, 4096]', size));
  }
  if (options.usages !== undefined) {
    if (!Array.isArray(options.usages) || options.usages.some((u) => !FER2013_USAGES.includes(u))) {
      throw new RangeError(
        expected(
          WHERE,
          'usages',
          `an array of ${FER2013_USAGES.map((u) => `'${u}'`).join(', ')}`,
          options.usages,
        ),
      );
    }
  }
  const [fs, zlib, stream] = await Promise.all([
    importAtRuntime<typeof import('node:fs')>('node:fs'),
    importAtRuntime<typeof import('node:zlib')>('node:zlib'),
    importAtRuntime<typeof import('node:stream/promises')>('node:stream/promises'),
  ]);

  let totalBytes: number;
  let gzip = false;
  try {
    const stat = await fs.promises.stat(path);
    if (stat.isDirectory()) {
      throw new DataFormatError(WHERE, path, undefined, expectedReason('path', 'a file', 'a directory'));
    }
    totalBytes = stat.size;
    if (totalBytes >= 2) {
      const fh = await fs.promises.open(path, 'r');
      try {
        const head = Buffer.alloc(2);
        await fh.read(head, 0, 2, 0);
        gzip = head[0] === 0x1f && head[1] === 0x8b;
      } finally {
        await fh.close();
      }
    }
  } catch (e) {
    if (e instanceof DataFormatError) throw e;
    throw new DataFormatError(WHERE, path, undefined, `cannot read the file (${(e as Error).message}).`);
  }

  const parser = new Fer2013Parser(path, size, onInvalidRow, options.usages);
  const raw = fs.createReadStream(path, { highWaterMark: 1 << 20 });
  let bytesRead = 0;
  const onProgress = options.onProgress;
  if (onProgress) {
    raw.on('data', (chunk) => {
      bytesRead += chunk.length;
      onProgress({ bytesRead, totalBytes, rows: parser.dataRows });
    });
  }
  const sink = async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) parser.push(chunk);
  };
  try {
    if (gzip) {
      await stream.pipeline(
        raw,
        zlib.createGunzip({ chunkSize: 1 << 18, highWaterMark: 1 << 23 } as import('node:zlib').ZlibOptions),
        sink,
      );
    } else {
      await stream.pipeline(raw, sink);
    }
  } catch (e) {
    if (e instanceof DataFormatError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (gzip && typeof err.code === 'string' && err.code.startsWith('Z_')) {
      const what =
        err.code === 'Z_BUF_ERROR'
          ? 'the gzip data is truncated'
          : `the gzip data is corrupt (${err.message})`;
      throw new DataFormatError(
        WHERE,
        path,
        undefined,
        `${what}: it ends inside line ${parser.currentLine}, after ${parser.dataRows} complete data rows.`,
      );
    }
    throw new DataFormatError(WHERE, path, undefined, `cannot read the file (${err.message}).`);
  }
  const result = parser.end();
  return { ...result, file: path };
}
