/**
 * FER+ (Barsoum et al., ICMI 2016): ten crowd votes per FER2013 image over eight emotions plus
 * `unknown` and `NF` (not a face), joined to a loaded FER2013 set by row order. Node-only (`node:fs`
 * is imported lazily inside {@link loadFerPlus}).
 * @module
 */

import { expected } from '../errors';
import { importAtRuntime } from '../node_env';
import { DataFormatError, expectedReason } from './data_error';
import { type FaceDataset, FER2013_USAGES } from './dataset';

/** The eight FER+ classes, in the order of the vote columns (and of the labels). @category Data */
export const FERPLUS_CLASSES: readonly string[] = [
  'neutral',
  'happiness',
  'surprise',
  'sadness',
  'anger',
  'disgust',
  'fear',
  'contempt',
];

/** The vote columns of `fer2013new.csv`, in order: the eight classes, `unknown`, `NF`. @category Data */
export const FERPLUS_VOTE_COLUMNS: readonly string[] = [...FERPLUS_CLASSES, 'unknown', 'NF'];

/** Options of {@link loadFerPlus}. @category Data */
export interface LoadFerPlusOptions {
  /**
   * `'majority'`: one hard label per image, the emotion with the most votes; images whose most-voted
   * column is `unknown` or `NF`, or whose top vote is tied, are dropped (FER+ paper, section 3).
   * `'probability'`: soft labels, the eight emotion votes normalised to sum to 1 (`softLabels`), with
   * `labels` their arg-max; images whose most-voted column is `unknown` or `NF`, or with no emotion
   * vote, are dropped. Defaults to `'majority'`.
   */
  mode?: 'majority' | 'probability';
}

/** Defaults of {@link LoadFerPlusOptions}. @category Data */
export const LOAD_FERPLUS_DEFAULTS = { mode: 'majority' } as const;

/** Why {@link loadFerPlus} dropped an image. @category Data */
export type FerPlusDropReason = 'unknown' | 'notFace' | 'tie' | 'noVotes';

/** What {@link loadFerPlus} returns. @category Data */
export interface FerPlusDataset extends FaceDataset {
  /** Per kept image, its 0-based data row in the FER2013 file (and in the votes file). */
  rows: Uint32Array;
  /** Per kept image, its raw votes (10 columns as in {@link FERPLUS_VOTE_COLUMNS}): `count * 10`. */
  votes: Uint8Array;
  /** Images of the input set that were dropped, with the reason. */
  dropped: { row: number; reason: FerPlusDropReason }[];
  /** Number of dropped images per reason. */
  droppedCounts: Record<FerPlusDropReason, number>;
}

const WHERE = 'loadFerPlus';
const EXPECTED_HEADER = `Usage,Image name,${FERPLUS_VOTE_COLUMNS.join(',')}`;

interface VotesTable {
  votes: Uint8Array; // rows * 10
  usages: Int8Array;
  lines: Uint32Array; // 1-based line number of each data row
  rows: number;
}

function parseVotes(text: string, file: string): VotesTable {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split('\n');
  if (lines.length === 0 || lines[0]!.trim() === '') {
    throw new DataFormatError(
      WHERE,
      file,
      undefined,
      expectedReason('file', 'a FER+ votes CSV', 'an empty file'),
    );
  }
  const header = lines[0]!
    .replace(/\r$/, '')
    .split(',')
    .map((s) => s.trim());
  const colUsage = header.indexOf('Usage');
  const voteCols = FERPLUS_VOTE_COLUMNS.map((name) => header.indexOf(name));
  if (colUsage < 0 || voteCols.some((c) => c < 0)) {
    throw new DataFormatError(
      WHERE,
      file,
      1,
      expectedReason(
        'header',
        `the FER+ header \`${EXPECTED_HEADER}\``,
        lines[0]!.replace(/\r$/, '').slice(0, 120),
      ),
    );
  }
  const nCols = header.length;
  const votes = new Uint8Array(lines.length * 10);
  const usages = new Int8Array(lines.length);
  const lineNos = new Uint32Array(lines.length);
  let rows = 0;
  for (let li = 1; li < lines.length; li++) {
    const lineText = lines[li]!.replace(/\r$/, '');
    if (lineText.trim() === '') continue;
    const lineNo = li + 1;
    const cells = lineText.split(',');
    if (cells.length !== nCols) {
      throw new DataFormatError(
        WHERE,
        file,
        lineNo,
        expectedReason('row', `${nCols} comma-separated columns`, `${cells.length} columns`),
      );
    }
    for (let k = 0; k < 10; k++) {
      const cell = cells[voteCols[k]!]!.trim();
      const v = /^\d{1,3}$/.test(cell) ? Number(cell) : Number.NaN;
      if (!(v >= 0 && v <= 255)) {
        throw new DataFormatError(
          WHERE,
          file,
          lineNo,
          expectedReason(FERPLUS_VOTE_COLUMNS[k]!, 'a vote count (an integer in 0-255)', cell),
        );
      }
      votes[rows * 10 + k] = v;
    }
    const usage = cells[colUsage]!.trim();
    const code = FER2013_USAGES.indexOf(usage as never);
    if (code < 0) {
      throw new DataFormatError(
        WHERE,
        file,
        lineNo,
        expectedReason('Usage', `one of ${FER2013_USAGES.join(', ')}`, usage),
      );
    }
    usages[rows] = code;
    lineNos[rows] = lineNo;
    rows++;
  }
  return { votes, usages, lines: lineNos, rows };
}

/**
 * Joins FER+ votes (`fer2013new.csv` of microsoft/FERPlus) to a loaded FER2013 set **by row order**:
 * image `i` gets the votes of data row `fer2013.rows[i]` (or `i` when the set has no `rows`). The
 * `Image name` column is not the row index (it skips rows without an image and drifts by up to 85),
 * so it is not used. Where both files give a `Usage`, they must agree, which catches misaligned files.
 * @param fer2013 A set from {@link loadFer2013} (any `usages` filter; `rows` keeps the alignment).
 * @param votesCsvPath Path of `fer2013new.csv`.
 * @param options See {@link LoadFerPlusOptions}.
 * @returns A {@link FerPlusDataset} with the 8 {@link FERPLUS_CLASSES}, the kept images' pixels,
 * `usages`, `rows`, raw `votes`, soft labels in `'probability'` mode, and every dropped row.
 * @example
 * ```ts
 * const fer = await loadFer2013('fer2013.csv.gz');
 * const plus = await loadFerPlus(fer, 'fer2013new.csv', { mode: 'majority' });
 * console.log(plus.count, plus.droppedCounts);
 * ```
 * @throws DataFormatError naming the file and line for a bad header or vote, a votes file with fewer
 * rows than needed, or a `Usage` that differs from the FER2013 row's.
 * @category Data
 */
export async function loadFerPlus(
  fer2013: FaceDataset & {
    /** Original row number of each image (set by `loadFer2013`), used to join by row order. */
    rows?: Uint32Array;
  },
  votesCsvPath: string,
  options: LoadFerPlusOptions = {},
): Promise<FerPlusDataset> {
  const mode = options.mode ?? LOAD_FERPLUS_DEFAULTS.mode;
  if (mode !== 'majority' && mode !== 'probability') {
    throw new RangeError(expected(WHERE, 'mode', "one of 'majority', 'probability'", mode));
  }
  if (fer2013 == null || typeof fer2013.count !== 'number' || !(fer2013.images instanceof Uint8Array)) {
    throw new TypeError(expected(WHERE, 'fer2013', 'a FaceDataset from loadFer2013', typeof fer2013));
  }
  if (typeof votesCsvPath !== 'string' || votesCsvPath === '') {
    throw new TypeError(expected(WHERE, 'votesCsvPath', 'a non-empty string', votesCsvPath));
  }
  const fs = await importAtRuntime<typeof import('node:fs')>('node:fs');
  let text: string;
  try {
    text = await fs.promises.readFile(votesCsvPath, 'utf8');
  } catch (e) {
    throw new DataFormatError(
      WHERE,
      votesCsvPath,
      undefined,
      `cannot read the file (${(e as Error).message}).`,
    );
  }
  const table = parseVotes(text, votesCsvPath);

  const count = fer2013.count;
  const pixels = fer2013.height * fer2013.width;
  const rowOf = (i: number) => (fer2013.rows ? fer2013.rows[i]! : i);
  if (!fer2013.rows && count !== table.rows) {
    throw new DataFormatError(
      WHERE,
      votesCsvPath,
      undefined,
      expectedReason('votes', `${count} data rows, one per FER2013 row`, `${table.rows} rows`),
    );
  }
  // The join is by row order, so the two files must have the same number of data rows: one row
  // deleted from (or added to) the FER2013 file would shift every later label, silently.
  const totalRows = (fer2013 as { totalRows?: unknown }).totalRows;
  if (typeof totalRows === 'number' && table.rows !== totalRows) {
    const file = (fer2013 as { file?: unknown }).file;
    const ferFile = typeof file === 'string' ? ` ("${file}")` : '';
    throw new DataFormatError(
      WHERE,
      votesCsvPath,
      undefined,
      table.rows < totalRows
        ? expectedReason(
            'votes',
            `at least ${totalRows} data rows (one per data row of the FER2013 file${ferFile}; the files are joined by row order)`,
            `${table.rows} rows`,
          )
        : expectedReason(
            'votes',
            `${totalRows} data rows, one per data row of the FER2013 file${ferFile} (joined by row order, so a missing FER2013 row would shift every later label)`,
            `${table.rows} rows`,
          ),
    );
  }
  const keep: number[] = [];
  const labels: number[] = [];
  const dropped: { row: number; reason: FerPlusDropReason }[] = [];
  const droppedCounts: Record<FerPlusDropReason, number> = { unknown: 0, notFace: 0, tie: 0, noVotes: 0 };
  for (let i = 0; i < count; i++) {
    const row = rowOf(i);
    if (row >= table.rows) {
      throw new DataFormatError(
        WHERE,
        votesCsvPath,
        undefined,
        expectedReason(
          'votes',
          `at least ${row + 1} data rows (the FER2013 set has an image from data row ${row})`,
          `${table.rows} rows`,
        ),
      );
    }
    if (fer2013.usages && fer2013.usages[i] !== table.usages[row]) {
      throw new DataFormatError(
        WHERE,
        votesCsvPath,
        table.lines[row],
        expectedReason(
          'Usage',
          `${FER2013_USAGES[fer2013.usages[i]!]} as in FER2013 data row ${row} (are the files aligned?)`,
          FER2013_USAGES[table.usages[row]!],
        ),
      );
    }
    const v = table.votes.subarray(row * 10, row * 10 + 10);
    let best = 0;
    let tie = false;
    for (let k = 1; k < 10; k++) {
      if (v[k]! > v[best]!) {
        best = k;
        tie = false;
      } else if (v[k] === v[best]) {
        tie = true;
      }
    }
    let emotionVotes = 0;
    for (let k = 0; k < 8; k++) emotionVotes += v[k]!;
    let reason: FerPlusDropReason | null = null;
    if (emotionVotes === 0 && v[8] === 0 && v[9] === 0) reason = 'noVotes';
    else if (best === 9 && !tie) reason = 'notFace';
    else if (best === 8 && !tie) reason = 'unknown';
    else if (mode === 'majority' && tie) reason = 'tie';
    else if (emotionVotes === 0) reason = 'noVotes';
    else if (mode === 'probability' && (best === 8 || best === 9)) {
      // Tied between unknown/NF and something: the most-voted column is still not an emotion.
      reason = best === 9 ? 'notFace' : 'unknown';
    }
    if (reason !== null) {
      dropped.push({ row, reason });
      droppedCounts[reason]++;
      continue;
    }
    keep.push(i);
    if (mode === 'majority') {
      labels.push(best);
    } else {
      let arg = 0;
      for (let k = 1; k < 8; k++) if (v[k]! > v[arg]!) arg = k;
      labels.push(arg);
    }
  }

  const n = keep.length;
  const images = new Uint8Array(n * pixels);
  const rows = new Uint32Array(n);
  const votes = new Uint8Array(n * 10);
  const usages = new Uint8Array(n);
  const softLabels = mode === 'probability' ? new Float32Array(n * 8) : undefined;
  for (let j = 0; j < n; j++) {
    const i = keep[j]!;
    const row = rowOf(i);
    images.set(fer2013.images.subarray(i * pixels, (i + 1) * pixels), j * pixels);
    rows[j] = row;
    votes.set(table.votes.subarray(row * 10, row * 10 + 10), j * 10);
    usages[j] = fer2013.usages ? fer2013.usages[i]! : table.usages[row]!;
    if (softLabels) {
      let total = 0;
      for (let k = 0; k < 8; k++) total += table.votes[row * 10 + k]!;
      for (let k = 0; k < 8; k++) softLabels[j * 8 + k] = table.votes[row * 10 + k]! / total;
    }
  }
  const result: FerPlusDataset = {
    count: n,
    height: fer2013.height,
    width: fer2013.width,
    images,
    labels: Uint8Array.from(labels),
    classNames: [...FERPLUS_CLASSES],
    usages,
    rows,
    votes,
    dropped,
    droppedCounts,
  };
  if (softLabels) result.softLabels = softLabels;
  return result;
}
