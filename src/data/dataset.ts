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
  /**
   * FER2013 only: per image, its index in {@link FER2013_USAGES} (0 Training, 1 PublicTest,
   * 2 PrivateTest).
   */
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

/** A FER2013 `Usage` value. @category Data */
export type Fer2013Usage = 'Training' | 'PublicTest' | 'PrivateTest';

/**
 * `Usage` names in code order: `usages[i]` is 0 Training, 1 PublicTest, 2 PrivateTest. The one
 * definition of those codes: the FER2013 parser writes them, FER+ checks them, `usageIndices` and
 * `train`'s split rules read them.
 * @example
 * ```ts
 * FER2013_USAGES[fer.usages![0]]; // 'Training'
 * FER2013_USAGES.indexOf('PrivateTest'); // 2
 * ```
 * @category Data
 */
export const FER2013_USAGES: readonly Fer2013Usage[] = ['Training', 'PublicTest', 'PrivateTest'];
