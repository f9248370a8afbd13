/**
 * Attention heatmaps: for each face, the spatial attention map of every CBAM layer and a Grad-CAM
 * of the last stage, as coloured overlays, written side by side to PNG.
 *
 *   npm run demo -- --out demo-out
 *   npx tsx examples/visualize-attention.ts demo-out/model out-dir face1.jpg face2.png
 *
 * In your project, import from 'fer-cbam' instead of '../src/index'.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  encodePng,
  explainFaces,
  facesToInput,
  getPreprocessing,
  loadGrayImage,
  useBackend,
} from '../src/index';

const [modelDir, outDir, ...images] = process.argv.slice(2);
if (!modelDir || !outDir || images.length === 0) {
  console.error('usage: npx tsx examples/visualize-attention.ts MODEL_DIR OUT_DIR IMAGE...');
  process.exit(2);
}
await useBackend('auto');
const model = await tfl.loadLayersModel(`file://${modelDir.replace(/\/model\.json$/, '')}/model.json`);
const preprocessing = getPreprocessing(model);
if (!preprocessing) throw new Error(`${modelDir}: model.json has no fer-cbam preprocessing metadata`);

const faces = await Promise.all(images.map((file) => loadGrayImage(file, { size: preprocessing.imageSize })));
const x = facesToInput(faces, preprocessing);
const explained = explainFaces(model, faces, x, preprocessing.imageSize);
await mkdir(outDir, { recursive: true });
for (const [i, e] of explained.entries()) {
  const file = `${outDir}/${basename(images[i]!)}.attention.png`;
  await writeFile(file, await encodePng(e.tile, 4));
  const panels = [
    'face',
    ...e.attention.map((a) => a.path),
    ...(e.gradCam ? [`Grad-CAM ${e.gradCam.layerName}`] : []),
  ];
  console.log(`${file}: ${panels.join(' | ')} -> ${preprocessing.classNames[e.predicted]}`);
}
