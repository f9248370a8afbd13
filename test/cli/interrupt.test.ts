/**
 * Ctrl-C while a long synchronous step runs (item 8): the message appears at once, not after the
 * step, and a second Ctrl-C ends the process at once. The terminal sends Ctrl-C to the whole
 * foreground process group; the test does the same with `kill(-pgid, 'SIGINT')`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'fer-cbam-interrupt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const repo = resolve(import.meta.dirname, '../..');

// Starts the watcher, then blocks the event loop for 10 s (like a training step on a big batch).
const script = `
import { watchInterrupts } from ${JSON.stringify(join(repo, 'src/cli/commands/train.ts'))};
const watcher = watchInterrupts(() => {});
await watcher.ready;
process.stdout.write('blocking\\n');
const end = Date.now() + 10000;
while (Date.now() < end) {}
process.stdout.write('step done\\n');
process.exit(0);
`;

describe.skipIf(process.platform === 'win32')('Ctrl-C during a long step', () => {
  it('prints at once, and the second Ctrl-C quits at once', async () => {
    const file = join(dir, 'block.mts');
    writeFileSync(file, script);
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: repo, detached: true });
    const events: { what: string; t: number }[] = [];
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('blocking') && !events.some((e) => e.what === 'blocking')) {
        events.push({ what: 'blocking', t: Date.now() });
      }
    });
    child.stderr.on('data', (d) => {
      err += d;
      if (err.includes('stopping:') && !events.some((e) => e.what === 'message')) {
        events.push({ what: 'message', t: Date.now() });
      }
    });
    const exited = new Promise<{ code: number | null; signal: string | null; t: number }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal, t: Date.now() })),
    );
    while (!events.some((e) => e.what === 'blocking')) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    const sent = Date.now();
    process.kill(-child.pid!, 'SIGINT');
    while (!events.some((e) => e.what === 'message') && Date.now() - sent < 8000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const message = events.find((e) => e.what === 'message');
    expect(message, err).toBeDefined();
    expect(message!.t - sent).toBeLessThan(5000); // the step still has more than 9 s to go
    process.kill(-child.pid!, 'SIGINT');
    const exit = await exited;
    expect(exit.t - sent).toBeLessThan(8000);
    expect(out).not.toContain('step done');
    expect(exit.signal).toBe('SIGKILL');
    expect(err).toMatch(/Ctrl-C again to quit at once/);
  }, 30_000);
});
