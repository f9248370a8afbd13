import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  AttentionMapCapture,
  CBAM,
  CompositeLayer,
  captureAttentionMaps,
  findAttentionLayers,
  isAttentionLayer,
  type Shape,
  SqueezeExcitation,
  type TensorLike,
  walkLayers,
} from '../../src/layers/index';
import type { Kwargs } from '../../src/layers/layer_utils';

/** conv -> CBAM, as a residual block would hold it: attention inside a composite. */
class ConvAttend extends CompositeLayer {
  static className = 'TestConvAttend';
  readonly conv = this.track(tfl.layers.conv2d({ name: 'conv', filters: 8, kernelSize: 3, padding: 'same' }));
  readonly attention = this.track(new CBAM({ name: 'attention', reductionRatio: 2, kernelSize: 3 }));
  protected forward(x: TensorLike, kwargs: Kwargs): TensorLike {
    return this.attention.apply(this.conv.apply(x, kwargs), kwargs) as TensorLike;
  }
  override computeOutputShape(s: Shape): Shape {
    return [s[0]!, s[1]!, s[2]!, 8];
  }
}
tf.serialization.registerClass(ConvAttend);

function build() {
  const input = tfl.input({ shape: [6, 7, 3] });
  const block = new ConvAttend({ name: 'block1' });
  const se = new SqueezeExcitation({ name: 'se', reductionRatio: 2 });
  const out = tfl.layers
    .globalAveragePooling2d({ name: 'gap' })
    .apply(se.apply(block.apply(input))) as tfl.SymbolicTensor;
  return { model: tfl.model({ inputs: input, outputs: out }), block, se };
}

describe('attention maps', () => {
  it('isAttentionLayer and findAttentionLayers find attention layers at any depth, not their gates', () => {
    const { model, block } = build();
    expect(isAttentionLayer(block.attention)).toBe(true);
    expect(isAttentionLayer(block.conv)).toBe(false);
    expect(isAttentionLayer(null)).toBe(false);
    expect(walkLayers(model).map((l) => l.name)).toContain('spatial');
    expect(findAttentionLayers(model).map((e) => e.path)).toEqual(['block1/attention', 'se']);
  });

  it('captureAttentionMaps returns each layer maps for the input, equal to computeAttention', () => {
    const { model, block, se } = build();
    const x = tf.randomNormal([2, 6, 7, 3], 0, 1, 'float32', 1);
    // Non-trivial BatchNorm statistics: capture must use inference mode.
    tf.dispose(
      model.apply(tf.randomNormal([4, 6, 7, 3], 2, 3, 'float32', 2), { training: true }) as tf.Tensor,
    );
    const entries = captureAttentionMaps(model, x);
    expect(entries.map((e) => [e.path, e.className, Object.keys(e.maps)])).toEqual([
      ['block1/attention', 'CBAM', ['channel', 'spatial']],
      ['se', 'SqueezeExcitation', ['channel']],
    ]);
    expect(entries[0]!.layer).toBe(block.attention);
    expect(entries[0]!.maps.spatial!.shape).toEqual([2, 6, 7, 1]);
    expect(entries[0]!.maps.channel!.shape).toEqual([2, 1, 1, 8]);
    expect(entries[1]!.maps.channel!.shape).toEqual([2, 1, 1, 8]);

    const features = tf.tidy(() => block.conv.apply(x) as tf.Tensor);
    const direct = block.attention.computeAttention(features);
    expect(Array.from(entries[0]!.maps.spatial!.dataSync())).toEqual(Array.from(direct.spatial!.dataSync()));
    expect(Array.from(entries[0]!.maps.channel!.dataSync())).toEqual(Array.from(direct.channel!.dataSync()));
    const refined = block.apply(x) as tf.Tensor;
    const seMaps = se.computeAttention(refined);
    expect(Array.from(entries[1]!.maps.channel!.dataSync())).toEqual(Array.from(seMaps.channel!.dataSync()));
    // Capture is off again afterwards.
    expect(findAttentionLayers(model).every((e) => !e.layer.captureMaps)).toBe(true);
    tf.dispose([x, features, refined, direct, seMaps, entries.map((e) => e.maps)]);
  });

  it('leaves no tensors behind beyond the returned maps, and none once they are disposed', () => {
    const { model } = build();
    const x = tf.randomNormal([1, 6, 7, 3], 0, 1, 'float32', 3);
    tf.dispose(captureAttentionMaps(model, x).map((e) => e.maps)); // warm-up
    const before = tf.memory().numTensors;
    const entries = captureAttentionMaps(model, x);
    expect(tf.memory().numTensors).toBe(before + 3);
    tf.dispose(entries.map((e) => e.maps));
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < 3; i++) tf.dispose(model.predict(x) as tf.Tensor); // capture off: nothing kept
    expect(tf.memory().numTensors).toBe(before);
  });

  it('works on a single layer and on a layer that has not run yet', () => {
    const layer = new CBAM({ reductionRatio: 2 });
    const x = tf.randomNormal([1, 4, 4, 4], 0, 1, 'float32', 4);
    const entries = captureAttentionMaps(layer, x);
    expect(entries.map((e) => e.path)).toEqual([layer.name]);
    expect(entries[0]!.maps.spatial!.shape).toEqual([1, 4, 4, 1]);
    tf.dispose(entries[0]!.maps);
  });

  it('AttentionMapCapture keeps maps only while enabled and disposes them when disabled', () => {
    const capture = new AttentionMapCapture();
    const before = tf.memory().numTensors;
    tf.tidy(() => capture.store({ a: tf.ones([2]) }));
    expect(capture.take()).toBeNull();
    capture.enabled = true;
    tf.tidy(() => capture.store({ a: tf.ones([2]) }));
    tf.tidy(() => capture.store({ a: tf.zeros([2]) })); // replaces (and disposes) the first
    expect(tf.memory().numTensors).toBe(before + 1);
    capture.enabled = false;
    expect(tf.memory().numTensors).toBe(before);
    expect(capture.take()).toBeNull();
  });

  it('rejects symbolic input', () => {
    const { model } = build();
    expect(() => captureAttentionMaps(model, tfl.input({ shape: [6, 7, 3] }) as never)).toThrow(
      /captureAttentionMaps: expected `input`/,
    );
  });
});
