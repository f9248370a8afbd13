/**
 * Protobuf writing: an {@link OnnxGraph} plus its graph inputs, outputs and metadata as the bytes of an
 * ONNX `ModelProto`, and the metadata read back from such bytes.
 *
 * The messages come from `onnx_pb.ts`, generated from ONNX's own `onnx.proto` (v1.22.0, vendored as
 * `onnx.proto` beside it; `scripts/gen-onnx-proto.sh` regenerates it) by protoc-gen-es, and are
 * encoded by `@bufbuild/protobuf`, which passes the protobuf conformance suite and runs unchanged in
 * Node and browsers (no `eval`, so strict Content-Security-Policies allow it).
 * @module
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { OnnxAttribute, OnnxGraph, OnnxInitializer, OnnxValueInfo } from './onnx_graph';
import { ONNX_OPSET } from './onnx_graph';
import {
  type AttributeProto,
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  type TensorProto,
  TensorProto_DataType,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from './onnx_pb';

/**
 * The IR version that goes with {@link ONNX_OPSET}: opset 17 came with ONNX 1.12, whose IR version is 8
 * (onnx/onnx docs/Versioning.md). Runtimes refuse a model whose IR version they do not know, so the
 * oldest one that allows the opset is the most portable.
 * @category Export
 */
export const ONNX_IR_VERSION = 8;

/** Everything a model file holds besides the graph's nodes and weights. @internal */
export interface OnnxModelHeader {
  /** The graph's name (the tfjs model's). */
  graphName: string;
  /** `producer_name`. */
  producerName: string;
  /** `producer_version`. */
  producerVersion: string;
  /** `doc_string` of the model: what the input and output are, in words. */
  docString: string;
  /** The graph inputs (float32). */
  inputs: OnnxValueInfo[];
  /** The graph outputs (float32). */
  outputs: OnnxValueInfo[];
  /** `metadata_props`, in order. */
  metadata: [string, string][];
}

/** Bytes of `values` as little-endian float32 or int64 (ONNX `raw_data` is little-endian on every host). */
function littleEndianBytes(values: Float32Array | BigInt64Array): Uint8Array {
  const view = new DataView(new ArrayBuffer(values.byteLength));
  if (values instanceof Float32Array)
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  else for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, values[i]!, true);
  return new Uint8Array(view.buffer);
}

function tensorProto(t: OnnxInitializer): TensorProto {
  return create(TensorProtoSchema, {
    name: t.name,
    dims: t.dims.map(BigInt),
    dataType: t.data instanceof Float32Array ? TensorProto_DataType.FLOAT : TensorProto_DataType.INT64,
    rawData: littleEndianBytes(t.data),
  });
}

function attributeProto(name: string, a: OnnxAttribute): AttributeProto {
  const T = AttributeProto_AttributeType;
  switch (a.type) {
    case 'int':
      return create(AttributeProtoSchema, { name, type: T.INT, i: BigInt(a.value as number) });
    case 'float':
      return create(AttributeProtoSchema, { name, type: T.FLOAT, f: a.value as number });
    case 'ints':
      return create(AttributeProtoSchema, { name, type: T.INTS, ints: (a.value as number[]).map(BigInt) });
    case 'floats':
      return create(AttributeProtoSchema, { name, type: T.FLOATS, floats: a.value as number[] });
    case 'string':
      return create(AttributeProtoSchema, {
        name,
        type: T.STRING,
        s: new TextEncoder().encode(a.value as string),
      });
  }
}

function valueInfo(v: OnnxValueInfo): ValueInfoProto {
  const dim = v.shape.map((d) =>
    create(TensorShapeProto_DimensionSchema, {
      value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
    }),
  );
  return create(ValueInfoProtoSchema, {
    name: v.name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType: TensorProto_DataType.FLOAT,
          shape: create(TensorShapeProtoSchema, { dim }),
        }),
      },
    }),
  });
}

/**
 * The bytes of an ONNX model (a serialized `ModelProto`) with `graph`'s nodes and initializers.
 * @internal
 */
export function encodeOnnxModel(graph: OnnxGraph, header: OnnxModelHeader): Uint8Array {
  const model = create(ModelProtoSchema, {
    irVersion: BigInt(ONNX_IR_VERSION),
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(ONNX_OPSET) })],
    producerName: header.producerName,
    producerVersion: header.producerVersion,
    docString: header.docString,
    graph: create(GraphProtoSchema, {
      name: header.graphName,
      node: graph.nodes.map((n) =>
        create(NodeProtoSchema, {
          name: n.name,
          opType: n.opType,
          input: n.inputs,
          output: n.outputs,
          attribute: Object.entries(n.attributes).map(([name, a]) => attributeProto(name, a)),
        }),
      ),
      initializer: graph.initializers.map(tensorProto),
      input: header.inputs.map(valueInfo),
      output: header.outputs.map(valueInfo),
    }),
    metadataProps: header.metadata.map(([key, value]) =>
      create(StringStringEntryProtoSchema, { key, value }),
    ),
  });
  return toBinary(ModelProtoSchema, model);
}

/** What {@link readOnnxInfo} reads from a model file. @category Export */
export interface OnnxModelInfo {
  /** The opset of the default ONNX domain. */
  opset: number;
  /** The IR version. */
  irVersion: number;
  /** `producer_name` and `producer_version`, e.g. `fer-cbam 0.2.0`. */
  producer: string;
  /** The model's `doc_string`. */
  docString: string;
  /** `metadata_props` as an object (`class_names`, `preprocessing`, `input_layout`, ...). */
  metadata: Record<string, string>;
  /** The graph input names and shapes (a string for a named dynamic dimension). */
  inputs: OnnxValueInfo[];
  /** The graph output names and shapes. */
  outputs: OnnxValueInfo[];
  /** How many nodes of each operator the graph has, e.g. `{ Conv: 11, Relu: 9, ... }`. */
  operators: Record<string, number>;
}

function shapeOf(v: ValueInfoProto): (number | string)[] {
  const t = v.type?.value.case === 'tensorType' ? v.type.value.value : undefined;
  return (t?.shape?.dim ?? []).map((d) =>
    d.value.case === 'dimValue' ? Number(d.value.value) : (d.value.value ?? '?'),
  );
}

/**
 * Reads the header of an ONNX model file: opset, producer, `metadata_props` (where fer-cbam stores the
 * class names and preprocessing), the input and output shapes and the operators used.
 * @param bytes The model file's bytes.
 * @throws Error if `bytes` is not a serialized ONNX `ModelProto`.
 * @example
 * ```ts
 * const info = readOnnxInfo(await readFile('fer2013.onnx'));
 * JSON.parse(info.metadata.class_names); // ['angry', 'disgust', ...]
 * ```
 * @category Export
 */
export function readOnnxInfo(bytes: Uint8Array): OnnxModelInfo {
  let model: ReturnType<typeof fromBinary<typeof ModelProtoSchema>>;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (error) {
    throw new Error(
      `readOnnxInfo: expected the bytes of an ONNX model, but they do not decode (${(error as Error).message}).`,
    );
  }
  const operators: Record<string, number> = {};
  for (const n of model.graph?.node ?? []) operators[n.opType] = (operators[n.opType] ?? 0) + 1;
  const initializers = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  const opset = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return {
    opset: Number(opset?.version ?? 0),
    irVersion: Number(model.irVersion),
    producer: `${model.producerName} ${model.producerVersion}`.trim(),
    docString: model.docString,
    metadata: Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value])),
    // Old exporters list initializers among the inputs too; they are not inputs a caller feeds.
    inputs: (model.graph?.input ?? [])
      .filter((v) => !initializers.has(v.name))
      .map((v) => ({ name: v.name, shape: shapeOf(v) })),
    outputs: (model.graph?.output ?? []).map((v) => ({ name: v.name, shape: shapeOf(v) })),
    operators,
  };
}
