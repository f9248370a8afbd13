import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSystemHandler, fileSystem, isFileSystemRouterRegistered } from '../../src/io/index';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fer-cbam-io-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function smallCnn(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 1] });
  let x = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same' })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3 }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

/** Randomises every weight (including BN moving statistics) so a round trip is a real test. */
function randomiseWeights(model: tfl.LayersModel, seed: number): void {
  model.setWeights(
    model.getWeights().map((w, i) => tf.randomUniform(w.shape, 0.1, 1.5, 'float32', seed + i)),
  );
}

describe('fileSystem IOHandler', () => {
  it('is registered for file:// on import (no other handler claims it here)', () => {
    expect(isFileSystemRouterRegistered()).toBe(true);
    expect(tf.io.getSaveHandlers('file://x')).toHaveLength(1);
    expect(tf.io.getLoadHandlers('file://x/model.json')).toHaveLength(1);
    expect(tf.io.getLoadHandlers('http://x/model.json')[0]).not.toBeInstanceOf(FileSystemHandler);
    expect(FileSystemHandler.URL_SCHEME).toBe('file://');
  });

  it('round-trips a model through file:// with bit-identical predictions', async () => {
    const model = smallCnn();
    randomiseWeights(model, 1);
    const dir = join(root, 'nested', 'cnn');
    const result = await model.save(`file://${dir}`);
    expect(result.modelArtifactsInfo.weightDataBytes).toBe(model.countParams() * 4);
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(json.format).toBe('layers-model');

    const loaded = await tfl.loadLayersModel(`file://${join(dir, 'model.json')}`);
    const x = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 7);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (loaded.predict(x) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    const wa = model.getWeights().map((w) => Array.from(w.dataSync()));
    const wb = loaded.getWeights().map((w) => Array.from(w.dataSync()));
    expect(wb).toEqual(wa);
  });

  it('loads from a directory as well as from its model.json, and via the factory', async () => {
    const model = smallCnn();
    const dir = join(root, 'factory');
    await model.save(fileSystem(dir));
    const fromDir = await tfl.loadLayersModel(fileSystem(dir));
    expect(fromDir.countParams()).toBe(model.countParams());
  });

  it('reads sharded weight manifests (as written by the Python converter)', async () => {
    const model = smallCnn();
    randomiseWeights(model, 3);
    const dir = join(root, 'sharded');
    await model.save(fileSystem(dir));
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const bytes = await readFile(join(dir, 'weights.bin'));
    const cut = 100;
    await writeFile(join(dir, 'group1-shard1of2.bin'), bytes.subarray(0, cut));
    await writeFile(join(dir, 'group1-shard2of2.bin'), bytes.subarray(cut));
    json.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await rm(join(dir, 'weights.bin'));
    const loaded = await tfl.loadLayersModel(`file://${dir}/model.json`);
    const wa = model.getWeights().map((w) => Array.from(w.dataSync()));
    expect(loaded.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(wa);
  });

  it('quotes the path in its errors', async () => {
    const missing = join(root, 'nope', 'model.json');
    await expect(tfl.loadLayersModel(`file://${missing}`)).rejects.toThrow(missing);
    const notJson = join(root, 'bad.json');
    await writeFile(notJson, '{ not json');
    await expect(fileSystem(notJson).load()).rejects.toThrow(`"${notJson}" is not valid JSON`);
    await writeFile(notJson, '{"hello": 1}');
    await expect(fileSystem(notJson).load()).rejects.toThrow(/is not a tfjs model.json/);
    const noWeights = join(root, 'noweights');
    await smallCnn().save(fileSystem(noWeights));
    await rm(join(noWeights, 'weights.bin'));
    await expect(fileSystem(noWeights).load()).rejects.toThrow(join(noWeights, 'weights.bin'));
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    await expect(smallCnn().save(fileSystem(file))).rejects.toThrow(file);
    expect(() => fileSystem('')).toThrow(/expected `path` to be a non-empty string/);
  });

  it('overwrites an existing save and leaves no temporary files', async () => {
    const dir = join(root, 'overwrite');
    const a = smallCnn();
    randomiseWeights(a, 11);
    await a.save(fileSystem(dir));
    const b = smallCnn();
    randomiseWeights(b, 12);
    await b.save(fileSystem(dir));
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await tfl.loadLayersModel(fileSystem(dir));
    expect(Array.from(loaded.getWeights()[0].dataSync())).toEqual(Array.from(b.getWeights()[0].dataSync()));
  });
});
