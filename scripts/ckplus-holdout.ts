/**
 * The CK+ hold-out: the faces of the CK+ subjects that the `realfaces` model never trained on, the
 * cross-dataset check every realfaces candidate is selected on. One definition for the scripts,
 * benchmarks and tests that score it (examples/train-realfaces.ts keeps its own copy, so the
 * example reads on its own; `test/pretrained` pins the two together by the face count, 309).
 *
 * The hold-out is fold 0 of `subjectKFold(subjects, 3, 0, labels)`: 39 of CK+'s 118 subjects,
 * chosen by subject so no person is on both sides.
 */
import { type FaceDataset, FER2013_CLASSES, remapClasses, subjectKFold, subsetDataset } from '../src/index';

/** How the hold-out is chosen, in words (for model cards and logs). */
export const CKPLUS_HOLDOUT_DEFINITION = 'fold 0 of subjectKFold(subjects, 3, 0, labels)';

/** CK+ class names to FER2013's: `anger` and `sadness` renamed, `contempt` (not a FER2013 class) left out. */
export const CKPLUS_TO_FER2013: Record<string, string | null> = {
  anger: 'angry',
  sadness: 'sad',
  contempt: null,
};

/** Indices into a CK+ dataset (from `loadCkPlus`) of the hold-out faces, contempt included. */
export function ckplusHoldoutIndices(ck: FaceDataset): number[] {
  if (!ck.subjects)
    throw new Error('ckplusHoldoutIndices: the dataset has no subjects; load it with loadCkPlus');
  return subjectKFold(ck.subjects, 3, 0, ck.labels)[0]!.test;
}

/**
 * The hold-out faces with a model's classes: FER2013's seven by default (309 faces), or another
 * list with its own mapping from CK+'s names (FER+'s names for `ferplus`). Faces whose class maps to
 * `null` are left out.
 */
export function ckplusHoldout(
  ck: FaceDataset,
  classNames: readonly string[] = FER2013_CLASSES,
  mapping: Record<string, string | null> = CKPLUS_TO_FER2013,
): FaceDataset {
  return remapClasses(subsetDataset(ck, ckplusHoldoutIndices(ck)), classNames, mapping, 'ckplus');
}
