/**
 * Faces per second of a pretrained model in headless Chromium (Debian's `chromium`, or
 * $CHROMIUM_PATH), for the model cards: builds the browser demo (examples/browser) with Vite, serves
 * it, opens it with `?backend=<b>&bench=1` (which times `predictProbabilities` at batch 1 and 32 on
 * prepared crops once the model is loaded) and prints the result; `--json` adds it to the card data.
 *
 *   npx tsx bench/browser_expressions.ts [--backend wasm] [--json docs/models/fer2013.json]
 *
 * The page loads `fer2013` through `loadPretrained` from the served `models/` folder. Numbers are
 * benchmarks; nothing here is asserted by tests.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/io/index';
import { HAVE_CHROMIUM, launchChromium } from '../test/browser/chromium';
import { serveStatic } from '../test/browser/static_server';

const { values: args } = parseArgs({
  options: { backend: { type: 'string', default: 'wasm' }, json: { type: 'string' } },
});
if (!HAVE_CHROMIUM)
  throw new Error('bench/browser_expressions: no Chromium (apt-get install chromium, or set CHROMIUM_PATH)');
const root = resolve(import.meta.dirname, '..');
const tmp = await mkdtemp(join(tmpdir(), 'fer-cbam-browser-bench-'));
try {
  const { build } = await import('vite');
  await build({
    configFile: join(root, 'examples/browser/vite.config.ts'),
    build: { outDir: join(tmp, 'dist'), emptyOutDir: true },
    logLevel: 'warn',
  });
  const server = await serveStatic(join(tmp, 'dist'));
  const context = await launchChromium(join(tmp, 'profile'), { width: 1000, height: 800 });
  try {
    const page = await context.newPage();
    await page.goto(`${server.url}?backend=${args.backend}&bench=1`);
    await page.waitForSelector('#result[data-state="ready"], #result[data-state="error"]', {
      state: 'attached',
      timeout: 300_000,
    });
    const bench = await page.getAttribute('#result', 'data-bench');
    if (!bench) throw new Error(`the page did not time the model: ${await page.textContent('#status')}`);
    const version = context.browser()?.version() ?? (await page.evaluate(() => navigator.userAgent));
    const result = { browser: `Chromium ${version}`, ...JSON.parse(bench) };
    console.log(JSON.stringify(result));
    if (args.json) {
      const card = JSON.parse(await readFile(args.json, 'utf8'));
      card.facesPerSecondChromium = result;
      await writeFileAtomic(args.json, `${JSON.stringify(card, null, 1)}\n`);
      console.log(`added to ${args.json}`);
    }
  } finally {
    await context.close();
    await server.close();
  }
} finally {
  await rm(tmp, { recursive: true, force: true });
}
