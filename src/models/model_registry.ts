import type * as tfl from '@tensorflow/tfjs-layers';
import { expected } from '../errors';
import { RESNET_DEPTHS, type ResNetCbamOptions, resnetCbam } from './resnet_cbam';

/**
 * A named model configuration: {@link resnetCbam} options plus a one-line description.
 * @category Registry
 */
export interface ModelPreset {
  /** One line for `--help` listings and docs. */
  description: string;
  /** Options passed to {@link resnetCbam}; the caller's overrides are merged over them. */
  options: ResNetCbamOptions;
}

const presets = new Map<string, ModelPreset>();

/**
 * Registers a model preset under `name` (replacing any preset of that name), so that
 * {@link createModel}, the CLI and benchmarks can build it by name.
 * @param name Lowercase letters, digits and hyphens, starting with a letter, e.g. `'resnet18-cbam'`.
 * @param preset The description and {@link resnetCbam} options.
 * @example
 * ```ts
 * registerModel('tiny-se', { description: 'width-16 ResNet-10, SE in every block',
 *   options: { depth: 10, width: 16, attention: 'se', placement: 'everyBlock' } });
 * const model = createModel('tiny-se');
 * ```
 * @throws TypeError for a malformed name or preset.
 * @category Registry
 */
export function registerModel(name: string, preset: ModelPreset): void {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(name)) {
    throw new TypeError(expected('registerModel', 'name', 'lowercase letters, digits and hyphens', name));
  }
  if (preset == null || typeof preset !== 'object' || typeof preset.options !== 'object') {
    throw new TypeError(expected('registerModel', 'preset', 'an object { description, options }', preset));
  }
  presets.set(name, { description: String(preset.description ?? ''), options: { ...preset.options } });
}

/**
 * The registered preset names, built-in ones first (`resnet18`, `resnet18-cbam`, `resnet18-cbam-every`, ...).
 * @example
 * ```ts
 * listModels().filter((n) => n.endsWith('-cbam')); // ['resnet10-cbam', 'resnet18-cbam', ...]
 * ```
 * @category Registry
 */
export function listModels(): string[] {
  return [...presets.keys()];
}

/**
 * The preset registered under `name` (a copy).
 * @throws RangeError listing the registered names if `name` is unknown.
 * @example
 * ```ts
 * getModelPreset('resnet34-cbam').options; // { depth: 34, attention: 'cbam', placement: 'paper' }
 * ```
 * @category Registry
 */
export function getModelPreset(name: string): ModelPreset {
  const preset = presets.get(name);
  if (!preset) {
    throw new RangeError(expected('getModelPreset', 'name', `one of ${listModels().join(', ')}`, name));
  }
  return { description: preset.description, options: { ...preset.options } };
}

/**
 * Builds the model registered under `name`, with `overrides` merged over the preset's options.
 * Giving `blocks` in `overrides` replaces the preset's `depth` (and the other way round).
 * @param name A registered preset (see {@link listModels}).
 * @param overrides Options that win over the preset's, e.g. `{ width: 32, numClasses: 8 }`.
 * @example
 * ```ts
 * const model = createModel('resnet18-cbam', { numClasses: 8 }); // FER+ has 8 classes
 * ```
 * @throws RangeError listing the registered names if `name` is unknown; errors of {@link resnetCbam}.
 * @category Registry
 */
export function createModel(name: string, overrides: ResNetCbamOptions = {}): tfl.LayersModel {
  const { options } = getModelPreset(name);
  const merged: ResNetCbamOptions = { ...options, ...overrides };
  if (overrides.blocks !== undefined && overrides.depth === undefined) delete merged.depth;
  if (overrides.depth !== undefined && overrides.blocks === undefined) delete merged.blocks;
  return resnetCbam(merged);
}

for (const depth of Object.keys(RESNET_DEPTHS).map(Number)) {
  const kind = RESNET_DEPTHS[depth]!.bottleneck ? 'bottleneck' : 'basic';
  registerModel(`resnet${depth}`, {
    description: `ResNet-${depth} (${kind} blocks), no attention`,
    options: { depth, attention: null },
  });
  registerModel(`resnet${depth}-cbam`, {
    description: `ResNet-${depth} with CBAM after the stem and after the last stage (the seed paper)`,
    options: { depth, attention: 'cbam', placement: 'paper' },
  });
  registerModel(`resnet${depth}-cbam-every`, {
    description: `ResNet-${depth} with CBAM in every residual block (Woo et al. 2018)`,
    options: { depth, attention: 'cbam', placement: 'everyBlock' },
  });
}
