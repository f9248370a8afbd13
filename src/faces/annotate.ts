/**
 * Annotated pictures in Node: face boxes, eye points and labels drawn over the photo as SVG and
 * composited by sharp (imported lazily, so a browser bundle does not pull it in). Browsers draw on
 * a canvas instead (see examples/browser).
 * @module
 */

import { ImageInputError } from '../image/read_image';
import { importSharp } from '../image/sharp';
import type { FaceBox, FaceKeypoints } from './types';

/** One face to draw. @category Faces */
export interface FaceAnnotation {
  /** The box, in the picture's original pixels. */
  box: FaceBox;
  /** Text above the box, e.g. `'happy 87%'`. */
  label?: string;
  /** Eye keypoints to mark. */
  keypoints?: FaceKeypoints;
}

/** Options of {@link annotateImage}. @category Faces */
export interface AnnotateOptions {
  /** Box and text colour (any SVG colour). Defaults to `'#00e676'`. */
  color?: string;
}

function escapeXml(s: string): string {
  return s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );
}

/** The SVG overlay of {@link annotateImage}, `width x height`. @internal */
export function annotationSvg(
  width: number,
  height: number,
  faces: FaceAnnotation[],
  options: AnnotateOptions = {},
): string {
  const color = options.color ?? '#00e676';
  const stroke = Math.max(2, Math.round(Math.max(width, height) / 400));
  const parts: string[] = [];
  for (const f of faces) {
    const { x, y, width: w, height: h } = f.box;
    parts.push(
      `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="none" stroke="${color}" stroke-width="${stroke}"/>`,
    );
    if (f.keypoints) {
      for (const p of [f.keypoints.rightEye, f.keypoints.leftEye]) {
        parts.push(
          `<circle cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}" r="${stroke * 1.5}" fill="${color}"/>`,
        );
      }
    }
    if (f.label) {
      const size = Math.max(12, Math.round(Math.min(48, Math.max(w / 5, Math.max(width, height) / 60))));
      const textWidth = size * 0.62 * f.label.length + size * 0.6;
      const ty = y - size * 1.3 >= 0 ? y - size * 1.3 : y + h;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${ty.toFixed(1)}" width="${textWidth.toFixed(1)}" height="${(size * 1.3).toFixed(1)}" fill="${color}"/>`,
        `<text x="${(x + size * 0.3).toFixed(1)}" y="${(ty + size * 1.02).toFixed(1)}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${size}" fill="#000">${escapeXml(f.label)}</text>`,
      );
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/**
 * Draws face boxes, eye points and labels over a picture and encodes it as PNG (Node, via sharp).
 * The picture is EXIF-rotated first, like {@link readImage}, so the boxes line up.
 * @param input The picture: a file path or image bytes.
 * @param faces Boxes in the picture's original pixels (as {@link recognizeExpressions} returns them).
 * @param options See {@link AnnotateOptions}.
 * @returns PNG bytes.
 * @example
 * ```ts
 * const faces = await recognizeExpressions('team.jpg', { model });
 * const png = await annotateImage('team.jpg', faces.map((f) => ({ ...f, label: f.label })));
 * await writeFile('team-annotated.png', png);
 * ```
 * @throws ImageInputError naming the file when it cannot be decoded.
 * @category Faces
 */
export async function annotateImage(
  input: string | Uint8Array,
  faces: FaceAnnotation[],
  options: AnnotateOptions = {},
): Promise<Uint8Array> {
  const where = 'annotateImage';
  const name = typeof input === 'string' ? input : '<bytes>';
  const sharp = await importSharp(where);
  try {
    const rotated = await sharp(input, { failOn: 'error', limitInputPixels: 1e9 })
      .rotate()
      .toColourspace('srgb')
      .png()
      .toBuffer({ resolveWithObject: true });
    const { width, height } = rotated.info;
    const svg = annotationSvg(width, height, faces, options);
    const png = await sharp(rotated.data)
      .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
      .png()
      .toBuffer();
    return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
  } catch (e) {
    throw new ImageInputError(where, name, `cannot draw on the image (${(e as Error).message.trim()}).`);
  }
}
