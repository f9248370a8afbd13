import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { checkBoolean, checkPositiveInteger, checkRank4, expected } from '../errors';
import { type AttentionArgs, createAttention, resolveAttentionName } from './attention_registry';
import { BATCH_NORM_DEFAULTS, FusedBatchNormalization } from './batch_norm';
import { CompositeLayer, type Layer, type Shape, type TensorLike } from './composite';
import { disposeInference, type InferenceStep, planInference, runInference } from './conv_bn';
import { type InitializerIdentifier, isTraining, type Kwargs, type LayerArgs } from './layer_utils';

const WHERE = 'ResidualBlock';

/**
 * Options of {@link ResidualBlock}. Defaults are in {@link RESIDUAL_BLOCK_DEFAULTS}.
 * @category Layers
 */
export interface ResidualBlockArgs extends LayerArgs {
  /**
   * Width of the block: the output channels of a basic block, the inner width of a bottleneck block
   * (whose output has `filters * expansion` channels). Required.
   */
  filters: number;
  /** Stride of the block's spatial (3x3) convolution and of the projection shortcut. Defaults to `1`. */
  strides?: number;
  /** `false`: basic block (3x3 - 3x3). `true`: bottleneck block (1x1 - 3x3 - 1x1). Defaults to `false`. */
  bottleneck?: boolean;
  /** Channel expansion of the last 1x1 convolution of a bottleneck block. Defaults to `4`. */
  expansion?: number;
  /**
   * Attention module applied to the residual branch after its last BatchNorm, before the addition
   * (Woo et al.'s placement): a name registered with `registerAttention` (`'cbam'`, `'se'`, ...),
   * or `null` / `'none'` for none. Defaults to `null`.
   */
  attention?: string | null;
  /**
   * Options for the attention module, e.g. `{ reductionRatio: 8 }`; its layer is always named
   * `attention`. Must be JSON-serialisable (it is saved in the model config). Defaults to `{}`.
   */
  attentionOptions?: AttentionArgs;
  /** Initializer of every convolution kernel, as a tfjs identifier. Defaults to `'heNormal'`. */
  kernelInitializer?: InitializerIdentifier;
}

/**
 * Defaults of {@link ResidualBlockArgs}.
 * @category Layers
 */
export const RESIDUAL_BLOCK_DEFAULTS = {
  strides: 1,
  bottleneck: false,
  expansion: 4,
  attention: null as string | null,
  attentionOptions: {} as AttentionArgs,
  kernelInitializer: 'heNormal' as InitializerIdentifier,
  /** BatchNorm epsilon (PyTorch's default). */
  batchNormEpsilon: BATCH_NORM_DEFAULTS.epsilon,
  /** BatchNorm momentum in tfjs terms (PyTorch's default 0.1 = 1 - 0.9). */
  batchNormMomentum: BATCH_NORM_DEFAULTS.momentum,
} as const;

/**
 * A ResNet residual block (He et al., CVPR 2016, https://arxiv.org/abs/1512.03385) with an attention
 * slot. Input: 4D `[batch, height, width, channels]`; output
 * `[batch, ceil(height / strides), ceil(width / strides), outChannels]`, where `outChannels` is
 * `filters` (basic) or `filters * expansion` (bottleneck).
 *
 * - **Basic**: conv3x3(strides) - BN - ReLU - conv3x3 - BN - [attention] + shortcut, then ReLU.
 * - **Bottleneck**: conv1x1 - BN - ReLU - conv3x3(strides) - BN - ReLU - conv1x1(x expansion) - BN -
 *   [attention] + shortcut, then ReLU (the stride sits on the 3x3 convolution, as in torchvision).
 * - **Shortcut**: the identity, or conv1x1(strides) + BN when the stride is not 1 or the channel count
 *   changes (decided in `build` from the input's channels).
 *
 * Convolutions have no bias; BatchNorm uses epsilon 1e-5 and momentum 0.9 (PyTorch's defaults).
 * Strided 3x3 convolutions pad one pixel on every side, like PyTorch's `padding=1` (TensorFlow's
 * `'same'` padding would pad only bottom/right for even sizes), so weights ported from PyTorch give the
 * same outputs.
 *
 * In inference on concrete tensors (`predict`, `training` false or absent) each convolution runs with
 * its BatchNorm folded in, and the ReLU after it, as one fused convolution (the same values up to
 * float rounding, with fewer passes over the activations); training and symbolic calls run the layers
 * one by one.
 *
 * Children have fixed names, which are the weight format (`<block>/conv1/kernel`, ...): `conv1`,
 * `bn1`, `relu1`, `conv2`, `bn2` (and `relu2`, `conv3`, `bn3` in a bottleneck), `pad1`/`pad2` before a
 * strided 3x3 convolution, `attention`, `shortcut_conv`, `shortcut_bn`, `add`, `relu`. Weights come in
 * that order (trainable first, then BatchNorm moving statistics, as in every tfjs layer).
 *
 * The attention module is stored in the config as its registry name plus `attentionOptions`, so saved
 * models load wherever that name is registered.
 *
 * @example
 * ```ts
 * const x = tf.input({ shape: [44, 44, 64] });
 * const y = new ResidualBlock({ filters: 128, strides: 2, attention: 'cbam' }).apply(x);
 * // y.shape: [null, 22, 22, 128]
 * ```
 * @throws RangeError if `filters`, `strides` or `expansion` is not a positive integer, or `attention` is
 *   not registered; TypeError for a non-boolean `bottleneck` or non-object `attentionOptions`;
 *   RangeError from `build` for an input that is not 4D with known channels.
 * @category Layers
 */
export class ResidualBlock extends CompositeLayer {
  /** Name under which the class is registered for serialization. */
  static className = 'ResidualBlock';

  /** Width of the block (see {@link ResidualBlockArgs.filters}). */
  readonly filters: number;
  /** Stride of the spatial convolution and of the projection shortcut. */
  readonly strides: number;
  /** Whether this is a bottleneck block. */
  readonly bottleneck: boolean;
  /** Channel expansion of a bottleneck block (ignored by basic blocks). */
  readonly expansion: number;
  /** Registered name of the attention module, or `null`. */
  readonly attention: string | null;
  /** Options of the attention module (without `name`). */
  readonly attentionOptions: AttentionArgs;
  /** Initializer identifier of the convolution kernels. */
  readonly kernelInitializer: InitializerIdentifier;
  /** Output channels: `filters`, or `filters * expansion` for a bottleneck block. */
  readonly outChannels: number;

  /** The residual branch, in order (convolutions, BatchNorms, ReLUs, padding, attention). */
  private readonly branch: Layer[] = [];
  /** The attention layer inside the block, or `null`. */
  readonly attentionLayer: Layer | null;
  /** Projection shortcut `[conv, bn]`, created in `build` when the shape changes; empty for identity. */
  private shortcut: Layer[] = [];
  private readonly addLayer: Layer;
  private readonly outRelu: Layer;
  private shortcutResolved = false;
  /** The branch and the shortcut grouped for inference (BatchNorm folded into the convolutions). */
  private inference: { branch: InferenceStep[]; shortcut: InferenceStep[] } | null = null;

  constructor(args: ResidualBlockArgs) {
    if (args == null || typeof args !== 'object') {
      throw new TypeError(expected(WHERE, 'args', 'an options object', args));
    }
    super(args);
    const d = RESIDUAL_BLOCK_DEFAULTS;
    this.filters = checkPositiveInteger(args.filters, 'filters', WHERE);
    this.strides = checkPositiveInteger(args.strides ?? d.strides, 'strides', WHERE);
    this.bottleneck = checkBoolean(args.bottleneck ?? d.bottleneck, 'bottleneck', WHERE);
    this.expansion = checkPositiveInteger(args.expansion ?? d.expansion, 'expansion', WHERE);
    this.attention = resolveAttentionName(args.attention ?? d.attention, WHERE, 'attention');
    this.attentionOptions = resolveAttentionOptions(args.attentionOptions, WHERE);
    const init = args.kernelInitializer ?? d.kernelInitializer;
    if (typeof init !== 'string' || init.length === 0) {
      throw new TypeError(
        expected(WHERE, 'kernelInitializer', 'a tfjs initializer identifier such as "heNormal"', init),
      );
    }
    this.kernelInitializer = init;
    this.outChannels = this.bottleneck ? this.filters * this.expansion : this.filters;

    const f = this.filters;
    if (this.bottleneck) {
      this.branch.push(this.conv('conv1', f, 1, 1), this.bn('bn1'), relu('relu1'));
      this.branch.push(...this.conv3x3('2', f, this.strides), this.bn('bn2'), relu('relu2'));
      this.branch.push(this.conv('conv3', this.outChannels, 1, 1), this.bn('bn3'));
    } else {
      this.branch.push(...this.conv3x3('1', f, this.strides), this.bn('bn1'), relu('relu1'));
      this.branch.push(...this.conv3x3('2', f, 1), this.bn('bn2'));
    }
    this.attentionLayer = createAttention(this.attention, { ...this.attentionOptions, name: 'attention' });
    if (this.attentionLayer) this.branch.push(this.attentionLayer);
    for (const layer of this.branch) this.track(layer);
    this.addLayer = tfl.layers.add({ name: 'add' });
    this.outRelu = relu('relu');
  }

  /** Whether the shortcut is a projection (conv1x1 + BN); known once the block is built. */
  get hasProjection(): boolean {
    return this.shortcut.length > 0;
  }

  private conv(name: string, filters: number, kernelSize: number, strides: number, padding = 'same'): Layer {
    return tfl.layers.conv2d({
      name,
      filters,
      kernelSize,
      strides,
      padding: padding as 'same' | 'valid',
      useBias: false,
      kernelInitializer: this.kernelInitializer,
    });
  }

  /** A 3x3 convolution named `conv<suffix>`, preceded by symmetric 1-pixel padding when strided. */
  private conv3x3(suffix: string, filters: number, strides: number): Layer[] {
    if (strides === 1) return [this.conv(`conv${suffix}`, filters, 3, 1)];
    return [
      tfl.layers.zeroPadding2d({ name: `pad${suffix}`, padding: 1 }),
      this.conv(`conv${suffix}`, filters, 3, strides, 'valid'),
    ];
  }

  private bn(name: string): Layer {
    return new FusedBatchNormalization({
      name,
      epsilon: RESIDUAL_BLOCK_DEFAULTS.batchNormEpsilon,
      momentum: RESIDUAL_BLOCK_DEFAULTS.batchNormMomentum,
    });
  }

  /**
   * Creates the projection shortcut if the input's channels or the stride require it, then builds
   * every child (see {@link CompositeLayer.build}).
   */
  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const channels = checkRank4(shape, WHERE);
    if (!this.shortcutResolved) {
      if (this.strides !== 1 || channels !== this.outChannels) {
        this.shortcut = [
          this.track(this.conv('shortcut_conv', this.outChannels, 1, this.strides, 'valid')),
          this.track(this.bn('shortcut_bn')),
        ];
      }
      this.track(this.addLayer);
      this.track(this.outRelu);
      this.shortcutResolved = true;
    }
    super.build(shape);
  }

  protected forward(inputs: TensorLike | TensorLike[], kwargs: Kwargs): TensorLike {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    // Inference on concrete tensors: each conv + BatchNorm (+ ReLU) as one fused convolution.
    const plan = x instanceof tf.Tensor && !isTraining(kwargs) ? this.inferencePlan() : null;
    const y = plan ? runInference(plan.branch, x as tf.Tensor, kwargs) : applyInOrder(this.branch, x, kwargs);
    const s = plan
      ? runInference(plan.shortcut, x as tf.Tensor, kwargs)
      : applyInOrder(this.shortcut, x, kwargs);
    const sum = this.addLayer.apply([y, s] as tf.Tensor[], kwargs) as TensorLike;
    return this.outRelu.apply(sum, kwargs) as TensorLike;
  }

  /** The branch and the shortcut grouped for inference, planned on first use (the block is built by then). */
  private inferencePlan(): { branch: InferenceStep[]; shortcut: InferenceStep[] } {
    this.inference ??= { branch: planInference(this.branch), shortcut: planInference(this.shortcut) };
    return this.inference;
  }

  /** Disposes the weights (as every layer) and the folded inference weights, once no model uses the block. */
  override dispose(): ReturnType<Layer['dispose']> {
    const result = super.dispose();
    if (result.refCountAfterDispose === 0 && this.inference != null) {
      disposeInference(this.inference.branch);
      disposeInference(this.inference.shortcut);
    }
    return result;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    checkRank4(s, WHERE);
    const down = (n: number | null): number | null => (n == null ? null : Math.ceil(n / this.strides));
    return [s[0] ?? null, down(s[1] ?? null), down(s[2] ?? null), this.outChannels];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      strides: this.strides,
      bottleneck: this.bottleneck,
      expansion: this.expansion,
      attention: this.attention,
      attentionOptions: this.attentionOptions as tf.serialization.ConfigDict,
      kernelInitializer: this.kernelInitializer,
    };
  }
}
tf.serialization.registerClass(ResidualBlock);

/**
 * Creates a {@link ResidualBlock}: a ResNet basic or bottleneck block with an optional attention
 * module before the residual addition.
 * @param args Block options; `filters` is required (see {@link ResidualBlockArgs}).
 * @example
 * ```ts
 * const block = residualBlock({ filters: 64, attention: 'cbam', attentionOptions: { reductionRatio: 8 } });
 * const y = block.apply(tf.input({ shape: [44, 44, 64] }));
 * ```
 * @throws RangeError / TypeError for invalid options, as {@link ResidualBlock}.
 * @category Layers
 */
export function residualBlock(args: ResidualBlockArgs): ResidualBlock {
  return new ResidualBlock(args);
}

/** `layers` applied one after the other to `x`. */
function applyInOrder(layers: readonly Layer[], x: TensorLike, kwargs: Kwargs): TensorLike {
  let y = x;
  for (const layer of layers) y = layer.apply(y, kwargs) as TensorLike;
  return y;
}

function relu(name: string): Layer {
  return tfl.layers.activation({ name, activation: 'relu' });
}

function resolveAttentionOptions(value: unknown, where: string): AttentionArgs {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(expected(where, 'attentionOptions', 'a plain options object', value));
  }
  const { name: _ignored, ...rest } = value as AttentionArgs;
  return rest;
}
