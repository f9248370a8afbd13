/**
 * Real-photo pictures and camera clips for the browser tests: three portraits from the photo that
 * `@vladmandic/human` ships (assets/screenshot-facedetect.jpg, MIT; read in place, never copied) on a
 * 640x400 picture, and YUV4MPEG2 clips of it for Chromium's fake camera
 * (`--use-file-for-fake-video-capture`): one with gentle camera motion (a pan and a slow zoom), one
 * still with sensor noise. Made with sharp in the test (no ffmpeg needed); Chromium loops a clip, so
 * the motion is periodic and the loop has no jump.
 */
import sharp from 'sharp';
import { mulberry32 } from '../../src/random';
import { FACEDETECT_JPG, HAS_PHOTOS } from '../faces/helpers';

export { HAS_PHOTOS };

/** The picture's size (a common webcam aspect, even sides for 4:2:0). */
export const WIDTH = 640;
export const HEIGHT = 400;
/** Frame rate of the clips: above the page's rate, so that the camera never limits it. */
export const CLIP_FPS = 30;

/**
 * Three of the five portraits in the photo's bottom row (150x155 tiles at y 345): a man, a blonde
 * woman, a woman in black and white. Each is pasted at `x, y` scaled to `side` wide.
 */
export const PORTRAITS = [
  { left: 8, x: 40, y: 110 },
  { left: 320, x: 235, y: 110 },
  { left: 632, x: 430, y: 110 },
].map((p) => ({ ...p, top: 345, width: 150, height: 155, side: 170 }));

/** Where each portrait lies in the still picture (its pasted tile). */
export function portraitRects(): { x: number; y: number; width: number; height: number }[] {
  return PORTRAITS.map((p) => ({
    x: p.x,
    y: p.y,
    width: p.side,
    height: Math.round((p.side * p.height) / p.width),
  }));
}

/** The three portraits on a gray `width x height` picture (RGB, no alpha), with `margin` pixels around. */
async function composite(margin: number): Promise<{ rgb: Buffer; width: number; height: number }> {
  const tiles = await Promise.all(
    PORTRAITS.map(async (p) => ({
      input: await sharp(FACEDETECT_JPG)
        .extract({ left: p.left, top: p.top, width: p.width, height: p.height })
        .resize(p.side, Math.round((p.side * p.height) / p.width), { kernel: 'cubic' })
        .toBuffer(),
      left: p.x + margin,
      top: p.y + margin,
    })),
  );
  const width = WIDTH + 2 * margin;
  const height = HEIGHT + 2 * margin;
  const rgb = await sharp({ create: { width, height, channels: 3, background: '#6f7780' } })
    .composite(tiles)
    .removeAlpha()
    .raw()
    .toBuffer();
  return { rgb, width, height };
}

/** The still picture: PNG (for an upload) and raw RGB. */
export async function groupPicture(): Promise<{ png: Buffer; rgb: Buffer }> {
  const { rgb } = await composite(0);
  const png = await sharp(rgb, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
    .png()
    .toBuffer();
  return { png, rgb };
}

/** Camera motion of frame `i` of `n`: offset of the view in picture pixels, and zoom (>1: closer). */
export function cameraMotion(i: number, n: number): { dx: number; dy: number; zoom: number } {
  const phase = (2 * Math.PI * i) / n;
  return { dx: 24 * Math.sin(phase), dy: 10 * Math.sin(2 * phase), zoom: 1.04 + 0.04 * Math.cos(phase) };
}

/**
 * A clip of `seconds` with gentle camera motion ({@link cameraMotion}: a pan of ±24 px, a bob of
 * ±10 px and a zoom of 1.00-1.08, one period per clip), as a y4m.
 */
export async function motionClip(seconds: number): Promise<Buffer> {
  const margin = 60;
  const big = await composite(margin);
  const n = Math.round(seconds * CLIP_FPS);
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const { dx, dy, zoom } = cameraMotion(i, n);
    const w = Math.round(WIDTH / zoom);
    const h = Math.round(HEIGHT / zoom);
    const left = Math.round(margin + WIDTH / 2 + dx - w / 2);
    const top = Math.round(margin + HEIGHT / 2 + dy - h / 2);
    frames.push(
      await sharp(big.rgb, { raw: { width: big.width, height: big.height, channels: 3 } })
        .extract({ left, top, width: w, height: h })
        .resize(WIDTH, HEIGHT, { kernel: 'cubic' })
        .raw()
        .toBuffer(),
    );
  }
  return y4m(frames, WIDTH, HEIGHT);
}

/**
 * A still clip of `seconds` with sensor noise: each frame is the picture plus seeded Gaussian noise
 * (standard deviation `sigma` levels per channel), so every frame differs a little, as a real
 * camera's do, while the faces do not move.
 */
export async function stillClip(seconds: number, sigma: number): Promise<Buffer> {
  const { rgb } = await composite(0);
  const rand = mulberry32(29);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const n = Math.round(seconds * CLIP_FPS);
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const frame = Buffer.alloc(rgb.length);
    for (let k = 0; k < rgb.length; k++)
      frame[k] = Math.max(0, Math.min(255, Math.round(rgb[k]! + sigma * gauss())));
    frames.push(frame);
  }
  return y4m(frames, WIDTH, HEIGHT);
}

/**
 * YUV4MPEG2 (I420, BT.601 full range, chroma from the top-left pixel of each 2x2 block) of RGB
 * frames, the format Chromium's fake camera reads. Fixed-point arithmetic: this runs on every pixel
 * of every frame, on a machine whose cores a training run may hold.
 */
export function y4m(frames: Buffer[], width: number, height: number): Buffer {
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${CLIP_FPS}:1 Ip A1:1 C420jpeg\n`);
  const lumaSize = width * height;
  const frameSize = 6 + lumaSize + lumaSize / 2;
  const out = Buffer.alloc(header.length + frames.length * frameSize);
  header.copy(out, 0);
  const clamp = (x: number) => Math.max(0, Math.min(255, x));
  for (const [f, rgb] of frames.entries()) {
    const base = header.length + f * frameSize;
    out.write('FRAME\n', base, 'latin1');
    const y0 = base + 6;
    const u0 = y0 + lumaSize;
    const v0 = u0 + lumaSize / 4;
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width; c++) {
        const k = 3 * (r * width + c);
        const R = rgb[k]!;
        const G = rgb[k + 1]!;
        const B = rgb[k + 2]!;
        // 0.299, 0.587, 0.114 in 1/65536 steps
        out[y0 + r * width + c] = (19595 * R + 38470 * G + 7471 * B + 32768) >> 16;
        if ((r & 1) === 0 && (c & 1) === 0) {
          const j = (r >> 1) * (width >> 1) + (c >> 1);
          out[u0 + j] = clamp((-11059 * R - 21709 * G + 32768 * B) / 65536 + 128.5) | 0;
          out[v0 + j] = clamp((32768 * R - 27439 * G - 5329 * B) / 65536 + 128.5) | 0;
        }
      }
    }
  }
  return out;
}
