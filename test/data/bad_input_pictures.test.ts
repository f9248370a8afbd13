/**
 * The bad-input corpus, part 4 (issue 31): pictures handed to the library functions, as tensors and
 * as files, that used to give a silent wrong answer (0 faces from a 0-1 or NaN tensor) or hang (a
 * FIFO). Every case must reject with an error whose message names the input (the file, or the
 * `name` given for a tensor) and says what to do.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGrayImage } from '../../src/data/image_io';
import { detectFaces, findFaceCrops, recognizeExpressions } from '../../src/faces/recognize';
import { readImage } from '../../src/image/read_image';
import { brightnessModel } from '../cli/helpers';

const root = mkdtempSync(join(tmpdir(), 'bad input pictures '));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const at = (name: string) => join(root, name);

beforeAll(() => {
  const bmp = Buffer.alloc(70);
  bmp.write('BM', 0, 'latin1');
  writeFileSync(at('face.bmp'), bmp);
  if (process.platform !== 'win32') execFileSync('mkfifo', [at('pipe.png')]);
});

/** A gray 32x32 face-sized tensor with values `f(i)`. */
const tensor = (f: (i: number) => number) =>
  tf.tensor3d(
    Float32Array.from({ length: 32 * 32 }, (_, i) => f(i)),
    [32, 32, 1],
  );

interface Case {
  name: string;
  run: () => Promise<unknown>;
  /** What the message must name (file or tensor name). */
  names: string;
  says: RegExp;
}

const cases: Case[] = [
  {
    name: 'a float tensor on the 0-1 scale, to recognizeExpressions',
    run: () =>
      recognizeExpressions(
        tensor((i) => (i % 97) / 97),
        { model: brightnessModel(16), name: 'frame 0-1' },
      ),
    names: 'frame 0-1',
    says: /holds values from 0 to 0\.9\d+, a 0-1 scale; pixel values are 0-255: multiply it by 255/,
  },
  {
    name: 'a float tensor holding NaN, to detectFaces',
    run: () =>
      detectFaces(
        tensor((i) => (i === 500 ? Number.NaN : 128)),
        { name: 'frame NaN' },
      ),
    names: 'frame NaN',
    says: /the tensor holds NaN or infinite values; give pixel values 0-255/,
  },
  {
    name: 'a tensor holding Infinity, to readImage',
    run: () =>
      readImage(
        tensor((i) => (i === 3 ? Number.POSITIVE_INFINITY : 10)),
        { name: 'frame inf' },
      ),
    names: 'frame inf',
    says: /NaN or infinite values/,
  },
  {
    name: 'a normalised tensor (values -1 to 1), to findFaceCrops',
    run: () =>
      findFaceCrops(
        tensor((i) => ((i % 21) - 10) / 10),
        { detect: 'off', name: 'normalised' },
      ),
    names: 'normalised',
    says: /holds values from -1 to 1, not pixel values 0-255 \(a normalised tensor\?\)/,
  },
  {
    name: 'a BMP file, to loadGrayImage',
    run: () => loadGrayImage(at('face.bmp')),
    names: at('face.bmp'),
    says: /a BMP file \(it starts with "BM"\), a format sharp does not read; convert it to PNG first/,
  },
  ...(process.platform === 'win32'
    ? []
    : [
        {
          name: 'a FIFO, to loadGrayImage (no hang)',
          run: () => loadGrayImage(at('pipe.png')),
          names: at('pipe.png'),
          says: /it is not a regular file/,
        },
      ]),
];

describe('bad input corpus: pictures given to the library', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const error = await c.run().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error, 'it must throw').toBeInstanceOf(Error);
    expect((error as Error).message).toContain(c.names);
    expect((error as Error).message).toMatch(c.says);
  });

  it('a 0-255 float tensor and an int tensor of a dark picture are still read', async () => {
    const dark = await readImage(
      tensor((i) => i % 2),
      { name: 'dark' },
    );
    expect(dark.image.data[3]).toBe(1);
    const int = tf.fill([8, 8, 3], 1, 'int32');
    expect((await readImage(int)).image.data[0]).toBe(1);
    int.dispose();
  });
});
