/**
 * The ONNX graph being built: nodes, initializers, unique names and the layer path used in errors. It is
 * plain data (no protobuf types), so the emitters stay independent of the wire format, which
 * `protobuf.ts` writes.
 * @module
 */
import type * as tfl from '@tensorflow/tfjs-layers';

/** The ONNX opset (default domain) every exported graph imports. @category Export */
export const ONNX_OPSET = 17;

/**
 * A node attribute, typed as ONNX types it (an integer and a float are different attributes). Build
 * one with {@link onnxAttr}.
 * @category Export
 */
export interface OnnxAttribute {
  /** The ONNX attribute type. */
  type: 'int' | 'float' | 'ints' | 'floats' | 'string';
  /** A number (`int`, `float`), a list of numbers (`ints`, `floats`) or a string (`string`). */
  value: number | number[] | string;
}

/** A node of the graph. @category Export */
export interface OnnxNode {
  /** The operator, e.g. `'Conv'` (ONNX default domain, {@link ONNX_OPSET}). */
  opType: string;
  /** A unique node name (the layer path and the operator). */
  name: string;
  /** Input value names, in the operator's order (`''` for an omitted optional input). */
  inputs: string[];
  /** Output value names. */
  outputs: string[];
  /** Attributes by name. */
  attributes: Record<string, OnnxAttribute>;
}

/** A constant tensor of the graph (a weight, a shape, pads). @category Export */
export interface OnnxInitializer {
  /** Its value name. */
  name: string;
  /** Its shape. */
  dims: number[];
  /** float32 weights, or int64 shapes and indices. */
  data: Float32Array | BigInt64Array;
}

/** A graph input or output: a float32 tensor with fixed dimensions or named (dynamic) ones. @category Export */
export interface OnnxValueInfo {
  /** The value name. */
  name: string;
  /** Each dimension: a size, or a name for a dynamic one (`'batch'`). */
  shape: (number | string)[];
}

/**
 * A value flowing through the graph while it is built: its ONNX name and its shape as tfjs sees it
 * (channels last, `null` for the batch). Rank-4 values are stored **NCHW** in the ONNX graph (ONNX's
 * convolution layout); `shape` stays the tfjs `[batch, height, width, channels]`, so emitters can
 * reuse the layers' own `computeOutputShape`.
 * @category Export
 */
export interface OnnxValue {
  /** The ONNX value name. */
  name: string;
  /** The tfjs (channels-last) shape. */
  shape: (number | null)[];
}

/**
 * Attribute helpers: `int(1)`, `float(1e-5)`, `ints([1, 1])`, `floats([...])`, `string('constant')`.
 * @example
 * ```ts
 * g.op('Softmax', [x], { axis: onnxAttr.int(-1) });
 * ```
 * @category Export
 */
export const onnxAttr = {
  /** An integer attribute. */
  int: (value: number): OnnxAttribute => ({ type: 'int', value }),
  /** A float attribute. */
  float: (value: number): OnnxAttribute => ({ type: 'float', value }),
  /** A list of integers. */
  ints: (value: number[]): OnnxAttribute => ({ type: 'ints', value }),
  /** A list of floats. */
  floats: (value: number[]): OnnxAttribute => ({ type: 'floats', value }),
  /** A string. */
  string: (value: string): OnnxAttribute => ({ type: 'string', value }),
};

/**
 * Builds an ONNX graph: {@link OnnxGraph.op} adds a node and returns its output name,
 * {@link OnnxGraph.constant} / {@link OnnxGraph.int64s} add initializers, and
 * {@link OnnxGraph.within} scopes the names to the layer being exported (so nodes are named
 * `stage1_block1/conv1/Conv` and an error names the layer it failed on). Layer emitters (see
 * `registerOnnxEmitter`) receive one.
 * @example
 * ```ts
 * const y = g.op('Relu', [x.name]);             // 'stem_relu/Relu'
 * const w = g.constant('kernel', data, [8, 1, 3, 3]);
 * ```
 * @category Export
 */
export class OnnxGraph {
  /** The nodes, in topological order (each one's inputs come before it). */
  readonly nodes: OnnxNode[] = [];
  /** The initializers, in the order they were added. */
  readonly initializers: OnnxInitializer[] = [];
  private readonly used = new Set<string>();
  private readonly scope: string[] = [];
  private readonly shared = new Map<object, string>();
  private readonly weightData: ReadonlyMap<tfl.LayerVariable, Float32Array>;

  /**
   * @param weights The model's weights read beforehand (reading is asynchronous on some backends);
   *   {@link OnnxGraph.weight} takes them from here.
   */
  constructor(weights: ReadonlyMap<tfl.LayerVariable, Float32Array> = new Map()) {
    this.weightData = weights;
  }

  /** The layer path being exported, e.g. `stage2_block1/attention/channel` (`''` at the top). */
  get path(): string {
    return this.scope.join('/');
  }

  /**
   * Runs `fn` with `name` appended to the layer path, and returns its result.
   * @example
   * ```ts
   * const y = g.within('channel', () => g.op('Sigmoid', [x])); // node 'cbam/channel/Sigmoid'
   * ```
   */
  within<T>(name: string, fn: () => T): T {
    this.scope.push(name);
    try {
      return fn();
    } finally {
      this.scope.pop();
    }
  }

  /**
   * A name not used yet: `<path>/<base>`, then `<path>/<base>_1`, ...
   * @example
   * ```ts
   * g.uniqueName('kernel'); // 'stem_conv/kernel', then 'stem_conv/kernel_1'
   * ```
   */
  uniqueName(base: string): string {
    const stem = this.scope.length > 0 ? `${this.path}/${base}` : base;
    let name = stem;
    for (let i = 1; this.used.has(name); i++) name = `${stem}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Reserves `name` exactly (graph inputs and outputs), failing if it is taken. @internal */
  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`OnnxGraph: the value name "${name}" is already used.`);
    this.used.add(name);
    return name;
  }

  /**
   * Renames the value `from` (a node output) to `to` everywhere, so a graph output gets a plain name
   * (`probabilities`) without an extra Identity node. Returns `false` if no node produces `from`.
   * @internal
   */
  renameValue(from: string, to: string): boolean {
    const producer = this.nodes.find((n) => n.outputs.includes(from));
    if (producer === undefined) return false;
    this.reserve(to);
    for (const n of this.nodes) {
      n.inputs = n.inputs.map((v) => (v === from ? to : v));
      n.outputs = n.outputs.map((v) => (v === from ? to : v));
    }
    return true;
  }

  /**
   * Adds a node and returns the names of its outputs.
   * @param opType The ONNX operator (default domain).
   * @param inputs Input value names.
   * @param attributes Attributes, built with {@link onnxAttr}.
   * @param outputs The number of outputs. Defaults to `1`.
   * @example
   * ```ts
   * const [a, b] = g.ops('Split', [y, sizes], { axis: onnxAttr.int(2) }, 2);
   * ```
   */
  ops(
    opType: string,
    inputs: string[],
    attributes: Record<string, OnnxAttribute> = {},
    outputs = 1,
  ): string[] {
    const name = this.uniqueName(opType);
    const outs =
      outputs === 1 ? [name] : Array.from({ length: outputs }, (_, i) => this.uniqueName(`${opType}:${i}`));
    this.nodes.push({ opType, name, inputs, outputs: outs, attributes });
    return outs;
  }

  /**
   * Adds a one-output node and returns its output name.
   * @example
   * ```ts
   * const y = g.op('Conv', [x, w], { kernel_shape: onnxAttr.ints([3, 3]) });
   * ```
   */
  op(opType: string, inputs: string[], attributes: Record<string, OnnxAttribute> = {}): string {
    return this.ops(opType, inputs, attributes, 1)[0]!;
  }

  /**
   * Adds a float32 initializer and returns its name.
   * @param name The base name (scoped to the layer path).
   * @param data The values, row-major in `dims`.
   * @param dims The shape.
   * @throws RangeError if `data` does not have `product(dims)` values.
   * @example
   * ```ts
   * const b = g.constant('bias', Float32Array.of(0.1, -0.2), [2]);
   * ```
   */
  constant(name: string, data: Float32Array, dims: number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (data.length !== size) {
      throw new RangeError(
        `OnnxGraph: expected ${size} values for "${name}" of shape [${dims.join(', ')}], but got ${data.length}.`,
      );
    }
    const unique = this.uniqueName(name);
    this.initializers.push({ name: unique, dims: [...dims], data });
    return unique;
  }

  /**
   * The name of an initializer made once per `key` object (a weight used twice, such as the MLP that
   * CBAM's channel gate applies to both pools, is stored once).
   * @example
   * ```ts
   * const k = g.sharedConstant(fc1, () => g.constant('fc1/kernel', fc1.data, fc1.shape));
   * ```
   */
  sharedConstant(key: object, make: () => string): string {
    let name = this.shared.get(key);
    if (name === undefined) {
      name = make();
      this.shared.set(key, name);
    }
    return name;
  }

  /**
   * Adds a 1-D int64 initializer (shapes, axes, pads, split sizes) and returns its name.
   * @example
   * ```ts
   * const shape = g.int64s('shape', [-1, 64, 1, 1]);
   * ```
   */
  int64s(name: string, values: number[]): string {
    const unique = this.uniqueName(name);
    this.initializers.push({
      name: unique,
      dims: [values.length],
      data: BigInt64Array.from(values.map(BigInt)),
    });
    return unique;
  }

  /**
   * A float32 scalar initializer (for `Add`, `Div`, `Clip` bounds).
   * @example
   * ```ts
   * const y = g.op('Div', [x, g.scalar('six', 6)]);
   * ```
   */
  scalar(name: string, value: number): string {
    const unique = this.uniqueName(name);
    this.initializers.push({ name: unique, dims: [], data: Float32Array.of(value) });
    return unique;
  }

  /**
   * The values of `layer`'s weight whose name ends in `suffix` (e.g. `'fc1/kernel'`), with its shape,
   * or `null` if the layer has no such weight (a bias that is switched off).
   * @throws Error naming the layer if more than one weight matches.
   * @example
   * ```ts
   * const bias = g.weight(layer, 'fc1/bias'); // null when the layer has useBias: false
   * ```
   */
  weight(layer: tfl.layers.Layer, suffix: string): { data: Float32Array; shape: number[] } | null {
    // originalName: the scoped name before tfjs makes it unique (`kernel_1` when a second model
    // with the same layer names is built in one process).
    const matches = layer.weights.filter(
      (w) => w.originalName === suffix || w.originalName.endsWith(`/${suffix}`),
    );
    if (matches.length === 0) return null;
    if (matches.length > 1) {
      throw new Error(
        `exportOnnx: layer "${this.path}" has ${matches.length} weights named "${suffix}" (${matches.map((w) => w.originalName).join(', ')}).`,
      );
    }
    const variable = matches[0]!;
    const data = this.weightData.get(variable) ?? (variable.read().dataSync() as Float32Array);
    return { data, shape: [...variable.shape] as number[] };
  }

  /**
   * Like {@link OnnxGraph.weight}, for a weight the layer must have.
   * @throws Error naming the layer and the weight if it is missing.
   * @example
   * ```ts
   * const { data, shape } = g.requireWeight(layer, 'kernel'); // a Conv2D's [kh, kw, in, out]
   * ```
   */
  requireWeight(layer: tfl.layers.Layer, suffix: string): { data: Float32Array; shape: number[] } {
    const w = this.weight(layer, suffix);
    if (w === null) {
      const names = layer.weights.map((v) => v.originalName).join(', ') || 'none';
      throw new Error(
        `exportOnnx: layer "${this.path}" (${layer.getClassName()}) has no weight "${suffix}" (it has: ${names}); is it built?`,
      );
    }
    return w;
  }
}
