import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { CompositeLayer, type Shape, type TensorLike, walkLayers } from '../../src/layers/composite';
import type { Kwargs } from '../../src/layers/layer_utils';

/** conv - bn - relu, then a nested composite, to exercise tracking two levels deep. */
class ConvBn extends CompositeLayer {
  static className = 'TestConvBn';
  private readonly conv = this.track(
    tfl.layers.conv2d({ name: 'conv', filters: 3, kernelSize: 3, padding: 'same', useBias: false }),
  );
  private readonly bn = this.track(tfl.layers.batchNormalization({ name: 'bn', momentum: 0.5 }));
  protected forward(x: TensorLike, kwargs: Kwargs): TensorLike {
    return this.bn.apply(this.conv.apply(x, kwargs), kwargs) as TensorLike;
  }
  override computeOutputShape(s: Shape): Shape {
    return [s[0]!, s[1]!, s[2]!, 3];
  }
}
tf.serialization.registerClass(ConvBn);

class Twice extends CompositeLayer {
  static className = 'TestTwice';
  private readonly a = this.track(new ConvBn({ name: 'a' }));
  private readonly b = this.track(new ConvBn({ name: 'b' }));
  protected forward(x: TensorLike, kwargs: Kwargs): TensorLike {
    return this.b.apply(this.a.apply(x, kwargs), kwargs) as TensorLike;
  }
  override computeOutputShape(s: Shape): Shape {
    return [s[0]!, s[1]!, s[2]!, 3];
  }
}
tf.serialization.registerClass(Twice);

function build(): tfl.LayersModel {
  const input = tfl.input({ shape: [5, 5, 2] });
  const out = new Twice({ name: 'twice' }).apply(input) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

describe('CompositeLayer', () => {
  it('tracks nested weights with deterministic, unique names', () => {
    const model = build();
    const names = model.weights.map((w) => w.originalName);
    expect(model.trainableWeights.map((w) => w.originalName)).toEqual([
      'twice/a/conv/kernel',
      'twice/a/bn/gamma',
      'twice/a/bn/beta',
      'twice/b/conv/kernel',
      'twice/b/bn/gamma',
      'twice/b/bn/beta',
    ]);
    expect(model.nonTrainableWeights).toHaveLength(4);
    expect(new Set(names).size).toBe(names.length);
    expect(model.countParams()).toBe((2 * (3 * 3 * 2 * 3)) / 2 + 3 * 3 * 3 * 3 + 4 * 3 * 2);
    expect(build().weights.map((w) => w.originalName)).toEqual(names);
    model.dispose();
  });

  it('freezing the composite moves all weights to non-trainable', () => {
    const model = build();
    model.layers[1]!.trainable = false;
    expect(model.trainableWeights).toHaveLength(0);
    expect(model.nonTrainableWeights).toHaveLength(10);
  });

  it('forwards training to nested BatchNorm (moving stats change only when training)', () => {
    const model = build();
    const bnMean = model.weights.find((w) => w.originalName === 'twice/b/bn/moving_mean')!;
    const x = tf.randomNormal([4, 5, 5, 2], 3, 1, 'float32', 1);
    const before = bnMean.read().dataSync().slice();
    (model.layers[1]!.apply(x, { training: false }) as tf.Tensor).dispose();
    expect(Array.from(bnMean.read().dataSync())).toEqual(Array.from(before));
    (model.layers[1]!.apply(x, { training: true }) as tf.Tensor).dispose();
    expect(Array.from(bnMean.read().dataSync())).not.toEqual(Array.from(before));
  });

  it('round-trips through save and load with identical predictions', async () => {
    const model = build();
    const x = tf.randomNormal([2, 5, 5, 2], 0, 1, 'float32', 2);
    // Make the moving statistics non-trivial first.
    (
      model.layers[1]!.apply(tf.randomNormal([8, 5, 5, 2], 1, 2, 'float32', 3), {
        training: true,
      }) as tf.Tensor
    ).dispose();
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
  });

  it('walkLayers finds nested children', () => {
    const names = walkLayers(build()).map((l) => l.name);
    expect(names).toEqual(expect.arrayContaining(['twice', 'a', 'b', 'conv', 'bn']));
  });

  it('does not leak tensors over repeated calls', () => {
    const model = build();
    const x = tf.ones([1, 5, 5, 2]);
    (model.predict(x) as tf.Tensor).dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) (model.predict(x) as tf.Tensor).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
