/**
 * The demo page live (the camera, the page's default mode) in a real headless Chromium, with
 * Chromium's fake camera playing clips of three real faces (test/browser/clips.ts):
 * - with gentle camera motion: the page picks its backend for the device (wasm over a software
 *   GPU, with threads since the page is served cross-origin isolated), follows the faces with
 *   FaceTracker (the numbers stay on their people, exactly as the library's tracker numbers them on
 *   the same frames), keeps the list in number order, fills the panels for the selected face on the
 *   current frame, follows a click, stops, and reports its frame rate (printed);
 * - still, with sensor noise: the shown labels do not change while the frame's own may;
 * - `?threads=2` gives wasm two threads, `?threads=timed` times them against one; served without the isolation headers, wasm runs on one
 *   thread, and the page says why.
 * Needs Chromium (skipped without it, see demo.test.ts) and `@vladmandic/human` (BlazeFace and the photo).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveDemoModel } from '../../scripts/make-demo-model';
import { FER2013_CLASSES } from '../../src/data/dataset';
import { DEFAULT_PRETRAINED } from '../../src/pretrained/catalog';
import { FaceTracker } from '../../src/video/tracker';
import { HAVE_CHROMIUM, launchChromium } from './chromium';
import { HAS_PHOTOS, HEIGHT, motionClip, portraitRects, stillClip, WIDTH } from './clips';
import { BLUE, colourPixels } from './scene_pixels';

const REPO = resolve(import.meta.dirname, '../..');
// The model the page loads by default.
const PRETRAINED = join(REPO, 'models', DEFAULT_PRETRAINED, 'model.json');
const READY = HAVE_CHROMIUM && HAS_PHOTOS;
const RESULTS = join(REPO, 'test-results');

type Box = { x: number; y: number; width: number; height: number };
interface FrameLog {
  frame: number;
  time: number;
  faces: {
    trackId: number;
    box: Box;
    label: string;
    probabilities: number[];
    frameLabel: string;
    frameProbabilities: number[];
  }[];
}
interface FacesJson {
  source: string;
  frame: number;
  width: number;
  height: number;
  selected: number | null;
  faces: (FrameLog['faces'][number] & { crop: string })[];
  fps: number | null;
  fpsMean: number | null;
  timings: Record<string, number>;
}
interface ResultJson {
  trackId?: number;
  frame?: number;
  face: string;
  top: string;
  frameTop: string;
  probabilities: number[];
  frameProbabilities: number[];
  heatmaps: unknown[];
}

/** Reads `#faces-json` and `#result-json` in one step (the page cannot change them in between). */
async function readBoth(page: Page): Promise<{ faces: FacesJson; result: ResultJson }> {
  const [faces, result] = await page.evaluate(() => [
    document.getElementById('faces-json')!.textContent,
    document.getElementById('result-json')!.textContent,
  ]);
  return { faces: JSON.parse(faces!), result: JSON.parse(result!) };
}

/** The reason says how long a frame took with `cores` threads and with one, and the faster won. */
function expectTimedThreads(reason: string, threads: number, cores: number): void {
  const timed = reason.match(
    /; (\d) threads? because one frame took (\d+) ms with (\d) threads and (\d+) ms with 1$/,
  );
  expect(timed, reason).not.toBeNull();
  const [, chosen, tMany, many, tOne] = timed!.map(Number);
  expect(many).toBe(cores);
  expect(chosen).toBe(threads);
  expect(threads).toBe(tMany! <= tOne! ? cores : 1);
}

const frames = async (page: Page) => Number((await page.getAttribute('#result', 'data-frames')) ?? 0);
const waitFrames = (page: Page, n: number, timeout = 300_000) =>
  page.waitForFunction((k) => Number(document.getElementById('result')!.dataset.frames ?? 0) >= k, n, {
    timeout,
    polling: 250,
  });

describe.skipIf(!READY)('demo page live in headless Chromium (fake camera)', () => {
  let tmp: string;
  let server: Awaited<ReturnType<typeof import('./static_server').serveStatic>>;
  let context: BrowserContext | undefined;
  const model = existsSync(PRETRAINED) ? '' : '&model=model/model.json';

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'fer-cbam-live-'));
    await saveDemoModel(join(tmp, 'public', 'model'));
    const { build } = await import('vite');
    await build({
      configFile: join(REPO, 'examples/browser/vite.config.ts'),
      publicDir: join(tmp, 'public'),
      build: { outDir: join(tmp, 'dist'), emptyOutDir: true },
      logLevel: 'warn',
    });
    await writeFile(join(tmp, 'motion.y4m'), await motionClip(4));
    await writeFile(join(tmp, 'still.y4m'), await stillClip(2, 6));
    const { serveStatic } = await import('./static_server');
    server = await serveStatic(join(tmp, 'dist'));
    await mkdir(RESULTS, { recursive: true });
  }, 900_000); // a Vite build and two clips on a busy 2-core machine

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** Opens the page with the fake camera playing `clip`, waits until it is ready and the detector loaded. */
  async function open(clip: string, query: string): Promise<{ page: Page; errors: string[] }> {
    context = await launchChromium(join(tmp, `profile-${clip}`), { width: 1100, height: 900 }, [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-video-capture=${join(tmp, clip)}`,
    ]);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${server.url}${query}`, { timeout: 300_000 }); // a busy machine
    await page.waitForSelector('#result[data-state="ready"], #result[data-state="error"]', {
      state: 'attached',
      timeout: 300_000,
    });
    expect(await page.getAttribute('#result', 'data-error')).toBeNull();
    await page.waitForSelector('#result[data-detector="on"]', { state: 'attached', timeout: 300_000 });
    return { page, errors };
  }

  it('moving faces: the backend for this device, stable numbers, panels on the current frame, Start/Stop, fps', async () => {
    const { page, errors } = await open('motion.y4m', `?${model}`);
    // Headless Chromium without a GPU: WebGL (if any) is SwiftShader, so wasm, with threads.
    expect(await page.getAttribute('#result', 'data-backend')).toBe('wasm');
    const reason = (await page.getAttribute('#result', 'data-backend-reason'))!;
    expect(reason).toMatch(/WebGL renders in software \(.*SwiftShader.*\)|WebGL is not available/);
    expect(await page.getAttribute('#result', 'data-isolated')).toBe('true');
    // Threads: one on two cores (measured faster live there), else the cores timed against one.
    const cores = await page.evaluate(() => Math.min(8, navigator.hardwareConcurrency));
    const threads = Number(await page.getAttribute('#result', 'data-threads'));
    const meta = (await page.textContent('#backend-meta'))!;
    if (cores <= 2) {
      expect(threads).toBe(1);
      expect(meta).toBe(
        `Backend: wasm (1 thread; ${cores} core${cores === 1 ? '' : 's'}: one thread leaves the other to the browser), because ${reason}.`,
      );
    } else {
      expectTimedThreads(reason, threads, cores);
      expect(meta).toBe(`Backend: wasm (${threads} thread${threads === 1 ? '' : 's'}), because ${reason}.`);
    }
    expect(await page.isDisabled('#stop')).toBe(true);

    await page.click('#camera');
    await page.waitForSelector('#result[data-live="on"]', { state: 'attached', timeout: 120_000 });
    expect(await page.isDisabled('#camera')).toBe(true);
    expect(await page.isDisabled('#stop')).toBe(false);
    await waitFrames(page, 3);
    // fps over a window past warm-up (the first frames compile and allocate)
    const f0 = await frames(page);
    const t0 = Date.now();
    // While running, the panels are refilled every frame for the selected face of that frame.
    const panelFrames: [number, number][] = [];
    while (Date.now() - t0 < 15_000 || (await frames(page)) < f0 + 20) {
      const { faces, result } = await readBoth(page);
      panelFrames.push([faces.frame, result.frame ?? -1]);
      await page.waitForTimeout(400);
    }
    const fps = ((await frames(page)) - f0) / ((Date.now() - t0) / 1000);
    const { faces: running } = await readBoth(page);
    console.log(
      `live fps (3 faces, ${WIDTH}x${HEIGHT}, wasm, ${threads} thread${threads === 1 ? '' : 's'}, default settings): ${fps.toFixed(1)} ` +
        `over the window; the page says ${running.fps?.toFixed(1)} (moving average), ${running.fpsMean?.toFixed(1)} (mean); ` +
        `ms in the last frame: ${JSON.stringify(running.timings)}`,
    );
    expect(fps).toBeGreaterThan(0);
    expect(await page.textContent('#fps')).toMatch(/\d+\.\d fps/);
    for (const [facesFrame, resultFrame] of panelFrames) {
      // the panels are filled just before the faces are published: the same frame or the next one
      expect(resultFrame - facesFrame).toBeGreaterThanOrEqual(0);
      expect(resultFrame - facesFrame).toBeLessThanOrEqual(1);
    }
    expect(new Set(panelFrames.map(([, r]) => r)).size).toBeGreaterThan(5);

    // A click in the list moves the selection (and the panels) to that face on the next frames.
    await page.click('#face-list li[data-track-id="2"]');
    await page.waitForFunction(
      () => {
        const f = JSON.parse(document.getElementById('faces-json')!.textContent!);
        const r = JSON.parse(document.getElementById('result-json')!.textContent!);
        return f.selected === 2 && r.trackId === 2 && r.frame > f.frame - 1;
      },
      null,
      { timeout: 120_000, polling: 250 },
    );
    const clickedAt = (await readBoth(page)).faces.frame;
    await waitFrames(page, clickedAt + 3);
    await page.screenshot({ path: join(RESULTS, 'browser-live.png'), fullPage: true });

    await page.click('#stop');
    await page.waitForSelector('#result[data-live="off"]', { state: 'attached', timeout: 120_000 });
    const stoppedAt = await frames(page);
    expect(
      await page.evaluate(() => (document.getElementById('video') as HTMLVideoElement).srcObject),
    ).toBeNull();
    expect(await page.isDisabled('#camera')).toBe(false);
    await page.waitForTimeout(1500);
    expect(await frames(page), 'no frame after Stop').toBe(stoppedAt);

    // After Stop the panels show the selected face of the last frame, exactly.
    const { faces: last, result } = await readBoth(page);
    expect(last.source).toBe('camera');
    expect([last.width, last.height]).toEqual([WIDTH, HEIGHT]);
    expect(last.selected).toBe(2);
    expect(result.trackId).toBe(2);
    expect(result.frame).toBe(last.frame);
    const selected = last.faces.find((f) => f.trackId === 2)!;
    expect(result.face).toBe(selected.crop);
    expect(result.probabilities).toEqual(selected.probabilities);
    expect(result.frameProbabilities).toEqual(selected.frameProbabilities);
    expect(result.top).toBe(selected.label);
    expect(result.heatmaps.length).toBeGreaterThan(0);
    // the list: one item per face, by number, face 2 highlighted, its box blue on the picture
    expect(
      await page.$$eval('#face-list li', (lis) =>
        lis.map((li) => [(li as HTMLElement).dataset.trackId, li.className]),
      ),
    ).toEqual(last.faces.map((f) => [String(f.trackId), f.trackId === 2 ? 'selected' : '']));
    expect(await colourPixels(page, selected.box, BLUE)).toBeGreaterThan(200);
    // and a face can still be selected on the stopped picture
    const count = Number(await page.getAttribute('#result', 'data-count'));
    await page.click('#face-list li[data-track-id="3"]');
    await page.waitForSelector(`#result[data-count="${count + 1}"]`, { state: 'attached', timeout: 120_000 });
    const after = await readBoth(page);
    expect(after.result.trackId).toBe(3);
    expect(after.result.face).toBe(last.faces.find((f) => f.trackId === 3)!.crop);

    // The frames: three faces followed by the same three numbers, each on its own person.
    const log = (await page.evaluate(
      () => (window as unknown as { ferCbamDemo: { frames: unknown[] } }).ferCbamDemo.frames,
    )) as FrameLog[];
    expect(log.length).toBe(stoppedAt);
    const lanes = portraitRects().map((r) => r.x + r.width / 2);
    const centres = new Map<number, number[]>();
    for (const frame of log) {
      expect(frame.faces.map((f) => f.trackId)).toEqual([1, 2, 3]);
      for (const f of frame.faces) {
        const cx = f.box.x + f.box.width / 2;
        centres.set(f.trackId, [...(centres.get(f.trackId) ?? []), cx]);
      }
    }
    // Each number stays on one portrait (the view pans by at most ±24 px and zooms by 8 %; the
    // portraits are 195 px apart), a different one per number, and its box moves with the camera.
    const portraitOf = new Map<number, number>();
    for (const [id, xs] of centres) {
      const lane = lanes
        .map((l) => Math.abs(l - xs[0]!))
        .reduce((best, d, i, ds) => (d < ds[best]! ? i : best), 0);
      portraitOf.set(id, lane);
      for (const x of xs)
        expect(Math.abs(x - lanes[lane]!), `face ${id} on portrait ${lane + 1}`).toBeLessThan(60);
      expect(Math.max(...xs) - Math.min(...xs), `face ${id} moved`).toBeGreaterThan(10);
    }
    expect(new Set(portraitOf.values()).size).toBe(3);
    // The page's tracking is the library's: FaceTracker in Node on the same boxes, probabilities and
    // times numbers, smooths and labels them the same.
    const tracker = new FaceTracker([...FER2013_CLASSES]);
    for (const frame of log) {
      const replay = tracker.update(
        frame.faces.map((f) => ({ box: f.box, probabilities: f.frameProbabilities })),
        frame.time,
      );
      expect(replay.map((t) => t.trackId)).toEqual(frame.faces.map((f) => f.trackId));
      for (const [i, t] of replay.entries()) {
        expect(t.label).toBe(frame.faces[i]!.label);
        expect(t.frameLabel).toBe(frame.faces[i]!.frameLabel);
        for (const [c, p] of t.probabilities.entries())
          expect(p).toBeCloseTo(frame.faces[i]!.probabilities[c]!, 12);
      }
    }
    expect(errors).toEqual([]);
    await context!.close();
    context = undefined;
  }, 900_000);

  it('a still face with sensor noise: the shown label stays while the frame label may not', async () => {
    const { page, errors } = await open('still.y4m', `?${model}`);
    await page.click('#camera');
    await waitFrames(page, 40);
    await page.click('#stop');
    await page.waitForSelector('#result[data-live="off"]', { state: 'attached', timeout: 120_000 });
    await page.screenshot({ path: join(RESULTS, 'browser-live-still.png'), fullPage: true });
    const log = (await page.evaluate(
      () => (window as unknown as { ferCbamDemo: { frames: unknown[] } }).ferCbamDemo.frames,
    )) as FrameLog[];
    expect(errors).toEqual([]);
    await context!.close();
    context = undefined;

    const start = log[0]!.time;
    for (const id of [1, 2, 3]) {
      const seen = log.flatMap((frame) =>
        frame.faces.filter((f) => f.trackId === id).map((f) => ({ ...f, time: frame.time - start })),
      );
      expect(seen.length, `face ${id} in every frame`).toBe(log.length);
      const switches = (labels: string[]) => labels.filter((l, i) => i > 0 && l !== labels[i - 1]).length;
      const shown = seen.map((f) => f.label);
      const own = seen.map((f) => f.frameLabel);
      // Smoothing settles within a few time constants; from then on the shown label never changes.
      const settled = seen.filter((f) => f.time > 1.5).map((f) => f.label);
      expect(settled.length).toBeGreaterThan(10);
      expect(new Set(settled).size, `face ${id}: shown labels after 1.5 s`).toBe(1);
      expect(switches(shown)).toBeLessThanOrEqual(Math.max(1, switches(own)));
      // The noise does reach the model (each frame's probabilities differ), and smoothing damps it:
      // the shown probability of the label moves less from frame to frame than the frame's own.
      const c = FER2013_CLASSES.indexOf(settled[0] as (typeof FER2013_CLASSES)[number]);
      const jitter = (ps: number[]) =>
        ps.slice(1).reduce((s, p, i) => s + Math.abs(p - ps[i]!), 0) / (ps.length - 1);
      const frameJitter = jitter(seen.map((f) => f.frameProbabilities[c]!));
      const shownJitter = jitter(seen.map((f) => f.probabilities[c]!));
      expect(frameJitter, `face ${id}: the frames differ`).toBeGreaterThan(1e-4);
      expect(shownJitter).toBeLessThan(frameJitter);
      console.log(
        `still face ${id}: shown "${settled[0]}", ${switches(shown)} shown-label switches, ${switches(own)} ` +
          `frame-label switches in ${seen.length} frames; mean change of p(${settled[0]}) per frame: ` +
          `${frameJitter.toFixed(4)} (frame) vs ${shownJitter.toFixed(4)} (shown)`,
      );
    }
  }, 900_000);

  it('?threads= sets the wasm threads; served without the isolation headers, one thread and the page says why', async () => {
    context = await launchChromium(join(tmp, 'profile-threads'), { width: 1100, height: 900 });
    const isolated = await context.newPage();
    await isolated.goto(`${server.url}?backend=wasm&threads=2${model}`, { timeout: 300_000 });
    await isolated.waitForSelector('#result[data-detector]', { state: 'attached', timeout: 300_000 });
    expect(await isolated.getAttribute('#result', 'data-error')).toBeNull();
    expect(await isolated.getAttribute('#result', 'data-threads')).toBe('2');
    expect(await isolated.textContent('#backend-meta')).toBe(
      'Backend: wasm (2 threads), because asked for by ?backend=.',
    );
    // ?threads=timed: the cores timed against one thread on a frame's work, the faster kept
    await isolated.goto(`${server.url}?backend=wasm&threads=timed${model}`, { timeout: 300_000 });
    await isolated.waitForSelector('#result[data-detector]', { state: 'attached', timeout: 300_000 });
    const cores = await isolated.evaluate(() => Math.min(8, navigator.hardwareConcurrency));
    if (cores > 1) {
      expectTimedThreads(
        (await isolated.getAttribute('#result', 'data-backend-reason'))!,
        Number(await isolated.getAttribute('#result', 'data-threads')),
        cores,
      );
    }
    await context.close();

    const { serveStatic } = await import('./static_server');
    const plain = await serveStatic(join(tmp, 'dist'), { isolated: false });
    try {
      context = await launchChromium(join(tmp, 'profile-plain'), { width: 1100, height: 900 });
      const page = await context.newPage();
      await page.goto(`${plain.url}?backend=wasm${model}`, { timeout: 300_000 });
      await page.waitForSelector('#result[data-state="ready"], #result[data-state="error"]', {
        state: 'attached',
        timeout: 300_000,
      });
      expect(await page.getAttribute('#result', 'data-error')).toBeNull();
      expect(await page.getAttribute('#result', 'data-isolated')).toBe('false');
      expect(await page.getAttribute('#result', 'data-threads')).toBe('1');
      expect(await page.textContent('#backend-meta')).toContain(
        'Backend: wasm (1 thread; the page is not cross-origin isolated, so wasm gets no threads), because asked for by ?backend=.',
      );
      await context.close();
      context = undefined;
    } finally {
      await plain.close();
    }
  }, 600_000);
});
