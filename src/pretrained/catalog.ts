/**
 * What each pretrained model is: the facts a model card states, kept in code so that
 * `listPretrained()` works in browsers without reading files. A test checks every entry against
 * the shipped files (class names, preprocessing, parameter count, file size).
 * @module
 */

/** Names of the pretrained models shipped in the package. @category Pretrained */
export type PretrainedName = 'realfaces' | 'fer2013' | 'ferplus' | 'ckplus';

/** A pretrained model's card, as {@link listPretrained} returns it. @category Pretrained */
export interface PretrainedInfo {
  /** The name {@link loadPretrained} takes. */
  name: PretrainedName;
  /** One line on what it recognises. */
  description: string;
  /** The training data and its terms. */
  data: string;
  /** Class names in output order (also stored in the model's preprocessing). */
  classNames: readonly string[];
  /** The network, as the library call that builds it. */
  architecture: string;
  /** Trainable and non-trainable parameters. */
  parameters: number;
  /** Bytes of `weights.bin` as shipped (float16). */
  weightBytes: number;
  /**
   * SHA-256 of `weights.bin` as shipped (64 hex digits): {@link loadPretrained} refuses weights that
   * differ. Written by `scripts/pack-pretrained.ts` (`--digests` recomputes it from `models/`).
   */
  weightsSha256: string;
  /** Measured accuracies (fractions), each named for its split and protocol. */
  metrics: Readonly<Record<string, number>>;
  /** The command that trained it (from the repository root). */
  command: string;
  /** Where its full model card is: a heading of docs/models.md. */
  card: string;
}

/**
 * The shipped models, `realfaces` (the default) first.
 * @category Pretrained
 */
export const PRETRAINED_MODELS: readonly PretrainedInfo[] = Object.freeze<PretrainedInfo[]>([
  {
    name: 'realfaces',
    description:
      "Seven basic expressions of FER2013, trained for photos of real people (the default model): a ResNet-10 of width 24 with CBAM after the stem and after the last stage (preset resnet10w24-cbam), trained from new weights for 60 one-cycle epochs on FER2013's Training rows plus the CK+48 faces of 79 of CK+'s 118 subjects, with augmentation for the step from web thumbnails to photos (rotation, zoom, brightness, contrast and random erasing on top of crops and mirrors). Selected on FER2013 PublicTest and on the CK+ faces of the other 39 subjects, neither trained on.",
    data: 'FER2013 Training rows (28,709 faces; Goodfellow et al., ICML 2013 workshop, released on Kaggle for research, no open licence) and the CK+48 faces of 79 CK+ subjects (618 faces, contempt left out; Lucey et al., CVPR workshops 2010, licensed by its authors for non-commercial research only). The images are not shipped, only weights trained on them.',
    classNames: ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'],
    architecture:
      "resnetCbam({ depth: 10, width: 24, placement: 'paper', inputShape: [44, 44, 1], numClasses: 7 })",
    parameters: 698720,
    weightBytes: 1397440,
    weightsSha256: 'b06883acfe940d51bfa403a9ef7740396cb712e64013da42cff922576183c818',
    metrics: {
      publicTestTenCrop: 0.6873780997492338,
      publicTestSingleCrop: 0.6834772917247144,
      ckplusHoldout: 0.9644012944983819,
    },
    command: 'npx tsx examples/train-realfaces.ts --out runs/realfaces',
    card: 'docs/models.md#realfaces',
  },
  {
    name: 'fer2013',
    description:
      "Seven basic expressions of FER2013 (the default model of 0.1.x; it learned FER2013's web thumbnails and transfers less well to photos than realfaces): a ResNet-10 of width 16 with CBAM after the stem and after the last stage (preset resnet10w16-cbam), trained in three one-cycle stages, each from the previous stage's best weights: 14 epochs from new weights (62.1 % PublicTest ten-crop), 18 more at peak rate 0.03 (64.9 %), then 14 more at peak rate 0.02. Stages 2 and 3 started from the float16 copies shipped in 0.1.x, which score the same as float32.",
    data: 'FER2013 Training rows (28,709 faces; Goodfellow et al., ICML 2013 workshop, released on Kaggle for research, no open licence; the images are not shipped, only weights trained on them).',
    classNames: ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'],
    architecture:
      "resnetCbam({ depth: 10, width: 16, placement: 'paper', inputShape: [44, 44, 1], numClasses: 7 })",
    parameters: 312028,
    weightBytes: 624056,
    weightsSha256: '4092225d610d911808c059757a42a4c4bfaded6c5842f9dfa20f52d30bfed393',
    metrics: { publicTestTenCrop: 0.6670381721928114, publicTestSingleCrop: 0.6544998606854276 },
    command:
      'npx fer-cbam --backend wasm train --data fer2013.csv.gz --depth 10 --width 16 --placement paper --epochs 14 --batch-size 64 --seed 1 --out runs/fer2013 && npx fer-cbam --backend wasm --threads 1 train --data fer2013.csv.gz --init runs/fer2013/best --epochs 18 --batch-size 64 --lr 0.03 --seed 2 --out runs/fer2013-r2 && npx fer-cbam --backend wasm --threads 1 train --data fer2013.csv.gz --init runs/fer2013-r2/best --epochs 14 --batch-size 64 --lr 0.02 --seed 3 --out runs/fer2013-r3',
    card: 'docs/models.md#fer2013',
  },
  {
    name: 'ferplus',
    description:
      'Eight expressions of FER+ (FER2013 relabelled by ten crowd votes per face; adds contempt): the fer2013 network after its second training stage (64.9 % PublicTest ten-crop; the float16 copy shipped as fer2013 in 0.1.x, which scores the same as float32), fine-tuned on the majority labels for 3 one-cycle epochs.',
    data: 'FER2013 Training rows with the FER+ majority labels (Barsoum et al., ICMI 2016; microsoft/FERPlus, MIT licence for the labels; images as for fer2013). Faces whose top vote is unknown, not-a-face or tied are left out.',
    classNames: ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt'],
    architecture:
      "replaceClassifier(fer2013 network, 8): resnetCbam({ depth: 10, width: 16, placement: 'paper' }) with an 8-way classifier",
    parameters: 312157,
    weightBytes: 624314,
    weightsSha256: '51dc264a5b1ddc80709d91d46c49c479a595b97218b58383e5ce802299d532a6',
    metrics: { publicTestTenCrop: 0.8138987043580683, publicTestSingleCrop: 0.8071260306242638 },
    command:
      'npx tsx examples/train-ferplus.ts --backend wasm --threads 1 --init runs/fer2013-r2/best --epochs 3 --lr 0.02 --seed 1 --out runs/ferplus',
    card: 'docs/models.md#ferplus',
  },
  {
    name: 'ckplus',
    description:
      'Seven expressions of CK+ (anger, contempt, disgust, fear, happy, sadness, surprise; posed, lab lighting): the fer2013 network after its second training stage (64.9 % PublicTest ten-crop; the float16 copy shipped as fer2013 in 0.1.x), fine-tuned on all 981 CK+48 faces for 20 one-cycle epochs. The recipe was fixed before the folds were run; the only earlier recipe tried, 6 epochs from the first-stage network, scored 87.9 % ± 2.8 with the same folds.',
    data: 'CK+ (Lucey et al., CVPR workshops 2010), the CK+48 release: 981 48x48 crops of the last frames of 327 labelled sequences of 118 subjects. Licensed by its authors for non-commercial research only.',
    classNames: ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'],
    architecture:
      "replaceClassifier(fer2013 network, 7): resnetCbam({ depth: 10, width: 16, placement: 'paper' }) with a CK+ classifier",
    parameters: 312028,
    weightBytes: 624056,
    weightsSha256: '6ce343d4eb44f579ede43da7c7cf0540c05999bc00784655c7892fc6850d4b12',
    metrics: { crossValidationMean: 0.9609532828282827, crossValidationStd: 0.03371736532708476 },
    command:
      'npx tsx examples/train-ckplus.ts --backend wasm --threads 1 --init runs/fer2013-r2/best --epochs 20 --lr 0.02 --seed 0 --save runs/ckplus --json runs/ckplus-cv.json',
    card: 'docs/models.md#ckplus',
  },
]);

/** The model the CLI and the browser demo use when none is named. @category Pretrained */
export const DEFAULT_PRETRAINED: PretrainedName = 'realfaces';
