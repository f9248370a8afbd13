/**
 * PNG encoding of in-memory images (Node, through sharp).
 * @module
 */
import { importSharp } from './sharp';
import type { RgbImage } from './types';

/**
 * Encodes an RGB image as PNG (with sharp, loaded on first use; Node only).
 * @param scale Integer upscaling with nearest-neighbour sampling, so small faces stay crisp. Defaults to `1`.
 * @example
 * ```ts
 * const png = await encodePng(overlayHeatmap(face, 48, 48, map, 44, 44), 4);
 * await writeFile('heatmap.png', png);
 * ```
 * @category Visualization
 */
export async function encodePng(image: RgbImage, scale = 1): Promise<Buffer> {
  if (!Number.isInteger(scale) || scale < 1) {
    throw new RangeError(`encodePng: expected \`scale\` to be a positive integer, but got ${scale}.`);
  }
  const sharp = await importSharp('encodePng');
  let pipeline = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
  if (scale > 1) pipeline = pipeline.resize({ width: image.width * scale, kernel: 'nearest' });
  return pipeline.png().toBuffer();
}
