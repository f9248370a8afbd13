/**
 * `fer-cbam predict folder | head -1` (issue 31, item 13): once the reader closes the pipe, the
 * command stops quietly with the status of a Unix tool ended by SIGPIPE (141), not with an
 * unhandled `Error: write EPIPE` and its stack trace. Runs the real command (src/cli/main.ts) in a
 * child process, its stdout a pipe that the test closes after the first line.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BRIGHTNESS_PREPROCESSING, brightnessModel, saveModel, squareFace, testFolder } from './helpers';

const { at } = testFolder('fer-cbam epipe ');
const repo = resolve(import.meta.dirname, '../..');

describe.skipIf(process.platform === 'win32')('a closed stdout pipe', () => {
  beforeAll(async () => {
    await saveModel(brightnessModel(16), at('model'), BRIGHTNESS_PREPROCESSING);
    mkdirSync(at('faces'), { recursive: true });
    await squareFace(at('faces/face000.png'));
    for (let i = 1; i < 120; i++) {
      copyFileSync(at('faces/face000.png'), at(`faces/face${String(i).padStart(3, '0')}.png`));
    }
  }, 60_000);

  it('ends predict quietly with status 141 after the reader has gone', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(repo, 'src/cli/main.ts'),
        '--backend',
        'cpu',
        'predict',
        '--model',
        at('model'),
        at('faces'),
        '--detect',
        'off',
        '--batch-size',
        '1',
      ],
      { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    let first = '';
    child.stdout.once('data', (d) => {
      first = String(d).split('\n')[0]!;
      child.stdout.destroy(); // what `head -1` does after its line
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(first).toMatch(/face000\.png: whole image: /);
    expect(err).not.toMatch(/EPIPE|\n\s+at /);
    expect(code).toBe(141);
  }, 240_000);
});
