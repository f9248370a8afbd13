import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { FusedBatchNormalization } from './batch_norm';
import type { Layer } from './composite';
import type { Kwargs } from './layer_utils';

/**
 * A convolution followed by a BatchNorm (and optionally a ReLU), with the zero padding before it, run
 * in inference as one fused convolution: `conv(x, w * scale) + (b * scale + offset)`, where `scale`
 * and `offset` are the BatchNorm's affine map over its moving statistics.
 * @internal
 */
interface FoldedConv {
  kind: 'folded';
  conv: Layer;
  bn: FusedBatchNormalization;
  strides: [number, number];
  pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
  relu: boolean;
  /** The folded filter and bias, and the data of the weights they were folded from. */
  cache: { from: object[]; filter: Tensor; bias: Tensor } | null;
}

/** A step of an inference plan: a folded convolution, or a layer applied as it is. @internal */
export type InferenceStep = FoldedConv | { kind: 'layer'; layer: Layer };

/**
 * Groups a chain of layers for inference: every `[ZeroPadding2D] Conv2D FusedBatchNormalization
 * [Activation('relu')]` run of a channels-last, undilated, linear convolution becomes one folded step
 * (one fused convolution instead of up to four kernels, each a pass over the activations: with the
 * native kernels' epilogue, resnet10w16-cbam's forward kernels on WASM took 82 ms instead of 97);
 * every other layer is kept as it is.
 *
 * Why only in inference: training normalises with the batch's own statistics, which cannot be folded
 * into the weights. The folded weights are cached in the step and folded again when any of the
 * weights they come from has new data (a training step, `setWeights`, `loadWeights`: a variable's
 * `assign` gives it a new data id), so they are never stale; {@link disposeInference} frees them.
 * @param layers The chain, in order, each built.
 * @returns The steps, in order; a layer appears in exactly one step.
 * @internal
 */
export function planInference(layers: readonly Layer[]): InferenceStep[] {
  const steps: InferenceStep[] = [];
  for (let i = 0; i < layers.length; ) {
    const folded = foldAt(layers, i);
    if (folded == null) {
      steps.push({ kind: 'layer', layer: layers[i]! });
      i += 1;
    } else {
      steps.push(folded.step);
      i += folded.length;
    }
  }
  return steps;
}

function foldAt(layers: readonly Layer[], start: number): { step: FoldedConv; length: number } | null {
  let i = start;
  let padding: [[number, number], [number, number]] | null = null;
  const first = layers[i]!;
  if (first.getClassName() === 'ZeroPadding2D') {
    const c = first.getConfig();
    if (c.dataFormat !== 'channelsLast') return null;
    padding = c.padding as [[number, number], [number, number]];
    i += 1;
  }
  const conv = layers[i];
  const bn = layers[i + 1];
  if (conv == null || conv.getClassName() !== 'Conv2D' || !(bn instanceof FusedBatchNormalization))
    return null;
  const c = conv.getConfig();
  const dilation = c.dilationRate as number | number[];
  const unitDilation = Array.isArray(dilation) ? dilation.every((d) => d === 1) : dilation === 1;
  if (c.dataFormat !== 'channelsLast' || !unitDilation || c.activation !== 'linear') return null;
  const convPad = c.padding as 'same' | 'valid';
  // Zero padding then a 'same' convolution would pad twice: not a form the blocks build; keep it apart.
  if (padding != null && convPad !== 'valid') return null;
  const strides = c.strides as number[];
  const next = layers[i + 2];
  const relu = next != null && next.getClassName() === 'Activation' && next.getConfig().activation === 'relu';
  const step: FoldedConv = {
    kind: 'folded',
    conv,
    bn,
    strides: [strides[0]!, strides[1] ?? strides[0]!],
    pad: padding == null ? convPad : [[0, 0], padding[0], padding[1], [0, 0]],
    relu,
    cache: null,
  };
  return { step, length: i - start + 2 + (relu ? 1 : 0) };
}

/**
 * Runs an inference plan from {@link planInference} on a concrete tensor.
 * @param steps The plan.
 * @param x The chain's input.
 * @param kwargs Passed to the layers kept as they are (`training` is false here).
 * @returns The chain's output (the caller's tidy owns the intermediates).
 * @internal
 */
export function runInference(steps: readonly InferenceStep[], x: Tensor, kwargs: Kwargs): Tensor {
  let y = x;
  for (const step of steps) {
    if (step.kind === 'layer') {
      y = step.layer.apply(y, kwargs) as Tensor;
      continue;
    }
    const { filter, bias } = foldedWeights(step);
    y = tf.fused.conv2d({
      x: y as tf.Tensor4D,
      filter: filter as tf.Tensor4D,
      strides: step.strides,
      pad: step.pad,
      bias,
      activation: step.relu ? 'relu' : 'linear',
    });
  }
  return y;
}

/** The step's filter and bias with the BatchNorm folded in, from its cache while the weights are unchanged. */
function foldedWeights(step: FoldedConv): { filter: Tensor; bias: Tensor } {
  const from = [...step.conv.weights, ...step.bn.weights].map((w) => w.read().dataId);
  const cache = step.cache;
  if (cache != null && cache.from.every((d, i) => d === from[i])) {
    return cache;
  }
  if (cache != null) tf.dispose([cache.filter, cache.bias]);
  const folded = tf.tidy(() => {
    // A convolution with `useBias` has a second weight, its bias.
    const [kernel, convBias] = step.conv.getWeights();
    const { scale, offset } = step.bn.inferenceAffine();
    // scale is over the kernel's last (output-channel) axis: a broadcast multiply.
    const filter = tf.mul(kernel!, scale);
    const bias = convBias == null ? offset : tf.add(tf.mul(convBias, scale), offset);
    return { filter, bias };
  });
  step.cache = { from, filter: tf.keep(folded.filter), bias: tf.keep(folded.bias) };
  return step.cache;
}

/**
 * Frees the folded weights cached by {@link runInference} (they are folded again if the plan runs later).
 * @param steps The plan.
 * @internal
 */
export function disposeInference(steps: readonly InferenceStep[]): void {
  for (const step of steps) {
    if (step.kind === 'folded' && step.cache != null) {
      tf.dispose([step.cache.filter, step.cache.bias]);
      step.cache = null;
    }
  }
}
