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
 * - `?model=URL` a `model.json` to load (default: the pretrained `pretrained/fer2013/model.json`,
 *   which vite.config.ts serves from the repository's `models/fer2013/`; when it is absent, the
 *   untrained `model/model.json` next to the page, with a note). A model
 *   without stored preprocessing may have a `training.json` beside it (as older versions of `train`
 *   wrote into `best/`), or be given its normalisation with `?mean=&std=`; otherwise the page says so
 *   and stops: it never guesses a normalisation.
 * - `?detector=URL` BlazeFace's `blazeface.json` (default: `detector/blazeface.json`, served from the
 *   dev dependency `@vladmandic/human`). Photos larger than a face crop and camera frames go through
 *   face detection: every face gets a box, a label and its probabilities (`findFaceCrops`); without
 *   a detector the page falls back to the centre square.
 * - `?backend=webgpu|webgl|wasm|cpu` forces a backend (default: the first of these that works).
 * - `?mean=M&std=S` overrides the normalisation `(x / 255 - M) / S`.
 * - `?bench=1` times the model on the chosen backend once it is ready (faces/s at batch 1 and 32,
 *   classification only, prepared crops) and puts the result in `#result`'s `data-bench` as JSON;
 *   `bench/browser_expressions.ts` reads it for the model cards.
 *
 * In your own app, import from `fer-cbam` instead of the source path below.
 */

import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { FER2013_CLASSES } from '../../src/data/dataset';
import { loadFaceDetector } from '../../src/faces/blazeface';
import { type FaceCrop, findFaceCrops, looksLikeFaceCrop } from '../../src/faces/recognize';
import type { FaceDetector } from '../../src/faces/types';
import { captureAttentionMaps } from '../../src/layers/index';
import {
  facesToInput,
  getPreprocessing,
  type Preprocessing,
  predictProbabilities,
} from '../../src/models/index';
import { loadPretrained } from '../../src/pretrained/load';
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
  /** The faces found in the last photo or camera frame (absent when the picture was taken whole). */
  faces?: FaceResult[];
}

/** One detected face as the page shows it. */
interface FaceResult {
  box: { x: number; y: number; width: number; height: number };
  score: number | null;
  label: string;
  probability: number;
  probabilities: number[];
}

/** What the page exposes in `#faces-json` after each photo or camera frame with detection. */
interface FacesResult {
  source: 'photo' | 'camera';
  width: number;
  height: number;
  faces: FaceResult[];
  /** Detection + classification time of this picture. */
  milliseconds: number;
  /** Frames per second of the live camera loop (moving average), or null for a photo. */
  fps: number | null;
}

interface DetectorInfo {
  detector: FaceDetector | null;
  url: string;
  error?: string;
}

/** Colour of the boxes and label backgrounds drawn over the picture. */
const BOX_COLOR = '#00e676';

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

/** The pretrained model when it is served (see vite.config.ts), else the untrained demo model. */
async function defaultModelUrl(): Promise<{ url: string; note?: string }> {
  const pretrained = new URL('pretrained/fer2013/model.json', location.href).href;
  try {
    const response = await fetch(pretrained);
    if (response.ok && (response.headers.get('content-type') ?? '').includes('json'))
      return { url: pretrained };
  } catch {
    // not served
  }
  return {
    url: new URL('model/model.json', location.href).href,
    note: 'The pretrained model (models/fer2013/model.json in the repository) is not served, so the page uses untrained demo weights.',
  };
}

let modelNote: string | undefined;

async function loadModel(): Promise<ModelInfo> {
  let url: string;
  const asked = params.get('model');
  if (asked) url = new URL(asked, location.href).href;
  else {
    const found = await defaultModelUrl();
    url = found.url;
    modelNote = found.note;
  }
  // The pretrained model through the library's loader (which checks it is the shipped one), any
  // other model.json directly.
  const model =
    asked || modelNote ? await tfl.loadLayersModel(url) : await loadPretrained('fer2013', { url });
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
    const given = params.get('mean') !== null && params.get('std') !== null;
    const classNames =
      fromFile?.classNames ?? (units === FER2013_CLASSES.length ? [...FER2013_CLASSES] : undefined);
    // Never a guessed normalisation: a model that stores none needs a training.json or ?mean=&std=.
    if ((!fromFile?.normalization && !given) || !classNames) {
      throw new Error(
        `${url} stores no preprocessing${fromFile ? ' and its training.json is incomplete' : ' and has no training.json beside it'}: ` +
          (classNames
            ? 'open the page with ?mean=M&std=S (its normalisation), or save the model with setPreprocessing().'
            : `it has ${units} outputs (not FER2013's 7), so its class names are unknown: save it with setPreprocessing().`),
      );
    }
    source = fromFile?.normalization ? 'training.json' : 'URL';
    preprocessing = {
      imageSize: Math.max(48, height),
      cropSize: height,
      normalization: fromFile?.normalization ?? { mean: 0, std: 1 }, // replaced by ?mean=&std= below
      classNames,
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
    if (source !== 'URL') source += ' + URL';
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

async function predict(
  info: ModelInfo,
  backend: string,
  gray: Uint8Array,
  faces?: FaceResult[],
): Promise<void> {
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
    ...(faces ? { faces } : {}),
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

/**
 * Faces per second of `predictProbabilities` at batch 1 and 32 on random prepared crops: three
 * warm-up calls, then timed calls until two seconds have passed (the result downloaded each time).
 */
async function benchmark(info: ModelInfo): Promise<Record<string, number>> {
  const { cropSize } = info.preprocessing;
  const out: Record<string, number> = {};
  for (const batch of [1, 32]) {
    const x = tf.randomNormal<tf.Rank.R4>([batch, cropSize, cropSize, 1], 0, 1, 'float32', 1);
    const once = async () => {
      const y = predictProbabilities(info.model, x);
      await y.data();
      y.dispose();
    };
    for (let i = 0; i < 3; i++) await once();
    let calls = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 2000) {
      await once();
      calls++;
    }
    out[`facesPerSecBatch${batch}`] = (1000 * calls * batch) / (performance.now() - t0);
    x.dispose();
  }
  return out;
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

async function loadDetector(): Promise<DetectorInfo> {
  const url = new URL(params.get('detector') ?? 'detector/blazeface.json', location.href).href;
  try {
    return { detector: await loadFaceDetector({ model: url }), url };
  } catch (error) {
    return { detector: null, url, error: (error as Error).message };
  }
}

/** Shows a gray face in the "Face" canvas. */
function showFace(gray: Uint8Array, size: number): void {
  const canvas = $<HTMLCanvasElement>('face');
  canvas.width = canvas.height = size;
  canvas.getContext('2d')!.putImageData(grayImage(gray, size, size), 0, 0);
}

/** Draws the picture with a box, the eyes and a label per face; returns the drawing scale. */
function drawScene(
  source: CanvasImageSource,
  width: number,
  height: number,
  faces: FaceCrop[],
  results: FaceResult[],
  selected: number,
): void {
  const canvas = $<HTMLCanvasElement>('scene');
  const scale = Math.min(1, 960 / Math.max(width, height));
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  const line = Math.max(2, Math.round(canvas.width / 320));
  for (const [i, f] of faces.entries()) {
    const r = results[i]!;
    const [x, y, w, h] = [f.box.x * scale, f.box.y * scale, f.box.width * scale, f.box.height * scale];
    ctx.strokeStyle = i === selected ? '#2f6fde' : BOX_COLOR;
    ctx.lineWidth = line;
    ctx.strokeRect(x, y, w, h);
    if (f.keypoints) {
      ctx.fillStyle = BOX_COLOR;
      for (const p of [f.keypoints.rightEye, f.keypoints.leftEye]) {
        ctx.beginPath();
        ctx.arc(p[0] * scale, p[1] * scale, line * 1.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    const text = `${r.label} ${(100 * r.probability).toFixed(0)}%`;
    const size = Math.max(12, Math.min(28, Math.round(w / 5)));
    ctx.font = `${size}px system-ui, sans-serif`;
    const tw = ctx.measureText(text).width + size * 0.6;
    const ty = y - size * 1.3 >= 0 ? y - size * 1.3 : y + h;
    ctx.fillStyle = BOX_COLOR;
    ctx.fillRect(x, ty, tw, size * 1.3);
    ctx.fillStyle = '#000';
    ctx.fillText(text, x + size * 0.3, ty + size);
  }
}

function renderFaceList(
  faces: FaceCrop[],
  results: FaceResult[],
  classNames: string[],
  imageSize: number,
  onSelect: ((i: number) => void) | null,
): void {
  const items = faces.map((f, i) => {
    const r = results[i]!;
    const li = document.createElement('li');
    li.dataset.label = r.label;
    li.dataset.probability = String(r.probability);
    const thumb = document.createElement('canvas');
    thumb.width = thumb.height = imageSize;
    thumb.getContext('2d')!.putImageData(grayImage(f.crop, imageSize, imageSize), 0, 0);
    const text = document.createElement('span');
    const top3 = r.probabilities
      .map((p, c) => ({ p, c }))
      .sort((a, b) => b.p - a.p)
      .slice(0, 3)
      .map(({ p, c }) => `${classNames[c] ?? c} ${(100 * p).toFixed(0)}%`);
    text.innerHTML = '';
    const strong = document.createElement('strong');
    strong.textContent = `face ${i + 1}: ${top3[0]}`;
    text.append(strong, document.createElement('br'), top3.slice(1).join(' · '));
    li.append(thumb, text);
    if (onSelect) li.addEventListener('click', () => onSelect(i));
    return li;
  });
  $('face-list').replaceChildren(...items);
}

let framesDone = 0;
let fpsAverage: number | null = null;
let lastFrameAt = 0;

/**
 * Detects every face in `source`, classifies them in one batch and draws the boxes and labels.
 * For a photo (not `live`), the first face then goes through the full view (probabilities and
 * attention maps); clicking a face in the list selects another one.
 */
async function runFaces(
  info: ModelInfo,
  backend: string,
  detector: FaceDetector,
  source: HTMLVideoElement | ImageBitmap,
  width: number,
  height: number,
  mode: 'photo' | 'camera' | 'live',
): Promise<void> {
  if (busy) return;
  busy = true;
  if (mode !== 'live') setStatus('Finding faces…', 'loading');
  try {
    const { imageSize, classNames } = info.preprocessing;
    const started = performance.now();
    const { faces } = await findFaceCrops(source, { detector, detect: 'on', size: imageSize });
    let rows: number[][] = [];
    if (faces.length > 0) {
      const x = facesToInput(
        faces.map((f) => f.crop),
        info.preprocessing,
      );
      const probs = predictProbabilities(info.model, x);
      rows = (await probs.array()) as number[][];
      x.dispose();
      probs.dispose();
    }
    const milliseconds = performance.now() - started;
    const results: FaceResult[] = faces.map((f, i) => {
      const p = rows[i]!;
      const best = p.indexOf(Math.max(...p));
      return {
        box: f.box,
        score: f.score,
        label: classNames[best] ?? `class ${best}`,
        probability: p[best]!,
        probabilities: p,
      };
    });
    if (mode === 'live') {
      const now = performance.now();
      if (lastFrameAt > 0) {
        const fps = 1000 / (now - lastFrameAt);
        fpsAverage = fpsAverage === null ? fps : 0.8 * fpsAverage + 0.2 * fps;
      }
      lastFrameAt = now;
      $('fps').textContent = fpsAverage === null ? '' : `· ${fpsAverage.toFixed(1)} fps`;
    }
    const select = async (i: number) => {
      drawScene(source, width, height, faces, results, i);
      showFace(faces[i]!.crop, imageSize);
      await predict(info, backend, faces[i]!.crop, results);
    };
    drawScene(source, width, height, faces, results, mode === 'live' ? -1 : 0);
    // a photo stays selectable; camera frames are gone once drawn
    renderFaceList(faces, results, classNames, imageSize, mode === 'photo' ? (i) => void select(i) : null);
    const facesResult: FacesResult = {
      source: mode === 'photo' ? 'photo' : 'camera',
      width,
      height,
      faces: results,
      milliseconds,
      fps: mode === 'live' ? fpsAverage : null,
    };
    $('faces-json').textContent = JSON.stringify(facesResult);
    resultEl.dataset.frames = String(++framesDone);
    resultEl.dataset.faces = String(faces.length);
    if (mode === 'live') return;
    if (faces.length === 0) {
      setStatus(
        `No face found in ${width}×${height} (${milliseconds.toFixed(0)} ms). Faces narrower than about 1/20 of the picture are missed.`,
        'ready',
      );
      return;
    }
    await select(0);
    setStatus(
      `${faces.length} face${faces.length === 1 ? '' : 's'} in ${milliseconds.toFixed(0)} ms on ${backend}.`,
      'ready',
    );
  } catch (error) {
    setStatus(`Error: ${(error as Error).message}`, 'error');
    console.error(error);
  } finally {
    busy = false;
  }
}

async function onFile(
  info: ModelInfo,
  backend: string,
  detector: Promise<DetectorInfo>,
  file: File,
): Promise<void> {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none' });
  try {
    // a face crop needs no detector (and does not wait for it to load)
    const det = looksLikeFaceCrop(bitmap.width, bitmap.height, 128) ? null : await detector;
    if (det?.detector) {
      await runFaces(info, backend, det.detector, bitmap, bitmap.width, bitmap.height, 'photo');
      return;
    }
    // already a face crop (or no detector): the centre square is the face
    $('face-list').replaceChildren();
    await run(info, backend, () =>
      grabFace(bitmap, bitmap.width, bitmap.height, info.preprocessing.imageSize),
    );
  } finally {
    bitmap.close();
  }
}

function setUpCamera(info: ModelInfo, backend: string, detector: Promise<DetectorInfo>): void {
  let det: DetectorInfo = { detector: null, url: '' };
  void detector.then((d) => {
    det = d;
  });
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
  const frame = (mode: 'camera' | 'live') =>
    det.detector
      ? runFaces(info, backend, det.detector, video, video.videoWidth, video.videoHeight, mode)
      : run(info, backend, grab);
  capture.addEventListener('click', () => void frame('camera'));
  const loop = async (): Promise<void> => {
    if (!live.checked) {
      fpsAverage = null;
      lastFrameAt = 0;
      return;
    }
    await frame('live');
    // with detection every frame is drawn; without it, keep the old pace
    if (det.detector) requestAnimationFrame(() => void loop());
    else setTimeout(() => requestAnimationFrame(() => void loop()), 150);
  };
  live.addEventListener('change', () => void loop());
}

async function main(): Promise<void> {
  setStatus('Choosing a backend…', 'loading');
  const backend = await chooseBackend();
  setStatus(`Loading the model on ${backend}…`, 'loading');
  const info = await loadModel();
  // the detector loads in the background: face crops work at once, photos wait for it
  const det = loadDetector().then((d) => {
    $('detector-meta').textContent = d.detector
      ? `Face detector: BlazeFace from ${d.url}; crops aligned (eyes level) and framed like FER2013.`
      : `Face detection is off (${d.error}); photos are read as one face (their centre square).`;
    resultEl.dataset.detector = d.detector ? 'on' : 'off';
    return d;
  });
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
  if (modelNote) {
    const note = document.createElement('p');
    note.className = 'note';
    note.id = 'model-note';
    note.textContent = modelNote;
    $('meta').append(note);
  }
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
    if (file)
      void onFile(info, backend, det, file).catch((e: Error) => setStatus(`Error: ${e.message}`, 'error'));
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
      void onFile(info, backend, det, file).catch((err: Error) =>
        setStatus(`Error: ${err.message}`, 'error'),
      );
  });
  setUpCamera(info, backend, det);
  setStatus(`Warming up ${backend}…`, 'loading');
  warmUp(info);
  if (params.get('bench')) {
    setStatus(`Timing the model on ${backend}…`, 'loading');
    resultEl.dataset.bench = JSON.stringify({ backend, ...(await benchmark(info)) });
  }
  setStatus(`Ready on ${backend}: upload a photo or start the camera.`, 'ready');
  resultEl.dataset.state = 'ready';
}

main().catch((error: Error) => {
  setStatus(`Error: ${error.message}`, 'error');
  console.error(error);
});
