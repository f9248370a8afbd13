import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Deliberately the module, not the barrel: nothing is registered until the test says so.
import {
  FileSystemHandler,
  isFileSystemRouterRegistered,
  registerFileSystemRouter,
} from '../../src/io/file_handler';

/** Stands in for tfjs-node's NodeFileSystem router: claims every file:// URL. */
class OtherHandler extends FileSystemHandler {
  static uses = 0;
  override async load(): Promise<tf.io.ModelArtifacts> {
    OtherHandler.uses++;
    return super.load();
  }
  override async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    OtherHandler.uses++;
    return super.save(artifacts);
  }
}
const otherRouter = (url: string | string[]) =>
  (typeof url === 'string' && url.startsWith('file://')
    ? new OtherHandler(url.slice(7))
    : null) as unknown as tf.io.IOHandler;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fer-cbam-router-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('file:// router registration', () => {
  it('stands aside when another handler registered later claims file:// (import order does not matter)', async () => {
    expect(registerFileSystemRouter()).toBe(true);
    expect(isFileSystemRouterRegistered()).toBe(true);
    expect(tf.io.getLoadHandlers('file://a/model.json')[0]).toBeInstanceOf(FileSystemHandler);

    // "tfjs-node" is imported after fer-cbam.
    tf.io.registerSaveRouter(otherRouter);
    tf.io.registerLoadRouter(otherRouter);
    const load = tf.io.getLoadHandlers('file://a/model.json');
    const save = tf.io.getSaveHandlers('file://a');
    expect(load).toHaveLength(1);
    expect(save).toHaveLength(1);
    expect(load[0]).toBeInstanceOf(OtherHandler);
    expect(save[0]).toBeInstanceOf(OtherHandler);

    // Without standing aside, tfjs would throw "Found more than one (2) load handlers".
    const input = tfl.input({ shape: [3] });
    const model = tfl.model({
      inputs: input,
      outputs: tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor,
    });
    await model.save(`file://${root}/m`);
    const loaded = await tfl.loadLayersModel(`file://${root}/m/model.json`);
    expect(loaded.countParams()).toBe(8);
    expect(OtherHandler.uses).toBe(2);
    // Registering again is a no-op.
    expect(registerFileSystemRouter()).toBe(true);
  });
});
