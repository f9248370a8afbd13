/**
 * Video through ffmpeg: frames written by encodeVideo come back from decodeVideo (count, size, times,
 * colours within the codec's loss), subsampled with `fps` and scaled with `maxSide`; the PPM stream
 * split at any byte; ffmpeg's stream lines parsed; missing files and missing ffmpeg named. The tests
 * that run ffmpeg skip when it is not installed (`.ci/run` installs it).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeVideo,
  encodeVideo,
  findFfmpeg,
  isVideoPath,
  PpmReader,
  parseDuration,
  parseFps,
} from '../../src/video/ffmpeg';
import type { RgbImage } from '../../src/visualize/colormap';

const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(path.join(tmpdir(), 'fer-video-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A frame of one flat colour. */
function flat(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, data };
}

function mean(image: RgbImage): [number, number, number] {
  const s = [0, 0, 0];
  for (let i = 0; i < image.width * image.height; i++)
    for (let c = 0; c < 3; c++) s[c]! += image.data[i * 3 + c]!;
  return s.map((v) => v / (image.width * image.height)) as [number, number, number];
}

function ppm(image: RgbImage, comment = false): Buffer {
  const head = Buffer.from(`P6\n${comment ? '# made by a test\n' : ''}${image.width} ${image.height}\n255\n`);
  return Buffer.concat([head, Buffer.from(image.data)]);
}

describe('PpmReader', () => {
  it('splits a PPM stream into pictures, whatever the chunk boundaries', () => {
    const a = flat(3, 2, [10, 20, 30]);
    const b = flat(1, 4, [200, 100, 0]);
    const bytes = Buffer.concat([ppm(a), ppm(b, true)]);
    for (const step of [1, 2, 7, 13, bytes.length]) {
      const reader = new PpmReader();
      const out: RgbImage[] = [];
      for (let at = 0; at < bytes.length; at += step) {
        reader.push(bytes.subarray(at, at + step));
        for (let p = reader.next(); p !== null; p = reader.next()) out.push(p);
      }
      expect(out.map((p) => [p.width, p.height, Array.from(p.data)])).toEqual([
        [3, 2, Array.from(a.data)],
        [1, 4, Array.from(b.data)],
      ]);
    }
  });

  it('refuses a stream that is not 8-bit binary PPM', () => {
    const r = new PpmReader();
    r.push(Buffer.from('P5\n1 1\n255\n\0'));
    expect(() => r.next()).toThrow(/P6/);
    const r16 = new PpmReader();
    r16.push(Buffer.from('P6\n1 1\n65535\n'));
    expect(() => r16.next()).toThrow(/maxval 255/);
  });
});

describe('ffmpeg stream lines', () => {
  const log = [
    "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'clip.mp4':",
    '  Duration: 00:01:02.50, start: 0.000000, bitrate: 1205 kb/s',
    '  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 640x480, 1100 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)',
    '  Stream #0:1[0x2](und): Audio: aac (LC), 44100 Hz, stereo, fltp, 96 kb/s (default)',
  ].join('\n');
  it('reads the frame rate and the duration', () => {
    expect(parseFps(log)).toBe(29.97);
    expect(parseDuration(log)).toBeCloseTo(62.5, 10);
    expect(parseFps('Stream #0:0: Video: vp9, yuv420p, 320x240, 25 tbr, 1k tbn')).toBe(25);
    expect(parseFps('no streams')).toBeNull();
    expect(parseDuration('no duration')).toBeNull();
  });
  it('names FFMPEG_PATH when it points at no ffmpeg', async () => {
    process.env.FFMPEG_PATH = path.join(dir, 'no-ffmpeg-here');
    try {
      await expect(findFfmpeg()).rejects.toThrow(/FFMPEG_PATH is ".*no-ffmpeg-here", which does not run/);
    } finally {
      delete process.env.FFMPEG_PATH;
    }
  });

  it('knows video files by their extension', () => {
    expect(isVideoPath('a/b/Clip.MP4')).toBe(true);
    expect(isVideoPath('x.webm')).toBe(true);
    expect(isVideoPath('photo.jpg')).toBe(false);
    expect(isVideoPath('noext')).toBe(false);
  });
});

describe.skipIf(!hasFfmpeg)('encodeVideo and decodeVideo', () => {
  const colours: [number, number, number][] = [
    [220, 30, 30],
    [30, 220, 30],
    [30, 30, 220],
    [220, 220, 30],
  ];
  const clip = path.join(dir, 'colours.mp4');

  it('writes frames that decode back with their count, size, times and colours', async () => {
    const out = await encodeVideo(clip, { fps: 10, width: 64, height: 48 });
    for (const c of colours) for (let k = 0; k < 5; k++) await out.write(flat(64, 48, c));
    await out.close();
    // Written beside the target and renamed: no temporary file is left.
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    const { frames, info } = await decodeVideo(clip);
    const got: { index: number; time: number; rgb: [number, number, number]; size: string }[] = [];
    for await (const f of frames) {
      got.push({
        index: f.index,
        time: f.time,
        rgb: mean(f.image),
        size: `${f.image.width}x${f.image.height}`,
      });
    }
    expect((await info).fps).toBe(10);
    expect(got).toHaveLength(20);
    expect(got.map((g) => g.index)).toEqual([...Array(20).keys()]);
    got.forEach((g, i) => {
      expect(g.time).toBeCloseTo(i / 10, 10);
      expect(g.size).toBe('64x48');
      const want = colours[Math.floor(i / 5)]!;
      for (let c = 0; c < 3; c++) expect(Math.abs(g.rgb[c]! - want[c]!)).toBeLessThan(12);
    });
  }, 60_000);

  it('subsamples with fps, scales with maxSide, and stops ffmpeg when the caller breaks', async () => {
    const { frames } = await decodeVideo(clip, { fps: 5, maxSide: 32 });
    const got: RgbImage[] = [];
    for await (const f of frames) got.push(f.image);
    expect(got).toHaveLength(10);
    expect(got.every((g) => g.width === 32 && g.height === 24)).toBe(true);
    const early = await decodeVideo(clip);
    let n = 0;
    for await (const _ of early.frames) if (++n === 3) break;
    expect(n).toBe(3);
  }, 60_000);

  it('pads odd sizes for H.264 and refuses frames of another size', async () => {
    const odd = path.join(dir, 'odd.mp4');
    const out = await encodeVideo(odd, { fps: 5, width: 33, height: 17 });
    await out.write(flat(33, 17, [100, 100, 100]));
    await expect(out.write(flat(32, 17, [0, 0, 0]))).rejects.toThrow(/frame 1.*33x17/);
    await out.close();
    const { frames } = await decodeVideo(odd);
    for await (const f of frames) expect([f.image.width, f.image.height]).toEqual([34, 18]);
  }, 60_000);

  it('names the file when it is missing or not a video', async () => {
    await expect(decodeVideo(path.join(dir, 'none.mp4'))).rejects.toThrow(/none\.mp4.*not a readable file/);
    const junk = path.join(dir, 'junk.mp4');
    writeFileSync(junk, 'this is not a video');
    const { frames } = await decodeVideo(junk);
    await expect(
      (async () => {
        for await (const _ of frames) {
          // no frames
        }
      })(),
    ).rejects.toThrow(/could not decode ".*junk\.mp4"/);
    await expect(decodeVideo(junk, { fps: 0 })).rejects.toThrow(/`fps`/);
  }, 60_000);
});
