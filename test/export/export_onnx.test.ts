// ONNX export checked against an independent implementation: every exported network runs in
// onnxruntime-node (Microsoft's C++ runtime, default graph optimisations) and its probabilities are
// compared with the tfjs model's on the same inputs: relative error < 1e-4 per probability and the
// same argmax per row, on random inputs and on real FER2013 faces.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  exportOnnx,
  listOnnxLayers,
  ONNX_OPSET,
  OnnxExportError,
  readOnnxInfo,
  registerOnnxEmitter,
  saveOnnx,
} from '../../src/export/index';
import {
  createModel,
  facesToInput,
  getPreprocessing,
  listModels,
  loadFer2013,
  loadPretrained,
  predictProbabilities,
  type ResNetCbamOptions,
  registerAttention,
  resnetCbam,
  setPreprocessing,
  usageIndices,
} from '../../src/index';

const FER2013 = resolve(__dirname, '../../../shared/data/fer2013/fer2013.csv.gz');
const SHIPPED = ['realfaces', 'fer2013', 'ferplus', 'ckplus'] as const;
const TOLERANCE = 1e-4;
// Real faces per shipped model: 32 faces give 224 to 256 probabilities to compare; the tfjs side runs on
// the pure-JS cpu backend, where each face of the shipped network costs about 0.15 s.
const FACES = 32;

/** Largest relative difference of `q` from `p`, and the rows whose argmax differs. */
function compare(
  p: Float32Array,
  q: Float32Array,
  classes: number,
): { maxRel: number; argmaxDiffers: number[] } {
  expect(q.length).toBe(p.length);
  let maxRel = 0;
  const argmaxDiffers: number[] = [];
  for (let row = 0; row < p.length / classes; row++) {
    let ap = 0;
    let aq = 0;
    for (let c = 0; c < classes; c++) {
      const i = row * classes + c;
      maxRel = Math.max(maxRel, Math.abs(p[i]! - q[i]!) / Math.max(Math.abs(p[i]!), 1e-30));
      if (p[i]! > p[row * classes + ap]!) ap = c;
      if (q[i]! > q[row * classes + aq]!) aq = c;
    }
    if (ap !== aq) argmaxDiffers.push(row);
  }
  return { maxRel, argmaxDiffers };
}

/** NHWC data of `x` as NCHW (for a model exported with the default layout). */
function toNchw(x: tf.Tensor4D): Float32Array {
  return tf.tidy(() => tf.transpose(x, [0, 3, 1, 2]).dataSync() as Float32Array);
}

async function runOnnx(bytes: Uint8Array, feed: Float32Array, dims: number[]): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', feed, dims) });
    return out[session.outputNames[0]!]!;
  } finally {
    await session.release();
  }
}

/** Exports `model`, runs both on `x` and checks the probabilities agree; returns the max relative error. */
async function expectParity(model: tfl.LayersModel, x: tf.Tensor4D): Promise<number> {
  const bytes = await exportOnnx(model);
  const [n, h, w, c] = x.shape;
  const q = (await runOnnx(bytes, toNchw(x), [n, c, h, w])).data as Float32Array;
  const p = tf.tidy(() => predictProbabilities(model, x).dataSync() as Float32Array);
  const classes = model.outputs[0]!.shape[1] as number;
  const { maxRel, argmaxDiffers } = compare(p, q, classes);
  expect(argmaxDiffers).toEqual([]);
  expect(maxRel).toBeLessThan(TOLERANCE);
  return maxRel;
}

/**
 * Gives every BatchNorm statistics and affine parameters that are not the identity, and every bias a
 * value, so the comparison exercises them (fresh BatchNorms are mean 0, variance 1, gamma 1, beta 0).
 * Then, if the model has a `classifier`, scales it so the logits on `x` have a standard deviation of 4,
 * as a trained model's do: a random deep network's logits reach thousands, where a probability's
 * relative error is the logits' absolute float32 rounding (about 1e-7 of them), not the export's.
 */
function perturb(model: tfl.LayersModel, seed: number, x?: tf.Tensor4D): void {
  tf.tidy(() => {
    model.weights.forEach((w, i) => {
      const name = w.originalName;
      const s = seed * 1000 + i;
      const shape = w.shape as number[];
      if (/(moving_variance|gamma)$/.test(name)) w.write(tf.randomUniform(shape, 0.5, 1.5, 'float32', s));
      else if (/(moving_mean|beta|bias)$/.test(name)) w.write(tf.randomNormal(shape, 0, 0.2, 'float32', s));
    });
  });
  const classifier = model.layers.find((l) => l.name === 'classifier');
  if (x === undefined || classifier === undefined) return;
  tf.tidy(() => {
    const features = tfl
      .model({ inputs: model.inputs, outputs: classifier.input as tfl.SymbolicTensor })
      .predict(x) as tf.Tensor2D;
    const [kernel, bias] = classifier.getWeights() as [tf.Tensor2D, tf.Tensor1D];
    const logits = tf.add(tf.matMul(features, kernel), bias);
    const std = Math.sqrt(tf.moments(logits).variance.dataSync()[0]!);
    classifier.setWeights([tf.mul(kernel, 4 / std), tf.mul(bias, 4 / std)]);
  });
}

function input(shape: [number, number, number], batch: number, seed: number): tf.Tensor4D {
  return tf.randomNormal([batch, ...shape], 0, 1, 'float32', seed) as tf.Tensor4D;
}

async function checkNetwork(options: ResNetCbamOptions, seed: number): Promise<number> {
  const depth = options.blocks === undefined ? { depth: 10 } : {}; // `blocks` replaces `depth`
  const model = resnetCbam({ ...depth, width: 8, inputShape: [24, 24, 1], dropout: 0, seed, ...options });
  const x = input(model.inputs[0]!.shape.slice(1) as [number, number, number], 3, seed);
  perturb(model, seed, x);
  try {
    return await expectParity(model, x);
  } finally {
    x.dispose();
    model.dispose();
  }
}

const errors: Record<string, number> = {};
afterAll(() => {
  // The measured figures, for the docs and CHANGELOG: largest relative error per group.
  console.log(`ONNX parity, max relative error on probabilities: ${JSON.stringify(errors)}`);
});
const record = (group: string, e: number) => {
  errors[group] = Math.max(errors[group] ?? 0, e);
};

describe('exportOnnx: the shipped models', () => {
  it.each(SHIPPED)('%s: same probabilities as tfjs on random inputs; metadata', async (name) => {
    const model = await loadPretrained(name);
    const pre = getPreprocessing(model)!;
    const bytes = await exportOnnx(model);
    const info = readOnnxInfo(bytes);
    expect(info.opset).toBe(ONNX_OPSET);
    expect(info.inputs).toEqual([{ name: 'input', shape: ['batch', 1, 44, 44] }]);
    expect(info.outputs).toEqual([{ name: 'probabilities', shape: ['batch', pre.classNames.length] }]);
    expect(JSON.parse(info.metadata.class_names!)).toEqual(pre.classNames);
    expect(JSON.parse(info.metadata.preprocessing!)).toEqual(pre);
    expect(info.metadata.input_layout).toBe('NCHW');
    expect(Number(info.metadata.normalization_mean)).toBe(pre.normalization.mean);
    expect(info.docString).toContain(`(x - ${pre.normalization.mean}) / ${pre.normalization.std}`);
    // onnxruntime reads the same input and output (an independent decoder of the file).
    const session = await ort.InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['probabilities']);
    const meta = session.inputMetadata[0] as { shape?: (number | string)[] };
    expect(meta.shape).toEqual(['batch', 1, 44, 44]);
    await session.release();
    const x = input([44, 44, 1], 4, 7);
    record('shipped (random)', await expectParity(model, x));
    x.dispose();
    model.dispose();
  });

  describe.skipIf(!existsSync(FER2013))('on real faces (FER2013 PublicTest)', () => {
    let faces: Uint8Array[] = [];
    beforeAll(async () => {
      const data = await loadFer2013(FER2013, { usages: ['PublicTest'] });
      const side = data.width * data.height;
      faces = usageIndices(data, 'PublicTest')
        .slice(0, FACES)
        .map((i) => data.images.subarray(i * side, (i + 1) * side));
    });

    it.each(SHIPPED)(
      `%s: same probabilities and argmax on the first ${FACES} PublicTest faces`,
      async (name) => {
        const model = await loadPretrained(name);
        const x = facesToInput(faces, getPreprocessing(model)!);
        record('shipped (PublicTest faces)', await expectParity(model, x));
        x.dispose();
        model.dispose();
      },
    );
  });
});

describe('exportOnnx: every attention type and placement', () => {
  const attentions = ['cbam', 'channel', 'spatial', 'se', 'eca', 'coord'];
  const placements = [
    'paper',
    'everyBlock',
    { afterStem: true, afterStages: [2, 3], inBlocks: [1, 4] },
  ] as ResNetCbamOptions['placement'][];
  const cases = attentions.flatMap((attention) =>
    placements.map((placement) => [attention, JSON.stringify(placement), placement] as const),
  );
  it.each(cases)('%s, placement %s', async (attention, _label, placement) => {
    record('attention x placement', await checkNetwork({ attention, placement }, 11));
  });

  it.each([
    [
      'cbam, official variant',
      'cbam',
      { poolOrder: 'maxMean', useBias: false, kernelSize: 3, poolTypes: ['max'] },
    ],
    ['cbam without spatial BatchNorm', 'cbam', { useBatchNorm: false, reductionRatio: 2 }],
    ['channel, max then avg', 'channel', { poolTypes: ['max', 'avg'], hiddenUnits: 3 }],
    ['se without biases', 'se', { useBias: false, hiddenUnits: 2 }],
    ['eca, kernel 5', 'eca', { kernelSize: 5 }],
    ['coord, hidden 4', 'coord', { hiddenUnits: 4 }],
  ] as const)('%s', async (_label, attention, attentionOptions) => {
    record(
      'attention options',
      await checkNetwork({ attention, attentionOptions, placement: 'everyBlock' }, 12),
    );
  });

  it('a plain ResNet, bottleneck blocks, the ImageNet stem on 3 channels, logits', async () => {
    record('blocks and stems', await checkNetwork({ attention: null }, 13));
    record(
      'blocks and stems',
      await checkNetwork({ blocks: [1, 1, 1, 1], bottleneck: true, width: 4, placement: 'everyBlock' }, 14),
    );
    record(
      'blocks and stems',
      await checkNetwork({ stem: 'imagenet', inputShape: [40, 40, 3], attention: 'coord' }, 15),
    );
    record('blocks and stems', await checkNetwork({ classifierActivation: 'linear', dropout: 0.5 }, 16));
  });
});

describe('exportOnnx: the model presets', () => {
  // Every registered preset, narrowed (width 2, 16x16 inputs) so the deep ones stay fast: the layers,
  // blocks and placements are the preset's.
  it.each(listModels())('%s', async (name) => {
    const model = createModel(name, { width: 2, inputShape: [16, 16, 1], seed: 3 });
    const x = input([16, 16, 1], 2, 3);
    perturb(model, 3, x);
    record('presets', await expectParity(model, x));
    x.dispose();
    model.dispose();
  });
});

describe('exportOnnx: layouts, outputs, graphs', () => {
  it("inputLayout 'nhwc' takes tfjs's layout (a Transpose first) and gives the same probabilities", async () => {
    const model = resnetCbam({ depth: 10, width: 4, stem: 'imagenet', inputShape: [32, 32, 3], seed: 5 });
    const x = input([32, 32, 3], 2, 5);
    perturb(model, 5, x);
    const bytes = await exportOnnx(model, { inputLayout: 'nhwc' });
    expect(readOnnxInfo(bytes).inputs[0]!.shape).toEqual(['batch', 32, 32, 3]);
    expect(readOnnxInfo(bytes).metadata.input_layout).toBe('NHWC');
    const q = (await runOnnx(bytes, x.dataSync() as Float32Array, [2, 32, 32, 3])).data as Float32Array;
    const p = predictProbabilities(model, x);
    expect(compare(p.dataSync() as Float32Array, q, 7).maxRel).toBeLessThan(TOLERANCE);
    tf.dispose([x, p]);
    model.dispose();
  });

  it("applies the model's stored temperature as predictProbabilities does; calibrated: false gives the raw softmax", async () => {
    for (const classifierActivation of ['linear', 'softmax'] as const) {
      const model = resnetCbam({
        depth: 10,
        width: 4,
        inputShape: [16, 16, 1],
        classifierActivation,
        seed: 4,
      });
      const x = input([16, 16, 1], 3, 4);
      perturb(model, 4, x);
      const pre = {
        imageSize: 16,
        cropSize: 16,
        normalization: { mean: 0, std: 1 },
        classNames: 'abcdefg'.split(''),
      };
      setPreprocessing(model, { ...pre, temperature: 2.5 });
      const feed = toNchw(x);
      for (const calibrated of [true, false]) {
        const bytes = await exportOnnx(model, { calibrated });
        expect(readOnnxInfo(bytes).metadata.temperature).toBe(calibrated ? '2.5' : '1');
        const q = (await runOnnx(bytes, feed, [3, 1, 16, 16])).data as Float32Array;
        const p = tf.tidy(() => predictProbabilities(model, x, { calibrated }).dataSync() as Float32Array);
        const { maxRel, argmaxDiffers } = compare(p, q, 7);
        expect(argmaxDiffers).toEqual([]);
        expect(maxRel).toBeLessThan(TOLERANCE);
      }
      x.dispose();
      model.dispose();
    }
  });

  it('a feature extractor (includeTop false) exports its feature map raw, in the input layout', async () => {
    const model = resnetCbam({ depth: 10, width: 4, inputShape: [16, 16, 1], includeTop: false, seed: 6 });
    perturb(model, 6);
    const x = input([16, 16, 1], 2, 6);
    const y = model.predict(x) as tf.Tensor4D; // [2, 2, 2, 32]
    for (const layout of ['nchw', 'nhwc'] as const) {
      const bytes = await exportOnnx(model, { inputLayout: layout });
      const info = readOnnxInfo(bytes);
      expect(info.metadata.output).toBe('raw');
      expect(info.outputs[0]!.name).toBe('output');
      const feed = layout === 'nchw' ? toNchw(x) : (x.dataSync() as Float32Array);
      const out = await runOnnx(bytes, feed, layout === 'nchw' ? [2, 1, 16, 16] : [2, 16, 16, 1]);
      const expected = layout === 'nchw' ? toNchw(y) : (y.dataSync() as Float32Array);
      const got = out.data as Float32Array;
      const maxAbs = Math.max(...expected.map((v, i) => Math.abs(v - got[i]!)));
      expect(maxAbs).toBeLessThan(1e-4 * Math.max(...expected.map(Math.abs)));
    }
    await expect(exportOnnx(model, { output: 'probabilities' })).rejects.toThrow(
      /exportOnnx: expected `output` to be 'raw' for a model that is not a classifier/,
    );
    tf.dispose([x, y]);
    model.dispose();
  });

  it('tfjs layers: convolutions, pools, merges, flatten, dense activations, a nested model', async () => {
    const i = tfl.input({ shape: [12, 10, 3] });
    const a = tfl.layers
      .conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu6', useBias: true })
      .apply(i) as tfl.SymbolicTensor; // [6, 5, 4]: 'same' with a stride on odd and even sides
    const b = tfl.layers
      .conv2d({ filters: 4, kernelSize: [2, 3], dilationRate: 2, padding: 'same', activation: 'elu' })
      .apply(tfl.layers.maxPooling2d({ poolSize: 2, padding: 'same' }).apply(i)) as tfl.SymbolicTensor;
    const c = tfl.layers
      .averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' })
      .apply(i) as tfl.SymbolicTensor; // padded pixels are not averaged
    const c4 = tfl.layers
      .conv2d({ filters: 4, kernelSize: 1, activation: 'tanh' })
      .apply(c) as tfl.SymbolicTensor;
    const d = tfl.layers.conv2d({ filters: 4, kernelSize: [2, 3], strides: 2, padding: 'valid' }).apply(
      tfl.layers
        .zeroPadding2d({
          padding: [
            [1, 0],
            [0, 2],
          ],
        })
        .apply(i),
    ) as tfl.SymbolicTensor;
    const merged = [
      tfl.layers.add().apply([a, b]),
      tfl.layers.multiply().apply([a, c4]),
      tfl.layers.maximum().apply([b, d]),
      tfl.layers.minimum().apply([a, d]),
      tfl.layers.average().apply([a, b, c4]),
    ] as tfl.SymbolicTensor[];
    const cat = tfl.layers.concatenate({ axis: -1 }).apply(merged) as tfl.SymbolicTensor;
    const bn = tfl.layers.batchNormalization({ epsilon: 1e-3 }).apply(cat) as tfl.SymbolicTensor;
    const r = tfl.layers.reLU({ maxValue: 2 }).apply(bn) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalMaxPooling2d({}).apply(r) as tfl.SymbolicTensor;
    const flat = tfl.layers.flatten().apply(r) as tfl.SymbolicTensor;
    const activations = ['sigmoid', 'softplus', 'softsign', 'selu', 'hardSigmoid', 'swish', 'mish'] as const;
    const dense = activations.map((activation) => tfl.layers.dense({ units: 3, activation }).apply(flat));
    const all = tfl.layers
      .concatenate()
      .apply([pooled, ...(dense as tfl.SymbolicTensor[])]) as tfl.SymbolicTensor;
    const hidden = tfl.layers.dropout({ rate: 0.3 }).apply(all) as tfl.SymbolicTensor;
    const inner = tfl.model({
      inputs: i,
      outputs: tfl.layers.dense({ units: 5 }).apply(hidden) as tfl.SymbolicTensor,
    });
    // The whole graph nested as a layer of an outer model, as transfer learning does.
    const outerIn = tfl.input({ shape: [12, 10, 3] });
    const outer = tfl.model({
      inputs: outerIn,
      outputs: tfl.layers
        .activation({ activation: 'softmax' })
        .apply(inner.apply(outerIn)) as tfl.SymbolicTensor,
    });
    perturb(outer, 8);
    const x = input([12, 10, 3], 4, 8);
    record('tfjs layers', await expectParity(outer, x));
    x.dispose();
    outer.dispose();
  });
});

describe('exportOnnx: errors and extension', () => {
  class Doubler extends tfl.layers.Layer {
    static className = 'Doubler';
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return tf.tidy(() => tf.mul(Array.isArray(inputs) ? inputs[0]! : inputs, 2));
    }
  }
  tf.serialization.registerClass(Doubler);

  it('names an unknown layer (path and class) and the fix, in a model and inside a block', async () => {
    const i = tfl.input({ shape: [8, 8, 1] });
    const y = new Doubler({ name: 'my_doubler' }).apply(
      tfl.layers.conv2d({ filters: 2, kernelSize: 3 }).apply(i),
    );
    const model = tfl.model({ inputs: i, outputs: y as tfl.SymbolicTensor });
    const error = await exportOnnx(model).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OnnxExportError);
    expect((error as OnnxExportError).layerPath).toBe('my_doubler');
    expect((error as OnnxExportError).message).toMatch(
      /cannot export layer "my_doubler": no ONNX emitter is registered for its class Doubler\. Register one with registerOnnxEmitter\('Doubler'/,
    );
    model.dispose();

    registerAttention('doubler', (args) => new Doubler(args));
    const net = resnetCbam({
      depth: 10,
      width: 2,
      inputShape: [8, 8, 1],
      attention: 'doubler',
      placement: { inBlocks: [2] },
    });
    await expect(exportOnnx(net)).rejects.toThrow(/layer "stage2_block1\/attention": .* class Doubler/);
    net.dispose();
  });

  it('exports a layer of your own once an emitter is registered', async () => {
    expect(listOnnxLayers()).toEqual(expect.arrayContaining(['CBAM', 'ResidualBlock', 'Conv2D']));
    registerOnnxEmitter('Doubler', (g, _layer, [x]) => ({
      name: g.op('Mul', [x!.name, g.scalar('two', 2)]),
      shape: x!.shape,
    }));
    const i = tfl.input({ shape: [8, 8, 1] });
    const y = new Doubler({}).apply(tfl.layers.conv2d({ filters: 2, kernelSize: 3 }).apply(i));
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(y);
    const model = tfl.model({
      inputs: i,
      outputs: tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(pooled) as tfl.SymbolicTensor,
    });
    const x = input([8, 8, 1], 2, 9);
    await expectParity(model, x);
    x.dispose();
    model.dispose();
  });

  it('rejects bad options, naming them', async () => {
    const model = resnetCbam({ depth: 10, width: 2, inputShape: [8, 8, 1] });
    await expect(exportOnnx(model, { inputLayout: 'chw' as 'nchw' })).rejects.toThrow(
      /exportOnnx: expected `inputLayout` to be one of/,
    );
    await expect(exportOnnx(model, { preprocessing: { imageSize: 48 } as never })).rejects.toThrow(
      /exportOnnx: expected `preprocessing` to be \{ imageSize, cropSize/,
    );
    await expect(exportOnnx(model, { metadata: { class_names: '[]' } })).rejects.toThrow(
      /`metadata.class_names`/,
    );
    expect(() => readOnnxInfo(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(
      /readOnnxInfo: expected the bytes of an ONNX model/,
    );
    model.dispose();
  });
});

describe('saveOnnx', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fer-cbam-onnx-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the file atomically, with the given preprocessing and extra metadata; names an unwritable path', async () => {
    const model = resnetCbam({ depth: 10, width: 2, inputShape: [8, 8, 1], seed: 1 });
    const pre = {
      imageSize: 10,
      cropSize: 8,
      normalization: { mean: 0.5, std: 0.25 },
      classNames: 'abcdefg'.split(''),
    };
    setPreprocessing(model, { ...pre, classNames: ['x'] });
    const path = join(dir, 'tiny.onnx');
    const bytes = await saveOnnx(model, path, { preprocessing: pre, metadata: { author: 'test' } });
    const file = readFileSync(path);
    expect(file.length).toBe(bytes);
    const info = readOnnxInfo(file);
    expect(JSON.parse(info.metadata.class_names!)).toEqual(pre.classNames);
    expect(info.metadata.author).toBe('test');
    expect(info.producer).toMatch(/^fer-cbam \d+\.\d+\.\d+/);
    const session = await ort.InferenceSession.create(path);
    await session.release();
    await expect(saveOnnx(model, join(dir, 'missing', 'x.onnx'))).rejects.toThrow(
      /cannot write ".*missing\/x\.onnx"/,
    );
    model.dispose();
  });
});
