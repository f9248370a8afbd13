import * as tfl from '@tensorflow/tfjs-layers';
import type { FaceDataset } from '../../src/data/dataset';
import { Random } from '../../src/random';

/**
 * A small learnable problem: 12x12 noisy images holding a bright stroke whose orientation is the
 * class (0 horizontal, 1 vertical, 2 a diagonal cross), at a random position. Chance is 1/3. Every
 * class is symmetric under horizontal flips, so flip augmentation keeps labels valid.
 */
export function blobDataset(count: number, seed: number, withUsages = false): FaceDataset {
  const size = 12;
  const rng = new Random(seed);
  const images = new Uint8Array(count * size * size);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % 3;
    labels[i] = label;
    const y0 = rng.int(1, size - 7);
    const x0 = rng.int(1, size - 7);
    const img = images.subarray(i * size * size, (i + 1) * size * size);
    for (let p = 0; p < size * size; p++) img[p] = rng.int(0, 100);
    for (let k = 0; k < 6; k++) {
      const strokes =
        label === 0
          ? [[y0 + 3, x0 + k]]
          : label === 1
            ? [[y0 + k, x0 + 3]]
            : [
                [y0 + k, x0 + k],
                [y0 + k, x0 + 5 - k],
              ];
      for (const [y, x] of strokes) img[y * size + x] = 170 + rng.int(0, 85);
    }
  }
  const ds: FaceDataset = {
    count,
    height: size,
    width: size,
    images,
    labels,
    classNames: ['horizontal', 'vertical', 'cross'],
  };
  if (withUsages)
    ds.usages = Uint8Array.from({ length: count }, (_, i) => (i % 5 === 3 ? 1 : i % 5 === 4 ? 2 : 0));
  return ds;
}

/** conv - BN - relu - pool - conv - relu - GAP - dropout - dense (logits). */
export function tinyCnn(
  options: { dropout?: number; softmax?: boolean; crop?: number } = {},
): tfl.LayersModel {
  const crop = options.crop ?? 10;
  const input = tfl.input({ shape: [crop, crop, 1] });
  let x = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers
    .conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' })
    .apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  if (options.dropout) x = tfl.layers.dropout({ rate: options.dropout }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers
    .dense({ units: 3, activation: options.softmax ? 'softmax' : 'linear' })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

/** Two models with identical initial weights. */
export function twinModels(options: Parameters<typeof tinyCnn>[0] = {}): [tfl.LayersModel, tfl.LayersModel] {
  const a = tinyCnn(options);
  const b = tinyCnn(options);
  b.setWeights(a.getWeights());
  return [a, b];
}

export function weightsOf(model: tfl.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

/** conv(8) - BN - relu - GAP - dense (logits): learns the stroke orientations reliably. */
export function strokeNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [10, 10, 1] });
  let x = tfl.layers
    .conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 3 }).apply(x) as tfl.SymbolicTensor });
}
