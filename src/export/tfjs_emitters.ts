/**
 * Emitters of the tfjs layers fer-cbam's networks are made of (and a few more that cost nothing):
 * convolution, padding, pooling, dense, activations, BatchNorm, element-wise merges, dropout.
 * @module
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { OnnxEmitter } from './emitter_registry';
import { type OnnxGraph, type OnnxValue, onnxAttr } from './onnx_graph';
import { emitActivation, emitBatchNorm, emitConv, emitDense } from './op_patterns';

type Config = Record<string, unknown>;

/** The layer's output shape for these inputs, from the layer itself. @internal */
export function outputShape(layer: tfl.layers.Layer, inputs: OnnxValue[]): (number | null)[] {
  const shapes = inputs.map((v) => v.shape);
  return layer.computeOutputShape(shapes.length === 1 ? shapes[0]! : shapes) as (number | null)[];
}

function pair(value: unknown): [number, number] {
  return Array.isArray(value)
    ? [value[0] as number, (value[1] ?? value[0]) as number]
    : [value as number, value as number];
}

/** Refuses channels-first layers: the walk keeps tfjs's channels-last meaning of every value. */
function channelsLast(g: OnnxGraph, layer: tfl.layers.Layer, config: Config): void {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') {
    throw new Error(
      `exportOnnx: layer "${g.path}" (${layer.getClassName()}) has dataFormat "${String(config.dataFormat)}"; only channelsLast layers are exported.`,
    );
  }
}

function rank4(g: OnnxGraph, layer: tfl.layers.Layer, x: OnnxValue): void {
  if (x.shape.length !== 4) {
    throw new Error(
      `exportOnnx: layer "${g.path}" (${layer.getClassName()}) expects a 4-D input, but got shape [${x.shape.join(', ')}].`,
    );
  }
}

const conv2d: OnnxEmitter = (g, layer, [x]) => {
  const c = layer.getConfig();
  channelsLast(g, layer, c);
  rank4(g, layer, x!);
  const y = emitConv(g, x!.name, {
    kernel: g.requireWeight(layer, 'kernel'),
    bias: c.useBias ? g.requireWeight(layer, 'bias') : null,
    strides: pair(c.strides),
    dilations: pair(c.dilationRate ?? 1),
    padding: c.padding as 'same' | 'valid',
    inputSize: [x!.shape[1] ?? null, x!.shape[2] ?? null],
  });
  return { name: emitActivation(g, y, String(c.activation ?? 'linear'), 4), shape: outputShape(layer, [x!]) };
};

const zeroPadding2d: OnnxEmitter = (g, layer, [x]) => {
  const c = layer.getConfig();
  channelsLast(g, layer, c);
  rank4(g, layer, x!);
  const [[top, bottom], [left, right]] = c.padding as [[number, number], [number, number]];
  // ONNX Pad: all begins (N, C, H, W), then all ends.
  const pads = g.int64s('pads', [0, 0, top, left, 0, 0, bottom, right]);
  return {
    name: g.op('Pad', [x!.name, pads], { mode: onnxAttr.string('constant') }),
    shape: outputShape(layer, [x!]),
  };
};

function pooling(opType: 'MaxPool' | 'AveragePool'): OnnxEmitter {
  return (g, layer, [x]) => {
    const c = layer.getConfig();
    channelsLast(g, layer, c);
    rank4(g, layer, x!);
    const [kh, kw] = pair(c.poolSize);
    const strides = pair(c.strides ?? c.poolSize);
    const out = outputShape(layer, [x!]);
    let pads = [0, 0, 0, 0];
    if (c.padding === 'same') {
      const [h, w] = [x!.shape[1], x!.shape[2]];
      if (h == null || w == null) {
        throw new Error(
          `exportOnnx: layer "${g.path}" pools with 'same' padding on an input of unknown height or width; give the model a fixed input shape.`,
        );
      }
      const total = (size: number, k: number, s: number) =>
        Math.max((Math.ceil(size / s) - 1) * s + k - size, 0);
      const th = total(h, kh, strides[0]);
      const tw = total(w, kw, strides[1]);
      pads = [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
    }
    // AveragePool's count_include_pad defaults to 0: padded pixels are not averaged, as in tfjs.
    const name = g.op(opType, [x!.name], {
      kernel_shape: onnxAttr.ints([kh, kw]),
      strides: onnxAttr.ints(strides),
      pads: onnxAttr.ints(pads),
    });
    return { name, shape: out };
  };
}

function globalPooling(opType: 'GlobalAveragePool' | 'GlobalMaxPool'): OnnxEmitter {
  return (g, layer, [x]) => {
    const c = layer.getConfig();
    channelsLast(g, layer, c);
    rank4(g, layer, x!);
    const pooled = g.op(opType, [x!.name]); // [N, C, 1, 1]
    return { name: g.op('Flatten', [pooled], { axis: onnxAttr.int(1) }), shape: outputShape(layer, [x!]) };
  };
}

const dense: OnnxEmitter = (g, layer, [x]) => {
  const c = layer.getConfig();
  if (x!.shape.length === 4) {
    throw new Error(
      `exportOnnx: layer "${g.path}" (Dense) is applied to a 4-D input; put a Flatten or a global pooling before it.`,
    );
  }
  const y = emitDense(
    g,
    x!.name,
    x!.shape.length,
    g.requireWeight(layer, 'kernel'),
    c.useBias ? g.requireWeight(layer, 'bias') : null,
  );
  return {
    name: emitActivation(g, y, String(c.activation ?? 'linear'), x!.shape.length),
    shape: outputShape(layer, [x!]),
  };
};

const activation: OnnxEmitter = (g, layer, [x]) => ({
  name: emitActivation(g, x!.name, String(layer.getConfig().activation), x!.shape.length),
  shape: x!.shape,
});

const relu: OnnxEmitter = (g, layer, [x]) => {
  const c = layer.getConfig();
  if (c.maxValue != null) {
    return {
      name: g.op('Clip', [x!.name, g.scalar('min', 0), g.scalar('max', c.maxValue as number)]),
      shape: x!.shape,
    };
  }
  return { name: g.op('Relu', [x!.name]), shape: x!.shape };
};

/** Dropout and noise layers do nothing at inference: the value passes through unchanged. */
const identity: OnnxEmitter = (_g, _layer, [x]) => ({ ...x! });

/**
 * tfjs's BatchNormalization over the last axis (the channels of a rank-4 value, ONNX axis 1 here; the
 * features of a 2-D one); `center` / `scale` off mean beta 0 / gamma 1.
 */
const batchNormalization: OnnxEmitter = (g, layer, [x]) => {
  const c = layer.getConfig();
  const rank = x!.shape.length;
  const axis = (c.axis as number) < 0 ? rank + (c.axis as number) : (c.axis as number);
  if (axis !== rank - 1 || (rank !== 4 && rank !== 2)) {
    throw new Error(
      `exportOnnx: layer "${g.path}" (BatchNormalization) normalises axis ${String(c.axis)} of a rank-${rank} input; only the last axis of a 2-D or 4-D input is exported.`,
    );
  }
  const mean = g.requireWeight(layer, 'moving_mean').data;
  const n = mean.length;
  return {
    name: emitBatchNorm(g, x!.name, {
      gamma: g.weight(layer, 'gamma')?.data ?? new Float32Array(n).fill(1),
      beta: g.weight(layer, 'beta')?.data ?? new Float32Array(n),
      mean,
      variance: g.requireWeight(layer, 'moving_variance').data,
      epsilon: c.epsilon as number,
    }),
    shape: x!.shape,
  };
};

function merge(opType: 'Add' | 'Mul' | 'Max' | 'Min'): OnnxEmitter {
  return (g, layer, inputs) => {
    let y = inputs[0]!.name;
    for (const next of inputs.slice(1)) y = g.op(opType, [y, next.name]);
    return { name: y, shape: outputShape(layer, inputs) };
  };
}

const average: OnnxEmitter = (g, layer, inputs) => {
  const sum = (merge('Add')(g, layer, inputs, noChildren) as OnnxValue).name;
  return { name: g.op('Div', [sum, g.scalar('count', inputs.length)]), shape: outputShape(layer, inputs) };
};

const concatenate: OnnxEmitter = (g, layer, inputs) => {
  const rank = inputs[0]!.shape.length;
  let axis = layer.getConfig().axis as number;
  if (axis < 0) axis += rank;
  // tfjs axes of a rank-4 value are N, H, W, C; in the NCHW graph they are 0, 2, 3, 1.
  const onnxAxis = rank === 4 ? [0, 2, 3, 1][axis]! : axis;
  return {
    name: g.op(
      'Concat',
      inputs.map((v) => v.name),
      { axis: onnxAttr.int(onnxAxis) },
    ),
    shape: outputShape(layer, inputs),
  };
};

/** Flatten in tfjs's order (channels last): an NCHW value is transposed back first. */
const flatten: OnnxEmitter = (g, layer, [x]) => {
  const nhwc =
    x!.shape.length === 4 ? g.op('Transpose', [x!.name], { perm: onnxAttr.ints([0, 2, 3, 1]) }) : x!.name;
  return { name: g.op('Flatten', [nhwc], { axis: onnxAttr.int(1) }), shape: outputShape(layer, [x!]) };
};

function noChildren(): never {
  throw new Error('exportOnnx: this layer has no children.');
}

/** The built-in tfjs layers, by class name. @internal */
export const TFJS_EMITTERS: Readonly<Record<string, OnnxEmitter>> = Object.freeze({
  Conv2D: conv2d,
  ZeroPadding2D: zeroPadding2d,
  MaxPooling2D: pooling('MaxPool'),
  AveragePooling2D: pooling('AveragePool'),
  GlobalAveragePooling2D: globalPooling('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPooling('GlobalMaxPool'),
  Dense: dense,
  Activation: activation,
  ReLU: relu,
  BatchNormalization: batchNormalization,
  Add: merge('Add'),
  Multiply: merge('Mul'),
  Maximum: merge('Max'),
  Minimum: merge('Min'),
  Average: average,
  Concatenate: concatenate,
  Flatten: flatten,
  Dropout: identity,
  SpatialDropout1D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
});
