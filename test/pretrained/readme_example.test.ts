/**
 * The README's library example runs as written (issue 31, item 5): `import
 * '@tensorflow/tfjs-backend-wasm'` and then `loadPretrained` at once, with no `tf.ready()` of the
 * user's own; and without any backend, the error names the missing step instead of blaming the model
 * file. Each runs in a fresh Node process (a backend, once registered, stays for the process). The
 * example is read from README.md, so the test follows the README; only `from 'fer-cbam'` is pointed
 * at this checkout's source.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
// Inside the repository, so that the scripts resolve its node_modules; ignored by git.
const dir = join(repo, 'node_modules/.cache/fer-cbam-readme-test', String(process.pid));
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first ```ts block after `heading` in README.md. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const after = readme.slice(readme.indexOf(heading));
  const m = /```ts\n([\s\S]*?)```/.exec(after);
  if (!m) throw new Error(`README.md: no ts block after "${heading}"`);
  return m[1]!;
}

function run(name: string, code: string): { status: number | null; out: string; err: string } {
  const file = join(dir, name);
  writeFileSync(
    file,
    code.replaceAll("from 'fer-cbam'", `from ${JSON.stringify(join(repo, 'src/index.ts'))}`),
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('the README library example', () => {
  it('runs as written: a backend import, then loadPretrained', () => {
    const example = readmeBlock('## Pretrained models');
    expect(example).toMatch(/^import '@tensorflow\/tfjs-backend-wasm';$/m);
    expect(example).toMatch(/await loadPretrained\('realfaces'\)/);
    const { status, out, err } = run(
      'readme.mts',
      `const face48x48 = new Uint8Array(48 * 48).fill(128);\n${example}\nconsole.log(JSON.stringify({ backend: (await import('@tensorflow/tfjs-core')).getBackend(), shape: probs.shape, sum: (await probs.data()).reduce((a, b) => a + b, 0) }));\n`,
    );
    expect(err).not.toMatch(/has not yet been initialized/);
    expect(status, err).toBe(0);
    const result = JSON.parse(out.trim().split('\n').at(-1)!);
    expect(result.backend).toBe('wasm');
    expect(result.shape).toEqual([1, 7]);
    expect(result.sum).toBeCloseTo(1, 4);
  }, 300_000);

  it('without any backend, names the missing step', () => {
    const { status, err } = run(
      'nobackend.mts',
      "import { loadPretrained } from 'fer-cbam';\nawait loadPretrained('fer2013');\n",
    );
    expect(status).not.toBe(0);
    expect(err).toMatch(
      /loadPretrained\('fer2013'\): no tfjs backend is registered: import '@tensorflow\/tfjs' or a backend package/,
    );
    expect(err).not.toMatch(/No backend found in registry/);
  }, 300_000);
});
