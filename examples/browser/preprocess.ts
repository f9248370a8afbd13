/**
 * The demo's pixel work before the library takes over, as plain functions (no DOM, no tensors) so that
 * they are tested in Node: RGBA canvas pixels -> grayscale, and the centre crop shown under the
 * heatmaps. The model input itself comes from the library's `facesToInput`.
 */

/**
 * Converts `width * height` RGBA pixels (as from `getImageData`) to grayscale bytes with the ITU-R
 * BT.709 luma weights, as the library's `loadGrayImage` (libvips) does. Gray pixels stay unchanged.
 */
export function rgbaToGray(rgba: ArrayLike<number>, pixels: number): Uint8Array {
  if (rgba.length !== pixels * 4) {
    throw new RangeError(
      `rgbaToGray: expected \`rgba\` to have ${pixels * 4} values, but got ${rgba.length}.`,
    );
  }
  const gray = new Uint8Array(pixels);
  for (let i = 0; i < pixels; i++) {
    gray[i] = Math.round(0.2126 * rgba[4 * i]! + 0.7152 * rgba[4 * i + 1]! + 0.0722 * rgba[4 * i + 2]!);
  }
  return gray;
}

/** The centred `size x size` window of a `height x width` image (offsets rounded down, as in tenCrop). */
export function centreCrop(gray: ArrayLike<number>, height: number, width: number, size: number): Uint8Array {
  if (gray.length !== height * width) {
    throw new RangeError(
      `centreCrop: expected \`gray\` to have ${height * width} pixels, but got ${gray.length}.`,
    );
  }
  if (!(Number.isInteger(size) && size >= 1 && size <= height && size <= width)) {
    throw new RangeError(
      `centreCrop: expected \`size\` to be an integer in [1, ${Math.min(height, width)}], but got ${size}.`,
    );
  }
  const top = Math.floor((height - size) / 2);
  const left = Math.floor((width - size) / 2);
  const out = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) out[y * size + x] = gray[(top + y) * width + left + x]!;
  }
  return out;
}
