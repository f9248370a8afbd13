import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Kwargs, LayerArgs } from './layer_utils';

/** A tfjs layer, as exported by `@tensorflow/tfjs-layers`. @category Layers */
export type Layer = tfl.layers.Layer;
/** A symbolic tensor or a concrete one: what `Layer.apply` takes and returns. @category Layers */
export type TensorLike = Tensor | tfl.SymbolicTensor;
/** Shape as tfjs-layers uses it (null for unknown dimensions). @category Layers */
export type Shape = (number | null)[];

/**
 * Base class for a layer made of layers (CBAM, ResidualBlock, ...). tfjs-layers does not track child
 * layers (tensorflow/tfjs#8253), so this class does it once, for every composite:
 *
 * - **Weights are tracked.** `trainableWeights` / `nonTrainableWeights` (and hence `weights`,
 *   `getWeights`, `setWeights`, `countParams`, `model.summary()`, `model.save`, optimizers) include
 *   every child's weights, in child order; when the composite is frozen (`trainable = false`) all of
 *   them are reported as non-trainable.
 * - **Names are deterministic.** Children have fixed names given by the subclass (`fc1`, `bn`, ...)
 *   and are built by applying them, inside the composite's own name scope, to a symbolic placeholder.
 *   Their weights are therefore named `<composite>/<child>/<weight>`, unique even when composites nest,
 *   which is what `loadLayersModel` needs (building children with `child.build()` would give clashing
 *   names and a "Duplicate weight name" error on load).
 * - **`training` reaches every child.** Subclasses write their computation once, in {@link forward},
 *   as a composition of `child.apply(x, kwargs)` calls; the same code runs symbolically during `build`
 *   and eagerly during `call`, and `kwargs` (which carries `training`) is forwarded to each child.
 * - **Regularisation losses** of children are reported by `calculateLosses()`.
 *
 * Subclasses create children in the constructor with {@link CompositeLayer.track}, implement
 * `forward`, `computeOutputShape` and `getConfig`, and register themselves with
 * `serialization.registerClass`.
 *
 * @example
 * ```ts
 * class ConvBn extends CompositeLayer {
 *   static className = 'ConvBn';
 *   private conv = this.track(tf.layers.conv2d({ name: 'conv', filters: 8, kernelSize: 3, padding: 'same' }));
 *   private bn = this.track(tf.layers.batchNormalization({ name: 'bn' }));
 *   protected forward(x, kwargs) { return this.bn.apply(this.conv.apply(x, kwargs), kwargs); }
 *   computeOutputShape(s) { return [s[0], s[1], s[2], 8]; }
 * }
 * ```
 * @category Layers
 */
export abstract class CompositeLayer extends tfl.layers.Layer {
  /** The child layers, in the order they were tracked (the order of their weights). */
  readonly sublayers: Layer[] = [];

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  /** Registers a child layer (call in the constructor, in a fixed order) and returns it. */
  protected track<L extends Layer>(layer: L): L {
    this.sublayers.push(layer);
    return layer;
  }

  /**
   * The computation, written only with `child.apply(x, kwargs)` calls (use weightless tfjs layers such
   * as `tf.layers.add()` or `tf.layers.activation()` for arithmetic), so it runs on symbolic tensors
   * while building and on concrete tensors while calling.
   */
  protected abstract forward(inputs: TensorLike | TensorLike[], kwargs: Kwargs): TensorLike | TensorLike[];

  /** Builds every child by running {@link forward} on a symbolic placeholder of `inputShape`. */
  override build(inputShape: Shape | Shape[]): void {
    const shapes = isShapeList(inputShape) ? inputShape : [inputShape];
    const placeholders = shapes.map((s) => tfl.input({ batchShape: s }));
    this.forward(placeholders.length === 1 ? placeholders[0]! : placeholders, {});
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) && inputs.length === 1 ? inputs[0]! : inputs;
      return this.forward(x, kwargs) as Tensor | Tensor[];
    });
  }

  /** This layer's own trainable weights, then every child's, in child order; none when frozen. */
  override get trainableWeights(): tfl.LayerVariable[] {
    if (!this.trainable) return [];
    return [...super.trainableWeights, ...this.sublayers.flatMap((l) => l.trainableWeights)];
  }

  override set trainableWeights(weights: tfl.LayerVariable[]) {
    super.trainableWeights = weights;
  }

  /**
   * This layer's own non-trainable weights, then every child's (BatchNorm moving statistics), in
   * child order; when frozen, all the children's weights.
   */
  override get nonTrainableWeights(): tfl.LayerVariable[] {
    const own = super.nonTrainableWeights;
    if (!this.trainable) return [...own, ...this.sublayers.flatMap((l) => l.weights)];
    return [...own, ...this.sublayers.flatMap((l) => l.nonTrainableWeights)];
  }

  override set nonTrainableWeights(weights: tfl.LayerVariable[]) {
    super.nonTrainableWeights = weights;
  }

  override calculateLosses(): tf.Scalar[] {
    return [...super.calculateLosses(), ...this.sublayers.flatMap((l) => l.calculateLosses())];
  }
}

function isShapeList(shape: Shape | Shape[]): shape is Shape[] {
  return Array.isArray(shape[0]);
}

/**
 * Every layer inside `root` (a model or a layer), depth first, descending into models nested as
 * layers and into {@link CompositeLayer} children. Useful to find attention layers wherever they sit.
 * @example
 * ```ts
 * const cbams = walkLayers(model).filter((l) => l instanceof CBAM);
 * ```
 * @category Layers
 */
export function walkLayers(root: Layer | tfl.LayersModel): Layer[] {
  const out: Layer[] = [];
  const visit = (layer: Layer): void => {
    out.push(layer);
    const children =
      layer instanceof CompositeLayer ? layer.sublayers : isContainer(layer) ? layer.layers : [];
    for (const child of children) visit(child);
  };
  if (isContainer(root)) for (const l of root.layers) visit(l);
  else visit(root);
  return out;
}

function isContainer(layer: unknown): layer is { layers: Layer[] } {
  return Array.isArray((layer as { layers?: unknown }).layers);
}
