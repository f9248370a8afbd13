/**
 * Loading the pretrained models by name, like Keras Applications' `weights='imagenet'`: in Node from
 * the installed package (offline), in browsers from a URL the application serves.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { backendReady } from '../backends/ready';
import { fileSystem } from '../io/file_handler';
import { getPreprocessing } from '../models/preprocessing';
import { isNode, nodePath, nodeRequire } from '../node_env';
import '../models/resnet_cbam'; // registers the layer classes the saved topologies name
import { PRETRAINED_MODELS, type PretrainedInfo, type PretrainedName } from './catalog';
import { sha256Hex } from './sha256';

/** Options of {@link loadPretrained}. @category Pretrained */
export interface LoadPretrainedOptions {
  /**
   * Where the model is served: the URL of its `model.json`, or of the folder holding it (ending in
   * `/`). Needed in browsers (serve the package's `models/<name>/` folder, see docs/models.md); in
   * Node it defaults to the copy inside the installed package.
   */
  url?: string;
}

/**
 * The cards of the shipped pretrained models, `realfaces` (the default) first.
 * @example
 * ```ts
 * for (const m of listPretrained()) console.log(m.name, m.metrics, m.card);
 * ```
 * @category Pretrained
 */
export function listPretrained(): PretrainedInfo[] {
  return PRETRAINED_MODELS.map((m) => ({ ...m, classNames: [...m.classNames], metrics: { ...m.metrics } }));
}

/** Whether `name` names a shipped pretrained model. @category Pretrained */
export function isPretrainedName(name: string): name is PretrainedName {
  return PRETRAINED_MODELS.some((m) => m.name === name);
}

/** The handler `tfl.loadLayersModel` would pick for `source`: the router's, else HTTP. */
function loadHandler(source: string | tf.io.IOHandler, where: string): tf.io.IOHandler {
  if (typeof source !== 'string') return source;
  const handlers = tf.io.getLoadHandlers(source);
  if (handlers.length > 1) {
    throw new Error(`found ${handlers.length} load handlers for the URL ${where}; give an http(s) URL.`);
  }
  return handlers[0] ?? tf.io.http(source);
}

function info(name: string): PretrainedInfo {
  const found = PRETRAINED_MODELS.find((m) => m.name === name);
  if (!found) {
    const names = PRETRAINED_MODELS.map((m) => m.name).join(', ');
    throw new RangeError(
      `loadPretrained: no pretrained model "${name}"; the package ships: ${names || 'none'}.`,
    );
  }
  return found;
}

/**
 * The absolute path of a pretrained model's `model.json` inside the installed package (Node only).
 * @example
 * ```ts
 * pretrainedModelPath('realfaces'); // …/node_modules/fer-cbam/models/realfaces/model.json
 * ```
 * @category Pretrained
 */
export async function pretrainedModelPath(name: PretrainedName): Promise<string> {
  info(name);
  if (!isNode())
    throw new Error('pretrainedModelPath: needs Node.js; in a browser pass `url` to loadPretrained.');
  const { dirname, join } = await nodePath('pretrainedModelPath');
  // The package resolves itself by name (its `exports` map lists ./package.json), from src/ and dist/ alike.
  const root = dirname((await nodeRequire()).resolve('fer-cbam/package.json'));
  return join(root, 'models', name, 'model.json');
}

/**
 * Loads a pretrained expression model by name. The returned model carries its preprocessing and
 * class names (`getPreprocessing(model)`), so `facesToInput` / `predictProbabilities` and the CLI
 * prepare images exactly as in training.
 * @param name `'realfaces'` (7 FER2013 classes, trained for photos of people: the default model),
 *   `'fer2013'` (the same classes, FER2013 alone: the default of 0.1.x), `'ferplus'` (8 FER+ classes)
 *   or `'ckplus'` (7 CK+ classes); {@link listPretrained} lists them with their cards.
 * @param options Where to load from; in Node the installed package, in browsers `url` is required.
 * @throws RangeError for an unknown name; Error naming the file or URL when it cannot be loaded or its
 *   weights differ from the shipped ones (SHA-256 of `weights.bin`, {@link PretrainedInfo.weightsSha256});
 *   Error naming the missing step when no tfjs backend is registered.
 * @example
 * ```ts
 * import { loadPretrained, getPreprocessing, facesToInput, predictProbabilities } from 'fer-cbam';
 * const model = await loadPretrained('realfaces');                       // Node: offline, from the package
 * // browser: await loadPretrained('realfaces', { url: '/models/realfaces/model.json' });
 * const p = predictProbabilities(model, facesToInput([face48x48], getPreprocessing(model)!));
 * ```
 * @category Pretrained
 */
export async function loadPretrained(
  name: PretrainedName | string,
  options: LoadPretrainedOptions = {},
): Promise<tfl.LayersModel> {
  const card = info(name);
  let source: string | tf.io.IOHandler;
  let where: string;
  if (options.url !== undefined) {
    if (typeof options.url !== 'string' || options.url.length === 0) {
      throw new TypeError(
        `loadPretrained: expected \`url\` to be a non-empty string, but got ${JSON.stringify(options.url)}.`,
      );
    }
    where = options.url.endsWith('/') ? `${options.url}model.json` : options.url;
    source = where;
  } else if (isNode()) {
    where = await pretrainedModelPath(card.name);
    source = fileSystem(where);
  } else {
    throw new TypeError(
      `loadPretrained('${name}'): in a browser pass { url }: serve the package's models/${name}/ folder (model.json and weights.bin) and give the URL of its model.json.`,
    );
  }
  const label = `loadPretrained('${name}')`;
  // Before anything touches tensors: a backend still initialising (or none at all) would otherwise
  // be reported as a problem of the model file.
  await backendReady(label);
  let artifacts: tf.io.ModelArtifacts;
  try {
    const handler = loadHandler(source, where);
    if (!handler.load) throw new Error('its IO handler cannot load.');
    artifacts = await handler.load();
  } catch (error) {
    throw new Error(
      `${label}: cannot load ${where}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  // The weights must be the shipped ones: a damaged or edited copy (a flipped float16 NaN keeps the
  // file's length) would load and predict NaN or nonsense.
  const buffers = artifacts.weightData === undefined ? [] : [artifacts.weightData].flat();
  const digest = sha256Hex(buffers.map((b) => new Uint8Array(b)));
  if (digest !== card.weightsSha256) {
    const weights = where.replace(/model\.json$/, 'weights.bin');
    throw new Error(
      `${label}: the weights of ${where} are not the shipped '${name}' model: their SHA-256 is ${digest}, the catalog's is ${card.weightsSha256}; ${
        options.url === undefined
          ? `${weights} was changed or damaged: reinstall fer-cbam (npm install fer-cbam)`
          : `serve the package's models/${name}/ files unchanged`
      } (a model of your own loads with tf.loadLayersModel).`,
    );
  }
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (error) {
    throw new Error(
      `${label}: cannot load ${where}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const pre = getPreprocessing(model);
  if (!pre || pre.classNames.join() !== card.classNames.join()) {
    model.dispose();
    throw new Error(
      `loadPretrained('${name}'): ${where} is not the shipped '${name}' model (its stored preprocessing or class names differ).`,
    );
  }
  return model;
}
