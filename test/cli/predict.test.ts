import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/io/index';
import { expandInputs, uniqueStems } from '../../src/cli/commands/face_inputs';
import { buildProgram } from '../../src/cli/program';
import { ckSamples } from '../faces/calibration';
import { HAS_DETECTOR, tinyModel } from '../faces/helpers';

describe('uniqueStems', () => {
  it('keeps plain stems and disambiguates collisions by extension, then by folder', () => {
    expect(uniqueStems(['x/a.png', 'x/b.jpg'])).toEqual(['a', 'b']);
    expect(uniqueStems(['face.png', 'face.jpg'])).toEqual(['face_png', 'face_jpg']);
    expect(uniqueStems(['/p/a/face.png', '/p/b/face.png'])).toEqual(['a_face_png', 'b_face_png']);
    expect(uniqueStems(['/p/a/face.png', '/p/a/face.png'])).toEqual(['p_a_face_png', 'p_a_face_png_2']);
    const many = uniqueStems(['a/face.png', 'b/face.png', 'a/face.jpg', 'solo.png']);
    expect(new Set(many).size).toBe(4);
    expect(many[3]).toBe('solo');
  });
});

const ck = HAS_DETECTOR ? await ckSamples(6) : [];

describe.skipIf(!HAS_DETECTOR || ck.length === 0)('fer-cbam predict and attention', () => {
  const dir = mkdtempSync(join(tmpdir(), 'predict-cli-'));
  const modelDir = join(dir, 'model');
  const photos = join(dir, 'photos');
  const group = join(photos, 'group.png');
  const crop = join(photos, 'crop.png');
  const corrupt = join(photos, 'broken.jpg');
  const other = join(dir, 'other');
  let out: string[] = [];
  let err: string[] = [];
  const writeOut = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);

  beforeAll(async () => {
    mkdirSync(photos, { recursive: true });
    mkdirSync(other, { recursive: true });
    await tinyModel().save(`file://${modelDir}`);
    const paste = async (i: number, side: number) =>
      sharp(Buffer.from(ck[i]!.pixels), { raw: { width: 48, height: 48, channels: 1 } })
        .resize(side, side)
        .toColourspace('srgb')
        .png()
        .toBuffer();
    await sharp({ create: { width: 520, height: 300, channels: 3, background: '#777777' } })
      .composite([
        { input: await paste(0, 150), left: 20, top: 60 },
        { input: await paste(3, 130), left: 330, top: 90 },
      ])
      .png()
      .toFile(group);
    await sharp(Buffer.from(ck[5]!.pixels), { raw: { width: 48, height: 48, channels: 1 } })
      .png()
      .toFile(crop);
    writeFileSync(corrupt, 'not a jpeg');
    // same file name in another folder: output names must not collide
    await sharp(group).toFile(join(other, 'group.png'));
  });

  afterAll(() => {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  });

  async function run(args: string[]): Promise<unknown> {
    out = [];
    err = [];
    process.stdout.write = ((s: string) => out.push(s) > 0) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => err.push(s) > 0) as typeof process.stderr.write;
    try {
      await buildProgram('9.9.9').parseAsync(['node', 'fer-cbam', '--backend', 'cpu', ...args]);
      return null;
    } catch (e) {
      return e;
    } finally {
      process.stdout.write = writeOut;
      process.stderr.write = writeErr;
    }
  }

  it('expands folders to their image files, sorted', () => {
    expect(expandInputs([photos])).toEqual([corrupt, crop, group]);
  });

  it('prints one line per face, reports the corrupt file by name and still processes the rest', async () => {
    const error = await run(['predict', '--model', modelDir, photos]);
    expect((error as Error).message).toMatch(/predict: 1 of 3 pictures failed/);
    expect(err.join('')).toMatch(/broken\.jpg: cannot decode the image/);
    const lines = out.join('').trim().split('\n');
    expect(lines.filter((l) => l.startsWith(`${group}: face `)).length).toBe(2);
    expect(lines.some((l) => l.startsWith(`${crop}: whole image: `))).toBe(true);
    expect(lines[1]).toMatch(/face 1\/2 x=\d+ y=\d+ w=\d+ h=\d+: \w+ \d+\.\d%, \w+ \d+\.\d%, \w+ \d+\.\d%$/);
  });

  it('--json gives boxes, eyes, labels and named probabilities; --annotate writes a PNG', async () => {
    const png = join(dir, 'annotated.png');
    const heatmaps = join(dir, 'predict-heatmaps');
    const error = await run([
      'predict',
      '--model',
      modelDir,
      group,
      '--json',
      '--annotate',
      png,
      '--top',
      '2',
      '--heatmap',
      heatmaps,
    ]);
    expect(error).toBeNull();
    for (const k of [1, 2]) expect(existsSync(join(heatmaps, `group_face${k}_attention.png`))).toBe(true);
    const json = JSON.parse(out.join('')) as {
      file: string;
      mode: string;
      faces: { box: { x: number }; eyes: object; label: string; probabilities: Record<string, number> }[];
    }[];
    expect(json[0]!.file).toBe(group);
    expect(json[0]!.mode).toBe('detected');
    expect(json[0]!.faces.length).toBe(2);
    const f = json[0]!.faces[0]!;
    expect(Object.keys(f.probabilities)).toEqual([
      'angry',
      'disgust',
      'fear',
      'happy',
      'sad',
      'surprise',
      'neutral',
    ]);
    expect(Object.keys(f.probabilities)).toContain(f.label);
    expect(f.eyes).toHaveProperty('left');
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([520, 300, 'png']);
  });

  it('shows a progress line for many pictures', async () => {
    const many = join(dir, 'many');
    mkdirSync(many, { recursive: true });
    for (let i = 0; i < 10; i++) await sharp(crop).toFile(join(many, `face${i}.png`));
    expect(await run(['predict', '--model', modelDir, many, '--batch-size', '4'])).toBeNull();
    expect(out.join('').trim().split('\n')).toHaveLength(10);
    expect(err.join('')).toMatch(/predict 10\/10 \| [\d.]+ img\/s \| faces 10/);
  });

  it('--detect off takes each picture whole; a bad --detect value is named', async () => {
    expect(await run(['predict', '--model', modelDir, group, '--detect', 'off'])).toBeNull();
    expect(out.join('')).toMatch(/group\.png: whole image: /);
    const error = await run(['predict', '--model', modelDir, group, '--detect', 'maybe']);
    expect((error as Error).message).toMatch(/--detect: expected one of auto, on, off, but got "maybe"/);
    const score = await run(['predict', '--model', modelDir, group, '--min-score', '2']);
    expect((score as Error).message).toMatch(/--min-score: expected a number in \[0, 1\], but got 2/);
  });

  it('attention writes one heatmap per face, with names that do not collide', async () => {
    const outDir = join(dir, 'heatmaps');
    const error = await run([
      'attention',
      '--model',
      modelDir,
      group,
      join(other, 'group.png'),
      crop,
      '--out',
      outDir,
    ]);
    expect(error).toBeNull();
    for (const name of [
      'photos_group_png_face1_attention.png',
      'photos_group_png_face2_attention.png',
      'other_group_png_face1_attention.png',
      'crop_attention.png',
    ]) {
      expect(existsSync(join(outDir, name)), name).toBe(true);
    }
  });
});
