/**
 * The one in-memory shape every loader returns and every trainer consumes.
 * @example
 * ```ts
 * const ds: FaceDataset = await loadFer2013('fer2013.csv.gz');
 * console.log(ds.count, ds.classNames[ds.labels[0]]);
 * ```
 * @category Data
 */
export interface FaceDataset {
  /** Number of images. */
  count: number;
  /** Image height in pixels. */
  height: number;
  /** Image width in pixels. */
  width: number;
  /** `count * height * width` grayscale pixels (0-255), row-major, image after image. */
  images: Uint8Array;
  /** Class index per image (an index into `classNames`). */
  labels: Uint8Array;
  /** Class names, in index order. */
  classNames: string[];
  /** FER2013 only: 0 Training, 1 PublicTest, 2 PrivateTest, per image. */
  usages?: Uint8Array;
  /** CK+ only: subject id per image, e.g. `'S010'`. */
  subjects?: string[];
  /** FER+ probability mode only: `count * classNames.length` soft labels (each row sums to 1). */
  softLabels?: Float32Array;
}

/** The seven FER2013 classes, in label order. @category Data */
export const FER2013_CLASSES: readonly string[] = [
  'angry',
  'disgust',
  'fear',
  'happy',
  'sad',
  'surprise',
  'neutral',
];
