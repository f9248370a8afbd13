import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { listAttention } from '../../src/layers/attention_registry';
import { CompositeLayer, walkLayers } from '../../src/layers/composite';
import { ResidualBlock } from '../../src/layers/residual_block';
import {
  countTrainableParams,
  RESNET_CBAM_DEFAULTS,
  type ResNetCbamOptions,
  resnetCbam,
  resolvePlacement,
} from '../../src/models/resnet_cbam';

/** Options of a tiny, fast model (the architecture is the same at any width). */
const tiny: ResNetCbamOptions = { depth: 10, width: 4, inputShape: [16, 16, 1] };

async function saveToMemory(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return artifacts!;
}

function attentionPaths(model: tfl.LayersModel): string[] {
  const out: string[] = [];
  for (const layer of model.layers) {
    if (layer.name.endsWith('_attention')) out.push(layer.name);
    if (layer instanceof ResidualBlock && layer.attentionLayer) out.push(`${layer.name}/attention`);
  }
  return out;
}

describe('resnetCbam: parameter counts equal the PyTorch reference', () => {
  // CIFAR stem, 44x44x1, 7 classes, CBAM reduction 16 with MLP biases, spatial 7x7 conv + BN.
  // Zero kernels: initialisation is the slow part of building, and counts do not depend on it.
  const cases: [number, 'none' | 'paper' | 'everyBlock', number][] = [
    [18, 'none', 11_171_271],
    [18, 'paper', 11_205_363],
    [18, 'everyBlock', 11_261_151],
    [34, 'none', 21_279_431],
    [34, 'paper', 21_313_523],
    [34, 'everyBlock', 21_442_227],
  ];
  it.each(cases)('depth %i, %s: %i trainable parameters', (depth, placement, wanted) => {
    const model = resnetCbam({ depth, placement, kernelInitializer: 'zeros' });
    expect(countTrainableParams(model)).toBe(wanted);
    // countParams() also counts BatchNorm moving statistics (2 per BN channel, none trainable).
    const bnChannels = model.nonTrainableWeights.reduce((n, w) => n + w.shape[0]!, 0) / 2;
    expect(model.countParams()).toBe(wanted + 2 * bnChannels);
    model.dispose();
  });

  it('ImageNet stem, 224x224x3, 1000 classes, no attention: torchvision ResNet-18/34/50 counts', () => {
    const imagenet: ResNetCbamOptions = {
      stem: 'imagenet',
      inputShape: [224, 224, 3],
      numClasses: 1000,
      attention: null,
    };
    for (const [depth, wanted] of [
      [18, 11_689_512],
      [34, 21_797_672],
      [50, 25_557_032],
    ] as const) {
      const model = resnetCbam({ ...imagenet, depth, kernelInitializer: 'zeros' });
      expect(countTrainableParams(model)).toBe(wanted);
      expect(model.outputs[0]!.shape).toEqual([null, 1000]);
      model.dispose();
    }
  });
});

describe('resnetCbam: structure', () => {
  it('defaults: depth 18, CIFAR stem, 44x44x1 in, 7 softmax probabilities out, CBAM paper placement', () => {
    const model = resnetCbam({ kernelInitializer: 'zeros' });
    expect(model.name).toBe('resnet18_cbam_paper');
    expect(model.inputs[0]!.shape).toEqual([null, ...RESNET_CBAM_DEFAULTS.inputShape]);
    expect(model.outputs[0]!.shape).toEqual([null, 7]);
    expect(model.layers.map((l) => l.name)).toEqual([
      'input',
      'stem_conv',
      'stem_bn',
      'stem_relu',
      'stem_attention',
      'stage1_block1',
      'stage1_block2',
      'stage2_block1',
      'stage2_block2',
      'stage3_block1',
      'stage3_block2',
      'stage4_block1',
      'stage4_block2',
      'stage4_attention',
      'avg_pool',
      'dropout',
      'classifier',
    ]);
    expect(model.getLayer('stem_attention').getClassName()).toBe('CBAM');
    expect((model.getLayer('dropout').getConfig() as { rate: number }).rate).toBe(0.5);
    expect(model.getLayer('classifier').getConfig().activation).toBe('softmax');
    const strides = model.layers
      .filter((l) => l instanceof ResidualBlock)
      .map((l) => (l as ResidualBlock).strides);
    expect(strides).toEqual([1, 1, 2, 1, 2, 1, 2, 1]);
    // 44 -> 44 -> 22 -> 11 -> 6, widths 64..512.
    expect(model.getLayer('stage4_block2').outputShape).toEqual([null, 6, 6, 512]);
    model.dispose();
  });

  it('places attention as asked', () => {
    const paths = (placement: ResNetCbamOptions['placement']) =>
      attentionPaths(resnetCbam({ ...tiny, placement }));
    expect(paths('paper')).toEqual(['stem_attention', 'stage4_attention']);
    expect(paths('everyBlock')).toEqual([
      'stage1_block1/attention',
      'stage2_block1/attention',
      'stage3_block1/attention',
      'stage4_block1/attention',
    ]);
    expect(paths('none')).toEqual([]);
    expect(paths({ afterStages: [3, 2], inBlocks: [4] })).toEqual([
      'stage2_attention',
      'stage3_attention',
      'stage4_block1/attention',
    ]);
    expect(paths({ afterStem: true, inBlocks: true })).toHaveLength(5);
    expect(attentionPaths(resnetCbam({ ...tiny, attention: null, placement: 'everyBlock' }))).toEqual([]);
    expect(attentionPaths(resnetCbam({ ...tiny, attention: 'none' }))).toEqual([]);
  });

  it('uses any registered attention module, with its options', () => {
    for (const attention of listAttention()) {
      const model = resnetCbam({ ...tiny, attention, placement: { afterStages: [4], inBlocks: [4] } });
      const block = model.getLayer('stage4_block1') as ResidualBlock;
      expect(block.attention).toBe(attention);
      expect(block.attentionLayer!.name).toBe('attention');
      expect(model.outputs[0]!.shape).toEqual([null, 7]);
      model.dispose();
    }
    const model = resnetCbam({ ...tiny, placement: 'everyBlock', attentionOptions: { reductionRatio: 2 } });
    const fc1 = model.weights.find((w) => w.originalName === 'stage4_block1/attention/channel/fc1/kernel');
    expect(fc1!.shape).toEqual([32, 16]);
  });

  it('resolvePlacement expands presets and validates objects', () => {
    expect(resolvePlacement('paper', 4)).toEqual({ afterStem: true, afterStages: [4], inBlocks: [] });
    expect(resolvePlacement('everyBlock', 3)).toEqual({
      afterStem: false,
      afterStages: [],
      inBlocks: [1, 2, 3],
    });
    expect(resolvePlacement({ afterStages: [2, 2, 1] }, 4)).toEqual({
      afterStem: false,
      afterStages: [1, 2],
      inBlocks: [],
    });
    expect(() => resolvePlacement({ afterStages: [5] }, 4)).toThrow(
      /resnetCbam: expected `placement.afterStages` to be an array of stage numbers in 1..4, but got \[5\]/,
    );
    expect(() => resolvePlacement({ inBlocks: 'all' } as never, 4)).toThrow(/`placement.inBlocks`/);
    expect(() => resolvePlacement({ afterStem: 1 } as never, 4)).toThrow(
      /`placement.afterStem` to be a boolean/,
    );
    expect(() => resolvePlacement({ everywhere: true } as never, 4)).toThrow(
      /`placement` to be an object with keys afterStem, afterStages, inBlocks, but got "everywhere"/,
    );
  });

  it('blocks, bottleneck, ImageNet stem, includeTop and linear logits', () => {
    const custom = resnetCbam({ blocks: [1, 2], width: 4, inputShape: [12, 12, 3], numClasses: 3 });
    expect(custom.name).toBe('resnet_1_2_cbam_paper');
    expect(custom.layers.filter((l) => l instanceof ResidualBlock).map((l) => l.name)).toEqual([
      'stage1_block1',
      'stage2_block1',
      'stage2_block2',
    ]);
    expect(custom.outputs[0]!.shape).toEqual([null, 3]);
    const deep = resnetCbam({
      depth: 50,
      width: 2,
      inputShape: [32, 32, 1],
      stem: 'imagenet',
      attention: null,
    });
    expect((deep.getLayer('stage1_block1') as ResidualBlock).bottleneck).toBe(true);
    expect(deep.getLayer('stem_pool').outputShape).toEqual([null, 8, 8, 2]);
    expect(deep.getLayer('stage4_block3').outputShape).toEqual([null, 1, 1, 64]);
    const features = resnetCbam({ ...tiny, includeTop: false });
    expect(features.outputs[0]!.shape).toEqual([null, 2, 2, 32]);
    expect(features.layers.at(-1)!.name).toBe('stage4_attention');
    const noDropout = resnetCbam({ ...tiny, dropout: 0, classifierActivation: 'linear' });
    expect(noDropout.layers.map((l) => l.name)).not.toContain('dropout');
    const x = tf.randomNormal([2, 16, 16, 1], 0, 1, 'float32', 1);
    const probs = resnetCbam(tiny).predict(x) as tf.Tensor;
    expect(Array.from(tf.sum(probs, 1).dataSync()).map((v) => Math.round(v * 1e5) / 1e5)).toEqual([1, 1]);
    const logits = noDropout.predict(x) as tf.Tensor;
    expect(tf.min(logits).dataSync()[0]).toBeLessThan(0);
  });

  it('names every layer and weight deterministically and uniquely', () => {
    const names = () =>
      resnetCbam({ ...tiny, placement: { afterStem: true, afterStages: [4], inBlocks: true } });
    const a = names();
    const b = names();
    const weightNames = a.weights.map((w) => w.originalName);
    expect(b.weights.map((w) => w.originalName)).toEqual(weightNames);
    expect(new Set(weightNames).size).toBe(weightNames.length);
    expect(weightNames).toContain('stage2_block1/shortcut_conv/kernel');
    expect(weightNames).toContain('stage3_block1/attention/spatial/bn/moving_mean');
    expect(weightNames).toContain('stem_attention/channel/fc1/kernel');
    expect(weightNames).toContain('classifier/kernel');
    // Four blocks, CBAM in each, CBAM after the stem and the last stage.
    expect(walkLayers(a).filter((l) => l instanceof CompositeLayer)).toHaveLength(4 + 4 + 2);
  });

  it('seed makes the initial weights reproducible and restores Math.random', () => {
    const weights = (seed?: number): number[][] => {
      const model = resnetCbam({ depth: 10, width: 4, inputShape: [12, 12, 1], seed });
      const values = model.getWeights().map((w) => Array.from(w.dataSync()));
      model.dispose();
      return values;
    };
    const random = Math.random;
    const a = weights(7);
    expect(Math.random).toBe(random);
    expect(weights(7)).toEqual(a);
    expect(weights(8)).not.toEqual(a);
    // Without a seed every build differs, as in tfjs.
    expect(weights()).not.toEqual(weights());
    expect(() => resnetCbam({ seed: -1 })).toThrow(/expected `seed` to be a non-negative integer/);
  });

  it('rejects bad options with messages naming the argument and the allowed values', () => {
    const cases: [ResNetCbamOptions, RegExp][] = [
      [{ depth: 20 }, /resnetCbam: expected `depth` to be one of 10, 18, 34, 50, 101, 152, but got 20\./],
      [{ depth: 18, blocks: [1] }, /`depth` to be left out when `blocks` is given/],
      [{ blocks: [] }, /`blocks` to be a non-empty array of positive integers, but got \[\]/],
      [{ blocks: [2, 0] }, /`blocks`/],
      [{ inputShape: [44, 44] as never }, /`inputShape` to be \[height, width, channels\]/],
      [{ numClasses: 0 }, /`numClasses` to be a positive integer, but got 0/],
      [{ width: 2.5 }, /`width` to be a positive integer/],
      [{ stem: 'resnet' as never }, /`stem` to be one of "cifar", "imagenet", but got "resnet"/],
      [{ attention: 'cbma' }, /`attention` to be one of 'cbam', 'channel', .*'none', null, but got "cbma"/],
      [
        { placement: 'every' as never },
        /`placement` to be one of "paper", "everyBlock", "none", but got "every"/,
      ],
      [{ dropout: 1 }, /`dropout` to be a number in \[0, 1\), but got 1/],
      [{ includeTop: 'no' as never }, /`includeTop` to be a boolean/],
      [{ classifierActivation: 'relu' as never }, /`classifierActivation` to be one of "softmax", "linear"/],
      [{ depht: 18 } as never, /`options` to be an object with keys depth, blocks, .*, but got "depht"/],
      [{ attentionOptions: 'r16' as never }, /`attentionOptions`/],
      [{ name: '' }, /`name` to be a non-empty string/],
    ];
    for (const [options, message] of cases) expect(() => resnetCbam(options)).toThrow(message);
    // Options the attention module rejects surface with its own message.
    expect(() => resnetCbam({ ...tiny, attentionOptions: { reductionRatio: 0 } })).toThrow(/reductionRatio/);
  });
});

describe('resnetCbam: save, load, summary, training', () => {
  it('round-trips through save and load with identical predictions and weight names', async () => {
    const model = resnetCbam({ ...tiny, placement: { afterStem: true, afterStages: [4], inBlocks: [2] } });
    // Non-trivial moving statistics in every BatchNorm, nested ones included.
    for (const w of model.nonTrainableWeights) {
      const v = w.originalName.endsWith('variance')
        ? tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', 3)
        : tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 4);
      w.write(v);
      v.dispose();
    }
    const artifacts = await saveToMemory(model);
    const specs = (artifacts.weightSpecs ?? []).map((s) => s.name);
    expect(specs).toEqual(model.weights.map((w) => w.originalName));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    expect(loaded.name).toBe(model.name);
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
    expect(loaded.getLayer('stage2_block1').getConfig()).toEqual(model.getLayer('stage2_block1').getConfig());
    const x = tf.randomNormal([2, 16, 16, 1], 0, 1, 'float32', 5);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    // Saving twice from two identically built models gives the same weight names.
    const again = await saveToMemory(
      resnetCbam({ ...tiny, placement: { afterStem: true, afterStages: [4], inBlocks: [2] } }),
    );
    expect((again.weightSpecs ?? []).map((s) => s.name)).toEqual(specs);
  });

  it('summary lists blocks with their nested parameters and correct totals', () => {
    const model = resnetCbam({ ...tiny, placement: 'everyBlock' });
    const lines: string[] = [];
    model.summary(120, undefined, (line: string) => lines.push(line));
    const text = lines.join('\n');
    const trainable = countTrainableParams(model);
    expect(text).toContain(`Total params: ${model.countParams()}`);
    expect(text).toContain(`Trainable params: ${trainable}`);
    expect(text).toContain(`Non-trainable params: ${model.countParams() - trainable}`);
    const blockLine = lines.find((l) => l.startsWith('stage4_block1 (ResidualBlock)'))!;
    expect(blockLine).toContain(String(model.getLayer('stage4_block1').countParams()));
    // Sum of the per-layer counts equals the total: nested weights are counted once each.
    const sum = model.layers.reduce((n, l) => n + l.countParams(), 0);
    expect(sum).toBe(model.countParams());
  });

  it('trains (weights change, loss finite) and leaks no tensors over predict and fit', async () => {
    const model = resnetCbam({ ...tiny, inputShape: [8, 8, 1], placement: 'everyBlock' });
    model.compile({ optimizer: tf.train.sgd(0.05), loss: 'categoricalCrossentropy' });
    const x = tf.randomNormal([4, 8, 8, 1], 0, 1, 'float32', 6);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 7);
    const kernel = model.weights.find(
      (w) => w.originalName === 'stage3_block1/attention/spatial/conv/kernel',
    )!;
    const movingMean = model.weights.find((w) => w.originalName === 'stage2_block1/shortcut_bn/moving_mean')!;
    const kernelBefore = kernel.read().dataSync().slice();
    const meanBefore = movingMean.read().dataSync().slice();
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    tf.dispose(model.predict(x) as tf.Tensor);
    expect(Array.from(kernel.read().dataSync())).not.toEqual(Array.from(kernelBefore));
    expect(Array.from(movingMean.read().dataSync())).not.toEqual(Array.from(meanBefore));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(model.predict(x) as tf.Tensor);
    const h = await model.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0 });
    expect(Number.isFinite(h.history.loss!.at(-1) as number)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
