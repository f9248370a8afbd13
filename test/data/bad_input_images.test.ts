/**
 * The bad-input corpus, part 2: images and folders made in a temporary directory (truncated,
 * too large, empty, not images, directories, paths with spaces and unicode), FER+ row counts, and
 * symbolic links. Every failure is a DataFormatError naming the file (and line for CSV rows).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataFormatError } from '../../src/data/data_error';
import { loadFer2013 } from '../../src/data/fer2013';
import { loadFerPlus } from '../../src/data/ferplus';
import { loadImageFolder } from '../../src/data/image_folder';
import { loadGrayImage } from '../../src/data/image_io';
import { MAX_IMAGE_PIXELS } from '../../src/image/decode';

const root = mkdtempSync(join(tmpdir(), 'bad input images ünï 😀 '));
afterAll(() => {
  try {
    chmodSync(join(root, 'unreadable_class/happy'), 0o755);
  } catch {
    // not created
  }
  rmSync(root, { recursive: true, force: true });
});
const at = (...parts: string[]) => join(root, ...parts);

function crc32(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    let c = (crc ^ byte) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** A valid PNG header claiming width x height (over sharp's pixel limit), with almost no data. */
function hugePng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(64))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}
async function png(side: number, value = 128): Promise<Buffer> {
  return sharp(Buffer.alloc(side * side, value), { raw: { width: side, height: side, channels: 1 } })
    .png()
    .toBuffer();
}
function put(rel: string, data: Buffer | string): string {
  const file = at(rel);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, data);
  return file;
}

beforeAll(async () => {
  const good = await png(16);
  const jpeg = await sharp(Buffer.alloc(64 * 64 * 3, 90), { raw: { width: 64, height: 64, channels: 3 } })
    .jpeg()
    .toBuffer();
  put('truncated_png/happy/good.png', good);
  put('truncated_png/happy/half.png', good.subarray(0, Math.floor(good.length / 2)));
  put('truncated_jpeg/sad/half.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  put('huge/happy/huge.png', hugePng(20000, 20000));
  put('zero/happy/zero.png', '');
  put('text/happy/notes.png', 'these are not pixels\n');
  put('html/happy/page.jpg', '<!doctype html><title>404</title>');
  put('my faces/ünïcødé 😀/happy/bad face.png', 'not an image');
  mkdirSync(at('dir_as_image/face.png'), { recursive: true });
  put('unreadable_class/happy/a.png', good);
  // Symbolic links: a linked class folder and a linked file are loaded like the real ones.
  put('real/happy/h1.png', await png(8, 200));
  put('real/sad/s1.png', await png(8, 20));
  put('linked/sad/s2.png', await png(8, 30));
  symlinkSync(at('real/happy'), at('linked/happy'));
  symlinkSync(at('real/sad/s1.png'), at('linked/sad/s1.png'));
  symlinkSync(at('nowhere.png'), at('linked/sad/broken.png'));
  // FER2013 + FER+ votes: one data row deleted from the FER2013 file.
  const pixels = '1 2 3 4';
  put('fer/deleted_row.csv', `emotion,pixels,Usage\n0,${pixels},Training\n3,${pixels},Training\n`);
  const header = 'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF';
  put(
    'fer/votes.csv',
    `${header}\n${['Training,a.png,10,0,0,0,0,0,0,0,0,0', 'Training,b.png,0,10,0,0,0,0,0,0,0,0', 'Training,c.png,0,0,10,0,0,0,0,0,0,0'].join('\n')}\n`,
  );
  put('fer/ünï côde dir/bad row.csv', `emotion,pixels,Usage\n0,${pixels},Training\n9,${pixels},Training\n`);
});

interface Case {
  name: string;
  run: () => Promise<unknown>;
  file: () => string;
  line?: number;
  says: RegExp;
}

const cases: Case[] = [
  {
    name: 'a truncated PNG in a folder',
    run: () => loadImageFolder(at('truncated_png'), { size: 8 }),
    file: () => at('truncated_png/happy/half.png'),
    says: /cannot decode the image \(the image data is truncated or corrupt, \d+ bytes; libvips says: .+\)/,
  },
  {
    name: 'a truncated JPEG in a folder',
    run: () => loadImageFolder(at('truncated_jpeg'), { size: 8 }),
    file: () => at('truncated_jpeg/sad/half.jpg'),
    says: /truncated or corrupt/,
  },
  {
    name: 'an image too large to decode (says its size and the limit)',
    run: () => loadImageFolder(at('huge'), { size: 8 }),
    file: () => at('huge/happy/huge.png'),
    says: new RegExp(
      `too large to decode, 20000x20000 = 400000000 pixels, over the limit of ${MAX_IMAGE_PIXELS} pixels`,
    ),
  },
  {
    name: 'a 0-byte .png',
    run: () => loadImageFolder(at('zero'), { size: 8 }),
    file: () => at('zero/happy/zero.png'),
    says: /the file is empty: 0 bytes/,
  },
  {
    name: 'a text file named .png',
    run: () => loadImageFolder(at('text'), { size: 8 }),
    file: () => at('text/happy/notes.png'),
    says: /not an image in a format sharp reads.*starts with the bytes 74 68 65 73/,
  },
  {
    name: 'an HTML page saved as .jpg',
    run: () => loadImageFolder(at('html'), { size: 8 }),
    file: () => at('html/happy/page.jpg'),
    says: /not an image in a format sharp reads.*starts with the bytes 3c 21 64 6f/,
  },
  {
    name: 'a path with spaces and unicode',
    run: () => loadImageFolder(at('my faces/ünïcødé 😀'), { size: 8 }),
    file: () => at('my faces/ünïcødé 😀/happy/bad face.png'),
    says: /not an image in a format sharp reads/,
  },
  {
    name: 'loadGrayImage on a directory',
    run: () => loadGrayImage(at('dir_as_image/face.png')),
    file: () => at('dir_as_image/face.png'),
    says: /it is a directory, not an image file/,
  },
  {
    name: 'loadGrayImage on a missing file',
    run: () => loadGrayImage(at('missing.png')),
    file: () => at('missing.png'),
    says: /cannot decode the image \(no such file\)/,
  },
  {
    name: 'loadGrayImage on a truncated PNG',
    run: () => loadGrayImage(at('truncated_png/happy/half.png')),
    file: () => at('truncated_png/happy/half.png'),
    says: /truncated or corrupt/,
  },
  {
    name: 'FER+ votes with more rows than the FER2013 file (a FER2013 row was deleted)',
    run: async () =>
      loadFerPlus(await loadFer2013(at('fer/deleted_row.csv'), { size: 2 }), at('fer/votes.csv')),
    file: () => at('fer/votes.csv'),
    says: /expected `votes` to be 2 data rows, one per data row of the FER2013 file .*deleted_row\.csv.*but got "3 rows"/,
  },
  {
    name: 'a bad CSV row in a path with spaces and unicode',
    run: () => loadFer2013(at('fer/ünï côde dir/bad row.csv'), { size: 2 }),
    file: () => at('fer/ünï côde dir/bad row.csv'),
    line: 3,
    says: /expected `emotion` to be an integer label in 0-6, but got 9/,
  },
];

describe('bad input corpus: images, folders, FER+ rows', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const error = await c.run().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error, 'it must throw').toBeInstanceOf(DataFormatError);
    const e = error as DataFormatError;
    expect(e.file).toBe(c.file());
    expect(e.line).toBe(c.line);
    expect(e.message).toContain(c.file());
    expect(e.message).toMatch(c.says);
    expect(e.message).not.toMatch(/Unknown error\)/);
  });

  it.skipIf(process.getuid?.() === 0)('an unreadable class folder names the folder', async () => {
    chmodSync(at('unreadable_class/happy'), 0o000);
    const error = await loadImageFolder(at('unreadable_class')).catch((e: unknown) => e);
    chmodSync(at('unreadable_class/happy'), 0o755);
    expect(error).toBeInstanceOf(DataFormatError);
    expect((error as DataFormatError).file).toBe(at('unreadable_class/happy'));
    expect((error as Error).message).toMatch(/cannot read the class folder \(EACCES/);
  });

  it('follows symbolic links to class folders and files (a broken link is ignored)', async () => {
    const ds = await loadImageFolder(at('linked'), { size: 4 });
    expect(ds.classNames).toEqual(['happy', 'sad']);
    expect(ds.files).toEqual([at('linked/happy/h1.png'), at('linked/sad/s1.png'), at('linked/sad/s2.png')]);
    expect(Array.from(ds.labels)).toEqual([0, 1, 1]);
    expect(ds.images[0]).toBe(200);
    expect(ds.images[16]).toBe(20);
    expect(ds.ignored).toEqual([at('linked/sad/broken.png')]);
  });
});

describe('CK+48 with symbolic links (item 4)', () => {
  it('follows a linked class folder and a linked frame', async () => {
    const { loadCkPlus } = await import('../../src/data/ckplus');
    put('ck_real/happy/S010_006_00000015.png', await png(8, 200));
    put('ck_real/anger/S011_001_00000009.png', await png(8, 40));
    put('ck_linked/sadness/S012_002_00000011.png', await png(8, 90));
    symlinkSync(at('ck_real/happy'), at('ck_linked/happy'));
    symlinkSync(at('ck_real/anger/S011_001_00000009.png'), at('ck_linked/sadness/S011_001_00000009.png'));
    const ds = await loadCkPlus(at('ck_linked'), { size: 4 });
    expect(ds.count).toBe(3);
    expect([...ds.subjects!].sort()).toEqual(['S010', 'S011', 'S012']);
  });
});
