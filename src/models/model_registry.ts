import type * as tfl from '@tensorflow/tfjs-layers';
import { expected } from '../errors';
import { listAttention } from '../layers/attention_registry';
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

/** The grammar of preset names that need no registration, for messages and `--help`. @category Registry */
export const PRESET_GRAMMAR = 'resnet<depth>[w<width>][-<attention>[-every]]';

/**
 * The preset of a name in the {@link PRESET_GRAMMAR}: `resnet<depth>`, an optional `w<width>` (the
 * first stage's channels; 64 when omitted), an optional `-<attention>` (a registered attention name;
 * after the stem and the last stage, as in the seed paper) and `-every` (in every residual block
 * instead). `null` if `name` does not parse, names an unknown depth or attention, or has a width that
 * is not a positive integer.
 */
function parsePresetName(name: string): ModelPreset | null {
  const m = /^resnet(\d+)(?:w(\d+))?(?:-([a-z]+)(-every)?)?$/.exec(name);
  if (!m) return null;
  const depth = Number(m[1]);
  const width = m[2] === undefined ? undefined : Number(m[2]);
  const attention = m[3];
  // `w64` is refused: 64 is the default width, and a network has one name (`resnet18-cbam`).
  if (!RESNET_DEPTHS[depth] || (width !== undefined && !(width > 0 && width !== 64))) return null;
  if (attention !== undefined && !listAttention().includes(attention)) return null;
  const options: ResNetCbamOptions = { depth, ...(width !== undefined ? { width } : {}) };
  if (attention === undefined) options.attention = null;
  else Object.assign(options, { attention, placement: m[4] ? 'everyBlock' : 'paper' });
  const where =
    attention === undefined
      ? 'no attention'
      : m[4]
        ? `${attention} in every residual block`
        : `${attention} after the stem and after the last stage`;
  return {
    description: `ResNet-${depth}${width !== undefined ? `, width ${width}` : ''}, ${where}`,
    options,
  };
}

/**
 * The preset name of a network built by {@link resnetCbam} from `options` (the one name the CLI,
 * the benchmarks and the docs use for it), or `null` for options the grammar cannot express (custom
 * `blocks`, a placement other than `'paper'`, `'everyBlock'` or `'none'`).
 * @example
 * ```ts
 * presetName({ depth: 10, width: 16, attention: 'cbam', placement: 'paper' }); // 'resnet10w16-cbam'
 * presetName({ depth: 18, attention: 'se', placement: 'everyBlock' }); // 'resnet18-se-every'
 * ```
 * @category Registry
 */
export function presetName(options: ResNetCbamOptions): string | null {
  const depth = options.depth ?? 18;
  if (options.blocks !== undefined || !RESNET_DEPTHS[depth]) return null;
  const width = options.width ?? 64;
  const attention = options.attention === undefined ? 'cbam' : options.attention;
  const placement = options.placement ?? 'paper';
  const base = `resnet${depth}${width === 64 ? '' : `w${width}`}`;
  if (attention === null || attention === 'none' || placement === 'none') return base;
  if (placement === 'paper') return `${base}-${attention}`;
  if (placement === 'everyBlock') return `${base}-${attention}-every`;
  return null;
}

/**
 * The preset registered under `name` (a copy), or the one a name in the {@link PRESET_GRAMMAR}
 * describes (`resnet10w16-cbam`: ResNet-10, width 16, CBAM as in the paper).
 * @throws RangeError listing the registered names if `name` is unknown.
 * @example
 * ```ts
 * getModelPreset('resnet34-cbam').options; // { depth: 34, attention: 'cbam', placement: 'paper' }
 * getModelPreset('resnet10w16-eca-every').options; // { depth: 10, width: 16, attention: 'eca', placement: 'everyBlock' }
 * ```
 * @category Registry
 */
export function getModelPreset(name: string): ModelPreset {
  const preset = presets.get(name) ?? (typeof name === 'string' ? parsePresetName(name) : null);
  // `w64` spells out the default width; the network has one name, without it. Say which.
  const spelled = typeof name === 'string' ? /^(resnet\d+)w64((?:-[a-z]+(?:-every)?)?)$/.exec(name) : null;
  if (!preset && spelled && parsePresetName(`${spelled[1]}${spelled[2]}`)) {
    throw new RangeError(
      expected(
        'getModelPreset',
        'name',
        `"${spelled[1]}${spelled[2]}" (64 is the default width, so a network of width 64 is named without "w64")`,
        name,
      ),
    );
  }
  if (!preset) {
    throw new RangeError(
      expected('getModelPreset', 'name', `one of ${listModels().join(', ')}, or ${PRESET_GRAMMAR}`, name),
    );
  }
  return { description: preset.description, options: { ...preset.options } };
}

/**
 * Builds the model registered under `name`, with `overrides` merged over the preset's options.
 * Giving `blocks` in `overrides` replaces the preset's `depth` (and the other way round).
 * @param name A registered preset (see {@link listModels}) or a name in the {@link PRESET_GRAMMAR}.
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
