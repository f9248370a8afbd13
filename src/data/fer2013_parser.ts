/**
 * The FER2013 CSV parser (`emotion,pixels,Usage`): a byte-level state machine fed chunk by chunk, whose
 * state survives chunk boundaries, so any chunking gives the same result. Pure: no Node imports, so it
 * runs in browsers too (feed it the chunks of a `fetch` body or a `File` stream). {@link loadFer2013}
 * (`fer2013.ts`) streams files and gzip through it in Node. Its errors name `loadFer2013`, the
 * function users meet them through.
 * @module
 */

import { DataFormatError, expectedReason, type SkippedInput } from './data_error';
import { type FaceDataset, FER2013_CLASSES, FER2013_USAGES, type Fer2013Usage } from './dataset';

/**
 * What {@link loadFer2013} returns: a {@link FaceDataset} plus where each image came from.
 * @category Data
 */
export interface Fer2013Dataset extends FaceDataset {
  /**
   * Per image, its index in {@link FER2013_USAGES}: 0 Training, 1 PublicTest, 2 PrivateTest (absent when
   * the file has no `Usage` column).
   */
  usages?: Uint8Array;
  /**
   * Per image, its 0-based data row in the file (header and blank lines not counted), as pandas numbers
   * them. Kept images keep file order; FER+ votes are joined on this.
   */
  rows: Uint32Array;
  /** Rows skipped with `onInvalidRow: 'skip'` (empty otherwise). */
  skipped: SkippedInput[];
  /** Data rows seen in the file, kept, filtered out by `usages`, or skipped. */
  totalRows: number;
  /** The path that was read. */
  file: string;
}

const WHERE = 'loadFer2013';
const BLOCK_ROWS = 1024;

// Column roles.
const IGNORE = 0;
const LABEL = 1;
const PIXELS = 2;
const USAGE = 3;

// Bytes.
const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const COMMA = 44;
const QUOTE = 34;
const ZERO = 48;
const NINE = 57;

const USAGE_BYTES = FER2013_USAGES.map((u) => Array.from(u, (ch) => ch.charCodeAt(0)));
const MAX_USAGE_BYTES = 32;

function describeByte(c: number): string {
  return c >= 33 && c < 127 ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
}

/** Scratch state of {@link scanPixels}: pixel count, current value, inside-a-number flag. */
const scan = new Int32Array(3);

/**
 * Reads the digits and spaces of a pixel field from `chunk[i]` on, writing pixel values to
 * `block[base + k]` for `k < P`. Stops at the end of the chunk, at any other byte, or at a value over
 * 255 (returning the index of the space after it). State (pixel count, current value, inside-a-number
 * flag) is in/out through `state`.
 * @example
 * ```ts
 * const block = new Uint8Array(3);
 * const state = new Int32Array(3);
 * scanPixels(new TextEncoder().encode('1 2 3 '), 0, block, 0, 3, state); // 6: block [1, 2, 3], state[0] 3
 * ```
 * @internal
 */
export function scanPixels(
  chunk: Uint8Array,
  i: number,
  block: Uint8Array,
  base: number,
  P: number,
  state: Int32Array,
): number {
  const n = chunk.length;
  let pixelCount = state[0]! | 0;
  let pixelValue = state[1]! | 0;
  let inNumber = state[2] === 1;
  if (!inNumber) {
    // Fast path: whole numbers of 1-3 digits followed by a separator, read without per-byte state.
    // Anything unusual (4+ digits, > 255, a number cut by the chunk end) falls through to the
    // byte-by-byte loop below, which re-reads it from its first digit.
    const safeEnd = n - 4;
    while (i < safeEnd) {
      let d = chunk[i]! - ZERO;
      if (d >>> 0 > 9) {
        if (d === SPACE - ZERO) {
          i++;
          continue;
        }
        break;
      }
      let v = d;
      let j = i + 1;
      d = chunk[j]! - ZERO;
      if (d >>> 0 <= 9) {
        v = v * 10 + d;
        d = chunk[++j]! - ZERO;
        if (d >>> 0 <= 9) {
          v = v * 10 + d;
          d = chunk[++j]! - ZERO;
          if (d >>> 0 <= 9 || v > 255) break;
        }
      }
      if (d === SPACE - ZERO) {
        // The common case: step over the separator too.
        i = j + 1;
      } else if (d === COMMA - ZERO || d === LF - ZERO || d === CR - ZERO) {
        i = j;
      } else {
        break; // e.g. '2.5': let the byte loop report the odd character
      }
      if (pixelCount < P) block[base + pixelCount] = v;
      pixelCount++;
    }
  }
  while (i < n) {
    const c = chunk[i]!;
    if (c >= ZERO && c <= NINE) {
      // Capped so it stays a small integer; anything over 255 is an error anyway.
      pixelValue = pixelValue < 100_000_000 ? pixelValue * 10 + (c - ZERO) : pixelValue;
      inNumber = true;
    } else if (c === SPACE) {
      if (inNumber) {
        if (pixelValue > 255) break;
        if (pixelCount < P) block[base + pixelCount] = pixelValue;
        pixelCount++;
        pixelValue = 0;
        inNumber = false;
      }
    } else break;
    i++;
  }
  state[0] = pixelCount;
  state[1] = pixelValue;
  state[2] = inNumber ? 1 : 0;
  return i;
}

/** A growable typed array. */
class Grow<T extends Uint8Array | Uint32Array> {
  data: T;
  length = 0;
  constructor(private readonly make: (n: number) => T) {
    this.data = make(4096);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = this.make(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  result(): T {
    return this.data.slice(0, this.length) as T;
  }
}

/**
 * The streaming byte-level parser. Its state survives chunk boundaries, so any chunking gives the same
 * result. Construct it with the name to quote in errors, the image side, what to do with a malformed
 * row (`'throw'` or `'skip'`) and the `Usage` values to keep (`undefined`: all); then `push` the
 * chunks and call `end` once.
 * @example
 * ```ts
 * const parser = new Fer2013Parser('fer2013.csv', 48, 'throw', undefined);
 * for await (const chunk of response.body!) parser.push(chunk);
 * const dataset = { ...parser.end(), file: 'fer2013.csv' };
 * ```
 * @internal
 */
export class Fer2013Parser {
  // Configuration.
  private readonly pixelsPerImage: number;
  private readonly skip: boolean;
  private readonly keepUsage: boolean[];
  // Header.
  private headerBytes: number[] = [];
  private inHeader = true;
  private sawBom = false;
  private roles: number[] = [];
  private columnNames: string[] = [];
  private hasUsage = false;
  // Row state.
  private line = 1;
  private field = 0;
  private lineHasContent = false;
  private rowError: string | null = null;
  private labelValue = 0;
  private labelDigits = 0;
  private labelSpaceAfterDigits = false;
  private pixelCount = 0;
  private pixelValue = 0;
  private inNumber = false;
  private usageLen = 0;
  private readonly usageBuf = new Uint8Array(MAX_USAGE_BYTES);
  // Output.
  private blocks: Uint8Array[] = [];
  private block: Uint8Array;
  private rowInBlock = 0;
  private readonly labels = new Grow((n) => new Uint8Array(n));
  private readonly usages = new Grow((n) => new Uint8Array(n));
  private readonly rowIndex = new Grow((n) => new Uint32Array(n));
  /** Data rows seen (blank lines not counted). */
  dataRows = 0;
  readonly skipped: SkippedInput[] = [];
  private ended = false;

  constructor(
    private readonly file: string,
    size: number,
    onInvalidRow: 'throw' | 'skip',
    usages: readonly Fer2013Usage[] | undefined,
  ) {
    this.pixelsPerImage = size * size;
    this.skip = onInvalidRow === 'skip';
    this.keepUsage = FER2013_USAGES.map((u) => usages === undefined || usages.includes(u));
    this.block = new Uint8Array(BLOCK_ROWS * this.pixelsPerImage);
    this.usageFilter = usages !== undefined;
  }

  private readonly usageFilter: boolean;

  /** Current 1-based line number. */
  get currentLine(): number {
    return this.line;
  }

  /** Parses one chunk. */
  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    if (this.inHeader) {
      i = this.parseHeaderBytes(chunk);
      if (this.inHeader) return;
    }
    // Hot state in locals.
    const P = this.pixelsPerImage;
    const roles = this.roles;
    const nFields = roles.length;
    let field = this.field;
    let role = field < nFields ? roles[field]! : -1;
    let pixelCount = this.pixelCount;
    let pixelValue = this.pixelValue;
    let inNumber = this.inNumber;
    let block = this.block;
    let base = this.rowInBlock * P;
    let lineHasContent = this.lineHasContent;

    while (i < n) {
      if (role === PIXELS && this.rowError === null) {
        // The hot loop: digits and spaces of the pixel field, in a small function V8 optimises well.
        const start = i;
        scan[0] = pixelCount;
        scan[1] = pixelValue;
        scan[2] = inNumber ? 1 : 0;
        i = scanPixels(chunk, i, block, base, P, scan);
        pixelCount = scan[0]!;
        pixelValue = scan[1]!;
        inNumber = scan[2] === 1;
        if (i > start) lineHasContent = true;
        if (i >= n) break;
        const c = chunk[i]!;
        if (c === SPACE) {
          // Stopped on an out-of-range value.
          this.rowError = expectedReason(
            'pixels',
            'integers in 0-255',
            `${pixelValue} (pixel ${pixelCount + 1})`,
          );
          if (!this.skip) this.fail(this.rowError);
          i++;
          continue;
        }
        if (c === TAB || c === QUOTE || c === CR) {
          // Tabs separate like spaces; quotes and CRs are ignored.
          if (c === TAB && inNumber) {
            if (pixelValue > 255) {
              this.rowError = expectedReason(
                'pixels',
                'integers in 0-255',
                `${pixelValue} (pixel ${pixelCount + 1})`,
              );
              if (!this.skip) this.fail(this.rowError);
            } else {
              if (pixelCount < P) block[base + pixelCount] = pixelValue;
              pixelCount++;
            }
            pixelValue = 0;
            inNumber = false;
          }
          i++;
          continue;
        }
        if (c !== COMMA && c !== LF) {
          this.rowError = expectedReason(
            'pixels',
            'integers in 0-255 separated by spaces',
            `the character '${describeByte(c)}' in pixel ${pixelCount + 1}`,
          );
          if (!this.skip) this.fail(this.rowError);
          i++;
          continue;
        }
        // Comma or LF: handled below.
      }
      const c = chunk[i]!;
      i++;
      if (c === COMMA) {
        this.pixelCount = pixelCount;
        this.pixelValue = pixelValue;
        this.inNumber = inNumber;
        this.endField(role);
        pixelCount = this.pixelCount;
        pixelValue = this.pixelValue;
        inNumber = this.inNumber;
        field++;
        role = field < nFields ? roles[field]! : -1;
        lineHasContent = true;
        continue;
      }
      if (c === LF) {
        this.pixelCount = pixelCount;
        this.pixelValue = pixelValue;
        this.inNumber = inNumber;
        this.field = field;
        this.lineHasContent = lineHasContent;
        this.endLine(role);
        block = this.block;
        base = this.rowInBlock * P;
        field = 0;
        role = roles[0]!;
        pixelCount = 0;
        pixelValue = 0;
        inNumber = false;
        lineHasContent = false;
        continue;
      }
      if (c === CR || c === QUOTE) continue;
      if (this.rowError !== null) {
        lineHasContent = true;
        continue;
      }
      switch (role) {
        case LABEL:
          lineHasContent = true;
          this.labelByte(c);
          break;
        case USAGE:
          lineHasContent = true;
          if ((c === SPACE || c === TAB) && this.usageLen === 0) break; // leading blanks
          if (this.usageLen < MAX_USAGE_BYTES) this.usageBuf[this.usageLen++] = c;
          else this.usageLen = MAX_USAGE_BYTES + 1;
          break;
        case PIXELS:
          // Only reached after a row error; ignore.
          break;
        default:
          if (c !== SPACE && c !== TAB) lineHasContent = true;
      }
    }
    this.field = field;
    this.pixelCount = pixelCount;
    this.pixelValue = pixelValue;
    this.inNumber = inNumber;
    this.lineHasContent = lineHasContent;
  }

  private fail(reason: string): never {
    throw new DataFormatError(WHERE, this.file, this.line, reason);
  }

  private labelByte(c: number): void {
    if (c >= ZERO && c <= NINE) {
      if (this.labelSpaceAfterDigits) {
        this.setRowError(expectedReason('emotion', 'one integer', 'several space-separated values'));
        return;
      }
      this.labelValue = this.labelValue * 10 + (c - ZERO);
      this.labelDigits++;
    } else if (c === SPACE || c === TAB) {
      if (this.labelDigits > 0) this.labelSpaceAfterDigits = true;
    } else {
      this.setRowError(
        expectedReason(
          'emotion',
          `an integer label in 0-${FER2013_CLASSES.length - 1}`,
          `the character '${describeByte(c)}'`,
        ),
      );
    }
  }

  private setRowError(reason: string): void {
    if (this.rowError !== null) return;
    this.rowError = reason;
    if (!this.skip) this.fail(reason);
  }

  private endField(role: number): void {
    if (this.rowError !== null) return;
    if (role === PIXELS) {
      if (this.inNumber) {
        if (this.pixelValue > 255) {
          this.setRowError(
            expectedReason(
              'pixels',
              'integers in 0-255',
              `${this.pixelValue} (pixel ${this.pixelCount + 1})`,
            ),
          );
          return;
        }
        if (this.pixelCount < this.pixelsPerImage) {
          this.block[this.rowInBlock * this.pixelsPerImage + this.pixelCount] = this.pixelValue;
        }
        this.pixelCount++;
        this.pixelValue = 0;
        this.inNumber = false;
      }
    }
  }

  private endLine(role: number): void {
    const line = this.line;
    this.line++;
    if (!this.lineHasContent && this.field === 0) {
      this.resetRow();
      return; // A blank line: not a data row (pandas skips these too).
    }
    const row = this.dataRows++;
    if (this.rowError === null) this.endField(role);
    if (this.rowError === null) this.validateRow();
    if (this.rowError !== null) {
      if (!this.skip) throw new DataFormatError(WHERE, this.file, line, this.rowError);
      this.skipped.push({ file: this.file, line, reason: this.rowError });
      this.resetRow();
      return;
    }
    const usage = this.hasUsage ? this.usageCode() : 0;
    if (!this.usageFilter || this.keepUsage[usage]) {
      this.labels.push(this.labelValue);
      if (this.hasUsage) this.usages.push(usage);
      this.rowIndex.push(row);
      this.rowInBlock++;
      if (this.rowInBlock === BLOCK_ROWS) {
        this.blocks.push(this.block);
        this.block = new Uint8Array(BLOCK_ROWS * this.pixelsPerImage);
        this.rowInBlock = 0;
      }
    }
    this.resetRow();
  }

  /** Sets rowError for a complete row that is still malformed; leaves the usage code computable. */
  private validateRow(): void {
    const nFields = this.roles.length;
    const got = this.field + 1;
    if (got !== nFields) {
      this.rowError = expectedReason(
        'row',
        `${nFields} comma-separated columns (${this.columnNames.join(',')})`,
        `${got} column${got === 1 ? '' : 's'}`,
      );
      return;
    }
    if (this.labelDigits === 0) {
      this.rowError = expectedReason(
        'emotion',
        `an integer label in 0-${FER2013_CLASSES.length - 1}`,
        'an empty field',
      );
      return;
    }
    if (this.labelValue >= FER2013_CLASSES.length) {
      this.rowError = expectedReason(
        'emotion',
        `an integer label in 0-${FER2013_CLASSES.length - 1}`,
        this.labelValue,
      );
      return;
    }
    if (this.pixelCount !== this.pixelsPerImage) {
      const side = Math.sqrt(this.pixelsPerImage);
      this.rowError = expectedReason(
        'pixels',
        `${this.pixelsPerImage} integers (${side}x${side}) separated by spaces`,
        `${this.pixelCount} value${this.pixelCount === 1 ? '' : 's'}`,
      );
      return;
    }
    if (this.hasUsage && this.usageCode() < 0) {
      const text =
        this.usageLen > MAX_USAGE_BYTES
          ? `a value longer than ${MAX_USAGE_BYTES} characters`
          : new TextDecoder().decode(this.usageBuf.subarray(0, this.usageLen)).trim();
      this.rowError = expectedReason('Usage', `one of ${FER2013_USAGES.join(', ')}`, text);
    }
  }

  private usageCode(): number {
    let len = this.usageLen;
    if (len > MAX_USAGE_BYTES) return -1;
    while (len > 0 && (this.usageBuf[len - 1] === SPACE || this.usageBuf[len - 1] === TAB)) len--;
    for (let u = 0; u < USAGE_BYTES.length; u++) {
      const name = USAGE_BYTES[u]!;
      if (name.length !== len) continue;
      let same = true;
      for (let k = 0; k < len; k++) {
        if (name[k] !== this.usageBuf[k]) {
          same = false;
          break;
        }
      }
      if (same) return u;
    }
    return -1;
  }

  private resetRow(): void {
    this.field = 0;
    this.lineHasContent = false;
    this.rowError = null;
    this.labelValue = 0;
    this.labelDigits = 0;
    this.labelSpaceAfterDigits = false;
    this.pixelCount = 0;
    this.pixelValue = 0;
    this.inNumber = false;
    this.usageLen = 0;
  }

  /** Consumes header bytes; returns the index of the first byte after the header line. */
  private parseHeaderBytes(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length) {
      const c = chunk[i++]!;
      if (c === LF) {
        this.finishHeader();
        return i;
      }
      this.headerBytes.push(c);
      if (this.headerBytes.length > 65536) {
        this.failHeader('a header line shorter than 64 KiB', 'no line break in the first 64 KiB');
      }
    }
    return i;
  }

  private failHeader(what: string, got: unknown): never {
    throw new DataFormatError(WHERE, this.file, 1, expectedReason('header', what, got));
  }

  private finishHeader(): void {
    let bytes = this.headerBytes;
    if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      bytes = bytes.slice(3);
      this.sawBom = true;
    }
    const text = new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes));
    const names = text.split(',').map((s) => s.replace(/\r$/, '').replace(/"/g, '').trim());
    if (names.length === 1 && names[0] === '') {
      this.failHeader('the header `emotion,pixels,Usage`', 'an empty line');
    }
    const roles = names.map((name) => {
      switch (name.toLowerCase()) {
        case 'emotion':
          return LABEL;
        case 'pixels':
          return PIXELS;
        case 'usage':
          return USAGE;
        default:
          return IGNORE;
      }
    });
    const shown = text.length > 80 ? `${text.slice(0, 80)}...` : text.replace(/\r$/, '');
    for (const [role, name] of [
      [LABEL, 'emotion'],
      [PIXELS, 'pixels'],
    ] as const) {
      const count = roles.filter((r) => r === role).length;
      if (count === 0) this.failHeader(`a header with an \`${name}\` column (emotion,pixels,Usage)`, shown);
      if (count > 1) this.failHeader(`a header with one \`${name}\` column`, shown);
    }
    const usageCount = roles.filter((r) => r === USAGE).length;
    if (usageCount > 1) this.failHeader('a header with one `Usage` column', shown);
    this.hasUsage = usageCount === 1;
    if (this.usageFilter && !this.hasUsage) {
      throw new DataFormatError(
        WHERE,
        this.file,
        1,
        expectedReason('header', 'a `Usage` column, since the `usages` option was given', shown),
      );
    }
    this.roles = roles;
    this.columnNames = names;
    this.inHeader = false;
    this.line = 2;
    this.headerBytes = [];
  }

  /** Finishes parsing (a last line without a line break) and returns the dataset. */
  end(): Omit<Fer2013Dataset, 'file'> {
    if (this.ended) throw new Error('Fer2013Parser.end() called twice');
    this.ended = true;
    if (this.inHeader) {
      const onlyBom =
        this.headerBytes.length === 3 &&
        this.headerBytes[0] === 0xef &&
        this.headerBytes[1] === 0xbb &&
        this.headerBytes[2] === 0xbf;
      if (this.headerBytes.length === 0 || onlyBom || this.headerBytes.every((b) => b <= SPACE)) {
        throw new DataFormatError(
          WHERE,
          this.file,
          undefined,
          expectedReason('file', 'a CSV with the header `emotion,pixels,Usage`', 'an empty file'),
        );
      }
      this.finishHeader();
    } else if (this.lineHasContent || this.field > 0) {
      this.endLine(this.field < this.roles.length ? this.roles[this.field]! : -1);
    }
    const P = this.pixelsPerImage;
    const count = this.labels.length;
    let images: Uint8Array;
    if (this.blocks.length === 0) {
      images = this.block.slice(0, this.rowInBlock * P);
    } else {
      images = new Uint8Array(count * P);
      let offset = 0;
      for (const b of this.blocks) {
        images.set(b, offset);
        offset += b.length;
      }
      images.set(this.block.subarray(0, this.rowInBlock * P), offset);
    }
    this.blocks = [];
    const side = Math.round(Math.sqrt(P));
    const result: Omit<Fer2013Dataset, 'file'> = {
      count,
      height: side,
      width: side,
      images,
      labels: this.labels.result(),
      classNames: [...FER2013_CLASSES],
      rows: this.rowIndex.result(),
      skipped: this.skipped,
      totalRows: this.dataRows,
    };
    if (this.hasUsage) result.usages = this.usages.result();
    return result;
  }

  /** Whether the file started with a UTF-8 byte-order mark. */
  get hadBom(): boolean {
    return this.sawBom;
  }
}
