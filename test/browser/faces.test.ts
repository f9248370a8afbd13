/**
 * The demo page's face mode in a real headless Chromium: a photo with several faces is uploaded,
 * and the same photo is played as Chromium's fake camera (`--use-fake-device-for-media-stream
 * --use-file-for-fake-video-capture=<y4m>`); the page must find the faces where the library finds
 * them in Node, draw a box and a label over each, list their probabilities, and (live) report fps.
 * Needs Chromium (skipped without it, see demo.test.ts), the detector's weights from the dev
 * dependency `@vladmandic/human`, and CK+ faces from ../shared/data (skipped when absent).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import type { BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveDemoModel } from '../../scripts/make-demo-model';
import { classifyFaceCrops, findFaceCrops } from '../../src/faces/recognize';
import '../../src/io/index';
import { ckSamples } from '../faces/calibration';
import { HAS_DETECTOR, iou, sharedDetector } from '../faces/helpers';
import { HAVE_CHROMIUM, launchChromium } from './chromium';

const REPO = resolve(import.meta.dirname, '../..');
const PRETRAINED = join(REPO, 'models/fer2013/model.json');
const ck = HAS_DETECTOR ? await ckSamples(8) : [];
const READY = HAVE_CHROMIUM && HAS_DETECTOR && ck.length > 0;
const WIDTH = 640;
const HEIGHT = 400;
const PLACED = [
  { i: 0, x: 30, y: 60, side: 150 },
  { i: 3, x: 250, y: 120, side: 130 },
  { i: 6, x: 440, y: 50, side: 170 },
];

/** Three CK+ faces pasted into a 640x400 picture (RGB). */
async function groupPhoto(): Promise<{ png: Buffer; rgb: Buffer }> {
  const layers = await Promise.all(
    PLACED.map(async (p) => ({
      input: await sharp(Buffer.from(ck[p.i]!.pixels), { raw: { width: 48, height: 48, channels: 1 } })
        .resize(p.side, p.side, { kernel: 'cubic' })
        .toColourspace('srgb')
        .png()
        .toBuffer(),
      left: p.x,
      top: p.y,
    })),
  );
  const png = await sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: '#6f7780' } })
    .composite(layers)
    .png()
    .toBuffer();
  const rgb = await sharp(png).removeAlpha().raw().toBuffer();
  return { png, rgb };
}

/** A 2-second YUV4MPEG2 (I420) clip of one still RGB picture, for Chromium's fake camera. */
function y4m(rgb: Buffer, width: number, height: number, frames = 20): Buffer {
  const y = Buffer.alloc(width * height);
  const u = Buffer.alloc((width / 2) * (height / 2));
  const v = Buffer.alloc((width / 2) * (height / 2));
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const k = 3 * (r * width + c);
      const [R, G, B] = [rgb[k]!, rgb[k + 1]!, rgb[k + 2]!];
      y[r * width + c] = Math.round(0.299 * R + 0.587 * G + 0.114 * B);
      if (r % 2 === 0 && c % 2 === 0) {
        const j = (r / 2) * (width / 2) + c / 2;
        u[j] = Math.max(0, Math.min(255, Math.round(128 - 0.168736 * R - 0.331264 * G + 0.5 * B)));
        v[j] = Math.max(0, Math.min(255, Math.round(128 + 0.5 * R - 0.418688 * G - 0.081312 * B)));
      }
    }
  }
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, u, v]);
  return Buffer.concat([
    Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`),
    ...Array.from({ length: frames }, () => frame),
  ]);
}

interface FacesJson {
  source: string;
  width: number;
  height: number;
  faces: {
    box: { x: number; y: number; width: number; height: number };
    label: string;
    probabilities: number[];
  }[];
  fps: number | null;
}

/** How many pixels of the scene canvas have the box colour #00e676 inside each face's box region. */
async function boxPixels(page: Page, boxes: FacesJson['faces']): Promise<number[]> {
  return page.$eval(
    '#scene',
    (c, bs) => {
      const canvas = c as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      return bs.map(({ box }) => {
        let n = 0;
        // the label sits above the box (or below it at the top edge): include a band around it
        for (
          let y = Math.max(0, Math.floor(box.y - 40));
          y < Math.min(canvas.height, box.y + box.height + 40);
          y++
        ) {
          for (
            let x = Math.max(0, Math.floor(box.x - 4));
            x < Math.min(canvas.width, box.x + box.width + 4);
            x++
          ) {
            const k = 4 * (y * canvas.width + x);
            if (
              Math.abs(data[k]! - 0) < 40 &&
              Math.abs(data[k + 1]! - 230) < 40 &&
              Math.abs(data[k + 2]! - 118) < 40
            )
              n++;
          }
        }
        return n;
      });
    },
    boxes,
  );
}

describe.skipIf(!READY)('demo page face mode in headless Chromium', () => {
  let tmp: string;
  let server: Awaited<ReturnType<typeof import('./static_server').serveStatic>>;
  let context: BrowserContext | undefined;
  let photo: { png: Buffer; rgb: Buffer };
  let expected: {
    box: { x: number; y: number; width: number; height: number };
    label: string;
    probabilities: number[];
  }[];
  const query = existsSync(PRETRAINED) ? '?backend=wasm' : '?backend=wasm&model=model/model.json';

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'fer-cbam-faces-'));
    await saveDemoModel(join(tmp, 'public', 'model'));
    const { build } = await import('vite');
    await build({
      configFile: join(REPO, 'examples/browser/vite.config.ts'),
      publicDir: join(tmp, 'public'),
      build: { outDir: join(tmp, 'dist'), emptyOutDir: true },
      logLevel: 'warn',
    });
    photo = await groupPhoto();
    const model = await tfl.loadLayersModel(
      `file://${existsSync(PRETRAINED) ? PRETRAINED : join(tmp, 'public/model/model.json')}`,
    );
    const { faces } = await findFaceCrops(photo.png, { detector: await sharedDetector(), detect: 'on' });
    const { labels, probabilities } = await classifyFaceCrops(
      model,
      faces.map((f) => f.crop),
    );
    expected = faces.map((f, i) => ({ box: f.box, label: labels[i]!, probabilities: probabilities[i]! }));
    model.dispose();
    const { serveStatic } = await import('./static_server');
    server = await serveStatic(join(tmp, 'dist'));
  }, 300_000); // a Vite build on a busy 2-core machine

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('Node finds the three pasted faces (the reference for the page)', () => {
    expect(expected.length).toBe(3);
    for (const p of PLACED) {
      expect(
        Math.max(...expected.map((e) => iou(e.box, { x: p.x, y: p.y, width: p.side, height: p.side }))),
      ).toBeGreaterThan(0.4);
    }
  });

  it('an uploaded photo: every face boxed, labelled and listed, as in Node', async () => {
    context = await launchChromium(join(tmp, 'profile-photo'), { width: 1100, height: 900 });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}${query}`);
    await page.waitForSelector('#result[data-state="ready"], #result[data-state="error"]', {
      state: 'attached',
      timeout: 120_000,
    });
    expect(await page.getAttribute('#result', 'data-error')).toBeNull();
    await page.waitForSelector('#result[data-detector]', { state: 'attached', timeout: 120_000 });
    expect(await page.getAttribute('#result', 'data-detector')).toBe('on');
    if (existsSync(PRETRAINED)) expect(await page.$('#model-note')).toBeNull();
    await page.setInputFiles('#file', { name: 'group.png', mimeType: 'image/png', buffer: photo.png });
    await page.waitForSelector('#result[data-count="1"], #result[data-state="error"]', {
      state: 'attached',
      timeout: 120_000,
    });
    expect(await page.getAttribute('#result', 'data-error')).toBeNull();
    const json = JSON.parse((await page.textContent('#faces-json'))!) as FacesJson;
    await mkdir(join(REPO, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(REPO, 'test-results', 'browser-faces.png'), fullPage: true });
    expect(json.source).toBe('photo');
    expect(json.faces.length).toBe(expected.length);
    for (const e of expected) {
      const match = json.faces.find((f) => iou(f.box, e.box) > 0.9);
      expect(match, `a face near ${JSON.stringify(e.box)}`).toBeDefined();
      expect(match!.label).toBe(e.label);
      for (const [c, p] of e.probabilities.entries())
        expect(Math.abs(match!.probabilities[c]! - p)).toBeLessThan(0.02);
    }
    const listed = await page.$$eval('#face-list li', (lis) =>
      lis.map((li) => (li as HTMLElement).dataset.label),
    );
    expect(listed).toEqual(json.faces.map((f) => f.label));
    for (const n of await boxPixels(page, json.faces)) expect(n).toBeGreaterThan(200);
    // the first face went through the full view: its probabilities and attention maps
    const result = JSON.parse((await page.textContent('#result-json'))!) as {
      top: string;
      heatmaps: unknown[];
    };
    expect(result.top).toBe(json.faces[0]!.label);
    expect(result.heatmaps.length).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await context.close();
    context = undefined;
  }, 300_000);

  it('the fake camera (a y4m of the photo): live boxes, labels and fps', async () => {
    const video = join(tmp, 'group.y4m');
    await writeFile(video, y4m(photo.rgb, WIDTH, HEIGHT));
    context = await launchChromium(join(tmp, 'profile-camera'), { width: 1100, height: 900 }, [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-video-capture=${video}`,
    ]);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}${query}`);
    await page.waitForSelector('#result[data-state="ready"], #result[data-state="error"]', {
      state: 'attached',
      timeout: 120_000,
    });
    await page.waitForSelector('#result[data-detector="on"]', { state: 'attached', timeout: 120_000 });
    await page.click('#camera');
    await page.waitForSelector('#live:not([disabled])');
    await page.check('#live');
    await page.waitForFunction(
      () => Number(document.getElementById('result')!.dataset.frames ?? 0) >= 4,
      null,
      {
        timeout: 90_000,
      },
    );
    await page.uncheck('#live');
    const json = JSON.parse((await page.textContent('#faces-json'))!) as FacesJson;
    await page.screenshot({ path: join(REPO, 'test-results', 'browser-faces-camera.png'), fullPage: true });
    expect(json.source).toBe('camera');
    expect([json.width, json.height]).toEqual([WIDTH, HEIGHT]);
    expect(json.faces.length).toBe(expected.length);
    for (const e of expected) {
      // the camera path is lossy (I420 chroma, video scaling): same faces, boxes close
      expect(json.faces.some((f) => iou(f.box, e.box) > 0.75)).toBe(true);
    }
    expect(json.fps).toBeGreaterThan(0);
    expect(await page.textContent('#fps')).toMatch(/\d+\.\d fps/);
    for (const n of await boxPixels(page, json.faces)) expect(n).toBeGreaterThan(100);
    expect(await page.$$eval('#face-list li', (lis) => lis.length)).toBe(expected.length);
    expect(errors).toEqual([]);
  }, 300_000);
});
