import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { checkBoolean } from '../errors';
import { AttentionLayerBase } from './attention_base';
import type { AttentionLayer, AttentionMaps } from './attention_maps';
import type { LayerArgs } from './layer_utils';
import { addMlpWeights, hiddenWidth, type MlpWeights, mlpGate, resolveReduction } from './reduction_mlp';

/** Options of {@link SqueezeExcitation}. @category Layers */
export interface SqueezeExcitationOptions {
  /** The divisor `r` of the hidden width `max(minUnits, floor(C / r))`. Defaults to `16`. */
  reductionRatio?: number;
  /** A fixed hidden width that overrides `reductionRatio` and `minUnits`. Defaults to `null` (unset). */
  hiddenUnits?: number | null;
  /** The smallest hidden width. Defaults to `1`. */
  minUnits?: number;
  /** Whether both fully connected layers have biases (as in the SENet paper's models). Defaults to `true`. */
  useBias?: boolean;
}

/** Constructor arguments of {@link SqueezeExcitation}. @category Layers */
export interface SqueezeExcitationArgs extends SqueezeExcitationOptions, LayerArgs {}

/** Defaults of {@link SqueezeExcitation}. @category Layers */
export const SQUEEZE_EXCITATION_DEFAULTS: Readonly<Required<SqueezeExcitationOptions>> = Object.freeze({
  reductionRatio: 16,
  hiddenUnits: null,
  minUnits: 1,
  useBias: true,
});

/**
 * Squeeze-and-Excitation (Hu et al., CVPR 2018, https://arxiv.org/abs/1709.01507):
 * `y = x * sigmoid(fc2(relu(fc1(avgpool(x)))))`, with `fc1: C -> h`, `fc2: h -> C` and
 * `h = max(minUnits, floor(C / reductionRatio))`. It is {@link ChannelAttention} with only the
 * average pool.
 *
 * Input: `[batch, height, width, channels]`; output: the same shape.
 *
 * Weights, in order: `fc1/kernel [C, h]`, `fc1/bias [h]`, `fc2/kernel [h, C]`, `fc2/bias [C]`
 * (no biases when `useBias` is `false`). From PyTorch `nn.Linear` weights, transpose; from 1x1
 * `nn.Conv2d` weights `[out, in, 1, 1]` (timm), reshape to `[out, in]` and transpose.
 *
 * Attention map (see {@link AttentionMaps}): `channel`, `[batch, 1, 1, C]`.
 *
 * Defaults: {@link SQUEEZE_EXCITATION_DEFAULTS}.
 * @example
 * ```ts
 * const y = new SqueezeExcitation({ reductionRatio: 16 }).apply(tf.randomNormal([2, 7, 7, 64])) as tf.Tensor;
 * ```
 * @throws RangeError if `reductionRatio`, `minUnits` or `hiddenUnits` is not a positive integer;
 *   TypeError if `useBias` is not a boolean; RangeError in `build` for non-4D input.
 * @category Layers
 */
export class SqueezeExcitation extends AttentionLayerBase implements AttentionLayer {
  /** The tfjs serialization name. */
  static className = 'SqueezeExcitation';
  /** See {@link SqueezeExcitationOptions.reductionRatio}. */
  readonly reductionRatio: number;
  /** See {@link SqueezeExcitationOptions.hiddenUnits}. */
  readonly hiddenUnits: number | null;
  /** See {@link SqueezeExcitationOptions.minUnits}. */
  readonly minUnits: number;
  /** See {@link SqueezeExcitationOptions.useBias}. */
  readonly useBias: boolean;
  /** The hidden width, known once built (`null` before). */
  units: number | null = null;
  private mlp: MlpWeights | null = null;

  constructor(args: SqueezeExcitationArgs = {}) {
    const d = SQUEEZE_EXCITATION_DEFAULTS;
    const where = 'SqueezeExcitation';
    const o = {
      ...resolveReduction(args, d, where),
      useBias: checkBoolean(args.useBias ?? d.useBias, 'useBias', where),
    };
    super(args, o);
    this.reductionRatio = o.reductionRatio;
    this.hiddenUnits = o.hiddenUnits;
    this.minUnits = o.minUnits;
    this.useBias = o.useBias;
  }

  /** @internal */
  protected override buildWeights(channels: number): void {
    this.units = hiddenWidth(channels, this);
    this.mlp = addMlpWeights(this.addVariable, channels, this.units, this.useBias);
  }

  /** @internal */
  protected override gates(x: Tensor): AttentionMaps {
    return { channel: mlpGate(x, ['avg'], this.mlp!) };
  }
}
tf.serialization.registerClass(SqueezeExcitation);

/**
 * Creates a {@link SqueezeExcitation} layer: `x * sigmoid(MLP(avgpool(x)))`.
 * @param args Options (defaults in {@link SQUEEZE_EXCITATION_DEFAULTS}) and tfjs layer args.
 * @example
 * ```ts
 * const y = squeezeExcitation({ reductionRatio: 16 }).apply(tf.input({ shape: [12, 12, 64] }));
 * ```
 * @throws RangeError / TypeError for invalid options, as {@link SqueezeExcitation}.
 * @category Layers
 */
export function squeezeExcitation(args?: SqueezeExcitationArgs): SqueezeExcitation {
  return new SqueezeExcitation(args);
}
