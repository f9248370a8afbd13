// Shared by the backend tests: comparisons against the cpu backend and a small ResNet-like network.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { FusedBatchNormalization } from '../../src/layers/batch_norm';
import { mulberry32 } from '../../src/random';

/** max |a - b| / max |b|: relative to the reference's scale, so near-zero entries don't dominate. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Runs `fn` on `backend` and returns its outputs' values (inputs are re-created there from arrays). */
export async function valuesOn(backend: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(fn);
  const list = Array.isArray(out) ? out : [out];
  const values = await Promise.all(list.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(list);
  return values;
}

/** Deterministic pseudo-random values in [-1, 1) (mulberry32). */
export function seeded(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, () => next() * 2 - 1);
}

/** A tensor of seeded values. */
export function seededTensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(
    seeded(
      shape.reduce((p, q) => p * q, 1),
      seed,
    ),
    shape,
  );
}

/**
 * conv-BN-ReLU stem (BatchNorm: tfjs's layer, or fer-cbam's fused-gradient one), one residual block with a strided 1x1 shortcut, a spatial-attention gate
 * (channel mean and max, concat, conv, sigmoid, multiply), global average pooling and a dense layer.
 */
export function tinyResNet(
  inputShape: [number, number, number],
  width = 4,
  classes = 3,
  batchNorm: 'tfjs' | 'fused' = 'tfjs',
): tfl.LayersModel {
  const input = tfl.input({ shape: inputShape });
  const bn = (): tfl.layers.Layer =>
    batchNorm === 'fused'
      ? new FusedBatchNormalization({ epsilon: 1e-5, momentum: 0.9 })
      : tfl.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 });
  const conv = (filters: number, kernelSize: number, strides = 1) =>
    tfl.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false });
  const relu = () => tfl.layers.activation({ activation: 'relu' });
  let x = relu().apply(bn().apply(conv(width, 3).apply(input))) as tfl.SymbolicTensor;
  let y = relu().apply(bn().apply(conv(2 * width, 3, 2).apply(x))) as tfl.SymbolicTensor;
  y = bn().apply(conv(2 * width, 3).apply(y)) as tfl.SymbolicTensor;
  const shortcut = bn().apply(conv(2 * width, 1, 2).apply(x)) as tfl.SymbolicTensor;
  x = relu().apply(tfl.layers.add().apply([y, shortcut])) as tfl.SymbolicTensor;
  const pooled = new SpatialGate().apply(x) as tfl.SymbolicTensor;
  const gated = tfl.layers.multiply().apply([x, pooled]) as tfl.SymbolicTensor;
  const features = tfl.layers.globalAveragePooling2d({}).apply(gated) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: classes }).apply(features) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits });
}

/** sigmoid(conv([mean_c(x), max_c(x)])), the ops CBAM's spatial gate uses. */
class SpatialGate extends tfl.layers.Layer {
  static className = 'BackendTestSpatialGate';
  private kernel!: tfl.LayerVariable;
  override build(): void {
    this.kernel = this.addWeight(
      'kernel',
      [3, 3, 2, 1],
      'float32',
      tfl.initializers.glorotUniform({ seed: 1 }),
    );
    this.built = true;
  }
  override computeOutputShape(shape: tfl.Shape): tfl.Shape {
    return [shape[0]!, shape[1]!, shape[2]!, 1];
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const maps = tf.concat([tf.mean(x, -1, true), tf.max(x, -1, true)], -1) as tf.Tensor4D;
    return tf.sigmoid(tf.conv2d(maps, this.kernel.read() as tf.Tensor4D, 1, 'same'));
  }
}
tf.serialization.registerClass(SpatialGate);

/** Loss and gradients of one training step (BatchNorm in training mode), in `model.trainableWeights` order. */
export function trainingGradients(model: tfl.LayersModel, x: tf.Tensor, labels: tf.Tensor): tf.Tensor[] {
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    vars,
  );
  return [value, ...vars.map((v) => grads[v.name]!)];
}

/** A convolution case: input shape, filter shape, strides, padding. */
export type ConvCase = [
  x: number[],
  w: number[],
  strides: number | [number, number],
  pad: 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]],
];

/** Gradients of sum(conv2d(x, w) * r) for a fixed random r: exercises both backprop kernels. */
export function convGrads([xs, ws, strides, pad]: ConvCase): () => tf.Tensor[] {
  return () => {
    const x = seededTensor(xs, 1) as tf.Tensor4D;
    const w = seededTensor(ws, 2) as tf.Tensor4D;
    const r = seededTensor(tf.conv2d(x, w, strides, pad).shape, 3);
    return tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad), r)),
    )([x, w]);
  };
}
