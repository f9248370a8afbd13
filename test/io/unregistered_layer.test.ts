/** Item 15: loading a fer-cbam model before fer-cbam's layers are registered says what to import. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/io/index'; // file:// only: the layer modules are not imported in this file

const dir = mkdtempSync(join(tmpdir(), 'fer-cbam-unregistered-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a model with fer-cbam layers, loaded without importing them', () => {
  it('names the classes and the import that registers them', async () => {
    mkdirSync(join(dir, 'm'), { recursive: true });
    const modelTopology = {
      class_name: 'Model',
      config: {},
      model_config: {
        class_name: 'Model',
        config: {
          name: 'm',
          layers: [
            { class_name: 'InputLayer', name: 'input', config: {}, inbound_nodes: [] },
            { class_name: 'FusedBatchNormalization', name: 'bn', config: {}, inbound_nodes: [] },
            { class_name: 'CBAM', name: 'cbam', config: {}, inbound_nodes: [] },
          ],
        },
      },
    };
    writeFileSync(join(dir, 'm', 'model.json'), JSON.stringify({ modelTopology, weightsManifest: [] }));
    await expect(tfl.loadLayersModel(`file://${join(dir, 'm', 'model.json')}`)).rejects.toThrow(
      `fileSystem: "${join(dir, 'm', 'model.json')}" uses the fer-cbam layer classes FusedBatchNormalization, CBAM, not registered yet: add \`import 'fer-cbam'\``,
    );
  });
});
