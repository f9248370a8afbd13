import * as tfl from '@tensorflow/tfjs-layers';
import { checkBoolean, checkNonNegativeInteger, checkOneOf, checkPositiveInteger, expected } from '../errors';
import { type AttentionArgs, createAttention, resolveAttentionName } from '../layers/attention_registry';
import { FusedBatchNormalization } from '../layers/batch_norm';
import type { Layer } from '../layers/composite';
import type { InitializerIdentifier } from '../layers/layer_utils';
import { RESIDUAL_BLOCK_DEFAULTS, ResidualBlock } from '../layers/residual_block';
import { withSeededRandom } from '../random';

const WHERE = 'resnetCbam';

/**
 * The depths {@link resnetCbam} knows, with their blocks per stage and block type.
 * 10, 18 and 34 use basic blocks; 50, 101 and 152 use bottleneck blocks (expansion 4).
 * @category Models
 */
export const RESNET_DEPTHS: Readonly<Record<number, { blocks: readonly number[]; bottleneck: boolean }>> = {
  10: { blocks: [1, 1, 1, 1], bottleneck: false },
  18: { blocks: [2, 2, 2, 2], bottleneck: false },
  34: { blocks: [3, 4, 6, 3], bottleneck: false },
  50: { blocks: [3, 4, 6, 3], bottleneck: true },
  101: { blocks: [3, 4, 23, 3], bottleneck: true },
  152: { blocks: [3, 8, 36, 3], bottleneck: true },
};

/**
 * Where {@link resnetCbam} puts attention modules, position by position. Stages are numbered from 1
 * (`stage1` is the first group of residual blocks, at the stem's resolution).
 * @category Models
 */
export interface PlacementSpec {
  /** One module after the stem (the seed paper's "after the first conv block"). Defaults to `false`. */
  afterStem?: boolean;
  /** One module after each listed stage, e.g. `[4]` after the last of four. Defaults to `[]`. */
  afterStages?: number[];
  /**
   * A module inside residual blocks, before the addition (Woo et al.): `true` for every block, or the
   * stage numbers whose blocks get one. Defaults to `false`.
   */
  inBlocks?: boolean | number[];
}

/**
 * Placement of attention in {@link resnetCbam}:
 * - `'paper'`: after the stem and after the last stage (the seed paper; the PyTorch reference's
 *   `paper` variant);
 * - `'everyBlock'`: inside every residual block, before the addition (Woo et al. 2018; the reference's
 *   `every` variant);
 * - `'none'`: no attention (a plain ResNet);
 * - a {@link PlacementSpec} naming positions.
 * @category Models
 */
export type Placement = 'paper' | 'everyBlock' | 'none' | PlacementSpec;

/** The named placements (a {@link PlacementSpec} is the fourth kind). @category Models */
export const PLACEMENTS = Object.freeze(['paper', 'everyBlock', 'none'] as const);

/** A placement resolved against a number of stages: explicit, sorted stage numbers. @category Models */
export interface ResolvedPlacement {
  /** Attention after the stem. */
  afterStem: boolean;
  /** Stages (from 1) followed by an attention module. */
  afterStages: number[];
  /** Stages (from 1) whose residual blocks contain an attention module. */
  inBlocks: number[];
}

/**
 * Options of {@link resnetCbam}. Defaults are in {@link RESNET_CBAM_DEFAULTS}.
 * @category Models
 */
export interface ResNetCbamOptions {
  /**
   * Depth: one of 10, 18, 34, 50, 101, 152 (see {@link RESNET_DEPTHS}). Give `depth` or `blocks`, not
   * both. Defaults to `18` when `blocks` is not given.
   */
  depth?: number;
  /** Residual blocks per stage, e.g. `[2, 2, 2, 2]`; overrides the depth table. */
  blocks?: number[];
  /**
   * Bottleneck blocks instead of basic ones. Defaults to the depth's block type (`true` from 50 up),
   * or `false` with `blocks`.
   */
  bottleneck?: boolean;
  /** Input shape `[height, width, channels]`. Defaults to `[44, 44, 1]` (FER2013 crops). */
  inputShape?: [number, number, number];
  /** Number of classes of the classifier. Defaults to `7` (FER2013). */
  numClasses?: number;
  /** Channels of the stem and the first stage; stage `s` has `width * 2^(s-1)`. Defaults to `64`. */
  width?: number;
  /**
   * `'cifar'`: 3x3 stride-1 convolution, BN, ReLU, no max-pool (the reference). `'imagenet'`: 7x7
   * stride-2 convolution, BN, ReLU, 3x3 stride-2 max-pool (PyTorch padding). Defaults to `'cifar'`.
   */
  stem?: 'cifar' | 'imagenet';
  /** Attention module: any name registered with `registerAttention`, or `null`/`'none'`. Defaults to `'cbam'`. */
  attention?: string | null;
  /** Options for every attention module, e.g. `{ reductionRatio: 8 }`. Defaults to `{}`. */
  attentionOptions?: AttentionArgs;
  /** Where attention goes (see {@link Placement}). Defaults to `'paper'`. */
  placement?: Placement;
  /** Dropout rate before the classifier, in `[0, 1)`; `0` leaves the layer out. Defaults to `0.5`. */
  dropout?: number;
  /**
   * `true`: global average pooling, dropout and the classifier. `false`: the model outputs the last
   * feature map `[batch, h, w, channels]` (after any attention placed after the last stage).
   * Defaults to `true`.
   */
  includeTop?: boolean;
  /** `'softmax'` (probabilities) or `'linear'` (logits). Defaults to `'softmax'`. */
  classifierActivation?: 'softmax' | 'linear';
  /** Initializer of every convolution kernel. Defaults to `'heNormal'`. */
  kernelInitializer?: InitializerIdentifier;
  /** Model name. Defaults to a descriptive one: `resnet18`, `resnet18_cbam_paper`, `resnet18_cbam_every`, `resnet18_cbam_custom` (`resnet_2_2_2_2...` with `blocks`). */
  name?: string;
  /**
   * Seed of the initial weights: the same seed gives the same weights (and, with `train`'s own seed,
   * the same training run). Defaults to `undefined`: different weights on every call, as in tfjs.
   */
  seed?: number;
}

/**
 * Defaults of {@link ResNetCbamOptions} (`depth` applies when `blocks` is not given).
 * @category Models
 */
export const RESNET_CBAM_DEFAULTS = {
  depth: 18,
  inputShape: [44, 44, 1] as readonly [number, number, number],
  numClasses: 7,
  width: 64,
  stem: 'cifar' as 'cifar' | 'imagenet',
  attention: 'cbam' as string | null,
  placement: 'paper' as Placement,
  dropout: 0.5,
  includeTop: true,
  classifierActivation: 'softmax' as 'softmax' | 'linear',
  kernelInitializer: 'heNormal' as InitializerIdentifier,
} as const;

const OPTION_KEYS = new Set([
  'depth',
  'blocks',
  'bottleneck',
  'inputShape',
  'numClasses',
  'width',
  'stem',
  'attention',
  'attentionOptions',
  'placement',
  'dropout',
  'seed',
  'includeTop',
  'classifierActivation',
  'kernelInitializer',
  'name',
]);

const PLACEMENT_KEYS = ['afterStem', 'afterStages', 'inBlocks'];

/**
 * Resolves a {@link Placement} for a network with `numStages` stages into explicit positions.
 * @param placement `'paper'`, `'everyBlock'`, `'none'` or a {@link PlacementSpec}.
 * @param numStages Number of stages (4 for the standard depths).
 * @example
 * ```ts
 * resolvePlacement('paper', 4); // { afterStem: true, afterStages: [4], inBlocks: [] }
 * ```
 * @throws RangeError / TypeError naming `placement` (and the offending key) for invalid values.
 * @category Models
 */
export function resolvePlacement(placement: Placement, numStages: number): ResolvedPlacement {
  const all = Array.from({ length: numStages }, (_, i) => i + 1);
  if (placement === 'paper') return { afterStem: true, afterStages: [numStages], inBlocks: [] };
  if (placement === 'everyBlock') return { afterStem: false, afterStages: [], inBlocks: all };
  if (placement === 'none') return { afterStem: false, afterStages: [], inBlocks: [] };
  if (placement === null || typeof placement !== 'object' || Array.isArray(placement)) {
    throw new RangeError(
      expected(
        WHERE,
        'placement',
        `one of "paper", "everyBlock", "none" or an object with keys ${PLACEMENT_KEYS.join(', ')}`,
        placement,
      ),
    );
  }
  for (const key of Object.keys(placement)) {
    if (!PLACEMENT_KEYS.includes(key)) {
      throw new RangeError(
        expected(WHERE, 'placement', `an object with keys ${PLACEMENT_KEYS.join(', ')}`, key),
      );
    }
  }
  const stages = (value: unknown, arg: string): number[] => {
    if (!Array.isArray(value)) {
      throw new TypeError(expected(WHERE, arg, `an array of stage numbers in 1..${numStages}`, value));
    }
    for (const s of value) {
      if (!Number.isInteger(s) || s < 1 || s > numStages) {
        throw new RangeError(expected(WHERE, arg, `an array of stage numbers in 1..${numStages}`, value));
      }
    }
    return [...new Set(value as number[])].sort((a, b) => a - b);
  };
  const afterStem = checkBoolean(placement.afterStem ?? false, 'placement.afterStem', WHERE);
  const afterStages = stages(placement.afterStages ?? [], 'placement.afterStages');
  const inBlocksValue = placement.inBlocks ?? false;
  const inBlocks =
    typeof inBlocksValue === 'boolean'
      ? inBlocksValue
        ? all
        : []
      : stages(inBlocksValue, 'placement.inBlocks');
  return { afterStem, afterStages, inBlocks };
}

/** Options after defaults and validation. */
interface Resolved {
  blocks: number[];
  bottleneck: boolean;
  depth: number | null;
  inputShape: [number, number, number];
  numClasses: number;
  width: number;
  stem: 'cifar' | 'imagenet';
  attention: string | null;
  attentionOptions: AttentionArgs;
  placement: ResolvedPlacement;
  placementLabel: string;
  dropout: number;
  includeTop: boolean;
  classifierActivation: 'softmax' | 'linear';
  kernelInitializer: InitializerIdentifier;
  name: string;
}

function resolveOptions(options: ResNetCbamOptions): Resolved {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(expected(WHERE, 'options', 'an options object', options));
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new RangeError(
        expected(WHERE, 'options', `an object with keys ${[...OPTION_KEYS].join(', ')}`, key),
      );
    }
  }
  const d = RESNET_CBAM_DEFAULTS;
  let blocks: number[];
  let bottleneck: boolean;
  let depth: number | null = null;
  if (options.blocks !== undefined) {
    if (options.depth !== undefined) {
      throw new RangeError(
        expected(WHERE, 'depth', 'left out when `blocks` is given (give one of them)', options.depth),
      );
    }
    const b = options.blocks;
    if (!Array.isArray(b) || b.length === 0 || !b.every((n) => Number.isInteger(n) && n >= 1)) {
      throw new RangeError(expected(WHERE, 'blocks', 'a non-empty array of positive integers', b));
    }
    blocks = [...b];
    bottleneck = checkBoolean(options.bottleneck ?? false, 'bottleneck', WHERE);
  } else {
    const depths = Object.keys(RESNET_DEPTHS).map(Number);
    depth = checkOneOf(options.depth ?? d.depth, depths, 'depth', WHERE);
    const entry = RESNET_DEPTHS[depth]!;
    blocks = [...entry.blocks];
    bottleneck = checkBoolean(options.bottleneck ?? entry.bottleneck, 'bottleneck', WHERE);
  }
  const shape = options.inputShape ?? d.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new RangeError(
      expected(WHERE, 'inputShape', '[height, width, channels] of positive integers', shape),
    );
  }
  const numClasses = checkPositiveInteger(options.numClasses ?? d.numClasses, 'numClasses', WHERE);
  if (options.seed !== undefined) checkNonNegativeInteger(options.seed, 'seed', WHERE);
  const width = checkPositiveInteger(options.width ?? d.width, 'width', WHERE);
  const stem = checkOneOf(options.stem ?? d.stem, ['cifar', 'imagenet'] as const, 'stem', WHERE);
  const attention = resolveAttentionName(
    options.attention === undefined ? d.attention : options.attention,
    WHERE,
    'attention',
  );
  const attentionOptions = options.attentionOptions ?? {};
  if (attentionOptions === null || typeof attentionOptions !== 'object' || Array.isArray(attentionOptions)) {
    throw new TypeError(expected(WHERE, 'attentionOptions', 'a plain options object', attentionOptions));
  }
  const placementOption = options.placement ?? d.placement;
  if (typeof placementOption === 'string') {
    checkOneOf(placementOption, PLACEMENTS, 'placement', WHERE);
  }
  let placement = resolvePlacement(placementOption, blocks.length);
  if (attention === null) placement = resolvePlacement('none', blocks.length);
  const dropout = options.dropout ?? d.dropout;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw new RangeError(expected(WHERE, 'dropout', 'a number in [0, 1)', dropout));
  }
  const includeTop = checkBoolean(options.includeTop ?? d.includeTop, 'includeTop', WHERE);
  const classifierActivation = checkOneOf(
    options.classifierActivation ?? d.classifierActivation,
    ['softmax', 'linear'] as const,
    'classifierActivation',
    WHERE,
  );
  const kernelInitializer = options.kernelInitializer ?? d.kernelInitializer;
  if (typeof kernelInitializer !== 'string' || kernelInitializer.length === 0) {
    throw new TypeError(
      expected(WHERE, 'kernelInitializer', 'a tfjs initializer identifier', kernelInitializer),
    );
  }
  const placementLabel =
    attention === null
      ? 'none'
      : typeof placementOption === 'string'
        ? placementOption
        : placement.afterStem || placement.afterStages.length > 0 || placement.inBlocks.length > 0
          ? 'custom'
          : 'none';
  let name = options.name;
  if (name === undefined) {
    const base = depth === null ? `resnet_${blocks.join('_')}` : `resnet${depth}`;
    name =
      placementLabel === 'none'
        ? base
        : `${base}_${attention}_${placementLabel === 'everyBlock' ? 'every' : placementLabel}`;
  }
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError(expected(WHERE, 'name', 'a non-empty string', name));
  }
  return {
    blocks,
    bottleneck,
    depth,
    inputShape: [...shape] as [number, number, number],
    numClasses,
    width,
    stem,
    attention,
    attentionOptions,
    placement,
    placementLabel,
    dropout,
    includeTop,
    classifierActivation,
    kernelInitializer,
    name,
  };
}

/**
 * Builds a ResNet with attention wherever it is wanted: the network of the seed paper (CBAM after the
 * first conv block and after the last stage), Woo et al.'s CBAM-in-every-block, a plain ResNet, or any
 * other placement; CBAM or any registered attention module.
 *
 * Layout (layer names are fixed, so two models built in one process save the same weight names):
 * `input`; stem `stem_conv`, `stem_bn`, `stem_relu` (ImageNet stem: `stem_pad` first, then
 * `stem_pool_pad`, `stem_pool`); `stem_attention`; residual blocks `stage<s>_block<b>` (see
 * {@link ResidualBlock}; the first block of every stage after the first has stride 2, block attention
 * is the child `attention`); `stage<s>_attention`; then `avg_pool`, `dropout`, `classifier`.
 *
 * With the CIFAR stem, input `[44, 44, 1]`, 7 classes and default CBAM options, trainable-parameter
 * counts equal the PyTorch reference (`resnet_cbam_reference.py`): depth 18 — none 11,171,271,
 * paper 11,205,363, everyBlock 11,261,151; depth 34 — none 21,279,431, paper 21,313,523,
 * everyBlock 21,442,227. Given the same weights it gives the reference's logits (tested on a fixture).
 *
 * @param options See {@link ResNetCbamOptions}; every field is optional.
 * @returns An uncompiled `tf.LayersModel`.
 * @example
 * ```ts
 * const model = resnetCbam({ depth: 18, placement: 'paper' });
 * model.compile({ optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
 * const small = resnetCbam({ depth: 10, width: 16, placement: { afterStages: [3, 4], inBlocks: [4] } });
 * ```
 * @throws RangeError / TypeError naming the argument (and listing the allowed values) for invalid
 *   options, including an unregistered `attention` name.
 * @category Models
 */
export function resnetCbam(options: ResNetCbamOptions = {}): tfl.LayersModel {
  const o = resolveOptions(options);
  // Initializers take their seeds from Math.random when given none; the build is synchronous.
  return options.seed === undefined ? buildResNet(o) : withSeededRandom(options.seed, () => buildResNet(o));
}

function buildResNet(o: Resolved): tfl.LayersModel {
  const attentionLayer = (name: string): Layer =>
    createAttention(o.attention, { ...o.attentionOptions, name }) as Layer;
  const bn = (name: string): Layer =>
    new FusedBatchNormalization({
      name,
      epsilon: RESIDUAL_BLOCK_DEFAULTS.batchNormEpsilon,
      momentum: RESIDUAL_BLOCK_DEFAULTS.batchNormMomentum,
    });
  const apply = (layer: Layer, x: tfl.SymbolicTensor): tfl.SymbolicTensor =>
    layer.apply(x) as tfl.SymbolicTensor;

  const input = tfl.input({ shape: o.inputShape, name: 'input' });
  let x = input;
  if (o.stem === 'cifar') {
    x = apply(stemConv(o, 3, 1, 'same'), x);
  } else {
    x = apply(tfl.layers.zeroPadding2d({ name: 'stem_pad', padding: 3 }), x);
    x = apply(stemConv(o, 7, 2, 'valid'), x);
  }
  x = apply(bn('stem_bn'), x);
  x = apply(tfl.layers.activation({ name: 'stem_relu', activation: 'relu' }), x);
  if (o.stem === 'imagenet') {
    // Zero padding equals PyTorch's -inf padding here: the inputs are ReLU outputs (>= 0).
    x = apply(tfl.layers.zeroPadding2d({ name: 'stem_pool_pad', padding: 1 }), x);
    x = apply(tfl.layers.maxPooling2d({ name: 'stem_pool', poolSize: 3, strides: 2, padding: 'valid' }), x);
  }
  if (o.placement.afterStem) x = apply(attentionLayer('stem_attention'), x);
  o.blocks.forEach((count, i) => {
    const stage = i + 1;
    const inBlocks = o.placement.inBlocks.includes(stage);
    for (let b = 1; b <= count; b++) {
      const block = new ResidualBlock({
        name: `stage${stage}_block${b}`,
        filters: o.width * 2 ** i,
        strides: stage > 1 && b === 1 ? 2 : 1,
        bottleneck: o.bottleneck,
        attention: inBlocks ? o.attention : null,
        attentionOptions: o.attentionOptions,
        kernelInitializer: o.kernelInitializer,
      });
      x = apply(block, x);
    }
    if (o.placement.afterStages.includes(stage)) x = apply(attentionLayer(`stage${stage}_attention`), x);
  });
  if (o.includeTop) {
    x = apply(tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
    if (o.dropout > 0) x = apply(tfl.layers.dropout({ name: 'dropout', rate: o.dropout }), x);
    x = apply(
      tfl.layers.dense({ name: 'classifier', units: o.numClasses, activation: o.classifierActivation }),
      x,
    );
  }
  return tfl.model({ name: o.name, inputs: input, outputs: x });
}

function stemConv(o: Resolved, kernelSize: number, strides: number, padding: 'same' | 'valid'): Layer {
  return tfl.layers.conv2d({
    name: 'stem_conv',
    filters: o.width,
    kernelSize,
    strides,
    padding,
    useBias: false,
    kernelInitializer: o.kernelInitializer,
  });
}

/**
 * Trainable parameters of a model or layer: the number PyTorch's `sum(p.numel() for p in
 * model.parameters())` reports (BatchNorm moving statistics are not counted, unlike `countParams()`).
 * @example
 * ```ts
 * countTrainableParams(resnetCbam({ depth: 18, placement: 'none' })); // 11171271
 * ```
 * @category Models
 */
export function countTrainableParams(model: tfl.LayersModel | Layer): number {
  return model.trainableWeights.reduce((n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
}
