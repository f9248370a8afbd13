/**
 * Video files through ffmpeg (Node only): frames decoded one at a time as RGB pictures, and pictures
 * encoded into a video. ffmpeg is found on first use: `FFMPEG_PATH`, then `ffmpeg` on the `PATH`
 * (Debian/Ubuntu `apt-get install ffmpeg`, Homebrew `brew install ffmpeg`), then the npm package
 * `ffmpeg-static` (which ships the binary inside it) when it is installed. Nothing is downloaded.
 *
 * Decoding streams PPM frames out of ffmpeg's stdout (each carries its own size, so rotated videos
 * need no probing) and yields them as the consumer asks, so memory stays flat over long videos.
 * @module
 */

import { expected } from '../errors';
import { importAtRuntime, isNode } from '../node_env';
import type { RgbImage } from '../visualize/colormap';

/** Extensions `fer-cbam predict` treats as video files. @category Video */
export const VIDEO_EXTENSIONS: readonly string[] = [
  '.mp4',
  '.m4v',
  '.mov',
  '.mkv',
  '.webm',
  '.avi',
  '.mpg',
  '.mpeg',
  '.wmv',
  '.flv',
  '.3gp',
  '.ts',
];

/** Whether a path names a video file, by its extension ({@link VIDEO_EXTENSIONS}). @category Video */
export function isVideoPath(path: string): boolean {
  const dot = path.lastIndexOf('.');
  return dot >= 0 && VIDEO_EXTENSIONS.includes(path.slice(dot).toLowerCase());
}

/** ffmpeg was not found, or failed. @category Video */
export class FfmpegError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FfmpegError';
  }
}

type ChildProcessModule = typeof import('node:child_process');

let found: Promise<string> | undefined;

/**
 * The ffmpeg binary to run: `FFMPEG_PATH`, `ffmpeg` on the `PATH`, or the `ffmpeg-static` npm
 * package, checked once (by running `-version`) and remembered.
 * @returns Its path (or `'ffmpeg'`).
 * @throws FfmpegError naming the ways to install it.
 * @example
 * ```ts
 * console.log(await findFfmpeg()); // 'ffmpeg'
 * ```
 * @category Video
 */
export function findFfmpeg(): Promise<string> {
  found ??= locate().catch((error) => {
    found = undefined;
    throw error;
  });
  return found;
}

async function locate(): Promise<string> {
  if (!isNode()) throw new FfmpegError('fer-cbam: video files need Node.js and ffmpeg.');
  const cp = await importAtRuntime<ChildProcessModule>('node:child_process');
  const works = (bin: string) => {
    const r = cp.spawnSync(bin, ['-hide_banner', '-version'], { stdio: 'ignore' });
    return r.status === 0;
  };
  const candidates: string[] = [];
  const fromEnv = process.env.FFMPEG_PATH;
  if (fromEnv) {
    if (works(fromEnv)) return fromEnv;
    throw new FfmpegError(
      `fer-cbam: FFMPEG_PATH is "${fromEnv}", which does not run (\`${fromEnv} -version\` failed); point it at an ffmpeg binary or unset it.`,
    );
  }
  candidates.push('ffmpeg');
  try {
    const mod = await importAtRuntime<{ default?: string }>('ffmpeg-static');
    if (typeof mod.default === 'string') candidates.push(mod.default);
  } catch {
    // Not installed: the PATH is the only other place.
  }
  for (const bin of candidates) if (works(bin)) return bin;
  throw new FfmpegError(
    'fer-cbam: reading or writing video needs ffmpeg, which was not found: install it (Debian/Ubuntu: `apt-get install ffmpeg`; macOS: `brew install ffmpeg`; Windows: `winget install ffmpeg`), or `npm install ffmpeg-static`, or set FFMPEG_PATH to the binary.',
  );
}

/** Options of {@link decodeVideo}. @category Video */
export interface DecodeVideoOptions {
  /** Frames per second to take (ffmpeg's `fps` filter). Defaults to the video's own rate. */
  fps?: number;
  /** Scale frames down so their longer side is at most this many pixels. Defaults to none. */
  maxSide?: number;
}

/** One decoded frame. @category Video */
export interface VideoFrame {
  /** Frame number, from 0. */
  index: number;
  /** Time in seconds (`index / fps`). */
  time: number;
  /** The picture. */
  image: RgbImage;
}

/** What {@link decodeVideo} learns of the video from ffmpeg before the first frame. @category Video */
export interface VideoInfo {
  /** Frames per second of the decoded frames. */
  fps: number;
  /** Duration in seconds, when ffmpeg reports it. */
  duration: number | null;
}

/**
 * Decodes a video file frame by frame.
 * @param path The video file.
 * @param options See {@link DecodeVideoOptions}.
 * @returns The frames (an async iterable: stop early with `break`, which ends ffmpeg) and a promise
 * of the video's frame rate and duration, known once the first frame is decoded.
 * @throws FfmpegError naming the file when ffmpeg is missing or cannot read it.
 * @example
 * ```ts
 * const { frames } = await decodeVideo('clip.mp4', { fps: 10 });
 * for await (const { index, time, image } of frames) console.log(index, time, image.width);
 * ```
 * @category Video
 */
export async function decodeVideo(
  path: string,
  options: DecodeVideoOptions = {},
): Promise<{ frames: AsyncGenerator<VideoFrame>; info: Promise<VideoInfo> }> {
  const where = 'decodeVideo';
  if (typeof path !== 'string' || path === '')
    throw new TypeError(expected(where, 'path', 'a file path', path));
  const { fps, maxSide } = options;
  if (fps !== undefined && !(typeof fps === 'number' && Number.isFinite(fps) && fps > 0 && fps <= 1000)) {
    throw new RangeError(expected(where, 'fps', 'a number of frames per second in (0, 1000]', fps));
  }
  if (maxSide !== undefined && !(Number.isInteger(maxSide) && maxSide >= 16)) {
    throw new RangeError(expected(where, 'maxSide', 'an integer of at least 16', maxSide));
  }
  const fs = await importAtRuntime<typeof import('node:fs/promises')>('node:fs/promises');
  const stat = await fs.stat(path).catch(() => null);
  if (!stat?.isFile()) throw new FfmpegError(`${where}: "${path}" is not a readable file.`);
  const bin = await findFfmpeg();
  const cp = await importAtRuntime<ChildProcessModule>('node:child_process');
  const filters: string[] = [];
  if (fps !== undefined) filters.push(`fps=${fps}`);
  if (maxSide !== undefined) {
    filters.push(`scale='if(gt(iw,ih),min(${maxSide},iw),-2)':'if(gt(iw,ih),-2,min(${maxSide},ih))'`);
  }
  const args = ['-hide_banner', '-nostdin', '-i', path, '-an', '-sn'];
  if (filters.length > 0) args.push('-vf', filters.join(','));
  args.push('-f', 'image2pipe', '-vcodec', 'ppm', '-');
  const child = cp.spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    // Keep the head (stream info) and the tail (the error), not a 10-minute log.
    stderr =
      stderr.length < 20_000 ? stderr + chunk : stderr.slice(0, 10_000) + stderr.slice(-10_000) + chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const spawnError = new Promise<never>((_, reject) =>
    child.on('error', (e) =>
      reject(new FfmpegError(`${where}: could not run ffmpeg (${bin}): ${e.message}`)),
    ),
  );
  let resolveInfo!: (info: VideoInfo) => void;
  let rejectInfo!: (e: Error) => void;
  const info = new Promise<VideoInfo>((res, rej) => {
    resolveInfo = res;
    rejectInfo = rej;
  });
  info.catch(() => undefined);

  async function* frames(): AsyncGenerator<VideoFrame> {
    let index = 0;
    let rate = fps ?? 0;
    const reader = new PpmReader();
    try {
      const chunks = child.stdout as AsyncIterable<Buffer>;
      for await (const chunk of race(chunks, spawnError)) {
        reader.push(chunk);
        for (let image = reader.next(); image !== null; image = reader.next()) {
          if (index === 0) {
            if (rate === 0) rate = parseFps(stderr) ?? 25;
            resolveInfo({ fps: rate, duration: parseDuration(stderr) });
          }
          yield { index, time: index / rate, image };
          index++;
        }
      }
      const code = await exited;
      if (code !== 0 || index === 0) {
        const reason = lastLines(stderr);
        const error = new FfmpegError(
          `${where}: ffmpeg could not decode "${path}"${index === 0 ? ' (no frames)' : ''}: ${reason || `exit code ${code}`}`,
        );
        rejectInfo(error);
        throw error;
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }
  return { frames: frames(), info };
}

/** Yields `source`'s items, failing as soon as `failure` rejects. */
async function* race<T>(source: AsyncIterable<T>, failure: Promise<never>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  while (true) {
    const r = await Promise.race([it.next(), failure]);
    if (r.done) return;
    yield r.value;
  }
}

function lastLines(text: string): string {
  return text
    .trim()
    .split('\n')
    .slice(-3)
    .map((l) => l.trim())
    .join(' / ');
}

/** The input video stream's frame rate from ffmpeg's stream line (`..., 29.97 fps, ...`). @internal */
export function parseFps(stderr: string): number | null {
  const line = stderr.split('\n').find((l) => /Stream #\d+:\d+.*Video:/.test(l));
  const m = line ? (/([\d.]+) fps/.exec(line) ?? /([\d.]+) tbr/.exec(line)) : null;
  const v = m ? Number(m[1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : null;
}

/** The duration from ffmpeg's `Duration: 00:01:02.50` line, in seconds. @internal */
export function parseDuration(stderr: string): number | null {
  const m = /Duration: (\d+):(\d+):([\d.]+)/.exec(stderr);
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : null;
}

/**
 * Splits a byte stream of binary PPM pictures (`P6`, maxval 255), as ffmpeg's `image2pipe` writes
 * them, into {@link RgbImage}s. @internal
 */
export class PpmReader {
  private buffer: Buffer = Buffer.alloc(0);

  /** Appends bytes. */
  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
  }

  /** The next complete picture, or `null` until more bytes arrive. */
  next(): RgbImage | null {
    const b = this.buffer;
    // Header: "P6" whitespace width whitespace height whitespace maxval one-whitespace.
    const fields: number[] = [];
    let at = 2;
    if (b.length < 2) return null;
    if (b[0] !== 0x50 || b[1] !== 0x36)
      throw new FfmpegError('PpmReader: the stream is not binary PPM (P6).');
    while (fields.length < 3) {
      while (at < b.length && isSpace(b[at]!)) at++;
      if (at < b.length && b[at] === 0x23) {
        while (at < b.length && b[at] !== 0x0a) at++;
        continue;
      }
      let v = 0;
      let digits = 0;
      while (at < b.length && b[at]! >= 0x30 && b[at]! <= 0x39) {
        v = v * 10 + b[at]! - 0x30;
        at++;
        digits++;
      }
      if (at >= b.length) return null;
      if (digits === 0) throw new FfmpegError('PpmReader: a malformed PPM header.');
      fields.push(v);
    }
    const [width, height, maxval] = fields as [number, number, number];
    if (maxval !== 255) throw new FfmpegError(`PpmReader: expected 8-bit PPM (maxval 255), got ${maxval}.`);
    const start = at + 1;
    const end = start + width * height * 3;
    if (b.length < end) return null;
    const data = new Uint8Array(b.subarray(start, end));
    this.buffer = b.subarray(end);
    return { width, height, data };
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Options of {@link encodeVideo}. @category Video */
export interface EncodeVideoOptions {
  /** Frames per second. */
  fps: number;
  /** Frame width in pixels (every frame must have it). */
  width: number;
  /** Frame height in pixels. */
  height: number;
}

/** A video being written ({@link encodeVideo}). @category Video */
export interface VideoWriter {
  /** Adds a frame (waits while ffmpeg catches up, so memory stays flat). */
  write(image: RgbImage): Promise<void>;
  /** Finishes the file and moves it into place. */
  close(): Promise<void>;
  /** Stops without a file (the partial output is removed). */
  abort(): Promise<void>;
}

/**
 * Writes RGB frames into a video file through ffmpeg (H.264 in yuv420p for `.mp4`, the format's
 * default codec otherwise). The file is written beside its target and renamed when closed, so a
 * failure never leaves half a video under the target's name.
 * @param path The video to write (its extension picks the container).
 * @param options Frame rate and size.
 * @example
 * ```ts
 * const out = await encodeVideo('annotated.mp4', { fps: 25, width: 640, height: 480 });
 * for (const frame of frames) await out.write(frame);
 * await out.close();
 * ```
 * @throws FfmpegError when ffmpeg is missing or fails (its message quoted).
 * @category Video
 */
export async function encodeVideo(path: string, options: EncodeVideoOptions): Promise<VideoWriter> {
  const where = 'encodeVideo';
  const { fps, width, height } = options;
  if (!(typeof fps === 'number' && Number.isFinite(fps) && fps > 0)) {
    throw new RangeError(expected(where, 'fps', 'a positive number', fps));
  }
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!(Number.isInteger(v) && v > 0)) throw new RangeError(expected(where, name, 'a positive integer', v));
  }
  const bin = await findFfmpeg();
  const cp = await importAtRuntime<ChildProcessModule>('node:child_process');
  const fs = await importAtRuntime<typeof import('node:fs/promises')>('node:fs/promises');
  const nodePath = await importAtRuntime<typeof import('node:path')>('node:path');
  const ext = nodePath.extname(path);
  const temp = nodePath.join(
    nodePath.dirname(path),
    `.${nodePath.basename(path, ext)}.${process.pid}.${Date.now()}.tmp${ext}`,
  );
  // H.264 and yuv420p need even sizes: pad by one pixel where odd.
  const pad = width % 2 === 1 || height % 2 === 1 ? ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2'] : [];
  const codec = /\.(mp4|m4v|mov|mkv)$/i.test(path) ? ['-pix_fmt', 'yuv420p'] : [];
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${width}x${height}`,
    '-r',
    String(fps),
    '-i',
    '-',
    ...pad,
    ...codec,
    temp,
  ];
  const child = cp.spawn(bin, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    stderr = (stderr + c).slice(-4000);
  });
  let failed: Error | null = null;
  child.on('error', (e) => {
    failed = new FfmpegError(`${where}: could not run ffmpeg (${bin}): ${e.message}`);
  });
  child.stdin.on('error', (e) => {
    failed ??= new FfmpegError(
      `${where}: ffmpeg stopped reading frames for "${path}": ${lastLines(stderr) || e.message}`,
    );
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let frames = 0;
  return {
    async write(image) {
      if (failed) throw failed;
      if (image.width !== width || image.height !== height) {
        throw new RangeError(
          expected(
            where,
            `frame ${frames}`,
            `${width}x${height} like the video`,
            `${image.width}x${image.height}`,
          ),
        );
      }
      frames++;
      if (!child.stdin.write(image.data)) {
        await new Promise<void>((resolve) => {
          // one pair of listeners per wait, both removed when either fires (a long video waits
          // thousands of times)
          const done = () => {
            child.stdin.off('drain', done);
            child.off('close', done);
            resolve();
          };
          child.stdin.once('drain', done);
          child.once('close', done);
        });
      }
      if (failed) throw failed;
    },
    async close() {
      child.stdin.end();
      const code = await exited;
      if (failed || code !== 0) {
        await fs.rm(temp, { force: true });
        throw (
          failed ??
          new FfmpegError(
            `${where}: ffmpeg could not write "${path}": ${lastLines(stderr) || `exit code ${code}`}`,
          )
        );
      }
      await fs.rename(temp, path);
    },
    async abort() {
      child.kill('SIGKILL');
      await exited;
      await fs.rm(temp, { force: true });
    },
  };
}
