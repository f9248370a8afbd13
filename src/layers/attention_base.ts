import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { checkRank4 } from '../errors';
import { type AttentionLayer, AttentionMapCapture, type AttentionMaps } from './attention_maps';
import type { Shape } from './composite';
import {
  type AddVariable,
  ensureBuilt,
  initializer,
  isTraining,
  type Kwargs,
  type LayerArgs,
  oneShape,
  oneTensor,
} from './layer_utils';

/**
 * Resolved layer options as `getConfig()` entries, with arrays copied (so a caller mutating the
 * config cannot change the layer).
 * @param options The resolved options, in config order.
 * @example
 * ```ts
 * configEntries({ kernelSize: 7, poolTypes: ['avg'] }); // { kernelSize: 7, poolTypes: ['avg'] } (a copy)
 * ```
 * @internal
 */
export function configEntries(options: object): tf.serialization.ConfigDict {
  const entries: tf.serialization.ConfigDict = {};
  for (const [key, value] of Object.entries(options))
    entries[key] = Array.isArray(value) ? [...value] : value;
  return entries;
}

/**
 * What the leaf attention gates (ChannelAttention, SpatialAttention, SqueezeExcitation,
 * EfficientChannelAttention, CoordinateAttention) share: a `[batch, height, width, channels]` input,
 * an output of the same shape, `y = x * maps` (broadcast), the {@link AttentionLayer} accessors and a
 * `getConfig()` made of the resolved options given to the constructor. A subclass creates its
 * weights in {@link AttentionLayerBase.buildWeights} and computes its maps in
 * {@link AttentionLayerBase.gates}. Not part of the API; hidden from the docs but kept in the
 * typings, because the published layers extend it.
 * @hidden
 */
export abstract class AttentionLayerBase extends tfl.layers.Layer implements AttentionLayer {
  private readonly capture = new AttentionMapCapture();
  private readonly options: object;

  /** `options`: the resolved options, returned (in that order) by `getConfig()`. */
  protected constructor(args: LayerArgs, options: object) {
    super(args);
    this.options = options;
  }

  /** `addWeight` with dtype float32 and an initializer by name. @internal */
  protected readonly addVariable: AddVariable = (name, shape, init, trainable = true) =>
    this.addWeight(name, shape, 'float32', initializer(init), undefined, trainable);

  /** Creates the weights for an input with `channels` channels. @internal */
  protected abstract buildWeights(channels: number): void;

  /** The attention maps for `x`; `training` selects batch (and updates moving) BatchNorm statistics. @internal */
  protected abstract gates(x: Tensor, training: boolean): AttentionMaps;

  /** `x` multiplied by each of `maps` in turn. @internal */
  protected applyMaps(x: Tensor, maps: AttentionMaps): Tensor {
    return Object.values(maps).reduce((y, map) => tf.mul(y, map), x);
  }

  override build(inputShape: Shape | Shape[]): void {
    const channels = checkRank4(oneShape(inputShape, this.getClassName()), this.getClassName());
    this.buildWeights(channels);
    this.inputSpec = [new tfl.InputSpec({ ndim: 4, axes: { 3: channels } })];
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const x = oneTensor(inputs);
      const maps = this.gates(x, isTraining(kwargs));
      this.capture.store(maps);
      return this.applyMaps(x, maps);
    });
  }

  /**
   * The attention maps for `x` (names and shapes in the class description and {@link AttentionMaps}),
   * as `call` computes them; with `training: true` a BatchNorm uses (and updates) batch statistics.
   * See {@link AttentionLayer.computeAttention}.
   */
  computeAttention(x: Tensor, kwargs: Kwargs = { training: false }): AttentionMaps {
    ensureBuilt(this, x);
    return tf.tidy(() => this.gates(x, isTraining(kwargs)));
  }

  /** See {@link AttentionLayer.captureMaps}. */
  get captureMaps(): boolean {
    return this.capture.enabled;
  }

  set captureMaps(on: boolean) {
    this.capture.enabled = on;
  }

  /** See {@link AttentionLayer.takeCapturedMaps}. */
  takeCapturedMaps(): AttentionMaps | null {
    return this.capture.take();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...configEntries(this.options) };
  }
}
