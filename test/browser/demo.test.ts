/**
 * The browser demo (examples/browser) in a real headless Chromium: builds the page with Vite, serves
 * it on 127.0.0.1, uploads a lossless 48x48 grayscale PNG, and checks that the probabilities and the
 * attention heatmaps the page shows equal the library's Node (cpu backend) result for the same pixels.
 * Needs Debian's `chromium` (/usr/bin/chromium, or $CHROMIUM_PATH); skipped without it.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { centreCrop } from '../../examples/browser/preprocess';
import { DEMO_PREPROCESSING, saveDemoModel } from '../../scripts/make-demo-model';
import { FER2013_CLASSES } from '../../src/data/dataset';
import { mulberry32 } from '../../src/random';
import '../../src/io/index';
import { captureAttentionMaps } from '../../src/layers/index';
import {
  facesToInput,
  getPreprocessing,
  type Preprocessing,
  predictProbabilities,
} from '../../src/models/index';
import { overlayHeatmap } from '../../src/visualize/colormap';
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from './chromium';

if (!HAVE_CHROMIUM) {
  console.warn(
    `test/browser: SKIPPED, no Chromium at ${CHROMIUM} (install it with \`apt-get install -y chromium\`, or set CHROMIUM_PATH).`,
  );
}
const REPO = resolve(import.meta.dirname, '../..');
const SCREENSHOT_DIR = join(REPO, 'test-results');
const FACE_SIZE = 48;

/** A 48x48 grayscale face: lit oval, dark eyes and brows, a smile, seeded noise. */
function drawTestFace(): Uint8Array {
  const rand = mulberry32(2024);
  const gray = new Uint8Array(FACE_SIZE * FACE_SIZE);
  const inEllipse = (x: number, y: number, cx: number, cy: number, rx: number, ry: number) =>
    ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  for (let y = 0; y < FACE_SIZE; y++) {
    for (let x = 0; x < FACE_SIZE; x++) {
      let v = 40 + x; // background gradient
      if (inEllipse(x, y, 24, 25, 16, 20)) v = 175 - 0.6 * Math.abs(x - 24);
      if (inEllipse(x, y, 17, 20, 3.5, 2.2) || inEllipse(x, y, 31, 20, 3.5, 2.2)) v = 30; // eyes
      if ((y === 14 || y === 15) && ((x >= 13 && x <= 21) || (x >= 27 && x <= 35))) v = 60; // brows
      const mouth = 36 - 0.05 * (x - 24) ** 2; // a smile: the corners are higher than the middle
      if (x >= 16 && x <= 32 && Math.abs(y - mouth) <= 1.2) v = 50;
      gray[y * FACE_SIZE + x] = Math.max(0, Math.min(255, Math.round(v + 12 * (rand() - 0.5))));
    }
  }
  return gray;
}

interface NodeResult {
  probabilities: number[];
  heatmaps: { path: string; rgb: Uint8Array }[];
}

/** The library's result in Node (cpu backend) for the same pixels and the same preprocessing. */
async function nodeResult(
  modelJson: string,
  face: Uint8Array,
  preprocessing?: Preprocessing,
): Promise<NodeResult> {
  const model = await tfl.loadLayersModel(`file://${modelJson}`);
  const pre = preprocessing ?? getPreprocessing(model)!;
  const crop = centreCrop(face, pre.imageSize, pre.imageSize, pre.cropSize);
  const x = facesToInput([face], pre);
  try {
    const probs = predictProbabilities(model, x);
    const probabilities = Array.from(probs.dataSync());
    probs.dispose();
    const entries = captureAttentionMaps(model, x);
    const heatmaps = entries
      .filter((e) => e.maps.spatial)
      .map(({ path, maps }) => {
        const [, h, w] = maps.spatial!.shape as number[];
        const rgb = overlayHeatmap(crop, pre.cropSize, pre.cropSize, maps.spatial!.dataSync(), h!, w!).data;
        return { path, rgb };
      });
    tf.dispose(entries.map((e) => e.maps));
    return { probabilities, heatmaps };
  } finally {
    x.dispose();
    model.dispose();
  }
}

interface PageResult {
  backend: string;
  preprocessingSource: string;
  preprocessing: Preprocessing;
  probabilities: number[];
  face: string;
  heatmaps: { path: string; height: number; width: number }[];
}

/** Opens `query`, uploads the PNG, waits for the prediction and reads everything the page shows. */
async function runPage(page: Page, baseUrl: string, query: string, png: Buffer) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    // A model without training.json is fine: the page falls back to the defaults.
    if (m.type() === 'error' && !m.location().url.endsWith('/training.json')) errors.push(m.text());
  });
  await page.goto(`${baseUrl}${query}`);
  await page.waitForSelector('#result[data-state="ready"], #result[data-state="error"]', {
    state: 'attached',
    timeout: 120_000, // a busy 2-core machine
  });
  const loadError = await page.getAttribute('#result', 'data-error');
  expect(loadError, 'the page failed to start').toBeNull();
  await page.setInputFiles('#file', { name: 'face.png', mimeType: 'image/png', buffer: png });
  await page.waitForSelector('#result[data-count="1"], #result[data-state="error"]', {
    state: 'attached',
    timeout: 120_000,
  });
  expect(await page.getAttribute('#result', 'data-error'), 'the prediction failed').toBeNull();
  const json = JSON.parse((await page.textContent('#result-json')) ?? 'null') as PageResult;
  const rows = await page.$$eval('#probabilities li', (lis) =>
    lis.map((li) => ({
      name: (li as HTMLElement).dataset.class!,
      probability: Number((li as HTMLElement).dataset.probability),
      shown: li.querySelector('.pct')!.textContent!,
    })),
  );
  const canvases = await page.$$eval('canvas.heatmap', (cs) =>
    cs.map((c) => {
      const canvas = c as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      return { path: canvas.dataset.path!, width: canvas.width, data: Array.from(data) };
    }),
  );
  return { json, rows, canvases, errors };
}

function expectHeatmapsMatch(
  canvases: { path: string; width: number; data: number[] }[],
  expected: NodeResult['heatmaps'],
): void {
  expect(canvases.map((c) => c.path)).toEqual(expected.map((h) => h.path));
  for (const [i, canvas] of canvases.entries()) {
    const rgb = expected[i]!.rgb;
    const colours = new Set<number>();
    let maxDiff = 0;
    for (let p = 0; p < rgb.length / 3; p++) {
      const [r, g, b, a] = canvas.data.slice(4 * p, 4 * p + 4) as [number, number, number, number];
      expect(a).toBe(255);
      colours.add((r << 16) | (g << 8) | b);
      for (let c = 0; c < 3; c++)
        maxDiff = Math.max(maxDiff, Math.abs(canvas.data[4 * p + c]! - rgb[3 * p + c]!));
    }
    // Not empty and not a plain gray face: the jet colours of the map are there.
    expect(colours.size, `${canvas.path}: distinct colours`).toBeGreaterThan(50);
    // Same map up to rounding of the colours (the backends differ in the last float bits).
    expect(maxDiff, `${canvas.path}: max channel difference from Node`).toBeLessThanOrEqual(2);
  }
}

/** Asserts the page's probabilities (JSON, data attributes and the text shown) equal Node's. */
function expectProbabilitiesMatch(
  json: PageResult,
  rows: { name: string; probability: number; shown: string }[],
  expected: number[],
): void {
  expect(json.probabilities).toHaveLength(expected.length);
  expect(rows).toHaveLength(expected.length);
  for (const [i, p] of expected.entries()) {
    expect(Math.abs(json.probabilities[i]! - p), `class ${i}`).toBeLessThan(1e-4);
    expect(Math.abs(rows[i]!.probability - p), `class ${i} (data-probability)`).toBeLessThan(1e-4);
    expect(rows[i]!.shown).toBe(`${(100 * p).toFixed(1)} %`);
  }
}

describe.skipIf(!HAVE_CHROMIUM)('browser demo in headless Chromium', () => {
  let tmp: string;
  let server: Awaited<ReturnType<typeof import('./static_server').serveStatic>>;
  let context: BrowserContext;
  let modelJson: string;
  let png: Buffer;
  const face = drawTestFace();
  const dist = () => join(tmp, 'dist');
  // other/: the same weights with another preprocessing stored in model.json.
  const otherPreprocessing: Preprocessing = {
    imageSize: 48,
    cropSize: 44,
    normalization: { mean: 0.45, std: 0.25 },
    classNames: ['anger', 'disgust', 'fear', 'happiness', 'sadness', 'surprise', 'neutral'],
  };
  // plain/: no preprocessing in model.json, a training.json (as `train` writes into best/) instead.
  const plainNormalization = { mean: 0.5, std: 0.2 };

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'fer-cbam-browser-'));
    // The default model goes where the page looks for it (public/model), in a temporary public/.
    modelJson = await saveDemoModel(join(tmp, 'public', 'model'));
    const { build } = await import('vite');
    await build({
      configFile: join(REPO, 'examples/browser/vite.config.ts'),
      publicDir: join(tmp, 'public'),
      build: { outDir: dist(), emptyOutDir: true },
      logLevel: 'warn',
    });
    const topology = JSON.parse(await readFile(modelJson, 'utf8'));
    for (const [dir, meta] of [
      ['other', { ferCbam: otherPreprocessing }],
      ['plain', undefined],
      ['bare', undefined],
    ] as const) {
      await cp(join(tmp, 'public', 'model'), join(dist(), dir), { recursive: true });
      await writeFile(
        join(dist(), dir, 'model.json'),
        JSON.stringify({ ...topology, userDefinedMetadata: meta }),
      );
    }
    await writeFile(
      join(dist(), 'plain', 'training.json'),
      JSON.stringify({ normalization: plainNormalization, cropSize: 44, classNames: [...FER2013_CLASSES] }),
    );
    png = await sharp(Buffer.from(face), { raw: { width: FACE_SIZE, height: FACE_SIZE, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const { serveStatic } = await import('./static_server');
    server = await serveStatic(dist());
    context = await launchChromium(join(tmp, 'profile'), { width: 1100, height: 820 });
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('the test image is a lossless 8-bit grayscale PNG of the face', async () => {
    expect((await sharp(png).metadata()).channels).toBe(1);
    const data = await sharp(png).extractChannel(0).raw().toBuffer();
    expect(new Uint8Array(data)).toEqual(face);
  });

  it('shows the probabilities and heatmaps the library computes in Node (demo model, WebGL)', async () => {
    const page = await context.newPage();
    // WebGL by name: left to itself the page picks wasm here (WebGL is SwiftShader in headless
    // Chromium; see live.test.ts), and WebGL would go untested.
    const { json, rows, canvases, errors } = await runPage(
      page,
      server.url,
      '?backend=webgl&model=model/model.json',
      png,
    );
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'browser-demo.png'), fullPage: true });
    await page.close();

    expect(errors).toEqual([]);
    expect(json.backend).toBe('webgl');
    // The browser decoded the PNG to exactly the pixels Node has.
    expect(Buffer.from(json.face, 'base64')).toEqual(Buffer.from(face));
    expect(json.preprocessingSource).toBe('model.json');
    expect(json.preprocessing).toEqual(DEMO_PREPROCESSING);

    const expected = await nodeResult(modelJson, face);
    expectProbabilitiesMatch(json, rows, expected.probabilities);
    expect(rows.map((r) => r.name)).toEqual([...FER2013_CLASSES]);
    // The untrained demo model must still give a non-trivial distribution for this to mean anything.
    expect(Math.max(...expected.probabilities) - Math.min(...expected.probabilities)).toBeGreaterThan(0.02);

    // CBAM after the stem (44x44 map) and after the last stage (6x6 map), as in the paper.
    expect(json.heatmaps.map((h) => [h.path, h.height, h.width])).toEqual([
      ['stem_attention', 44, 44],
      ['stage4_attention', 6, 6],
    ]);
    expectHeatmapsMatch(canvases, expected.heatmaps);
  });

  it('uses the preprocessing stored in a ?model= (wasm backend)', async () => {
    const page = await context.newPage();
    const { json, rows, canvases, errors } = await runPage(
      page,
      server.url,
      '?backend=wasm&model=other/model.json',
      png,
    );
    await page.close();
    expect(errors).toEqual([]);
    expect(json.backend).toBe('wasm');
    expect(json.preprocessing).toEqual(otherPreprocessing);
    const expected = await nodeResult(modelJson, face, otherPreprocessing);
    const unchanged = await nodeResult(modelJson, face);
    expect(expected.probabilities).not.toEqual(unchanged.probabilities);
    expectProbabilitiesMatch(json, rows, expected.probabilities);
    expect(rows.map((r) => r.name)).toEqual(otherPreprocessing.classNames);
    expectHeatmapsMatch(canvases, expected.heatmaps);
  });

  it('falls back to training.json for a model without stored preprocessing (cpu backend)', async () => {
    const page = await context.newPage();
    const { json, rows, errors } = await runPage(
      page,
      server.url,
      '?backend=cpu&model=plain/model.json',
      png,
    );
    await page.close();
    expect(errors).toEqual([]);
    expect(json.backend).toBe('cpu');
    expect(json.preprocessingSource).toBe('training.json');
    const pre = { ...DEMO_PREPROCESSING, normalization: plainNormalization };
    expect(json.preprocessing).toEqual(pre);
    expectProbabilitiesMatch(json, rows, (await nodeResult(modelJson, face, pre)).probabilities);
  });

  it('refuses a model with no preprocessing and no training.json unless ?mean=&std= give it', async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}?backend=cpu&model=bare/model.json`);
    await page.waitForSelector('#result[data-state="error"]', { state: 'attached' });
    expect(await page.textContent('#status')).toMatch(
      /bare\/model\.json stores no preprocessing and has no training\.json beside it: open the page with \?mean=M&std=S/,
    );
    const { json, errors } = await runPage(
      page,
      server.url,
      '?backend=cpu&model=bare/model.json&mean=0.5&std=0.2',
      png,
    );
    await page.close();
    expect(errors).toEqual([]);
    expect(json.preprocessingSource).toBe('URL');
    expect(json.preprocessing.normalization).toEqual({ mean: 0.5, std: 0.2 });
  });

  it('reports an unknown ?backend= on the page', async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}?backend=tpu`);
    await page.waitForSelector('#result[data-state="error"]', { state: 'attached' });
    expect(await page.textContent('#status')).toContain('?backend= must be one of webgpu, webgl, wasm, cpu');
    await page.close();
  });
});
