/**
 * The one place fer-cbam loads `sharp` (Node's image decoder and encoder): imported on first use, so
 * browser bundles and programs that never touch image files do not pull it in, and a missing or broken
 * install is reported with the fix, naming the function that needed it.
 * @module
 */
import { importAtRuntime } from '../node_env';

/** The `sharp` module's type. @internal */
export type SharpModule = typeof import('sharp');

let sharpModule: Promise<SharpModule> | null = null;

/**
 * Imports sharp once (later calls share the promise; a failed import is retried next time).
 * @param where The function that needs it, for the message.
 * @returns The sharp function.
 * @throws Error naming `where` and `npm install sharp` when sharp cannot be loaded.
 * @example
 * ```ts
 * const sharp = await importSharp('encodePng');
 * const png = await sharp(svg).png().toBuffer();
 * ```
 * @internal
 */
export function importSharp(where: string): Promise<SharpModule> {
  sharpModule ??= importAtRuntime<SharpModule & { default?: SharpModule }>('sharp')
    .then((m) => m.default ?? m)
    .catch((e: Error) => {
      sharpModule = null;
      throw new Error(
        `${where}: reading and writing images in Node needs the package \`sharp\` (npm install sharp), which failed to load: ${e.message}`,
        { cause: e },
      );
    });
  return sharpModule;
}
