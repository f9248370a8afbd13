import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { replaceClassifier, resnetCbam } from '../../src/index';

describe('replaceClassifier', () => {
  it('keeps every feature layer (the same weights) and adds a new classifier of the given size', async () => {
    const base = resnetCbam({ depth: 10, width: 8, placement: 'paper', inputShape: [20, 20, 1], seed: 2 });
    const ck = replaceClassifier(base, 3, { seed: 5 });
    expect(ck.outputs[0]!.shape).toEqual([null, 3]);
    expect(ck.layers.at(-1)!.name).toBe('classifier');
    expect(ck.layers.at(-1)).not.toBe(base.layers.at(-1));
    // Features are shared: the penultimate activations of both models are identical.
    const x = tf.randomNormal([2, 20, 20, 1], 0, 1, 'float32', 1);
    const feat = (m: tfl.LayersModel) =>
      tfl
        .model({ inputs: m.inputs, outputs: m.getLayer('avg_pool').output as tfl.SymbolicTensor })
        .predict(x) as tf.Tensor;
    expect(await feat(ck).data()).toEqual(await feat(base).data());
    // The new classifier's weights come from the seed.
    const again = replaceClassifier(base, 3, { seed: 5 });
    expect(await ck.layers.at(-1)!.getWeights()[0]!.data()).toEqual(
      await again.layers.at(-1)!.getWeights()[0]!.data(),
    );
    // Logits: the new dense layer applied by hand to the features.
    const [k, b] = ck.layers.at(-1)!.getWeights();
    const byHand = tf.add(tf.matMul(feat(base) as tf.Tensor2D, k as tf.Tensor2D), b!);
    const got = ck.predict(x) as tf.Tensor;
    const diff = (await tf.max(tf.abs(tf.sub(got, byHand))).data())[0]!;
    expect(diff).toBeLessThan(1e-5);
  });

  it('rejects a bad class count', () => {
    const base = resnetCbam({ depth: 10, width: 8, inputShape: [20, 20, 1] });
    expect(() => replaceClassifier(base, 0)).toThrow(/numClasses/);
  });
});
