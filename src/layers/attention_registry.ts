import { expected } from '../errors';
import { CBAM, type CBAMArgs } from './cbam';
import { ChannelAttention, type ChannelAttentionArgs } from './channel_attention';
import type { Layer } from './composite';
import { CoordinateAttention, type CoordinateAttentionArgs } from './coordinate_attention';
import { EfficientChannelAttention, type EfficientChannelAttentionArgs } from './eca';
import { SpatialAttention, type SpatialAttentionArgs } from './spatial_attention';
import { SqueezeExcitation, type SqueezeExcitationArgs } from './squeeze_excitation';

/** Options every attention factory accepts (each module reads the ones it understands). @category Registry */
export type AttentionArgs = Record<string, unknown> & { name?: string };

/** Builds an attention layer from options. Channels are not passed: layers read them in `build`. @category Registry */
export type AttentionFactory = (args: AttentionArgs) => Layer;

/** The names of the built-in attention modules, in registry order. @category Registry */
export type AttentionName = 'cbam' | 'channel' | 'spatial' | 'se' | 'eca' | 'coord';

/**
 * The built-in attention modules: `'cbam'` {@link CBAM}, `'channel'` {@link ChannelAttention},
 * `'spatial'` {@link SpatialAttention}, `'se'` {@link SqueezeExcitation}, `'eca'`
 * {@link EfficientChannelAttention}, `'coord'` {@link CoordinateAttention}. Each factory passes its
 * `args` to the class constructor, which rejects invalid values.
 * @category Registry
 */
export const BUILTIN_ATTENTION: Readonly<Record<AttentionName, AttentionFactory>> = Object.freeze({
  cbam: (args: AttentionArgs) => new CBAM(args as CBAMArgs),
  channel: (args: AttentionArgs) => new ChannelAttention(args as ChannelAttentionArgs),
  spatial: (args: AttentionArgs) => new SpatialAttention(args as SpatialAttentionArgs),
  se: (args: AttentionArgs) => new SqueezeExcitation(args as SqueezeExcitationArgs),
  eca: (args: AttentionArgs) => new EfficientChannelAttention(args as EfficientChannelAttentionArgs),
  coord: (args: AttentionArgs) => new CoordinateAttention(args as CoordinateAttentionArgs),
});

const factories = new Map<string, AttentionFactory>(Object.entries(BUILTIN_ATTENTION));

/**
 * Registers an attention module under `name`, so that models (`resnetCbam({attention: name})`), the
 * CLI and {@link createAttention} can build it. Registering an existing name replaces it.
 * @param name A single lowercase word or camelCase (it is stored in saved model configs).
 * @param factory Builds a fresh layer from options.
 * @example
 * ```ts
 * registerAttention('myGate', (args) => new MyGate(args));
 * const model = resnetCbam({ attention: 'myGate' });
 * ```
 * @category Registry
 */
export function registerAttention(name: string, factory: AttentionFactory): void {
  if (typeof name !== 'string' || !/^[a-z][A-Za-z0-9]*$/.test(name)) {
    throw new TypeError(expected('registerAttention', 'name', 'a lowercase or camelCase identifier', name));
  }
  if (name === 'none') {
    throw new RangeError(
      expected('registerAttention', 'name', "a name other than 'none' (it means no attention)", name),
    );
  }
  if (typeof factory !== 'function') {
    throw new TypeError(expected('registerAttention', 'factory', 'a function', typeof factory));
  }
  factories.set(name, factory);
}

/**
 * Creates the attention layer registered under `name`, or returns `null` for `null` / `'none'`.
 * @param name A registered name (see {@link listAttention}), `'none'` or `null`.
 * @param args Options for the module, e.g. `{ reductionRatio: 16 }`. Defaults to `{}`.
 * @throws RangeError naming the registered modules if `name` is unknown.
 * @example
 * ```ts
 * const gate = createAttention('cbam', { reductionRatio: 8, name: 'attention' });
 * ```
 * @category Registry
 */
export function createAttention(name: string | null, args: AttentionArgs = {}): Layer | null {
  if (name === null || name === 'none') return null;
  const factory = factories.get(name);
  if (!factory) {
    throw new RangeError(
      expected('createAttention', 'name', `one of ${listAttention().join(', ')}, 'none' or null`, name),
    );
  }
  return factory(args);
}

/**
 * The registered attention names, built-in ones first.
 * @example
 * ```ts
 * listAttention(); // ['cbam', 'channel', 'spatial', 'se', 'eca', 'coord']
 * ```
 * @category Registry
 */
export function listAttention(): string[] {
  return [...factories.keys()];
}

/**
 * Normalises an attention name given as an option (of a block, a model or the CLI): `null` and
 * `'none'` give `null`; anything else must be a registered name (see {@link listAttention}).
 *
 * A name that is not registered as written but matches exactly one registered name when
 * underscores and case are ignored resolves to that name: saved configs go through tfjs's
 * snake_case round trip, which loses capitals (`'myCBAM'` -> `'my_cbam'` -> `'myCbam'`).
 * @param value The option's value.
 * @param where The caller named in errors, e.g. `'ResidualBlock'`.
 * @param arg The option named in errors, e.g. `'attention'`.
 * @returns The registered name, or `null` for no attention.
 * @throws RangeError listing the registered names if `value` is neither registered, `'none'` nor `null`.
 * @example
 * ```ts
 * resolveAttentionName('cbam', 'ResidualBlock', 'attention'); // 'cbam'
 * resolveAttentionName('none', 'ResidualBlock', 'attention'); // null
 * ```
 * @internal
 */
export function resolveAttentionName(value: unknown, where: string, arg: string): string | null {
  if (value === null || value === 'none') return null;
  const names = listAttention();
  if (typeof value === 'string' && !names.includes(value)) {
    // Saved configs go through tfjs's snake_case round trip, which loses capitals in names such as
    // 'myCBAM' (-> 'my_cbam' -> 'myCbam'): accept the one registered name that differs only so.
    const key = (s: string): string => s.replace(/_/g, '').toLowerCase();
    const matches = names.filter((n) => key(n) === key(value));
    if (matches.length === 1) return matches[0]!;
  }
  if (typeof value !== 'string' || !names.includes(value)) {
    const allowed = [...names.map((n) => `'${n}'`), `'none'`, 'null'].join(', ');
    throw new RangeError(expected(where, arg, `one of ${allowed}`, value));
  }
  return value;
}
