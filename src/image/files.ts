/**
 * Which files are pictures: the extensions the folder loaders, `fer-cbam train --data` and
 * `fer-cbam predict <folder>` read.
 * @module
 */

/**
 * File extensions the folder loaders and `fer-cbam predict <folder>` read (lower case, with the dot):
 * the formats sharp decodes (JPEG under all its names, PNG, GIF, WebP, TIFF, AVIF and HEIF/HEIC). BMP
 * is not among them: sharp (libvips) has no BMP decoder, so BMP files are skipped and listed, never
 * read. @category Data
 */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.png',
  '.jpg',
  '.jpeg',
  '.jpe',
  '.jfif',
  '.gif',
  '.webp',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
  '.heif',
];

/**
 * Whether a directory entry is an image the folder loaders and `predict <folder>` read: one of
 * {@link IMAGE_EXTENSIONS}, and not hidden. Hidden names (`.DS_Store`, the `._photo.png` resource
 * forks macOS leaves on other disks, which are not images) are skipped by every folder reader alike.
 * @internal
 */
export function isImageFile(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return !name.startsWith('.') && dot > 0 && IMAGE_EXTENSIONS.includes(name.slice(dot).toLowerCase());
}
