/**
 * Predict the expression of face images with a saved fer-cbam model (for example the demo's).
 *
 *   npm run demo -- --out demo-out
 *   npx tsx examples/predict.ts demo-out/model face1.jpg face2.png
 *
 * Images of any size or colour are converted to grayscale, centre-cropped to a square and resized
 * to the model's image size; the preprocessing stored in model.json (crop, normalisation, class
 * names) is applied. In your project, import from 'fer-cbam' instead of '../src/index'.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import {
  facesToInput,
  getPreprocessing,
  loadGrayImage,
  predictProbabilities,
  useBackend,
} from '../src/index';

const [modelDir, ...images] = process.argv.slice(2);
if (!modelDir || images.length === 0) {
  console.error('usage: npx tsx examples/predict.ts MODEL_DIR IMAGE...');
  process.exit(2);
}
await useBackend('auto');
const model = await tfl.loadLayersModel(`file://${modelDir.replace(/\/model\.json$/, '')}/model.json`);
const preprocessing = getPreprocessing(model);
if (!preprocessing) throw new Error(`${modelDir}: model.json has no fer-cbam preprocessing metadata`);

const faces = await Promise.all(images.map((file) => loadGrayImage(file, { size: preprocessing.imageSize })));
const x = facesToInput(faces, preprocessing);
const probabilities = (await predictProbabilities(model, x).array()) as number[][];
for (const [i, file] of images.entries()) {
  const ranked = preprocessing.classNames
    .map((name, c) => ({ name, p: probabilities[i]![c]! }))
    .sort((a, b) => b.p - a.p);
  console.log(`${file}: ${ranked.map((r) => `${r.name} ${(100 * r.p).toFixed(1)} %`).join(', ')}`);
}
