import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { listAttention, registerAttention } from '../../src/layers/attention_registry';
import type { Layer } from '../../src/layers/composite';
import { RESIDUAL_BLOCK_DEFAULTS, ResidualBlock, residualBlock } from '../../src/layers/residual_block';
import { seeded } from '../backends/helpers';

// A weightless stand-in attention module, to test the attention slot's plumbing (config, names,
// serialisation) independently of the real attention layers. It reads one option to prove options arrive.
registerAttention('testGate', (args) =>
  tfl.layers.activation({ name: args.name, activation: (args.gateActivation as 'sigmoid') ?? 'sigmoid' }),
);

/** NHWC image as nested plain arrays [h][w][c]. */
type Img = number[][][];

function toImg(data: Float32Array | number[], h: number, w: number, c: number): Img {
  return Array.from({ length: h }, (_, y) =>
    Array.from({ length: w }, (_, x) => Array.from({ length: c }, (_, k) => data[(y * w + x) * c + k]!)),
  );
}

/** Plain-loop convolution, PyTorch semantics: symmetric zero padding `pad`, stride `s`, kernel [kh,kw,I,O]. */
function conv(img: Img, kernel: Float32Array, k: number, cout: number, s: number, pad: number): Img {
  const h = img.length;
  const w = img[0]!.length;
  const cin = img[0]![0]!.length;
  const oh = Math.floor((h + 2 * pad - k) / s) + 1;
  const ow = Math.floor((w + 2 * pad - k) / s) + 1;
  return Array.from({ length: oh }, (_, oy) =>
    Array.from({ length: ow }, (_, ox) =>
      Array.from({ length: cout }, (_, o) => {
        let sum = 0;
        for (let dy = 0; dy < k; dy++) {
          for (let dx = 0; dx < k; dx++) {
            const y = oy * s + dy - pad;
            const x = ox * s + dx - pad;
            if (y < 0 || x < 0 || y >= h || x >= w) continue;
            for (let i = 0; i < cin; i++)
              sum += img[y]![x]![i]! * kernel[((dy * k + dx) * cin + i) * cout + o]!;
          }
        }
        return sum;
      }),
    ),
  );
}

interface Bn {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
}

const mapImg = (img: Img, f: (v: number, c: number) => number): Img =>
  img.map((row) => row.map((px) => px.map((v, c) => f(v, c))));
const bnInfer = (img: Img, p: Bn): Img =>
  mapImg(img, (v, c) => ((v - p.mean[c]!) / Math.sqrt(p.variance[c]! + 1e-5)) * p.gamma[c]! + p.beta[c]!);
const relu = (img: Img): Img => mapImg(img, (v) => Math.max(0, v));
const addImg = (a: Img, b: Img): Img =>
  a.map((row, y) => row.map((px, x) => px.map((v, c) => v + b[y]![x]![c]!)));

function child(block: ResidualBlock, name: string): Layer {
  const layer = block.sublayers.find((l) => l.name === name);
  if (!layer) throw new Error(`no child ${name}`);
  return layer;
}

let seed = 10;
/** Gives a conv child random weights and returns its kernel. */
function setConv(block: ResidualBlock, name: string): Float32Array {
  const layer = child(block, name);
  const shape = layer.getWeights()[0]!.shape;
  const kernel = seeded(
    shape.reduce((a, b) => a * b, 1),
    seed++,
  );
  layer.setWeights([tf.tensor(kernel, shape)]);
  return kernel;
}
/** Gives a BatchNorm child random affine parameters and moving statistics and returns them. */
function setBn(block: ResidualBlock, name: string): Bn {
  const layer = child(block, name);
  const c = layer.getWeights()[0]!.shape[0]!;
  const p: Bn = {
    gamma: seeded(c, seed++).map((v) => 1 + 0.5 * v),
    beta: seeded(c, seed++).map((v) => 0.3 * v),
    mean: seeded(c, seed++).map((v) => 0.2 * v),
    variance: seeded(c, seed++).map((v) => 1 + 0.5 * v),
  };
  layer.setWeights([p.gamma, p.beta, p.mean, p.variance].map((a) => tf.tensor1d(a)));
  return p;
}

function flat(img: Img): number[] {
  return img.flat(2);
}

function expectClose(actual: ArrayLike<number>, wanted: number[], tol = 1e-4): void {
  expect(actual.length).toBe(wanted.length);
  let worst = 0;
  const scale = Math.max(1, ...wanted.map(Math.abs));
  for (let i = 0; i < wanted.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - wanted[i]!));
  expect(worst / scale).toBeLessThan(tol);
}

function modelOf(block: Layer, shape: number[]): tfl.LayersModel {
  const input = tfl.input({ shape, name: 'input' });
  return tfl.model({ inputs: input, outputs: block.apply(input) as tfl.SymbolicTensor });
}

describe('ResidualBlock: structure', () => {
  it('uses the identity shortcut when shape is kept, a projection otherwise', () => {
    const same = new ResidualBlock({ filters: 4 });
    expect((same.apply(tfl.input({ shape: [6, 6, 4] })) as tfl.SymbolicTensor).shape).toEqual([
      null,
      6,
      6,
      4,
    ]);
    expect(same.hasProjection).toBe(false);
    const wider = new ResidualBlock({ filters: 8 });
    wider.apply(tfl.input({ shape: [6, 6, 4] }));
    expect(wider.hasProjection).toBe(true);
    const strided = new ResidualBlock({ filters: 4, strides: 2 });
    expect((strided.apply(tfl.input({ shape: [11, 11, 4] })) as tfl.SymbolicTensor).shape).toEqual([
      null,
      6,
      6,
      4,
    ]);
    expect(strided.hasProjection).toBe(true);
    const bottleneck = new ResidualBlock({ filters: 4, bottleneck: true });
    expect(bottleneck.outChannels).toBe(16);
    expect((bottleneck.apply(tfl.input({ shape: [5, 5, 16] })) as tfl.SymbolicTensor).shape).toEqual([
      null,
      5,
      5,
      16,
    ]);
    expect(bottleneck.hasProjection).toBe(false);
  });

  it('computeOutputShape matches the symbolic output', () => {
    for (const [args, shape] of [
      [{ filters: 6, strides: 2 }, [3, 10, 9, 3]],
      [{ filters: 2, strides: 3, bottleneck: true, expansion: 2 }, [null, 7, 8, 5]],
    ] as const) {
      const block = new ResidualBlock({ ...args });
      const out = block.apply(tfl.input({ batchShape: [...shape] })) as tfl.SymbolicTensor;
      expect(block.computeOutputShape([...shape])).toEqual(out.shape);
    }
  });

  it('names, orders and counts its weights deterministically', () => {
    const names = (): string[] => {
      const block = new ResidualBlock({ filters: 4, strides: 2, name: 'blk' });
      modelOf(block, [6, 6, 2]);
      return block.weights.map((w) => w.originalName);
    };
    const a = names();
    expect(a).toEqual([
      'blk/conv1/kernel',
      'blk/bn1/gamma',
      'blk/bn1/beta',
      'blk/conv2/kernel',
      'blk/bn2/gamma',
      'blk/bn2/beta',
      'blk/shortcut_conv/kernel',
      'blk/shortcut_bn/gamma',
      'blk/shortcut_bn/beta',
      'blk/bn1/moving_mean',
      'blk/bn1/moving_variance',
      'blk/bn2/moving_mean',
      'blk/bn2/moving_variance',
      'blk/shortcut_bn/moving_mean',
      'blk/shortcut_bn/moving_variance',
    ]);
    expect(names()).toEqual(a);
    const block = new ResidualBlock({ filters: 4, bottleneck: true, expansion: 2, name: 'b' });
    const model = modelOf(block, [5, 5, 3]);
    expect(block.sublayers.map((l) => l.name)).toEqual([
      'conv1',
      'bn1',
      'relu1',
      'conv2',
      'bn2',
      'relu2',
      'conv3',
      'bn3',
      'shortcut_conv',
      'shortcut_bn',
      'add',
      'relu',
    ]);
    // conv 3->4 (1x1), 4->4 (3x3), 4->8 (1x1), shortcut 3->8; BN 4 values per channel.
    const trainable = 3 * 4 + 9 * 4 * 4 + 4 * 8 + 3 * 8 + 2 * (4 + 4 + 8 + 8);
    expect(model.trainableWeights.reduce((n, w) => n + w.shape.reduce<number>((p, q) => p * q!, 1), 0)).toBe(
      trainable,
    );
    expect(model.countParams()).toBe(trainable + 2 * (4 + 4 + 8 + 8));
  });

  it('uses BatchNorm epsilon 1e-5 and momentum 0.9, kernels without bias', () => {
    const block = new ResidualBlock({ filters: 2 });
    modelOf(block, [4, 4, 2]);
    const bn = child(block, 'bn1').getConfig();
    expect(bn.epsilon).toBe(RESIDUAL_BLOCK_DEFAULTS.batchNormEpsilon);
    expect(bn.momentum).toBe(0.9);
    expect(child(block, 'conv1').getConfig().useBias).toBe(false);
  });
});

describe('ResidualBlock: values', () => {
  it('basic strided block equals a plain-loop reference with PyTorch padding', () => {
    const [h, w, cin, f] = [6, 5, 2, 3];
    const block = residualBlock({ filters: f, strides: 2 });
    const model = modelOf(block, [h, w, cin]);
    const k1 = setConv(block, 'conv1');
    const b1 = setBn(block, 'bn1');
    const k2 = setConv(block, 'conv2');
    const b2 = setBn(block, 'bn2');
    const ks = setConv(block, 'shortcut_conv');
    const bs = setBn(block, 'shortcut_bn');
    const xData = seeded(h * w * cin, 99);
    const img = toImg(xData, h, w, cin);
    const branch = bnInfer(conv(relu(bnInfer(conv(img, k1, 3, f, 2, 1), b1)), k2, 3, f, 1, 1), b2);
    const shortcut = bnInfer(conv(img, ks, 1, f, 2, 0), bs);
    const wanted = flat(relu(addImg(branch, shortcut)));
    const y = model.predict(tf.tensor4d(xData, [1, h, w, cin])) as tf.Tensor;
    expect(y.shape).toEqual([1, 3, 3, f]);
    expectClose(y.dataSync(), wanted);
  });

  it('bottleneck block equals a plain-loop reference (stride on the 3x3 conv)', () => {
    const [h, w, cin, f, e] = [5, 6, 3, 2, 2];
    const block = residualBlock({ filters: f, strides: 2, bottleneck: true, expansion: e });
    const model = modelOf(block, [h, w, cin]);
    const k1 = setConv(block, 'conv1');
    const b1 = setBn(block, 'bn1');
    const k2 = setConv(block, 'conv2');
    const b2 = setBn(block, 'bn2');
    const k3 = setConv(block, 'conv3');
    const b3 = setBn(block, 'bn3');
    const ks = setConv(block, 'shortcut_conv');
    const bs = setBn(block, 'shortcut_bn');
    const xData = seeded(h * w * cin, 7);
    const img = toImg(xData, h, w, cin);
    let y = relu(bnInfer(conv(img, k1, 1, f, 1, 0), b1));
    y = relu(bnInfer(conv(y, k2, 3, f, 2, 1), b2));
    y = bnInfer(conv(y, k3, 1, f * e, 1, 0), b3);
    const wanted = flat(relu(addImg(y, bnInfer(conv(img, ks, 1, f * e, 2, 0), bs))));
    const out = model.predict(tf.tensor4d(xData, [1, h, w, cin])) as tf.Tensor;
    expect(out.shape).toEqual([1, 3, 3, f * e]);
    expectClose(out.dataSync(), wanted);
  });

  it('identity shortcut adds the input itself', () => {
    const block = residualBlock({ filters: 2 });
    const model = modelOf(block, [4, 4, 2]);
    const k1 = setConv(block, 'conv1');
    const b1 = setBn(block, 'bn1');
    const k2 = setConv(block, 'conv2');
    const b2 = setBn(block, 'bn2');
    const xData = seeded(32, 5);
    const img = toImg(xData, 4, 4, 2);
    const branch = bnInfer(conv(relu(bnInfer(conv(img, k1, 3, 2, 1, 1), b1)), k2, 3, 2, 1, 1), b2);
    const out = model.predict(tf.tensor4d(xData, [1, 4, 4, 2])) as tf.Tensor;
    expectClose(out.dataSync(), flat(relu(addImg(branch, img))));
  });

  it('applies the attention module to the branch before the addition', () => {
    const block = residualBlock({ filters: 2, attention: 'testGate' });
    const model = modelOf(block, [3, 3, 2]);
    expect(block.attentionLayer?.name).toBe('attention');
    const k1 = setConv(block, 'conv1');
    const b1 = setBn(block, 'bn1');
    const k2 = setConv(block, 'conv2');
    const b2 = setBn(block, 'bn2');
    const xData = seeded(18, 3);
    const img = toImg(xData, 3, 3, 2);
    const branch = bnInfer(conv(relu(bnInfer(conv(img, k1, 3, 2, 1, 1), b1)), k2, 3, 2, 1, 1), b2);
    const gated = mapImg(branch, (v) => 1 / (1 + Math.exp(-v)));
    const out = model.predict(tf.tensor4d(xData, [1, 3, 3, 2])) as tf.Tensor;
    expectClose(out.dataSync(), flat(relu(addImg(gated, img))));
  });

  it('forwards `training` to every BatchNorm, the shortcut one included', () => {
    const block = new ResidualBlock({ filters: 3, strides: 2, name: 'blk' });
    modelOf(block, [4, 4, 2]);
    const stats = () =>
      block.nonTrainableWeights
        .filter((w) => w.originalName.endsWith('moving_mean'))
        .map((w) => w.read().arraySync());
    const x = tf.randomNormal([4, 4, 4, 2], 2, 1, 'float32', 1);
    const before = stats();
    tf.dispose(block.apply(x, { training: false }) as tf.Tensor);
    expect(stats()).toEqual(before);
    tf.dispose(block.apply(x, { training: true }) as tf.Tensor);
    const after = stats();
    expect(after).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(after[i]).not.toEqual(before[i]);
  });
});

describe('ResidualBlock: serialisation', () => {
  it('getConfig stores resolved options and attention as registry name + options', () => {
    const block = new ResidualBlock({
      filters: 4,
      strides: 2,
      attention: 'testGate',
      attentionOptions: { gateActivation: 'hardSigmoid', name: 'ignored' },
    });
    const config = block.getConfig();
    expect(config).toMatchObject({
      filters: 4,
      strides: 2,
      bottleneck: false,
      expansion: 4,
      attention: 'testGate',
      attentionOptions: { gateActivation: 'hardSigmoid' },
      kernelInitializer: 'heNormal',
    });
    const again = ResidualBlock.fromConfig(ResidualBlock, config) as ResidualBlock;
    expect(again.getConfig()).toEqual(config);
    expect(new ResidualBlock({ filters: 1, attention: 'none' }).attention).toBeNull();
  });

  it('round-trips through save and load (snake_cased config) with identical predictions', async () => {
    const block = new ResidualBlock({
      filters: 3,
      strides: 2,
      attention: 'testGate',
      attentionOptions: { gateActivation: 'hardSigmoid', nestedOption: { innerKey: 'someValue' } },
      name: 'blk',
    });
    const model = modelOf(block, [6, 6, 2]);
    tf.dispose(
      block.apply(tf.randomNormal([4, 6, 6, 2], 1, 2, 'float32', 4), { training: true }) as tf.Tensor,
    );
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    // The saved JSON is snake_cased, keys and camelCase values alike.
    const saved = JSON.stringify(artifacts!.modelTopology);
    expect(saved).toContain('"attention_options":{"gate_activation":"hard_sigmoid"');
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    const restored = loaded.getLayer('blk') as ResidualBlock;
    expect(restored).toBeInstanceOf(ResidualBlock);
    expect(restored.attentionOptions).toEqual({
      gateActivation: 'hardSigmoid',
      nestedOption: { innerKey: 'someValue' },
    });
    expect(restored.getConfig()).toEqual(block.getConfig());
    expect(loaded.weights.map((w) => w.originalName)).toEqual(model.weights.map((w) => w.originalName));
    const x = tf.randomNormal([2, 6, 6, 2], 0, 1, 'float32', 5);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
  });
  it('restores attention names whose capitals the snake_case round trip loses', async () => {
    registerAttention('testXYZ', (args) => tfl.layers.activation({ name: args.name, activation: 'tanh' }));
    const model = modelOf(new ResidualBlock({ filters: 2, attention: 'testXYZ', name: 'blk' }), [3, 3, 2]);
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    expect(JSON.stringify(artifacts!.modelTopology)).toContain('"attention":"test_xyz"');
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    expect((loaded.getLayer('blk') as ResidualBlock).attention).toBe('testXYZ');
  });
});

describe('ResidualBlock: errors and leaks', () => {
  it('rejects bad options with messages naming the argument', () => {
    expect(() => new ResidualBlock({ filters: 0 })).toThrow(
      /ResidualBlock: expected `filters` to be a positive integer, but got 0/,
    );
    expect(() => new ResidualBlock({ filters: 2, strides: 1.5 })).toThrow(/`strides`.*1\.5/);
    expect(() => new ResidualBlock({ filters: 2, expansion: -1 })).toThrow(/`expansion`/);
    expect(() => new ResidualBlock({ filters: 2, bottleneck: 'yes' as unknown as boolean })).toThrow(
      /`bottleneck` to be a boolean/,
    );
    const names = listAttention();
    expect(() => new ResidualBlock({ filters: 2, attention: 'nope' })).toThrow(
      new RegExp(
        `\`attention\` to be one of ${names.map((n) => `'${n}'`).join(', ')}, 'none', null, but got "nope"`,
      ),
    );
    expect(() => new ResidualBlock({ filters: 2, attentionOptions: 3 as never })).toThrow(
      /`attentionOptions`/,
    );
    expect(() => new ResidualBlock(undefined as never)).toThrow(/`args`/);
    expect(() => new ResidualBlock({ filters: 2 }).apply(tfl.input({ shape: [4, 4] }))).toThrow(
      /ResidualBlock: expected `inputShape` to be a 4D shape/,
    );
  });

  it('does not leak tensors over repeated calls, in inference and training', () => {
    const block = new ResidualBlock({ filters: 3, strides: 2, attention: 'testGate' });
    const model = modelOf(block, [6, 6, 2]);
    const x = tf.ones([2, 6, 6, 2]);
    tf.dispose(model.predict(x) as tf.Tensor);
    tf.dispose(block.apply(x, { training: true }) as tf.Tensor);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.dispose(model.predict(x) as tf.Tensor);
      tf.dispose(block.apply(x, { training: true }) as tf.Tensor);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
