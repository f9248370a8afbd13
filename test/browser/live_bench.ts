/**
 * Frames per second of the demo page live, in headless Chromium with a fake camera playing a clip of
 * three real faces with gentle camera motion (test/browser/clips.ts). Builds the page, serves it
 * cross-origin isolated (as vite.config.ts does; `--no-isolation` serves it without the headers),
 * presses Start, lets it warm up, then counts the frames the page processed in a window.
 *
 * Run: `nice -n 19 npx tsx test/browser/live_bench.ts [--seconds 20] [--warmup 8] [--page DIR]
 *   [--dist DIR] [--clip FILE] [--no-isolation] [--screenshot FILE] ['?backend=wasm&threads=1' ...]`
 * `--dist` and `--clip` keep the built page and the clip for later runs (built or written when absent).
 * Each query string is one run (default: the page's defaults, `''`). `--page DIR` benchmarks another
 * copy of the page (a folder laid out like the repository, with `examples/browser/` in it), e.g. an
 * older version for a before/after in the same conditions; pages that have a `#live` checkbox
 * instead of live-by-default are driven through it.
 * Prints one line per run: backend, threads, faces, fps (frames counted in the window / its length),
 * the page's own mean fps, and the median milliseconds of each stage of a frame.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { HAVE_CHROMIUM, launchChromium } from './chromium';
import { HAS_PHOTOS, motionClip } from './clips';
import { serveStatic } from './static_server';

const REPO = resolve(import.meta.dirname, '../..');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '8' },
    page: { type: 'string' },
    dist: { type: 'string' },
    clip: { type: 'string' },
    'no-isolation': { type: 'boolean', default: false },
    screenshot: { type: 'string' },
  },
});

export interface LiveRun {
  query: string;
  backend: string;
  threads: string;
  isolated: string;
  faces: number;
  /** Frames the page finished in the window, per second. */
  fps: number;
  /** The page's own mean fps (since its third frame). */
  pageFps: number | null;
  /** Median milliseconds of each stage over the window's frames. */
  stages: Record<string, number>;
}

async function main(): Promise<void> {
  if (!HAVE_CHROMIUM || !HAS_PHOTOS)
    throw new Error('needs Chromium and @vladmandic/human (its photo and BlazeFace)');
  const root = resolve(values.page ?? REPO);
  const tmp = await mkdtemp(join(tmpdir(), 'fer-cbam-live-bench-'));
  try {
    const started = Date.now();
    const step = (what: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${what}`);
    // --dist / --clip: a folder and a file kept between runs (a build takes minutes on a busy machine)
    const dist = resolve(values.dist ?? join(tmp, 'dist'));
    if (!existsSync(join(dist, 'index.html'))) {
      const { build } = await import('vite');
      await build({
        configFile: join(root, 'examples/browser/vite.config.ts'),
        root: join(root, 'examples/browser'),
        build: { outDir: dist, emptyOutDir: true },
        logLevel: 'warn',
      });
      step('page built');
    }
    const clip = resolve(values.clip ?? join(tmp, 'motion.y4m'));
    if (!existsSync(clip)) {
      await writeFile(clip, await motionClip(4));
      step('clip written');
    }
    const server = await serveStatic(dist, { isolated: !values['no-isolation'] });
    try {
      for (const query of positionals.length ? positionals : ['']) {
        const run = await measure(server.url, query, clip, join(tmp, `profile-${Math.random()}`));
        console.log(
          `${root === REPO ? 'this page' : root} ${query || '(defaults)'}: ${run.backend}` +
            `${run.threads ? ` ${run.threads} threads` : ''}, isolated ${run.isolated}, ${run.faces} faces, ` +
            `${run.fps.toFixed(1)} fps (page: ${run.pageFps?.toFixed(1) ?? '-'}); ms per frame ${JSON.stringify(run.stages)}`,
        );
      }
    } finally {
      await server.close();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function measure(url: string, query: string, clip: string, profile: string): Promise<LiveRun> {
  const context = await launchChromium(profile, { width: 1100, height: 900 }, [
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    `--use-file-for-fake-video-capture=${clip}`,
  ]);
  try {
    const page = await context.newPage();
    await page.goto(`${url}${query}`, { timeout: 300_000 });
    await page.waitForSelector('#result[data-state="ready"], #result[data-state="error"]', {
      state: 'attached',
      timeout: 300_000,
    });
    const error = await page.getAttribute('#result', 'data-error');
    if (error) throw new Error(`the page failed: ${error}`);
    await page.waitForSelector('#result[data-detector]', { state: 'attached', timeout: 300_000 });
    console.error(
      `  backend ${await page.getAttribute('#result', 'data-backend')}: ${await page.getAttribute('#result', 'data-backend-reason')}`,
    );
    await page.click('#camera');
    if (!(await page.$('#stop'))) {
      // an older page: live is a checkbox
      await page.waitForSelector('#live:not([disabled])');
      await page.check('#live');
    }
    const frames = async () => Number((await page.getAttribute('#result', 'data-frames')) ?? 0);
    await page.waitForFunction(
      () => Number(document.getElementById('result')!.dataset.frames ?? 0) >= 3,
      null,
      {
        timeout: 300_000,
      },
    );
    await page.waitForTimeout(Number(values.warmup) * 1000);
    const f0 = await frames();
    const t0 = Date.now();
    // Stage times are sampled from #faces-json twice a second over the window.
    const samples: Record<string, number>[] = [];
    let json: { faces?: unknown[]; timings?: Record<string, number>; fps?: number; fpsMean?: number } | null =
      null;
    while (Date.now() - t0 < Number(values.seconds) * 1000) {
      await page.waitForTimeout(500);
      json = JSON.parse((await page.textContent('#faces-json')) ?? 'null');
      if (json?.timings) samples.push(json.timings);
    }
    const f1 = await frames();
    const t1 = Date.now();
    // a page busy on a loaded machine can take long to paint
    if (values.screenshot)
      await page.screenshot({ path: values.screenshot, fullPage: true, timeout: 180_000 });
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
    const stages = Object.fromEntries(
      Object.keys(samples[0] ?? {}).map((k) => [k, Math.round(median(samples.map((s) => s[k]!)))]),
    );
    return {
      query,
      backend: (await page.getAttribute('#result', 'data-backend')) ?? '?',
      threads: (await page.getAttribute('#result', 'data-threads')) ?? '',
      isolated: String(await page.evaluate(() => crossOriginIsolated)),
      faces: json?.faces?.length ?? 0,
      fps: (1000 * (f1 - f0)) / (t1 - t0),
      pageFps: json?.fpsMean ?? json?.fps ?? null,
      stages,
    };
  } finally {
    await context.close();
  }
}

await main();
