import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FER2013_CLASSES } from '../../src/data/dataset';
import { loadFer2013 } from '../../src/data/fer2013';
import { Fer2013Parser } from '../../src/data/fer2013_parser';
import { classCounts } from '../../src/data/stats';
import { Random } from '../../src/random';

const dir = mkdtempSync(join(tmpdir(), 'fer2013-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Row {
  label: number;
  pixels: number[];
  usage: string;
}

/** Random rows and their CSV text, written the plain way (join/toString). */
function makeRows(n: number, size: number, seed: number): Row[] {
  const rng = new Random(seed);
  const usages = ['Training', 'PublicTest', 'PrivateTest'];
  return Array.from({ length: n }, () => ({
    label: rng.int(7),
    // Mix 1-, 2- and 3-digit values, including the extremes.
    pixels: Array.from({ length: size * size }, () =>
      rng.bool() ? rng.int(256) : [0, 255, 9, 10, 99, 100][rng.int(6)]!,
    ),
    usage: usages[rng.int(3)]!,
  }));
}

function toCsv(rows: Row[], eol = '\n', bom = false): string {
  const lines = ['emotion,pixels,Usage', ...rows.map((r) => `${r.label},${r.pixels.join(' ')},${r.usage}`)];
  return (bom ? '\uFEFF' : '') + lines.join(eol) + eol;
}

function write(name: string, content: string | Uint8Array): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

function expectRows(ds: Awaited<ReturnType<typeof loadFer2013>>, rows: Row[], size: number) {
  expect(ds.count).toBe(rows.length);
  expect(ds.height).toBe(size);
  expect(ds.width).toBe(size);
  expect(Array.from(ds.labels)).toEqual(rows.map((r) => r.label));
  expect(Array.from(ds.usages!)).toEqual(
    rows.map((r) => ['Training', 'PublicTest', 'PrivateTest'].indexOf(r.usage)),
  );
  expect(Array.from(ds.images)).toEqual(rows.flatMap((r) => r.pixels));
}

describe('loadFer2013', () => {
  it('parses plain and gzip files exactly like a plain split/parseInt reference', async () => {
    const rows = makeRows(300, 5, 1);
    const text = toCsv(rows);
    const plain = await loadFer2013(write('a.csv', text), { size: 5 });
    expectRows(plain, rows, 5);
    expect(Array.from(plain.rows)).toEqual(rows.map((_, i) => i));
    expect(plain.skipped).toEqual([]);
    expect(plain.classNames).toEqual([...FER2013_CLASSES]);
    // Detected by content, not name.
    const gz = await loadFer2013(write('a-gzip.bin', gzipSync(text)), { size: 5 });
    expectRows(gz, rows, 5);
  });

  it('accepts CRLF line ends, a UTF-8 BOM, quoted fields, extra spaces and no final newline', async () => {
    const rows = makeRows(20, 3, 2);
    expectRows(await loadFer2013(write('crlf.csv', toCsv(rows, '\r\n', true)), { size: 3 }), rows, 3);
    const quoted = `emotion,pixels,Usage\n${rows.map((r) => `"${r.label}","  ${r.pixels.join('  ')} ",Training`).join('\n')}`;
    const ds = await loadFer2013(write('quoted.csv', quoted), { size: 3 });
    expect(Array.from(ds.images)).toEqual(rows.flatMap((r) => r.pixels));
    expect(Array.from(ds.labels)).toEqual(rows.map((r) => r.label));
  });

  it('gives the same result for any chunking of the stream', () => {
    const rows = makeRows(40, 4, 3);
    const bytes = new TextEncoder().encode(toCsv(rows, '\r\n', true));
    const rng = new Random(4);
    for (let trial = 0; trial < 20; trial++) {
      const parser = new Fer2013Parser('mem.csv', 4, 'throw', undefined);
      let i = 0;
      while (i < bytes.length) {
        const step = trial === 0 ? 1 : 1 + rng.int(trial < 10 ? 7 : 200);
        parser.push(bytes.subarray(i, i + step));
        i += step;
      }
      const ds = parser.end();
      expect(Array.from(ds.images)).toEqual(rows.flatMap((r) => r.pixels));
      expect(Array.from(ds.labels)).toEqual(rows.map((r) => r.label));
    }
  });

  it('keeps only the requested usages, with their file rows', async () => {
    const rows = makeRows(50, 2, 5);
    const file = write('usages.csv', toCsv(rows));
    const ds = await loadFer2013(file, { size: 2, usages: ['PublicTest'] });
    const want = rows.map((r, i) => ({ ...r, i })).filter((r) => r.usage === 'PublicTest');
    expect(Array.from(ds.rows)).toEqual(want.map((r) => r.i));
    expect(Array.from(ds.labels)).toEqual(want.map((r) => r.label));
    expect(ds.totalRows).toBe(50);
    expect(Array.from(ds.usages!).every((u) => u === 1)).toBe(true);
  });

  it('loads a file without a Usage column (Kaggle train.csv) with usages undefined', async () => {
    const ds = await loadFer2013(write('nousage.csv', 'pixels,emotion\n1 2 3 4,5\n4 3 2 1,6\n'), { size: 2 });
    expect(ds.usages).toBeUndefined();
    expect(Array.from(ds.labels)).toEqual([5, 6]);
    expect(Array.from(ds.images)).toEqual([1, 2, 3, 4, 4, 3, 2, 1]);
  });

  it('reports progress up to the file size', async () => {
    const rows = makeRows(400, 10, 6);
    const file = write('progress.csv', toCsv(rows));
    const seen: number[] = [];
    const ds = await loadFer2013(file, {
      size: 10,
      onProgress: (p) => seen.push(p.bytesRead / p.totalBytes),
    });
    expect(ds.count).toBe(400);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe(1);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  });

  it('rejects bad options, naming them', async () => {
    await expect(loadFer2013('x.csv', { onInvalidRow: 'ignore' as never })).rejects.toThrow(/`onInvalidRow`/);
    await expect(loadFer2013('x.csv', { size: 0 })).rejects.toThrow(/`size`/);
    await expect(loadFer2013('x.csv', { usages: ['Test' as never] })).rejects.toThrow(/`usages`/);
    await expect(loadFer2013('')).rejects.toThrow(/`path`/);
  });
});

const REAL = '/work/shared/data/fer2013/fer2013.csv.gz';

describe.skipIf(!existsSync(REAL))('loadFer2013 on the real FER2013 file', () => {
  it('gives 32,298 rows with the README class counts per Usage and the known first rows', async () => {
    const ds = await loadFer2013(REAL);
    expect(ds.count).toBe(32298);
    expect(ds.skipped).toEqual([]);
    const train = Array.from({ length: ds.count }, (_, i) => i).filter((i) => ds.usages![i] === 0);
    const pub = Array.from({ length: ds.count }, (_, i) => i).filter((i) => ds.usages![i] === 1);
    expect(train.length).toBe(28709);
    expect(pub.length).toBe(3589);
    expect(train.at(-1)).toBe(28708); // Training rows first, then PublicTest
    expect(classCounts(ds, train)).toEqual([3995, 436, 4097, 7215, 4830, 3171, 4965]);
    expect(classCounts(ds, pub)).toEqual([467, 56, 496, 895, 653, 415, 607]);
    expect(Array.from(ds.labels.subarray(0, 5))).toEqual([0, 0, 2, 4, 6]);
    expect(Array.from(ds.images.subarray(0, 4))).toEqual([70, 80, 82, 72]);
    expect(Array.from(ds.images.subarray(2304, 2307))).toEqual([151, 150, 147]);
  });
});
