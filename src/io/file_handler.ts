import * as tf from '@tensorflow/tfjs-core';
import { messageOf } from '../errors';
import { isNode, nodeFs, nodePath } from '../node_env';
import { writeFileAtomic } from './atomic';

type ModelArtifacts = tf.io.ModelArtifacts;
type ModelJSON = tf.io.ModelJSON;
type SaveResult = tf.io.SaveResult;
type WeightsManifestConfig = tf.io.WeightsManifestConfig;
type WeightsManifestEntry = tf.io.WeightsManifestEntry;

/**
 * A tfjs `IOHandler` that saves a LayersModel to, and loads it from, the local file system with pure
 * tfjs (no `@tensorflow/tfjs-node`). Saving to a directory writes `model.json` (topology and
 * weights manifest) and `weights.bin`; loading reads a `model.json` and the weight files its manifest
 * names (sharded files from the Python converter work too). Each file is written atomically
 * ({@link writeFileAtomic}), weights first and `model.json` last, so a crash never leaves a truncated
 * file behind and a reader never sees a `model.json` whose weights are missing.
 *
 * Importing `fer-cbam` in Node registers it for `file://` URLs, unless another handler (tfjs-node's)
 * already claims them; see {@link registerFileSystemRouter}.
 *
 * @example
 * ```ts
 * await model.save(fileSystem('out/model'));              // or model.save('file://out/model')
 * const m = await tfl.loadLayersModel(fileSystem('out/model/model.json'));
 * ```
 * @category IO
 */
export class FileSystemHandler implements tf.io.IOHandler {
  /** The URL scheme this handler serves. */
  static readonly URL_SCHEME = 'file://';
  /** Name of the topology file written by `save`. */
  static readonly MODEL_JSON_FILENAME = 'model.json';
  /** Name of the weights file written by `save`. */
  static readonly WEIGHTS_BINARY_FILENAME = 'weights.bin';

  /** The directory to save into, or the `model.json` (or its directory) to load from. */
  readonly path: string;

  /**
   * @param path For `save`: a directory (created if missing). For `load`: a `model.json` file, or a
   *   directory holding one.
   * @throws TypeError if `path` is not a non-empty string.
   */
  constructor(path: string) {
    if (typeof path !== 'string' || path.length === 0) {
      throw new TypeError(
        `fileSystem: expected \`path\` to be a non-empty string, but got ${JSON.stringify(path)}.`,
      );
    }
    this.path = path;
  }

  /**
   * Writes `weights.bin`, then `model.json`, into the directory {@link FileSystemHandler.path}.
   * @throws Error quoting the path if the directory cannot be created or a file cannot be written.
   */
  async save(modelArtifacts: ModelArtifacts): Promise<SaveResult> {
    const fs = await nodeFs('fileSystem');
    const p = await nodePath('fileSystem');
    if (modelArtifacts.modelTopology instanceof ArrayBuffer) {
      throw new Error(
        `fileSystem: cannot save to "${this.path}": binary (GraphModel) topologies are not supported.`,
      );
    }
    try {
      await fs.mkdir(this.path, { recursive: true });
    } catch (error) {
      throw new Error(`fileSystem: cannot create directory "${this.path}": ${messageOf(error)}`, {
        cause: error,
      });
    }
    const stat = await fs.stat(this.path);
    if (!stat.isDirectory()) {
      throw new Error(`fileSystem: cannot save to "${this.path}": it exists and is not a directory.`);
    }
    const weightsManifest: WeightsManifestConfig = [
      { paths: [FileSystemHandler.WEIGHTS_BINARY_FILENAME], weights: modelArtifacts.weightSpecs ?? [] },
    ];
    const modelJSON = modelJSONFor(modelArtifacts, weightsManifest);
    const weights = modelArtifacts.weightData
      ? new Uint8Array(tf.io.CompositeArrayBuffer.join(modelArtifacts.weightData))
      : new Uint8Array(0);
    // Weights first: model.json only ever points at complete weights.
    await writeFileAtomic(p.join(this.path, FileSystemHandler.WEIGHTS_BINARY_FILENAME), weights);
    await writeFileAtomic(
      p.join(this.path, FileSystemHandler.MODEL_JSON_FILENAME),
      JSON.stringify(modelJSON),
    );
    return {
      modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(modelArtifacts),
      responses: [],
    };
  }

  /**
   * Reads `model.json` and its weight files.
   * @throws Error quoting the path if a file is missing, unreadable or not valid model JSON.
   */
  async load(): Promise<ModelArtifacts> {
    const fs = await nodeFs('fileSystem');
    const p = await nodePath('fileSystem');
    let jsonPath = this.path;
    const stat = await fs.stat(jsonPath).catch((error: unknown) => {
      throw new Error(`fileSystem: cannot load "${jsonPath}": ${messageOf(error)}`, { cause: error });
    });
    if (stat.isDirectory()) jsonPath = p.join(jsonPath, FileSystemHandler.MODEL_JSON_FILENAME);
    let text: string;
    try {
      text = await fs.readFile(jsonPath, 'utf8');
    } catch (error) {
      throw new Error(`fileSystem: cannot read "${jsonPath}": ${messageOf(error)}`, { cause: error });
    }
    let modelJSON: ModelJSON;
    try {
      modelJSON = JSON.parse(text) as ModelJSON;
    } catch (error) {
      throw new Error(`fileSystem: "${jsonPath}" is not valid JSON: ${messageOf(error)}`, { cause: error });
    }
    if (modelJSON === null || typeof modelJSON !== 'object' || modelJSON.modelTopology == null) {
      throw new Error(`fileSystem: "${jsonPath}" is not a tfjs model.json (no \`modelTopology\`).`);
    }
    checkFerCbamLayersRegistered(modelJSON, jsonPath);
    const dir = p.dirname(jsonPath);
    return tf.io.getModelArtifactsForJSON(modelJSON, (manifest) => readWeights(manifest, dir, jsonPath));
  }
}

async function readWeights(
  manifest: WeightsManifestConfig,
  dir: string,
  jsonPath: string,
): Promise<[WeightsManifestEntry[], ArrayBuffer]> {
  const fs = await nodeFs('fileSystem');
  const p = await nodePath('fileSystem');
  const specs: WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of manifest) {
    const groupBytes: { file: string; bytes: number }[] = [];
    for (const name of group.paths) {
      const file = p.join(dir, name);
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(file);
      } catch (error) {
        throw new Error(`fileSystem: cannot read weight file "${file}": ${messageOf(error)}`, {
          cause: error,
        });
      }
      groupBytes.push({ file, bytes: bytes.byteLength });
      buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    }
    checkGroupSize(group, groupBytes, jsonPath);
    specs.push(...group.weights);
  }
  return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
}

/**
 * The layer classes fer-cbam registers with tfjs serialization when `fer-cbam` (or its layers
 * module) is imported. A model using them cannot be loaded before that import. @category IO
 */
export const FER_CBAM_LAYER_CLASSES: readonly string[] = [
  'CBAM',
  'ChannelAttention',
  'SpatialAttention',
  'SqueezeExcitation',
  'EfficientChannelAttention',
  'CoordinateAttention',
  'ResidualBlock',
  'FusedBatchNormalization',
];

/**
 * Refuses, with the fix, a model.json that uses fer-cbam layer classes not registered yet (tfjs would
 * only say "Unknown layer: FusedBatchNormalization").
 */
function checkFerCbamLayersRegistered(modelJSON: ModelJSON, jsonPath: string): void {
  const topology = modelJSON.modelTopology as { model_config?: { config?: { layers?: unknown } } };
  const layers = topology?.model_config?.config?.layers;
  if (!Array.isArray(layers)) return;
  const registered = tf.serialization.SerializationMap.getMap().classNameMap;
  const missing = new Set<string>();
  for (const layer of layers as { class_name?: unknown }[]) {
    const name = layer?.class_name;
    if (typeof name === 'string' && FER_CBAM_LAYER_CLASSES.includes(name) && !(name in registered)) {
      missing.add(name);
    }
  }
  if (missing.size > 0) {
    throw new Error(
      `fileSystem: "${jsonPath}" uses the fer-cbam layer class${missing.size > 1 ? 'es' : ''} ${[...missing].join(', ')}, not registered yet: add \`import 'fer-cbam'\` (it registers fer-cbam's layers with tfjs, and file:// in Node) before loading the model.`,
    );
  }
}

/** Bytes of one element of a stored weight, or `null` for a variable-size (string) weight. */
function storedElementBytes(spec: WeightsManifestEntry): number | null {
  const q = spec.quantization?.dtype;
  if (q !== undefined) return q === 'uint8' ? 1 : 2; // uint16, float16
  switch (spec.dtype) {
    case 'float32':
    case 'int32':
      return 4;
    case 'bool':
      return 1;
    case 'complex64':
      return 8;
    default:
      return null;
  }
}

/**
 * Bytes the weights of one manifest group occupy, or `null` when a weight has a variable size
 * (strings). @internal
 */
export function manifestGroupBytes(group: { weights: WeightsManifestEntry[] }): number | null {
  let total = 0;
  for (const spec of group.weights) {
    const element = storedElementBytes(spec);
    if (element === null) return null;
    total += spec.shape.reduce((a, b) => a * b, 1) * element;
  }
  return total;
}

/**
 * Compares the bytes of a group's weight files with what its manifest describes, so that a truncated
 * `weights.bin`, or one of another model (larger, or with trailing bytes), is refused with the file's
 * name instead of tfjs's shape error or, worse, loading silently.
 */
function checkGroupSize(
  group: { paths: string[]; weights: WeightsManifestEntry[] },
  files: { file: string; bytes: number }[],
  jsonPath: string,
): void {
  const expectedBytes = manifestGroupBytes(group);
  if (expectedBytes === null) return;
  const actual = files.reduce((n, f) => n + f.bytes, 0);
  if (actual === expectedBytes) return;
  const where =
    files.length === 1
      ? `"${files[0]!.file}"`
      : `the weight files ${files.map((f) => `"${f.file}"`).join(', ')}`;
  const described = `${expectedBytes} bytes (${group.weights.length} weights in the manifest of "${jsonPath}")`;
  const what =
    actual < expectedBytes
      ? `is truncated: it holds ${actual} bytes, but model.json describes ${described}`
      : `holds ${actual} bytes, ${actual - expectedBytes} more than the ${described}: trailing bytes, or the weights of another model`;
  throw new Error(`fileSystem: ${where} ${what}.`);
}

/** The model.json object for artifacts (what tfjs's internal `getModelJSONForModelArtifacts` builds). */
function modelJSONFor(artifacts: ModelArtifacts, weightsManifest: WeightsManifestConfig): ModelJSON {
  const json: ModelJSON = { modelTopology: artifacts.modelTopology as object, weightsManifest };
  const optional = [
    'format',
    'generatedBy',
    'convertedBy',
    'signature',
    'userDefinedMetadata',
    'modelInitializer',
    'initializerSignature',
    'trainingConfig',
  ] as const;
  for (const key of optional) {
    if (artifacts[key] != null) (json as unknown as Record<string, unknown>)[key] = artifacts[key];
  }
  return json;
}

/**
 * Creates a {@link FileSystemHandler} for a local path (no `file://` prefix).
 * @param path For saving, a directory; for loading, a `model.json` file or its directory.
 * @throws TypeError if `path` is not a non-empty string.
 * @example
 * ```ts
 * await model.save(fileSystem('checkpoints/best'));
 * const restored = await tfl.loadLayersModel(fileSystem('checkpoints/best/model.json'));
 * ```
 * @category IO
 */
export function fileSystem(path: string): FileSystemHandler {
  return new FileSystemHandler(path);
}

function pathOf(url: string | string[]): string | null {
  if (typeof url !== 'string' || !url.startsWith(FileSystemHandler.URL_SCHEME)) return null;
  const path = url.slice(FileSystemHandler.URL_SCHEME.length);
  return path.length > 0 ? path : null;
}

// While we ask the registry whether some other router claims a URL, our own routers answer null.
let probing = false;

function othersClaim(url: string, kind: 'save' | 'load', loadOptions?: tf.io.LoadOptions): boolean {
  probing = true;
  try {
    const handlers = kind === 'save' ? tf.io.getSaveHandlers(url) : tf.io.getLoadHandlers(url, loadOptions);
    return handlers.length > 0;
  } finally {
    probing = false;
  }
}

/**
 * The router registered for `file://` saving: returns a {@link FileSystemHandler}, or `null` when the
 * URL is not a `file://` URL or another router (for example tfjs-node's) also claims it, so that tfjs
 * never sees two handlers for one URL, whichever package was imported first.
 * @category IO
 */
export function fileSystemSaveRouter(url: string | string[]): tf.io.IOHandler {
  if (probing) return null as unknown as tf.io.IOHandler;
  const path = pathOf(url);
  if (path === null || othersClaim(url as string, 'save')) return null as unknown as tf.io.IOHandler;
  return new FileSystemHandler(path);
}

/**
 * The router registered for `file://` loading; like {@link fileSystemSaveRouter}.
 * @category IO
 */
export function fileSystemLoadRouter(
  url: string | string[],
  loadOptions?: tf.io.LoadOptions,
): tf.io.IOHandler {
  if (probing) return null as unknown as tf.io.IOHandler;
  const path = pathOf(url);
  if (path === null || othersClaim(url as string, 'load', loadOptions))
    return null as unknown as tf.io.IOHandler;
  return new FileSystemHandler(path);
}

let registered = false;

/**
 * Registers the `file://` routers with tfjs, once, in Node only, and only if no other handler claims
 * `file://` at that moment (tfjs-node registers its own). Importing `fer-cbam` calls this; call it
 * yourself only if you imported a sub-module directly. The routers also stand aside at lookup time
 * when a handler registered later claims the URL, so import order does not matter.
 * @returns `true` if the routers are registered (now or before), `false` if another handler owns
 *   `file://` or this is not Node.
 * @example
 * ```ts
 * registerFileSystemRouter();
 * await model.save('file://out/model');
 * ```
 * @category IO
 */
export function registerFileSystemRouter(): boolean {
  if (registered) return true;
  if (!isNode()) return false;
  const probe = `${FileSystemHandler.URL_SCHEME}./model.json`;
  if (tf.io.getSaveHandlers(probe).length > 0 || tf.io.getLoadHandlers(probe).length > 0) return false;
  tf.io.registerSaveRouter(fileSystemSaveRouter);
  tf.io.registerLoadRouter(fileSystemLoadRouter);
  registered = true;
  return true;
}

/** Whether this module's `file://` routers are registered with tfjs. @category IO */
export function isFileSystemRouterRegistered(): boolean {
  return registered;
}
