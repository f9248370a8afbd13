/**
 * `fer-cbam predict` on awkward inputs and outputs (issue 31): folders with hidden files, FIFOs and
 * BMP files, pictures too small to read an expression from, `--annotate` over an input or as a
 * single file, and one gray conversion for every way a face crop comes in. No face detector is
 * needed: pictures are taken whole (`--detect off`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as tfl from '@tensorflow/tfjs-layers';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadImageFolder } from '../../src/data/image_folder';
import { loadGrayImage } from '../../src/data/image_io';
import { classifyFaceCrops, findFaceCrops } from '../../src/faces/recognize';
import { BRIGHTNESS_PREPROCESSING, brightnessModel, cli, saveModel, squareFace, testFolder } from './helpers';

const { at } = testFolder('fer-cbam predict inputs ');
let model = '';

/** A colour picture whose gray values depend on the conversion (strong red, green and blue areas). */
async function colourPicture(file: string, width: number, height: number): Promise<void> {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      px[i] = (x * 7 + y * 3) % 256;
      px[i + 1] = x < width / 2 ? 220 : 30;
      px[i + 2] = (y * 11) % 256;
    }
  }
  await sharp(px, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(file);
}

beforeAll(async () => {
  model = await saveModel(brightnessModel(16), at('model'), BRIGHTNESS_PREPROCESSING);
  await squareFace(at('photos/a.png'));
  await squareFace(at('photos/b.png'), 48);
  await squareFace(at('photos/._a.png')); // a macOS resource fork would not decode; this one would
  writeFileSync(at('photos/.DS_Store'), 'junk');
  mkdirSync(at('colour/c'), { recursive: true });
  await colourPicture(at('colour/c/square.png'), 64, 64);
  await colourPicture(at('colour/c/wide.png'), 80, 50);
  // The same picture in each folder format fer-cbam reads under other names.
  mkdirSync(at('formats/happy'), { recursive: true });
  await sharp(at('photos/a.png')).jpeg().toFile(at('formats/happy/a.jfif'));
  await sharp(at('photos/a.png')).avif().toFile(at('formats/happy/b.avif'));
  // A BMP (sharp writes none; 2x2, 24-bit, bottom-up rows padded to 4 bytes).
  const bmp = Buffer.alloc(54 + 16);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(bmp.length, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(2, 18);
  bmp.writeInt32LE(2, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  bmp.writeUInt32LE(16, 34);
  writeFileSync(at('formats/happy/c.bmp'), bmp);
  writeFileSync(at('face.bmp'), bmp);
  await sharp({ create: { width: 10, height: 10, channels: 3, background: '#888' } })
    .png()
    .toFile(at('tiny.png'));
}, 60_000);

describe('predict: folders hold pictures and other things', () => {
  it('skips hidden files (._x.png, .DS_Store) as the training loader does, and says so', async () => {
    const { status, err, out } = await cli('predict', '--model', model, at('photos'), '--detect', 'off');
    expect(status, err).toBe(0);
    expect(out).toContain(at('photos/a.png'));
    expect(out).not.toContain('._a.png');
    expect(err).toMatch(
      /predict: skipped 2 entries of the given folders that are hidden, not a regular file, or not an image/,
    );
    expect(err).toContain(`"${at('photos/._a.png')}"`);
    expect(err).toContain(`"${at('photos/.DS_Store')}"`);
    const folder = await loadImageFolder(at('formats'), { size: 8 });
    expect(folder.ignored).toContain(at('formats/happy/c.bmp'));
  });

  it.skipIf(process.platform === 'win32')(
    'skips a FIFO in a folder, and fails a FIFO named directly, without hanging',
    async () => {
      mkdirSync(at('fifo'), { recursive: true });
      await squareFace(at('fifo/a.png'));
      execFileSync('mkfifo', [at('fifo/pipe.png')]);
      const inFolder = await cli('predict', '--model', model, at('fifo'), '--detect', 'off');
      expect(inFolder.status, inFolder.err).toBe(0);
      expect(inFolder.err).toMatch(/skipped 1 entry .*pipe\.png/);
      const named = await cli(
        'predict',
        '--model',
        model,
        at('fifo/pipe.png'),
        at('fifo/a.png'),
        '--detect',
        'off',
      );
      expect(named.status).toBe(1);
      expect(named.err).toMatch(
        /pipe\.png: not a regular file \(a FIFO, socket or device\); give an image file/,
      );
      expect(named.out).toContain(`${at('fifo/a.png')}: whole image:`);
    },
    60_000,
  );

  it('reads .jfif and .avif in folders; BMP is skipped there and explained when named', async () => {
    const { status, err, out } = await cli('predict', '--model', model, at('formats'), '--detect', 'off');
    expect(status, err).toBe(0);
    expect(out).toContain('a.jfif: whole image');
    expect(out).toContain('b.avif: whole image');
    expect(err).toMatch(/skipped 1 entry .*convert others, such as BMP, to PNG.*c\.bmp/);
    const bmp = await cli('predict', '--model', model, at('face.bmp'), '--detect', 'off');
    expect(bmp.status).toBe(1);
    expect(bmp.err).toMatch(/face\.bmp: cannot decode the image \(a BMP file .*convert it to PNG first/);
  });
});

describe('predict: outputs', () => {
  it('never writes --annotate over an input; the photo is kept byte for byte', async () => {
    const before = readFileSync(at('photos/a.png'));
    const { status, err } = await cli(
      'predict',
      '--model',
      model,
      at('photos/a.png'),
      '--annotate',
      at('photos/a.png'),
    );
    expect(status).toBe(1);
    expect(err).toMatch(/one of the input pictures/);
    expect(readFileSync(at('photos/a.png')).equals(before)).toBe(true);
  });

  it('--annotate out.jpg with one picture writes a JPEG file, not a folder', async () => {
    const { status, err } = await cli(
      'predict',
      '--model',
      model,
      at('photos/a.png'),
      '--detect',
      'off',
      '--annotate',
      at('out.jpg'),
    );
    expect(status, err).toBe(0);
    expect(statSync(at('out.jpg')).isFile()).toBe(true);
    expect((await sharp(at('out.jpg')).metadata()).format).toBe('jpeg');
  });

  it('--annotate with another path is a folder with one file per picture', async () => {
    const { status, err } = await cli(
      'predict',
      '--model',
      model,
      at('photos'),
      '--detect',
      'off',
      '--annotate',
      at('annotated'),
    );
    expect(status, err).toBe(0);
    expect(existsSync(at('annotated/a_annotated.png'))).toBe(true);
    expect(existsSync(at('annotated/b_annotated.png'))).toBe(true);
  });

  it('--image-size and --normalization work on predict (the advice for a model without preprocessing names them)', async () => {
    await saveModel(brightnessModel(16), at('bare'), null);
    const { status, err, out } = await cli(
      'predict',
      '--model',
      at('bare'),
      at('photos/b.png'),
      '--detect',
      'off',
      '--image-size',
      '16',
      '--normalization',
      '0,1',
      '--class-names',
      'dark,bright',
    );
    expect(status, err).toBe(0);
    expect(out).toMatch(/b\.png: whole image: (dark|bright) /);
  });
});

describe('predict: small pictures', () => {
  it('warns when a picture is far smaller than the model input (10x10 for 16x16 is upscaled)', async () => {
    // The brightness model reads 16x16; 10x10 is upscaled 1.6 times, a 48-pixel model would be 4.8.
    await saveModel(brightnessModel(16), at('model48'), { ...BRIGHTNESS_PREPROCESSING, imageSize: 48 });
    const { status, err, out } = await cli('predict', '--model', at('model48'), at('tiny.png'), '--json');
    expect(status, err).toBe(0);
    expect(err).toMatch(
      /warning: .*tiny\.png is only 10x10 pixels, upscaled 4\.8 times to the model's 48x48: too small for a reliable expression/,
    );
    expect(JSON.parse(out)[0].warning).toMatch(/only 10x10 pixels/);
    const ok = await cli('predict', '--model', at('model48'), at('photos/a.png'), '--detect', 'off');
    expect(ok.err).not.toMatch(/warning/);
  });
});

describe('one gray conversion and resampler for every path (issue 31, item 14)', () => {
  it('a square picture gives the same crop whole, stretched, from a folder and from loadGrayImage', async () => {
    const file = at('colour/c/square.png');
    const whole = (await findFaceCrops(file, { detect: 'off', size: 48 })).faces[0]!.crop;
    const cover = await loadGrayImage(file, { size: 48, fit: 'cover' });
    const fill = await loadGrayImage(file, { size: 48, fit: 'fill' });
    const folder = await loadImageFolder(at('colour'), { size: 48 });
    const i = folder.files.indexOf(file);
    expect(Buffer.from(cover).equals(Buffer.from(whole))).toBe(true);
    expect(Buffer.from(fill).equals(Buffer.from(whole))).toBe(true);
    expect(
      Buffer.from(folder.images.subarray(i * 48 * 48, (i + 1) * 48 * 48)).equals(Buffer.from(whole)),
    ).toBe(true);
  });

  it('--detect off and --no-center-crop agree on a square picture, in the CLI', async () => {
    const a = await cli('predict', '--model', model, at('colour/c/square.png'), '--detect', 'off', '--json');
    const b = await cli(
      'predict',
      '--model',
      model,
      at('colour/c/square.png'),
      '--detect',
      'off',
      '--no-center-crop',
      '--json',
    );
    expect(a.status, a.err).toBe(0);
    expect(JSON.parse(b.out)[0].faces[0].probabilities).toEqual(JSON.parse(a.out)[0].faces[0].probabilities);
  });

  it('--no-center-crop stretches a wide picture as the folder loaders fill does', async () => {
    const fill = await loadGrayImage(at('colour/c/wide.png'), { size: 16, fit: 'fill' });
    const net = await tfl.loadLayersModel(`file://${at('model/model.json')}`);
    const expected = (await classifyFaceCrops(net, [fill])).probabilities[0]!;
    net.dispose();
    const { status, err, out } = await cli(
      'predict',
      '--model',
      model,
      at('colour/c/wide.png'),
      '--detect',
      'off',
      '--no-center-crop',
      '--json',
    );
    expect(status, err).toBe(0);
    const got = JSON.parse(out)[0].faces[0].probabilities as Record<string, number>;
    expect(got.dark).toBeCloseTo(expected[0]!, 4);
    expect(got.bright).toBeCloseTo(expected[1]!, 4);
  });
});
