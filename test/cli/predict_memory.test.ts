/**
 * A picture too large for the wasm backend's memory (issue 31, item 2). Before the check, the
 * allocation aborted the wasm module ("Aborted()", then "memory access out of bounds" for every
 * later picture) and the command hung. Now the picture is refused with the size that fits, before
 * any tensor is made, and the next picture is still processed on the same backend.
 */
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { WASM_HEAP_MAX_BYTES, WASM_HEAP_RESERVE_BYTES } from '../../src/backends/memory';
import { BRIGHTNESS_PREPROCESSING, brightnessModel, cli, saveModel, squareFace, testFolder } from './helpers';

const { at } = testFolder('fer-cbam predict memory ');

function crc32(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    let c = (crc ^ byte) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** A gray `side` x `side` PNG (real pixel data, written without sharp: it is faster this way). */
function grayPng(side: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  const raw = Buffer.alloc((side + 1) * side, 128);
  for (let y = 0; y < side; y++) raw[y * (side + 1)] = 0; // filter byte: none
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 1 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Over the budget of a fresh wasm heap at 28 bytes per pixel (about 134 million pixels).
const SIDE = 12000;

describe('predict on the wasm backend with a picture too large for its memory', () => {
  let model = '';
  beforeAll(async () => {
    expect(SIDE * SIDE * 28).toBeGreaterThan(WASM_HEAP_MAX_BYTES - WASM_HEAP_RESERVE_BYTES);
    model = await saveModel(brightnessModel(16), at('model'), BRIGHTNESS_PREPROCESSING);
    writeFileSync(at('big.png'), grayPng(SIDE));
    await squareFace(at('small.png'));
  }, 120_000);

  it('refuses it naming --max-side and a size that fits, then processes the next picture', async () => {
    const { status, err, out } = await cli(
      '--backend',
      'wasm',
      '--threads',
      '1',
      'predict',
      '--model',
      model,
      at('big.png'),
      at('small.png'),
      '--max-side',
      '20000',
    );
    expect(tf.getBackend()).toBe('wasm');
    expect(err).toMatch(
      new RegExp(
        `big\\.png: the picture, ${SIDE}x${SIDE} as decoded, is too large for the wasm backend's memory \\(it needs about \\d+ MiB, \\d+ MiB are free of at most 4095\\); lower --max-side \\(now 20000\\) to (\\d+) or less\\.`,
      ),
    );
    const fits = Number(/to (\d+) or less/.exec(err)![1]);
    expect(fits).toBeLessThan(SIDE);
    expect(fits).toBeGreaterThan(8000);
    expect(out).toContain(`${at('small.png')}: whole image: `);
    expect(err).toMatch(/predict: 1 of 2 pictures failed/);
    expect(err).not.toMatch(/Aborted|memory access out of bounds/);
    expect(status).toBe(1);
    // The backend still works.
    const x = tf.ones([4]);
    expect(Array.from(await x.data())).toEqual([1, 1, 1, 1]);
    x.dispose();
  }, 300_000);
});
