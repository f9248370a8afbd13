/**
 * Emitters of fer-cbam's own layers: the five attention gates, CBAM, FusedBatchNormalization and
 * ResidualBlock. Each one writes, in NCHW, the computation its layer's `call` does in inference
 * (moving BatchNorm statistics), reading the layer's documented weight names (the saved weight
 * format) and its public resolved options.
 * @module
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { FusedBatchNormalization } from '../layers/batch_norm';
import type { CBAM } from '../layers/cbam';
import type { ChannelAttention } from '../layers/channel_attention';
import type { CoordinateAttention } from '../layers/coordinate_attention';
import type { ResidualBlock } from '../layers/residual_block';
import type { SpatialAttention } from '../layers/spatial_attention';
import type { EmitChild, OnnxEmitter } from './emitter_registry';
import { type OnnxGraph, type OnnxValue, onnxAttr } from './onnx_graph';
import { emitBatchNorm, emitConv, emitDense, kernelToOihw } from './op_patterns';

/** The four BatchNorm weights under `prefix` (`''` or `'bn/'`) and the layer's epsilon, as ONNX nodes. */
function batchNorm(
  g: OnnxGraph,
  layer: tfl.layers.Layer,
  x: string,
  prefix: string,
  epsilon: number,
): string {
  return emitBatchNorm(g, x, {
    gamma: g.requireWeight(layer, `${prefix}gamma`).data,
    beta: g.requireWeight(layer, `${prefix}beta`).data,
    mean: g.requireWeight(layer, `${prefix}moving_mean`).data,
    variance: g.requireWeight(layer, `${prefix}moving_variance`).data,
    epsilon,
  });
}

/** `[N, C, 1, 1]` global pooling of an NCHW value, flattened to `[N, C]`. */
function globalPool(g: OnnxGraph, x: string, pool: 'avg' | 'max'): string {
  const pooled = g.op(pool === 'avg' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x]);
  return g.op('Flatten', [pooled], { axis: onnxAttr.int(1) });
}

/**
 * `x * sigmoid(sum over pools of fc2(relu(fc1(pool(x)))))`: ChannelAttention with its pools,
 * SqueezeExcitation with the average pool only. The MLP's weights are stored once for both pools.
 */
function mlpGate(pools: readonly ('avg' | 'max')[] | null): OnnxEmitter {
  return (g, layer, [x]) => {
    const fc1 = g.requireWeight(layer, 'fc1/kernel');
    const b1 = g.weight(layer, 'fc1/bias');
    const fc2 = g.requireWeight(layer, 'fc2/kernel');
    const b2 = g.weight(layer, 'fc2/bias');
    const summed = (pools ?? (layer as ChannelAttention).poolTypes)
      .map((pool) => {
        const hidden = g.op('Relu', [emitDense(g, globalPool(g, x!.name, pool), 2, fc1, b1, 'fc1/')]);
        return emitDense(g, hidden, 2, fc2, b2, 'fc2/');
      })
      .reduce((a, b) => g.op('Add', [a, b]));
    const gate = g.op('Unsqueeze', [g.op('Sigmoid', [summed]), g.int64s('axes', [2, 3])]); // [N, C, 1, 1]
    return { name: g.op('Mul', [x!.name, gate]), shape: x!.shape };
  };
}

/** `x * sigmoid(bn(conv_k([mean_c(x), max_c(x)])))`, the pooled maps in the layer's `poolOrder`. */
const spatialAttention: OnnxEmitter = (g, layer, [x]) => {
  const s = layer as SpatialAttention;
  const keep = { axes: onnxAttr.ints([1]), keepdims: onnxAttr.int(1) };
  const mean = g.op('ReduceMean', [x!.name], keep);
  const max = g.op('ReduceMax', [x!.name], keep);
  const pooled = g.op('Concat', s.poolOrder === 'meanMax' ? [mean, max] : [max, mean], {
    axis: onnxAttr.int(1),
  });
  let logits = emitConv(g, pooled, {
    kernel: g.requireWeight(layer, 'conv/kernel'),
    bias: null,
    strides: [1, 1],
    padding: 'same',
    inputSize: [x!.shape[1] ?? null, x!.shape[2] ?? null],
  });
  if (s.useBatchNorm) logits = batchNorm(g, layer, logits, 'bn/', s.epsilon);
  return { name: g.op('Mul', [x!.name, g.op('Sigmoid', [logits])]), shape: x!.shape };
};

/** `x * sigmoid(conv1d_k(avgpool(x)))`, the 1-D convolution running across the channels. */
const efficientChannelAttention: OnnxEmitter = (g, layer, [x]) => {
  const c = x!.shape[3] as number;
  const kernel = g.requireWeight(layer, 'conv/kernel'); // [k, 1, 1]: the same values as ONNX's [1, 1, k]
  const k = kernel.shape[0]!;
  const pooled = g.op('GlobalAveragePool', [x!.name]); // [N, C, 1, 1]
  const sequence = g.op('Reshape', [pooled, g.int64s('shape', [-1, 1, c])]); // one channel, length C
  const mixed = g.op('Conv', [sequence, g.constant('kernel', Float32Array.from(kernel.data), [1, 1, k])], {
    kernel_shape: onnxAttr.ints([k]),
    pads: onnxAttr.ints([(k - 1) / 2, (k - 1) / 2]),
  });
  const gate = g.op('Reshape', [g.op('Sigmoid', [mixed]), g.int64s('shape', [-1, c, 1, 1])]);
  return { name: g.op('Mul', [x!.name, gate]), shape: x!.shape };
};

/** A 1x1 convolution with bias from a tfjs kernel `[1, 1, in, out]` named `<prefix>kernel`. */
function conv1x1(g: OnnxGraph, layer: tfl.layers.Layer, x: string, prefix: string): string {
  const kernel = g.requireWeight(layer, `${prefix}kernel`);
  const { data, dims } = kernelToOihw(kernel.data, kernel.shape);
  const bias = Float32Array.from(g.requireWeight(layer, `${prefix}bias`).data);
  return g.op(
    'Conv',
    [x, g.constant(`${prefix}kernel`, data, dims), g.constant(`${prefix}bias`, bias, [dims[0]!])],
    {
      kernel_shape: onnxAttr.ints([1, 1]),
    },
  );
}

/**
 * Coordinate attention in NCHW: the height profile `[N, C, H, 1]` and the width profile (transposed to
 * `[N, C, W, 1]`) are concatenated along axis 2, so one 1x1 convolution, BatchNorm and h-swish run over
 * all `H + W` positions, as in the layer; then split, each part mapped back to `C` channels.
 */
const coordinateAttention: OnnxEmitter = (g, layer, [x]) => {
  const [, height, width] = x!.shape;
  if (height == null || width == null) {
    throw new Error(
      `exportOnnx: layer "${g.path}" (CoordinateAttention) needs a known height and width to split its profiles; give the model a fixed input shape.`,
    );
  }
  const swap = { perm: onnxAttr.ints([0, 1, 3, 2]) };
  const alongH = g.op('ReduceMean', [x!.name], { axes: onnxAttr.ints([3]), keepdims: onnxAttr.int(1) }); // [N, C, H, 1]
  const alongW = g.op('ReduceMean', [x!.name], { axes: onnxAttr.ints([2]), keepdims: onnxAttr.int(1) }); // [N, C, 1, W]
  const joined = g.op('Concat', [alongH, g.op('Transpose', [alongW], swap)], { axis: onnxAttr.int(2) });
  let y = conv1x1(g, layer, joined, 'conv1/');
  y = batchNorm(g, layer, y, 'bn/', (layer as CoordinateAttention).epsilon);
  // h-swish as the layer writes it: y * relu6(y + 3) / 6.
  const relu6 = g.op('Clip', [
    g.op('Add', [y, g.scalar('three', 3)]),
    g.scalar('min', 0),
    g.scalar('max', 6),
  ]);
  y = g.op('Div', [g.op('Mul', [y, relu6]), g.scalar('six', 6)]);
  const [yh, yw] = g.ops('Split', [y, g.int64s('split', [height, width])], { axis: onnxAttr.int(2) }, 2);
  const aH = g.op('Sigmoid', [conv1x1(g, layer, yh!, 'conv_h/')]); // [N, C, H, 1]
  const aW = g.op('Sigmoid', [conv1x1(g, layer, g.op('Transpose', [yw!], swap), 'conv_w/')]); // [N, C, 1, W]
  return { name: g.op('Mul', [g.op('Mul', [x!.name, aW]), aH]), shape: x!.shape };
};

/** CBAM: its channel gate, then its spatial gate (children `channel` and `spatial`). */
const cbam: OnnxEmitter = (_g, layer, inputs, emitChild) => {
  const c = layer as CBAM;
  return emitChild(c.spatial, emitChild(c.channel, inputs));
};

const fusedBatchNormalization: OnnxEmitter = (g, layer, [x]) => {
  const rank = x!.shape.length;
  if (rank !== 4 && rank !== 2) {
    throw new Error(
      `exportOnnx: layer "${g.path}" (FusedBatchNormalization) has a rank-${rank} input; only 2-D and 4-D inputs are exported.`,
    );
  }
  return {
    name: batchNorm(g, layer, x!.name, '', (layer as FusedBatchNormalization).epsilon),
    shape: x!.shape,
  };
};

const SHORTCUT = ['shortcut_conv', 'shortcut_bn'];

/**
 * ResidualBlock from its children, whose fixed names are the block's documented weight format: the
 * branch (every child but the shortcut, `add` and `relu`, in order: convolutions, padding, BatchNorms,
 * ReLUs, attention), the projection shortcut if any, then `add` and `relu`.
 */
const residualBlock: OnnxEmitter = (g, layer, [x], emitChild: EmitChild) => {
  const children = (layer as ResidualBlock).sublayers;
  const child = (name: string) => children.find((c) => c.name === name);
  const add = child('add');
  const relu = child('relu');
  if (add === undefined || relu === undefined) {
    throw new Error(
      `exportOnnx: layer "${g.path}" (ResidualBlock) is not built; apply it to an input first.`,
    );
  }
  let branch: OnnxValue[] = [x!];
  for (const c of children)
    if (c !== add && c !== relu && !SHORTCUT.includes(c.name)) branch = emitChild(c, branch);
  let shortcut: OnnxValue[] = [x!];
  for (const name of SHORTCUT) {
    const c = child(name);
    if (c !== undefined) shortcut = emitChild(c, shortcut);
  }
  return emitChild(relu, emitChild(add, [branch[0]!, shortcut[0]!]));
};

/** fer-cbam's layers, by class name. @internal */
export const FER_CBAM_EMITTERS: Readonly<Record<string, OnnxEmitter>> = Object.freeze({
  ChannelAttention: mlpGate(null),
  SqueezeExcitation: mlpGate(['avg']),
  SpatialAttention: spatialAttention,
  EfficientChannelAttention: efficientChannelAttention,
  CoordinateAttention: coordinateAttention,
  CBAM: cbam,
  FusedBatchNormalization: fusedBatchNormalization,
  ResidualBlock: residualBlock,
});
