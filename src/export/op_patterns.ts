/**
 * The ONNX op sequences several layer emitters share: a tfjs convolution as an NCHW `Conv` (weights
 * transposed, TensorFlow's `'same'` padding made explicit), a BatchNorm, a dense layer, an activation
 * by its tfjs name.
 * @module
 */
import { type OnnxGraph, onnxAttr } from './onnx_graph';

/**
 * A tfjs convolution kernel `[kh, kw, in, out]` (channels last) as an ONNX `Conv` weight
 * `[out, in, kh, kw]`.
 * @internal
 */
export function kernelToOihw(data: Float32Array, shape: number[]): { data: Float32Array; dims: number[] } {
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          out[((o * cin + i) * kh + y) * kw + x] = data[((y * kw + x) * cin + i) * cout + o]!;
  return { data: out, dims: [cout, cin, kh, kw] };
}

/**
 * TensorFlow's `'same'` padding of one spatial axis, `[before, after]`: the total
 * `max((ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)`, with the odd pixel
 * after (ONNX's `SAME_UPPER`, written out so no runtime has to agree on auto_pad).
 * @internal
 */
export function samePads(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const total = Math.max((Math.ceil(size / stride) - 1) * stride + effective - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Options of {@link emitConv}. @internal */
export interface ConvSpec {
  /** tfjs kernel `[kh, kw, in, out]`. */
  kernel: { data: Float32Array; shape: number[] };
  /** Bias `[out]`, or `null`. */
  bias: { data: Float32Array } | null;
  /** `[sh, sw]`. */
  strides: [number, number];
  /** `[dh, dw]`. Defaults to `[1, 1]`. */
  dilations?: [number, number];
  /** tfjs padding: `'valid'`, `'same'`, or explicit `[top, bottom, left, right]`. */
  padding: 'valid' | 'same' | [number, number, number, number];
  /** The input's height and width (needed for `'same'` with a stride). */
  inputSize: [number | null, number | null];
}

/**
 * An NCHW `Conv` computing what tfjs's channels-last convolution computes; returns its output name.
 * @internal
 */
export function emitConv(g: OnnxGraph, x: string, spec: ConvSpec): string {
  const { data, dims } = kernelToOihw(spec.kernel.data, spec.kernel.shape);
  const [kh, kw] = [dims[2]!, dims[3]!];
  const dilations = spec.dilations ?? [1, 1];
  let pads: [number, number, number, number]; // ONNX order: top, left, bottom, right
  if (spec.padding === 'valid') pads = [0, 0, 0, 0];
  else if (spec.padding === 'same') {
    const [h, w] = spec.inputSize;
    const needsSize =
      spec.strides[0] !== 1 || spec.strides[1] !== 1 || (kh - 1) % 2 === 1 || (kw - 1) % 2 === 1;
    if (needsSize && (h == null || w == null)) {
      throw new Error(
        `exportOnnx: layer "${g.path}" pads 'same' with a stride or an even kernel on an input of unknown height or width; give the model a fixed input shape.`,
      );
    }
    const [top, bottom] = samePads(h ?? 1, kh, spec.strides[0], dilations[0]);
    const [left, right] = samePads(w ?? 1, kw, spec.strides[1], dilations[1]);
    pads = [top, left, bottom, right];
  } else {
    const [top, bottom, left, right] = spec.padding;
    pads = [top, left, bottom, right];
  }
  const inputs = [x, g.constant('kernel', data, dims)];
  if (spec.bias) inputs.push(g.constant('bias', Float32Array.from(spec.bias.data), [dims[0]!]));
  return g.op('Conv', inputs, {
    kernel_shape: onnxAttr.ints([kh, kw]),
    strides: onnxAttr.ints(spec.strides),
    dilations: onnxAttr.ints(dilations),
    pads: onnxAttr.ints(pads),
  });
}

/** BatchNorm statistics and affine parameters, per channel. @internal */
export interface BatchNormSpec {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/**
 * `BatchNormalization` (inference) over axis 1 of `x`: NCHW's channels, or the features of a 2-D value.
 * @internal
 */
export function emitBatchNorm(g: OnnxGraph, x: string, bn: BatchNormSpec): string {
  const c = bn.gamma.length;
  return g.op(
    'BatchNormalization',
    [
      x,
      g.constant('gamma', Float32Array.from(bn.gamma), [c]),
      g.constant('beta', Float32Array.from(bn.beta), [c]),
      g.constant('moving_mean', Float32Array.from(bn.mean), [c]),
      g.constant('moving_variance', Float32Array.from(bn.variance), [c]),
    ],
    { epsilon: onnxAttr.float(bn.epsilon) },
  );
}

/**
 * `x @ kernel + bias` on a 2-D (or 3-D, last axis) value: `Gemm` for 2-D with a bias, else `MatMul`
 * and `Add`. Initializers are named `<prefix>kernel` and `<prefix>bias`.
 * @internal
 */
export function emitDense(
  g: OnnxGraph,
  x: string,
  rank: number,
  kernel: { data: Float32Array; shape: number[] },
  bias: { data: Float32Array } | null,
  prefix = '',
): string {
  // Shared by weight object: an MLP applied twice (CBAM's channel gate, to both pools) is stored once.
  const k = g.sharedConstant(kernel, () =>
    g.constant(`${prefix}kernel`, Float32Array.from(kernel.data), kernel.shape),
  );
  const b = bias
    ? g.sharedConstant(bias, () =>
        g.constant(`${prefix}bias`, Float32Array.from(bias.data), [bias.data.length]),
      )
    : null;
  if (rank === 2 && b) return g.op('Gemm', [x, k, b]);
  const y = g.op('MatMul', [x, k]);
  return b ? g.op('Add', [y, b]) : y;
}

/** The tfjs activation names the exporter turns into ONNX operators (`Dense`, `Conv2D`, `Activation`). @category Export */
export const ONNX_ACTIVATIONS = Object.freeze([
  'linear',
  'relu',
  'relu6',
  'sigmoid',
  'tanh',
  'softmax',
  'elu',
  'selu',
  'softplus',
  'softsign',
  'hardSigmoid',
  'swish',
  'mish',
] as const);

/**
 * The tfjs activation `name` applied to `x` (of tfjs rank `rank`; a rank-4 value is NCHW, so a softmax
 * over tfjs's last axis, the channels, is over ONNX axis 1).
 * @throws Error naming the layer and the activation if it has no ONNX form here.
 * @internal
 */
export function emitActivation(g: OnnxGraph, x: string, name: string, rank: number): string {
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      return g.op('Relu', [x]);
    case 'relu6':
      return g.op('Clip', [x, g.scalar('min', 0), g.scalar('max', 6)]);
    case 'sigmoid':
      return g.op('Sigmoid', [x]);
    case 'tanh':
      return g.op('Tanh', [x]);
    case 'softmax':
      return g.op('Softmax', [x], { axis: onnxAttr.int(rank === 4 ? 1 : -1) });
    case 'elu':
      return g.op('Elu', [x]);
    case 'selu':
      return g.op('Selu', [x]);
    case 'softplus':
      return g.op('Softplus', [x]);
    case 'softsign':
      return g.op('Softsign', [x]);
    case 'hardSigmoid':
      // tfjs: clip(0.2 x + 0.5, 0, 1), ONNX HardSigmoid with these alpha and beta.
      return g.op('HardSigmoid', [x], { alpha: onnxAttr.float(0.2), beta: onnxAttr.float(0.5) });
    case 'swish':
      return g.op('Mul', [x, g.op('Sigmoid', [x])]);
    case 'mish':
      return g.op('Mul', [x, g.op('Tanh', [g.op('Softplus', [x])])]);
    default:
      throw new Error(
        `exportOnnx: layer "${g.path}" uses the activation "${name}", which has no ONNX form here; supported: ${ONNX_ACTIVATIONS.join(', ')}.`,
      );
  }
}
