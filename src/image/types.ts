/**
 * The image types shared by faces, data and visualisation.
 * @module
 */

/** An 8-bit RGB image in memory (what decoders return and heatmaps are drawn into). @category Visualization */
export interface RgbImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `width * height * 3` bytes (R, G, B per pixel), row-major. */
  data: Uint8Array;
}
