/**
 * `fer-cbam predict clip.mp4`: a video made with ffmpeg from a real group photo (a slow pan), read
 * frame by frame: one JSON line per analysed frame with track ids that stay with their faces, the
 * smoothed and the frame's own label, a per-track summary; `--fps` subsamples; `--annotate out.mp4`
 * writes a video of as many frames; inputs and outputs are refused before any work with the option
 * named. Skips without ffmpeg or the detector (`.ci/run` installs ffmpeg).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/io/index';
import { decodeVideo, encodeVideo } from '../../src/video/ffmpeg';
import { FACEDETECT_JPG, HAS_PHOTOS, tinyModel } from '../faces/helpers';
import { cli } from './helpers';

const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;

interface FrameLine {
  file: string;
  frame: number;
  time: number;
  faces: {
    track: number;
    box: { x: number; y: number; width: number; height: number };
    label: string;
    probabilities: Record<string, number>;
    frameLabel: string;
    frameProbabilities: Record<string, number>;
  }[];
}

describe.skipIf(!hasFfmpeg || !HAS_PHOTOS)('fer-cbam predict on a video file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'predict-video-'));
  const modelDir = join(dir, 'model');
  const clip = join(dir, 'pan.mp4');
  const FPS = 4;
  const FRAMES = 8;

  beforeAll(async () => {
    await tinyModel().save(`file://${modelDir}`);
    // a slow pan along the row of five face photos in a real screenshot (y 255-375 at this width):
    // 8 frames of 480x240, 6 px a frame
    const photo = sharp(FACEDETECT_JPG).resize({ width: 600 });
    const { data, info } = await photo.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const writer = await encodeVideo(clip, { fps: FPS, width: 480, height: 240 });
    for (let i = 0; i < FRAMES; i++) {
      const frame = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
        .extract({ left: 6 * i, top: 195, width: 480, height: 240 })
        .raw()
        .toBuffer();
      await writer.write({ width: 480, height: 240, data: new Uint8Array(frame) });
    }
    await writer.close();
  }, 60_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--json: a line per frame with stable track ids, smoothed and own labels, then the summary; --annotate writes the video', async () => {
    const annotated = join(dir, 'annotated.mp4');
    const { status, out } = await cli(
      'predict',
      '--model',
      modelDir,
      clip,
      '--json',
      '--annotate',
      annotated,
    );
    expect(status).toBe(0);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as FrameLine & { summary?: { trackId: number; frames: number }[] });
    const frames = lines.filter((l) => l.summary === undefined);
    expect(frames.map((l) => l.frame)).toEqual([...Array(FRAMES).keys()]);
    expect(frames[3]!.time).toBeCloseTo(3 / FPS, 3);
    // the faces of the first frame keep their ids while the camera pans 6 px a frame
    const first = frames[0]!.faces.map((f) => f.track);
    expect(first.length).toBeGreaterThanOrEqual(3);
    expect(first).toEqual([...first].sort((a, b) => a - b));
    for (const l of frames) {
      for (const f of l.faces) {
        expect(Object.keys(f.probabilities)).toHaveLength(7);
        expect(Object.values(f.probabilities).reduce((s, p) => s + p, 0)).toBeCloseTo(1, 3);
        expect(Object.keys(f.probabilities)).toContain(f.label);
        expect(Object.keys(f.frameProbabilities)).toContain(f.frameLabel);
      }
      const ids = l.faces.map((f) => f.track);
      for (const id of first) if (l.frame < 4) expect(ids).toContain(id);
    }
    const summary = lines.at(-1)!.summary!;
    expect(summary.length).toBeLessThanOrEqual(first.length + 2);
    expect(summary.find((s) => s.trackId === first[0])!.frames).toBeGreaterThanOrEqual(4);
    // the annotated video: as many frames, the same size
    expect(existsSync(annotated)).toBe(true);
    const { frames: back } = await decodeVideo(annotated);
    let n = 0;
    for await (const f of back) {
      expect([f.image.width, f.image.height]).toEqual([480, 240]);
      n++;
    }
    expect(n).toBe(FRAMES);
  }, 120_000);

  it('--fps subsamples; text output names label changes per face and a summary line per face', async () => {
    const { status, out: text } = await cli(
      'predict',
      '--model',
      modelDir,
      clip,
      '--fps',
      '2',
      '--smoothing',
      '0',
    );
    expect(status).toBe(0);
    expect(text).toMatch(new RegExp(`${clip.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 4 frames, \\d+ faces?`));
    expect(text).toMatch(/^ {2}face 1: 0\.00-\d\.\d\d s, \d+ frames, mostly \w+ \(\w+ \d+%/m);
    expect(text).toMatch(/ 0\.00s face 1: \w+ \d+%/);
  }, 120_000);

  /** Runs a command that must fail; returns its error line. */
  async function refusal(...args: string[]): Promise<string> {
    const { status, err } = await cli(...args);
    expect(status).toBe(1);
    return err;
  }

  it('refuses mixed inputs, a picture path for --annotate, --heatmap and a bad --fps before any work', async () => {
    const photo = join(dir, 'still.png');
    writeFileSync(photo, 'unused: the mix is refused before reading');
    expect(await refusal('predict', '--model', modelDir, clip, photo)).toMatch(
      /1 video file and 1 picture; run predict once for the pictures and once for the videos/,
    );
    expect(await refusal('predict', '--model', modelDir, clip, '--annotate', join(dir, 'a.png'))).toMatch(
      /--annotate: ".*a\.png" must name a video file for a video/,
    );
    expect(await refusal('predict', '--model', modelDir, clip, '--annotate', clip)).toMatch(/--annotate/);
    expect(await refusal('predict', '--model', modelDir, clip, '--heatmap', dir)).toMatch(
      /--heatmap: not available for videos/,
    );
    expect(await refusal('predict', '--model', modelDir, clip, '--fps', '0')).toMatch(
      /--fps: expected a number of frames per second/,
    );
    expect(await refusal('predict', '--model', modelDir, join(dir, 'missing.mp4'))).toMatch(
      /missing\.mp4" is not a video file that exists/,
    );
  });
});
