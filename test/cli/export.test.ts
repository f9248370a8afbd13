// `fer-cbam export`: the written file runs in onnxruntime-node with the model's classes; errors name
// the option and the fix.
import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readOnnxInfo } from '../../src/export/index';
import { BRIGHTNESS_PREPROCESSING, brightnessModel, cli, saveModel, testFolder } from './helpers';

const { at } = testFolder('export-cli-');

async function probabilities(file: string, data: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  const out = await session.run({ input: new ort.Tensor('float32', data, dims) });
  await session.release();
  return out.probabilities!.data as Float32Array;
}

describe('fer-cbam export', () => {
  it('exports a pretrained model by name, and says what the input and output are', async () => {
    const out = at('ferplus.onnx');
    const r = await cli('export', '--model', 'ferplus', '--format', 'onnx', '--out', out);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/wrote .*ferplus\.onnx \(\d+\.\d\d MB\): ONNX opset 17, float32/);
    expect(r.out).toContain(
      'input  "input" [batch, 1, 44, 44] NCHW: a grayscale face resized to 48x48, centre crop 44x44',
    );
    expect(r.out).toContain('output "probabilities" [batch, 8]: neutral, happiness, surprise');
    const info = readOnnxInfo(readFileSync(out));
    expect(JSON.parse(info.metadata.class_names!)).toHaveLength(8);
    const p = await probabilities(out, new Float32Array(2 * 44 * 44), [2, 1, 44, 44]);
    expect(p).toHaveLength(16);
    expect(p.slice(0, 8).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('exports a saved model directory, NHWC on request; predictions match tfjs', async () => {
    const dir = await saveModel(brightnessModel(16), at('bright'), BRIGHTNESS_PREPROCESSING);
    const out = at('bright.onnx');
    const r = await cli('export', '--model', dir, '--out', out, '--layout', 'nhwc');
    expect(r.status).toBe(0);
    expect(r.out).toContain('"input" [batch, 16, 16, 1] NHWC');
    expect(r.out).toContain('output "probabilities" [batch, 2]: dark, bright');
    const x = new Float32Array(2 * 16 * 16);
    x.fill(0.9, 256); // the second face is bright
    const p = await probabilities(out, x, [2, 16, 16, 1]);
    const expected = tf.tidy(() =>
      tf.softmax(brightnessModel(16).predict(tf.tensor4d(x, [2, 16, 16, 1])) as tf.Tensor).dataSync(),
    );
    expect(Array.from(p).map((v) => v.toFixed(5))).toEqual(Array.from(expected).map((v) => v.toFixed(5)));
    expect(p[3]!).toBeGreaterThan(p[2]!);
  });

  it('names the option and the fix when it cannot export', async () => {
    let r = await cli('export', '--model', 'fer2013', '--out', at('no-such-folder', 'm.onnx'));
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/^fer-cbam: --out: the folder of ".*m\.onnx" does not exist/);

    r = await cli('export', '--model', 'fer2013', '--format', 'keras', '--out', at('m.keras'));
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/--format.*keras.*onnx/);

    r = await cli('export', '--model', 'fer2013');
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/--out <file>/);

    // A saved model with a layer of its own: it loads (its class is registered), but has no ONNX form.
    class Doubler extends tfl.layers.Layer {
      static className = 'Doubler';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.tidy(() => tf.mul(Array.isArray(inputs) ? inputs[0]! : inputs, 2));
      }
    }
    tf.serialization.registerClass(Doubler);
    const i = tfl.input({ shape: [16, 16, 1] });
    const doubled = new Doubler({ name: 'double_it' }).apply(i);
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(doubled);
    const model = tfl.model({
      inputs: i,
      outputs: tfl.layers.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor,
    });
    const dir = await saveModel(model, at('custom'), BRIGHTNESS_PREPROCESSING);
    r = await cli('export', '--model', dir, '--out', at('custom.onnx'));
    expect(r.status).toBe(1);
    expect(r.err).toMatch(
      /^fer-cbam: --model: exportOnnx: cannot export layer "double_it": no ONNX emitter is registered for its class Doubler\. Register one with registerOnnxEmitter/,
    );
    expect(existsSync(at('custom.onnx'))).toBe(false);
  });
});
