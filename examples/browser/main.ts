/// <reference types="vite/client" />
/**
 * fer-cbam browser demo: loads a saved fer-cbam model, takes an uploaded photo or a webcam frame,
 * and shows the class probabilities and the spatial attention maps of the model's CBAM layers.
 *
 * The image goes through the library's own pipeline: the preprocessing stored in the model
 * (`getPreprocessing`: face size, crop, normalisation, class names), `facesToInput`,
 * `predictProbabilities`, `captureAttentionMaps` and `overlayHeatmap`.
 *
 * URL parameters:
 * - `?model=URL` a `model.json` to load (default: `model/model.json` next to the page). A model
 *   without stored preprocessing may have a `training.json` beside it (as `train` writes into
 *   `best/`); otherwise pixels / 255, a centre crop to the input size and the FER2013 classes are used.
 * - `?backend=webgpu|webgl|wasm|cpu` forces a backend (default: the first of these that works).
 * - `?mean=M&std=S` overrides the normalisation `(x / 255 - M) / S`.
 *
 * In your own app, import from `fer-cbam` instead of the source path below.
 */

import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { FER2013_CLASSES } from '../../src/data/dataset';
import { captureAttentionMaps } from '../../src/layers/index';
import {
  facesToInput,
  getPreprocessing,
  type Preprocessing,
  predictProbabilities,
} from '../../src/models/index';
import { overlayHeatmap } from '../../src/visualize/colormap';
import { centreCrop, rgbaToGray } from './preprocess';

/** Name of the untrained model written by scripts/make-demo-model.ts. */
const DEMO_MODEL_NAME = 'fer_cbam_browser_demo';

/** Backends in the order they are tried. */
const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
type BackendName = (typeof BACKENDS)[number];

/** What the page exposes for tests and scripts in `#result-json` after each prediction. */
interface DemoResult {
  backend: string;
  model: string;
  /** Where the preprocessing came from: `model.json`, `training.json` or `defaults` (`+ URL`). */
  preprocessingSource: string;
  preprocessing: Preprocessing;
  probabilities: number[];
  top: string;
  /** The grayscale face the prediction was made on (`imageSize` squared bytes), base64. */
  face: string;
  heatmaps: { path: string; height: number; width: number; min: number; max: number }[];
  milliseconds: number;
}

interface ModelInfo {
  model: tfl.LayersModel;
  url: string;
  preprocessing: Preprocessing;
  source: string;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`fer-cbam demo: missing element #${id}`);
  return el as T;
};

const params = new URLSearchParams(location.search);
const resultEl = $<HTMLOutputElement>('result');
const statusEl = $('status');
let resultCount = 0;
let busy = false;

function setStatus(text: string, state?: 'loading' | 'ready' | 'error'): void {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', state === 'error');
  if (state) resultEl.dataset.state = state;
  if (state === 'error') resultEl.dataset.error = text;
}

async function tryBackend(name: BackendName): Promise<boolean> {
  try {
    switch (name) {
      case 'webgpu':
        if (!('gpu' in navigator)) return false;
        await import('@tensorflow/tfjs-backend-webgpu');
        break;
      case 'webgl':
        await import('@tensorflow/tfjs-backend-webgl');
        break;
      case 'wasm': {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        wasm.setWasmPaths({
          'tfjs-backend-wasm.wasm': wasmPlainUrl,
          'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
          'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
        });
        break;
      }
      case 'cpu':
        await import('@tensorflow/tfjs-backend-cpu');
        break;
    }
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
    // A backend can initialise and still fail on first use (e.g. WebGL without float textures).
    tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
    return true;
  } catch (error) {
    console.warn(`fer-cbam demo: backend ${name} is not available:`, error);
    return false;
  }
}

async function chooseBackend(): Promise<string> {
  const requested = params.get('backend');
  if (requested) {
    if (!(BACKENDS as readonly string[]).includes(requested)) {
      throw new Error(`?backend= must be one of ${BACKENDS.join(', ')}, but got "${requested}".`);
    }
    if (!(await tryBackend(requested as BackendName))) {
      throw new Error(`the ${requested} backend (asked for by ?backend=) is not available in this browser.`);
    }
    return requested;
  }
  for (const name of BACKENDS) if (await tryBackend(name)) return name;
  throw new Error('no TensorFlow.js backend is available.');
}

/** `training.json` next to the model (written by `train` into `best/`), or `null`. */
async function readTrainingJson(
  modelUrl: string,
): Promise<{ normalization?: Preprocessing['normalization']; classNames?: string[] } | null> {
  let info: { normalization?: { mean?: unknown; std?: unknown }; classNames?: unknown };
  try {
    const response = await fetch(new URL('training.json', modelUrl));
    if (!response.ok) return null;
    info = await response.json();
  } catch {
    return null; // missing, or not JSON (a server answering every URL with a page)
  }
  const out: { normalization?: Preprocessing['normalization']; classNames?: string[] } = {};
  const { mean, std } = info.normalization ?? {};
  if (typeof mean === 'number' && typeof std === 'number' && std > 0) out.normalization = { mean, std };
  if (Array.isArray(info.classNames) && info.classNames.every((c) => typeof c === 'string')) {
    out.classNames = info.classNames;
  }
  return out;
}

async function loadModel(): Promise<ModelInfo> {
  const url = new URL(params.get('model') ?? 'model/model.json', location.href).href;
  const model = await tfl.loadLayersModel(url);
  const shape = model.inputs[0]!.shape;
  const [, height, width, channels] = shape;
  if (shape.length !== 4 || height !== width || typeof height !== 'number' || channels !== 1) {
    throw new Error(`the model's input must be [batch, s, s, 1], but it is [${shape.join(', ')}].`);
  }
  let preprocessing = getPreprocessing(model);
  let source = 'model.json';
  if (!preprocessing) {
    const units = model.outputs[0]!.shape.at(-1);
    const fromFile = await readTrainingJson(url);
    source = fromFile ? 'training.json' : 'defaults';
    preprocessing = {
      imageSize: Math.max(48, height),
      cropSize: height,
      normalization: fromFile?.normalization ?? { mean: 0, std: 1 },
      classNames:
        fromFile?.classNames ??
        (units === FER2013_CLASSES.length
          ? [...FER2013_CLASSES]
          : Array.from({ length: units ?? 0 }, (_, i) => `class ${i}`)),
    };
  }
  const mean = params.get('mean');
  const std = params.get('std');
  if (mean !== null || std !== null) {
    preprocessing = {
      ...preprocessing,
      normalization: {
        mean: mean !== null ? Number(mean) : preprocessing.normalization.mean,
        std: std !== null ? Number(std) : preprocessing.normalization.std,
      },
    };
    source += ' + URL';
  }
  if (preprocessing.cropSize !== height || preprocessing.imageSize < height) {
    throw new Error(
      `the stored preprocessing (crop ${preprocessing.cropSize} from ${preprocessing.imageSize}) does not fit the model input ${height}.`,
    );
  }
  return { model, url, preprocessing, source };
}

/** Draws the centred square of `source` into the face canvas and returns its grayscale pixels. */
function grabFace(
  source: CanvasImageSource,
  sourceWidth: number,
  sourceHeight: number,
  size: number,
): Uint8Array {
  const canvas = $<HTMLCanvasElement>('face');
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const side = Math.min(sourceWidth, sourceHeight);
  const sx = Math.floor((sourceWidth - side) / 2);
  const sy = Math.floor((sourceHeight - side) / 2);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(source, sx, sy, side, side, 0, 0, size, size);
  const gray = rgbaToGray(ctx.getImageData(0, 0, size, size).data, size * size);
  ctx.putImageData(grayImage(gray, size, size), 0, 0);
  return gray;
}

function grayImage(gray: Uint8Array, height: number, width: number): ImageData {
  const image = new ImageData(width, height);
  for (let i = 0; i < gray.length; i++) {
    image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = gray[i]!;
    image.data[4 * i + 3] = 255;
  }
  return image;
}

function rgbImage(rgb: Uint8Array, height: number, width: number): ImageData {
  const image = new ImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    image.data.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
    image.data[4 * i + 3] = 255;
  }
  return image;
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

async function predict(info: ModelInfo, backend: string, gray: Uint8Array): Promise<void> {
  const { model, preprocessing } = info;
  const { imageSize, cropSize: size, classNames } = preprocessing;
  const started = performance.now();
  const crop = centreCrop(gray, imageSize, imageSize, size);
  const cropCanvas = $<HTMLCanvasElement>('crop');
  cropCanvas.width = cropCanvas.height = size;
  cropCanvas.getContext('2d')!.putImageData(grayImage(crop, size, size), 0, 0);

  const x = facesToInput([gray], preprocessing);
  let probabilities: number[];
  const heatmaps: DemoResult['heatmaps'] = [];
  const figures: HTMLElement[] = [];
  try {
    const probs = predictProbabilities(model, x);
    probabilities = Array.from(await probs.data());
    probs.dispose();

    const entries = captureAttentionMaps(model, x);
    try {
      for (const { path, maps } of entries) {
        const spatial = maps.spatial;
        if (!spatial) continue;
        const [, h, w] = spatial.shape as number[];
        const map = await spatial.data();
        let min = Number.POSITIVE_INFINITY;
        let max = Number.NEGATIVE_INFINITY;
        for (const v of map) {
          min = Math.min(min, v);
          max = Math.max(max, v);
        }
        heatmaps.push({ path, height: h!, width: w!, min, max });
        const overlay = overlayHeatmap(crop, size, size, map, h!, w!);
        const canvas = document.createElement('canvas');
        canvas.width = size;
        canvas.height = size;
        canvas.className = 'view heatmap';
        canvas.dataset.path = path;
        canvas.getContext('2d')!.putImageData(rgbImage(overlay.data, size, size), 0, 0);
        const figure = document.createElement('figure');
        const caption = document.createElement('figcaption');
        caption.textContent = `${path} · ${h}×${w} map · gate ${min.toFixed(2)}–${max.toFixed(2)}`;
        figure.append(canvas, caption);
        figures.push(figure);
      }
    } finally {
      tf.dispose(entries.map((e) => e.maps));
    }
  } finally {
    x.dispose();
  }
  const milliseconds = performance.now() - started;

  const best = probabilities.indexOf(Math.max(...probabilities));
  renderProbabilities(classNames, probabilities, best);
  const list = $('heatmap-list');
  if (figures.length) list.replaceChildren(...figures);
  else list.innerHTML = '<p class="lead">This model has no spatial attention layer.</p>';
  $('top').innerHTML = '';
  $('top').append(classNames[best] ?? `class ${best}`, ' ');
  const small = document.createElement('small');
  small.textContent = `${(100 * probabilities[best]!).toFixed(1)} %`;
  $('top').append(small);

  const result: DemoResult = {
    backend,
    model: info.url,
    preprocessingSource: info.source,
    preprocessing,
    probabilities,
    top: classNames[best] ?? `class ${best}`,
    face: base64(gray),
    heatmaps,
    milliseconds,
  };
  $('result-json').textContent = JSON.stringify(result);
  resultEl.dataset.count = String(++resultCount);
  setStatus(`Done in ${milliseconds.toFixed(0)} ms on ${backend}.`, 'ready');
}

function renderProbabilities(classNames: string[], probabilities: number[], best: number): void {
  const items = probabilities.map((p, i) => {
    const li = document.createElement('li');
    li.dataset.class = classNames[i];
    li.dataset.probability = String(p);
    if (i === best) li.className = 'best';
    const name = document.createElement('span');
    name.textContent = classNames[i] ?? `class ${i}`;
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = document.createElement('span');
    fill.style.width = `${(100 * p).toFixed(2)}%`;
    bar.append(fill);
    const pct = document.createElement('span');
    pct.className = 'pct';
    pct.textContent = `${(100 * p).toFixed(1)} %`;
    li.append(name, bar, pct);
    return li;
  });
  $('probabilities').replaceChildren(...items);
}

/** One prediction on a blank face, so that shader compilation is not billed to the first photo. */
function warmUp(info: ModelInfo): void {
  const { imageSize } = info.preprocessing;
  const x = facesToInput([new Uint8Array(imageSize * imageSize)], info.preprocessing);
  const y = predictProbabilities(info.model, x);
  y.dataSync();
  tf.dispose([y, ...captureAttentionMaps(info.model, x).map((e) => e.maps)]);
  x.dispose();
}

async function run(info: ModelInfo, backend: string, grab: () => Uint8Array): Promise<void> {
  if (busy) return;
  busy = true;
  setStatus('Predicting…', 'loading');
  try {
    await predict(info, backend, grab());
  } catch (error) {
    setStatus(`Error: ${(error as Error).message}`, 'error');
    console.error(error);
  } finally {
    busy = false;
  }
}

async function onFile(info: ModelInfo, backend: string, file: File): Promise<void> {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none' });
  try {
    await run(info, backend, () =>
      grabFace(bitmap, bitmap.width, bitmap.height, info.preprocessing.imageSize),
    );
  } finally {
    bitmap.close();
  }
}

function setUpCamera(info: ModelInfo, backend: string): void {
  const video = $<HTMLVideoElement>('video');
  const start = $<HTMLButtonElement>('camera');
  const capture = $<HTMLButtonElement>('capture');
  const live = $<HTMLInputElement>('live');
  const grab = (): Uint8Array =>
    grabFace(video, video.videoWidth, video.videoHeight, info.preprocessing.imageSize);
  if (!navigator.mediaDevices?.getUserMedia) {
    start.disabled = true;
    start.title = 'This browser (or an insecure http:// page) gives no camera access.';
    return;
  }
  start.addEventListener('click', async () => {
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user' } });
      await video.play();
      $('camera-figure').hidden = false;
      capture.disabled = false;
      live.disabled = false;
      start.disabled = true;
    } catch (error) {
      setStatus(`Camera: ${(error as Error).message}`, 'error');
    }
  });
  capture.addEventListener('click', () => void run(info, backend, grab));
  const loop = async (): Promise<void> => {
    if (!live.checked) return;
    await run(info, backend, grab);
    setTimeout(() => requestAnimationFrame(() => void loop()), 150);
  };
  live.addEventListener('change', () => void loop());
}

async function main(): Promise<void> {
  setStatus('Choosing a backend…', 'loading');
  const backend = await chooseBackend();
  setStatus(`Loading the model on ${backend}…`, 'loading');
  const info = await loadModel();
  const { imageSize, cropSize, normalization } = info.preprocessing;
  const weights = info.model.countParams();
  $('meta').innerHTML = '';
  $('meta').append(
    `Backend: ${backend} · model: ${info.model.name} (${weights.toLocaleString('en')} weights)`,
    document.createElement('br'),
    `Preprocessing (from ${info.source}): ${cropSize}×${cropSize} centre crop of ${imageSize}×${imageSize}, `,
    `(x / 255 − ${+normalization.mean.toFixed(4)}) / ${+normalization.std.toFixed(4)}`,
    document.createElement('br'),
    `Loaded from ${info.url}`,
  );
  if (info.model.name === DEMO_MODEL_NAME) {
    const note = document.createElement('p');
    note.className = 'note';
    note.textContent =
      'These are untrained demo weights: the probabilities mean nothing. Train a model with ' +
      '`npm run demo -- --out DIR` and open this page with ?model=<URL of DIR/model/model.json>.';
    $('meta').append(note);
  }
  $('crop-caption').textContent = `model input (${cropSize}×${cropSize} centre crop)`;
  $('face-caption').textContent = `${imageSize}×${imageSize} grayscale (centre it on the face)`;
  resultEl.dataset.backend = backend;

  const fileInput = $<HTMLInputElement>('file');
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    if (file) void onFile(info, backend, file).catch((e: Error) => setStatus(`Error: ${e.message}`, 'error'));
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('dragging');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('dragging');
    const file = e.dataTransfer?.files[0];
    if (file)
      void onFile(info, backend, file).catch((err: Error) => setStatus(`Error: ${err.message}`, 'error'));
  });
  setUpCamera(info, backend);
  setStatus(`Warming up ${backend}…`, 'loading');
  warmUp(info);
  setStatus(`Ready on ${backend}: upload a photo or start the camera.`, 'ready');
  resultEl.dataset.state = 'ready';
}

main().catch((error: Error) => {
  setStatus(`Error: ${error.message}`, 'error');
  console.error(error);
});
