/**
 * The public entry of ONNX export: a tfjs model in, the bytes of a standard ONNX model out, with its
 * class names and preprocessing in `metadata_props`.
 * @module
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { version as packageVersion } from '../../package.json';
import { checkOneOf, expected } from '../errors';
import { writeFileAtomic } from '../io/atomic';
import { getPreprocessing, type Preprocessing } from '../models/preprocessing';
import { emitModel } from './graph_walk';
import { ONNX_OPSET, OnnxGraph, type OnnxValue, type OnnxValueInfo, onnxAttr } from './onnx_graph';
import { encodeOnnxModel } from './protobuf';

/**
 * How image inputs are laid out in the exported model: `'nchw'` `[batch, channels, height, width]`
 * (ONNX's convention: what onnxruntime-web's `Tensor.fromImage`, OpenCV's `blobFromImage` and
 * PyTorch produce) or `'nhwc'` `[batch, height, width, channels]` (tfjs's; the graph starts with a
 * Transpose). For fer-cbam's one-channel faces both hold the same bytes in the same order.
 * @category Export
 */
export type OnnxInputLayout = 'nchw' | 'nhwc';

/** Options of {@link exportOnnx}. @category Export */
export interface OnnxExportOptions {
  /** Layout of rank-4 inputs (and outputs), see {@link OnnxInputLayout}. Defaults to `'nchw'`. */
  inputLayout?: OnnxInputLayout;
  /**
   * `'probabilities'`: the output is softmax probabilities, named `probabilities` (a Softmax is added
   * when the model outputs logits). `'raw'`: the model's outputs as they are, named `output` (or
   * `output_<i>`). Defaults to `'probabilities'` for a classifier (one 2-D output), else `'raw'`.
   */
  output?: 'probabilities' | 'raw';
  /**
   * The preprocessing and class names stored in the metadata. Defaults to the model's own
   * (`getPreprocessing(model)`, set by `train` and on the pretrained models); `null` stores none.
   */
  preprocessing?: Preprocessing | null;
  /**
   * Apply the temperature stored with the model (`preprocessing.temperature`, fitted by
   * `fitTemperature`): the output is `softmax(logits / temperature)`, the calibrated probabilities
   * `predictProbabilities` gives. `false` exports the raw softmax. Only for `output: 'probabilities'`;
   * models without a temperature give the raw softmax either way. Defaults to `true`.
   */
  calibrated?: boolean;
  /** More `metadata_props` entries (they may not replace the ones fer-cbam writes). Defaults to `{}`. */
  metadata?: Record<string, string>;
}

/** The `metadata_props` keys fer-cbam writes, with what each holds. @category Export */
export const ONNX_METADATA_KEYS = Object.freeze({
  class_names: 'JSON array of the class names, in output order',
  input_layout: '"NCHW" or "NHWC"',
  input_shape: 'JSON array of the input shape, "batch" for the dynamic batch',
  output: '"probabilities" or "raw"',
  image_size: 'side of the grayscale image the face is resized to (48)',
  crop_size: 'side of the centre crop the network sees (44)',
  normalization_mean: 'mean subtracted after scaling pixels to [0, 1]',
  normalization_std: 'std divided by after subtracting the mean',
  temperature: 'the temperature the probabilities are calibrated with (1: the raw softmax)',
  preprocessing: "JSON of fer-cbam's Preprocessing (imageSize, cropSize, normalization, classNames)",
  source_model: 'the tfjs model name',
  producer_version: 'the fer-cbam version that wrote the file',
} as const);

function checkPreprocessing(p: unknown): Preprocessing {
  const q = p as Preprocessing;
  const ok =
    q != null &&
    typeof q === 'object' &&
    Number.isFinite(q.imageSize) &&
    Number.isFinite(q.cropSize) &&
    Number.isFinite(q.normalization?.mean) &&
    Number.isFinite(q.normalization?.std) &&
    Array.isArray(q.classNames) &&
    q.classNames.every((c) => typeof c === 'string') &&
    (q.temperature === undefined || (Number.isFinite(q.temperature) && q.temperature > 0));
  if (!ok) {
    throw new TypeError(
      expected(
        'exportOnnx',
        'preprocessing',
        '{ imageSize, cropSize, normalization: { mean, std }, classNames, temperature? (positive) }',
        p,
      ),
    );
  }
  return q;
}

/** What the input is and how to prepare it, in words (the model's `doc_string`). */
function describe(
  inputs: OnnxValueInfo[],
  layout: OnnxInputLayout,
  output: string,
  pre: Preprocessing | null,
  temperature: number,
): string {
  const lines = [
    `Exported by fer-cbam ${packageVersion} (ONNX opset ${ONNX_OPSET}, float32).`,
    `Input ${inputs.map((v) => `"${v.name}" [${v.shape.join(', ')}]`).join(', ')}: ${layout.toUpperCase()}.`,
  ];
  if (pre) {
    const { imageSize, cropSize, normalization: n } = pre;
    lines.push(
      `Preprocessing: a grayscale face resized to ${imageSize}x${imageSize}, centre-cropped to ${cropSize}x${cropSize} ` +
        `(offset ${Math.floor((imageSize - cropSize) / 2)}), pixels / 255, then (x - ${n.mean}) / ${n.std}.`,
    );
  }
  lines.push(
    output === 'probabilities'
      ? `Output "probabilities" [batch, ${pre ? pre.classNames.length : 'classes'}]: softmax probabilities${pre ? ` of ${pre.classNames.join(', ')}` : ''}${temperature === 1 ? '' : `, calibrated: softmax(logits / ${temperature})`}.`
      : 'Outputs: the model outputs as they are.',
  );
  return lines.join('\n');
}

/**
 * The classifier's output as probabilities, `softmax(logits / temperature)`, as `predictProbabilities`
 * computes them. Whether the model already ends in softmax is read from the graph (its last node is
 * the Softmax that makes the output), which also sees a softmax inside a nested model; then its
 * input, the logits, is divided instead (exact, where tfjs recovers the logits as log(p)).
 */
function probabilities(g: OnnxGraph, out: OnnxValue, temperature: number): OnnxValue {
  const last = g.nodes[g.nodes.length - 1];
  const endsInSoftmax = last?.opType === 'Softmax' && last.outputs[0] === out.name;
  if (endsInSoftmax && temperature === 1) return out;
  let logits = out.name;
  if (endsInSoftmax) {
    g.nodes.pop();
    logits = last.inputs[0]!;
  }
  const scaled = temperature === 1 ? logits : g.op('Div', [logits, g.scalar('temperature', temperature)]);
  return { name: g.op('Softmax', [scaled], { axis: onnxAttr.int(-1) }), shape: out.shape };
}

/**
 * Converts a tfjs model built from fer-cbam's layers into a standard ONNX model (opset
 * {@link ONNX_OPSET}, float32, default-domain operators only), so it runs in onnxruntime (Node, Python,
 * the web), OpenCV DNN, TensorRT and the like. Inference semantics: BatchNorm with the moving
 * statistics, dropout off.
 *
 * Every network fer-cbam builds is covered: the attention layers (CBAM, ChannelAttention,
 * SpatialAttention, SqueezeExcitation, EfficientChannelAttention, CoordinateAttention) in any
 * placement, ResidualBlock (basic and bottleneck), FusedBatchNormalization, both stems, the presets
 * and the shipped models; plus the common tfjs layers ({@link listOnnxLayers}). Models nested as layers
 * are walked. Other layers need {@link registerOnnxEmitter}.
 *
 * The input is named `input` (`input_<i>` for several), with a dynamic batch; its layout is
 * `options.inputLayout` (NCHW by default). The output of a classifier is `probabilities`, calibrated
 * with the model's stored temperature as `predictProbabilities` does (`calibrated: false` for the raw
 * softmax). The class
 * names and preprocessing go to `metadata_props` ({@link ONNX_METADATA_KEYS}); read them back with
 * {@link readOnnxInfo}. Weights are read asynchronously, so any tfjs backend works.
 *
 * @param model A built `tf.LayersModel` (e.g. from `resnetCbam`, `loadPretrained`, `tf.loadLayersModel`).
 * @param options See {@link OnnxExportOptions}.
 * @returns The bytes of the `.onnx` file.
 * @throws OnnxExportError naming the layer (path and class) for a layer that cannot be exported;
 *   RangeError / TypeError naming the option for invalid options.
 * @example
 * ```ts
 * import { loadPretrained } from 'fer-cbam';
 * import { exportOnnx } from 'fer-cbam/export';
 * const bytes = await exportOnnx(await loadPretrained('fer2013'));
 * await writeFile('fer2013.onnx', bytes); // input [batch, 1, 44, 44], output "probabilities" [batch, 7]
 * ```
 * @category Export
 */
export async function exportOnnx(
  model: tfl.LayersModel,
  options: OnnxExportOptions = {},
): Promise<Uint8Array> {
  if (model == null || !Array.isArray((model as tfl.LayersModel).inputs)) {
    throw new TypeError(expected('exportOnnx', 'model', 'a tf.LayersModel', typeof model));
  }
  const layout = checkOneOf(
    options.inputLayout ?? 'nchw',
    ['nchw', 'nhwc'] as const,
    'inputLayout',
    'exportOnnx',
  );
  const classifier = model.outputs.length === 1 && model.outputs[0]!.shape.length === 2;
  const output = checkOneOf(
    options.output ?? (classifier ? 'probabilities' : 'raw'),
    ['probabilities', 'raw'] as const,
    'output',
    'exportOnnx',
  );
  if (output === 'probabilities' && !classifier) {
    throw new RangeError(
      expected(
        'exportOnnx',
        'output',
        "'raw' for a model that is not a classifier with one 2-D output",
        output,
      ),
    );
  }
  const pre =
    options.preprocessing === undefined
      ? getPreprocessing(model)
      : options.preprocessing === null
        ? null
        : checkPreprocessing(options.preprocessing);
  const calibrated = options.calibrated ?? true;
  if (typeof calibrated !== 'boolean') {
    throw new TypeError(expected('exportOnnx', 'calibrated', 'a boolean', calibrated));
  }
  const stored = pre?.temperature ?? 1;
  if (!(Number.isFinite(stored) && stored > 0)) {
    throw new RangeError(
      expected(
        'exportOnnx',
        'preprocessing.temperature',
        'a positive number (fix it with setPreprocessing)',
        stored,
      ),
    );
  }
  const temperature = output === 'probabilities' && calibrated ? stored : 1;
  const extra = options.metadata ?? {};
  for (const [key, value] of Object.entries(extra)) {
    if (key in ONNX_METADATA_KEYS || typeof value !== 'string') {
      throw new RangeError(
        expected('exportOnnx', `metadata.${key}`, 'a string under a key fer-cbam does not write', value),
      );
    }
  }

  // Weights are read up front and asynchronously: dataSync is refused by some backends (WebGPU).
  const variables = model.weights;
  const data = await Promise.all(variables.map((v) => v.read().data() as Promise<Float32Array>));
  const g = new OnnxGraph(new Map(variables.map((v, i) => [v, data[i]!])));

  const graphInputs: OnnxValueInfo[] = [];
  const inputs: OnnxValue[] = model.inputs.map((t, i) => {
    const name = g.reserve(model.inputs.length === 1 ? 'input' : `input_${i}`);
    const dims = t.shape.map((d, axis) => d ?? (axis === 0 ? 'batch' : `dim_${axis}`));
    if (t.shape.length !== 4) {
      graphInputs.push({ name, shape: dims });
      return { name, shape: t.shape };
    }
    const [n, h, w, c] = dims as [number | string, number | string, number | string, number | string];
    if (layout === 'nchw') {
      graphInputs.push({ name, shape: [n, c, h, w] });
      return { name, shape: t.shape };
    }
    graphInputs.push({ name, shape: [n, h, w, c] });
    return { name: g.op('Transpose', [name], { perm: onnxAttr.ints([0, 3, 1, 2]) }), shape: t.shape };
  });

  let outputs = emitModel(g, model, inputs);
  if (output === 'probabilities') outputs = [probabilities(g, outputs[0]!, temperature)];
  const named = new Map<string, string>(); // value -> the graph output it was renamed to
  const graphOutputs: OnnxValueInfo[] = outputs.map((v, i) => {
    let value = v.name;
    let dims = v.shape.map((d, axis) => d ?? (axis === 0 ? 'batch' : `dim_${axis}`));
    if (v.shape.length === 4) {
      const [n, h, w, c] = dims as [number | string, number | string, number | string, number | string];
      if (layout === 'nhwc') value = g.op('Transpose', [value], { perm: onnxAttr.ints([0, 2, 3, 1]) });
      else dims = [n, c, h, w];
    }
    const name =
      output === 'probabilities' ? 'probabilities' : outputs.length === 1 ? 'output' : `output_${i}`;
    // A graph output that is a graph input, or already another output, needs a node of its own.
    const earlier = named.get(value);
    if (earlier !== undefined || !g.renameValue(value, name)) {
      g.nodes.push({
        opType: 'Identity',
        name: g.uniqueName('Identity'),
        inputs: [earlier ?? value],
        outputs: [g.reserve(name)],
        attributes: {},
      });
    } else named.set(value, name);
    return { name, shape: dims };
  });

  const metadata: [string, string][] = [
    ['input_layout', layout.toUpperCase()],
    ['input_shape', JSON.stringify(graphInputs[0]?.shape ?? [])],
    ['output', output],
  ];
  if (pre) {
    metadata.push(
      ['class_names', JSON.stringify(pre.classNames)],
      ['image_size', String(pre.imageSize)],
      ['crop_size', String(pre.cropSize)],
      ['normalization_mean', String(pre.normalization.mean)],
      ['normalization_std', String(pre.normalization.std)],
      ['temperature', String(temperature)],
      ['preprocessing', JSON.stringify(pre)],
    );
  }
  metadata.push(['source_model', model.name], ['producer_version', packageVersion], ...Object.entries(extra));

  return encodeOnnxModel(g, {
    graphName: model.name,
    producerName: 'fer-cbam',
    producerVersion: packageVersion,
    docString: describe(graphInputs, layout, output, pre, temperature),
    inputs: graphInputs,
    outputs: graphOutputs,
    metadata,
  });
}

/**
 * {@link exportOnnx}, then writes the file atomically (a reader never sees half a model; an existing
 * file is replaced only once the new one is complete). Node only.
 * @param model See {@link exportOnnx}.
 * @param path The `.onnx` file to write; its folder must exist.
 * @param options See {@link OnnxExportOptions}.
 * @returns The number of bytes written.
 * @throws as {@link exportOnnx}; Error quoting `path` if it cannot be written.
 * @example
 * ```ts
 * await saveOnnx(model, 'fer2013.onnx', { inputLayout: 'nhwc' });
 * ```
 * @category Export
 */
export async function saveOnnx(
  model: tfl.LayersModel,
  path: string,
  options: OnnxExportOptions = {},
): Promise<number> {
  const bytes = await exportOnnx(model, options);
  await writeFileAtomic(path, bytes);
  return bytes.byteLength;
}
