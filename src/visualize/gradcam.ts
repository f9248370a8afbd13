import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Options of {@link gradCam}. @category Visualization */
export interface GradCamOptions {
  /**
   * Name of the layer whose 4D output is explained. Defaults to the last layer with a 4D output
   * (for `resnetCbam`, the last stage, or the CBAM after it).
   */
  layerName?: string;
  /** Class to explain. Defaults to the predicted class of each image. */
  classIndex?: number;
}

/** Result of {@link gradCam}. @category Visualization */
export interface GradCamResult {
  /** `[batch, h, w]` class-activation maps (ReLU applied, not rescaled). */
  maps: tf.Tensor3D;
  /** `[batch, numClasses]` model outputs. */
  scores: tf.Tensor2D;
  /** The explained class per image. */
  classIndices: number[];
  /** The layer that was explained. */
  layerName: string;
}

/**
 * Grad-CAM (Selvaraju et al., ICCV 2017): the feature maps of a layer weighted by the spatially
 * averaged gradient of the class score, then ReLU. Works on functional models whose layers after the
 * explained layer form a single chain (true of `resnetCbam` and most classifiers). The caller disposes
 * the returned tensors.
 * @param model A `tf.LayersModel` with one input and one output.
 * @param x `[batch, h, w, c]` input, already normalised as the model expects.
 * @example
 * ```ts
 * const { maps, classIndices } = gradCam(model, faces);
 * const heat = await maps.array();
 * ```
 * @throws RangeError if the layer does not exist, is not 4D, or is followed by a non-chain graph.
 * @category Visualization
 */
export function gradCam(model: tfl.LayersModel, x: tf.Tensor4D, options: GradCamOptions = {}): GradCamResult {
  const layers = model.layers;
  const index = options.layerName
    ? layers.findIndex((l) => l.name === options.layerName)
    : findLastIndex(layers, (l) => outputRank(l) === 4);
  if (index < 0) {
    throw new RangeError(
      options.layerName
        ? `gradCam: expected \`layerName\` to name a layer of the model, but got "${options.layerName}".`
        : 'gradCam: the model has no layer with a 4D output to explain.',
    );
  }
  const target = layers[index]!;
  if (outputRank(target) !== 4) {
    throw new RangeError(
      `gradCam: expected \`layerName\` to name a layer with a 4D output, but "${target.name}" is not.`,
    );
  }
  const head = layers.slice(index + 1);
  let previous = target;
  for (const layer of head) {
    const inbound = layer.inboundNodes;
    if (
      inbound.length !== 1 ||
      inbound[0]!.inboundLayers.length !== 1 ||
      inbound[0]!.inboundLayers[0] !== previous
    ) {
      throw new RangeError(
        `gradCam: the layers after "${target.name}" must form a single chain; "${layer.name}" does not.`,
      );
    }
    previous = layer;
  }
  const featureModel = tfl.model({ inputs: model.inputs, outputs: target.output as tfl.SymbolicTensor });
  const runHead = (f: tf.Tensor): tf.Tensor2D =>
    head.reduce((t, layer) => layer.apply(t, { training: false }) as tf.Tensor, f) as tf.Tensor2D;
  const features = featureModel.predict(x) as tf.Tensor4D;
  try {
    const scores = tf.tidy(() => runHead(features));
    const numClasses = scores.shape[1];
    if (
      options.classIndex !== undefined &&
      !(Number.isInteger(options.classIndex) && options.classIndex >= 0 && options.classIndex < numClasses)
    ) {
      scores.dispose();
      throw new RangeError(
        `gradCam: expected \`classIndex\` to be an integer in [0, ${numClasses - 1}], but got ${options.classIndex}.`,
      );
    }
    let classIndices: number[];
    if (options.classIndex !== undefined)
      classIndices = new Array<number>(x.shape[0]).fill(options.classIndex);
    else {
      const predicted = tf.argMax(scores, 1);
      classIndices = Array.from(predicted.dataSync());
      predicted.dispose();
    }
    const maps = tf.tidy(() => {
      const mask = tf.oneHot(tf.tensor1d(classIndices, 'int32'), numClasses);
      const grads = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(runHead(f), mask)))(features);
      const weights = tf.mean(grads, [1, 2], true);
      return tf.relu(tf.sum(tf.mul(features, weights), 3)) as tf.Tensor3D;
    });
    return { maps, scores, classIndices, layerName: target.name };
  } finally {
    features.dispose();
  }
}

function outputRank(layer: tfl.layers.Layer): number | undefined {
  try {
    const shape = layer.outputShape;
    return Array.isArray(shape) && !Array.isArray(shape[0]) ? shape.length : undefined;
  } catch {
    return undefined;
  }
}

function findLastIndex<T>(items: T[], predicate: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (predicate(items[i]!)) return i;
  return -1;
}
