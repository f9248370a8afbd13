/**
 * The error every fer-cbam data loader throws for bad input: it names the loader, the file (or path),
 * the line when there is one, and what was wrong. Browser-safe.
 * @module
 */

import { expected } from '../errors';

/**
 * A problem in a data file or folder. The message has the form
 * ``loadFer2013: data/fer2013.csv line 17: expected `pixels` to be 2304 integers ..., but got 2303 values.``
 * and the parts are also available as fields.
 * @example
 * ```ts
 * try {
 *   await loadFer2013('broken.csv');
 * } catch (e) {
 *   if (e instanceof DataFormatError) console.log(e.file, e.line, e.reason);
 * }
 * ```
 * @category Data
 */
export class DataFormatError extends Error {
  /** The file or folder the problem is in. */
  readonly file: string;
  /** 1-based line number (the header is line 1), when the problem is on one line. */
  readonly line: number | undefined;
  /** What is wrong, without the location prefix. */
  readonly reason: string;

  /**
   * @param where The function reporting, e.g. `'loadFer2013'`.
   * @param file The file or folder path.
   * @param line 1-based line number, or `undefined`.
   * @param reason What is wrong.
   */
  constructor(where: string, file: string, line: number | undefined, reason: string) {
    super(`${where}: ${file}${line === undefined ? '' : ` line ${line}`}: ${reason}`);
    this.name = 'DataFormatError';
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}

/**
 * A skipped input (with `onInvalidRow: 'skip'` and similar options): where it was and why.
 * @category Data
 */
export interface SkippedInput {
  /** The file (for folder loaders, the image path). */
  file: string;
  /** 1-based line number for CSV rows; absent for image files. */
  line?: number;
  /** What was wrong, in the same words the thrown error would use. */
  reason: string;
}

/** ``expected `arg` to be what, but got value.`` without a prefix. @internal */
export function expectedReason(arg: string, what: string, got: unknown): string {
  // Reuse the project-wide wording, then drop the "Where: " prefix.
  return expected('', arg, what, got).slice(2);
}
