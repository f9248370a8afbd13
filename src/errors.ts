/**
 * Argument checks shared by every module. Messages follow one form so users can grep them:
 * ``<Where>: expected `<arg>` to be <what>, but got <JSON value>.``
 * @module
 */

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Builds the standard message. @internal */
export function expected(where: string, arg: string, what: string, got: unknown): string {
  return `${where}: expected \`${arg}\` to be ${what}, but got ${show(got)}.`;
}

/** Throws a RangeError unless `value` is an integer >= 1. @internal */
export function checkPositiveInteger(value: unknown, arg: string, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new RangeError(expected(where, arg, 'a positive integer', value));
  }
  return value;
}

/** Throws a RangeError unless `value` is an integer >= 0. @internal */
export function checkNonNegativeInteger(value: unknown, arg: string, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RangeError(expected(where, arg, 'a non-negative integer', value));
  }
  return value;
}

/** Throws a RangeError unless `value` is a finite number in `[min, max]`. @internal */
export function checkNumberInRange(
  value: unknown,
  arg: string,
  where: string,
  min: number,
  max: number,
): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(expected(where, arg, `a number in [${min}, ${max}]`, value));
  }
  return value;
}

/** Throws a TypeError unless `value` is a boolean. @internal */
export function checkBoolean(value: unknown, arg: string, where: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(expected(where, arg, 'a boolean', value));
  return value;
}

/** Throws a RangeError unless `value` is one of `allowed` (listed in the message). @internal */
export function checkOneOf<T>(value: unknown, allowed: readonly T[], arg: string, where: string): T {
  if (!allowed.includes(value as T)) {
    throw new RangeError(expected(where, arg, `one of ${allowed.map((a) => show(a)).join(', ')}`, value));
  }
  return value as T;
}

/**
 * Throws a RangeError unless `shape` is a rank-4 NHWC shape with a known channel count;
 * returns the channel count.
 * @internal
 */
export function checkRank4(shape: readonly (number | null)[], where: string, arg = 'inputShape'): number {
  if (!Array.isArray(shape) || shape.length !== 4) {
    throw new RangeError(expected(where, arg, 'a 4D shape [batch, height, width, channels]', shape));
  }
  const channels = shape[3];
  if (channels == null || channels < 1) {
    throw new RangeError(expected(where, arg, 'a 4D shape with a known channel count', shape));
  }
  return channels;
}

/**
 * The message of an unknown thrown value, for wrapping it in an error that names the file or step.
 * @param error Anything caught.
 * @example
 * ```ts
 * throw new Error(`saveCheckpoint: cannot create "${dir}": ${messageOf(e)}`, { cause: e });
 * ```
 * @internal
 */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
