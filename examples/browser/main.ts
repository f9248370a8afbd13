/// <reference types="vite/client" />
/**
 * fer-cbam browser demo: loads a saved fer-cbam model and shows, for an uploaded photo or the
 * webcam (live by default), every face with a numbered box, its expression and the spatial attention
 * maps of the model's CBAM layers for the selected face.
 *
 * The pictures go through the library's own pipeline: the preprocessing stored in the model
 * (`getPreprocessing`: face size, crop, normalisation, class names), `findFaceCrops` (BlazeFace,
 * aligned FER2013-style crops), `facesToInput`, `predictProbabilities`, `captureAttentionMaps`,
 * `overlayHeatmap`, and in live mode `FaceTracker` (faces followed from frame to frame, their
 * probabilities smoothed over time, the shown label changing only past a margin).
 *
 * URL parameters:
 * - `?model=URL` a `model.json` to load (default: the default pretrained model,
 *   `pretrained/<DEFAULT_PRETRAINED>/model.json`, which vite.config.ts serves from the repository's
 *   `models/`, like every shipped model; when it is absent, the
 *   untrained `model/model.json` next to the page, with a note). A model
 *   without stored preprocessing may have a `training.json` beside it (as older versions of `train`
 *   wrote into `best/`), or be given its normalisation with `?mean=&std=`; otherwise the page says so
 *   and stops: it never guesses a normalisation.
 * - `?detector=URL` BlazeFace's `blazeface.json` (default: `detector/blazeface.json`, served from the
 *   dev dependency `@vladmandic/human`). Photos larger than a face crop and camera frames go through
 *   face detection; without a detector the page takes the centre square as the face.
 * - `?backend=webgpu|webgl|wasm|cpu` forces a backend. Default: chosen for this device
 *   (backend.ts): WebGPU or WebGL on a hardware GPU, else wasm (a software GPU such as SwiftShader
 *   is skipped); a WebGL renderer whose name is hidden is timed against wasm. `?pick=time` times
 *   WebGL against wasm whatever the renderer.
 * - `?threads=N` wasm threads, or `timed` (default, see `wasmThreads` in backend.ts: 1 where the
 *   page is not cross-origin isolated or has two cores or fewer, else the cores timed against one).
 * - `?mean=M&std=S` overrides the normalisation `(x / 255 - M) / S`.
 * - `?bench=1` times the model on the chosen backend once it is ready (faces/s at batch 1 and 32,
 *   classification only, prepared crops) and puts the result in `#result`'s `data-bench` as JSON;
 *   `bench/browser_expressions.ts` reads it for the model cards.
 *
 * What tests and scripts read: `#result` (data-state, data-backend, data-threads, data-isolated,
 * data-count, data-frames), `#result-json` (the selected face's panels), `#faces-json` (the last
 * picture's faces) and `window.ferCbamDemo.frames` (the live frames so far, see {@link FrameLog}).
 *
 * In your own app, import from `fer-cbam` instead of the source paths below.
 */

import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { setupWasm, type WasmSetupResult } from '../../src/backends/wasm';
import { FER2013_CLASSES } from '../../src/data/dataset';
import { loadFaceDetector } from '../../src/faces/blazeface';
import { type FaceCrop, findFaceCrops, looksLikeFaceCrop } from '../../src/faces/recognize';
import type { FaceDetector } from '../../src/faces/types';
import { captureAttentionMaps, findAttentionLayers } from '../../src/layers/index';
import {
  facesToInput,
  getPreprocessing,
  type Preprocessing,
  predictProbabilities,
} from '../../src/models/index';
import { trainingJsonPreprocessing } from '../../src/models/preprocessing';
import { DEFAULT_PRETRAINED } from '../../src/pretrained/catalog';
import { loadPretrained } from '../../src/pretrained/load';
// The tracker's own module: src/video/index.ts also re-exports the Node-only ffmpeg helpers.
import { FaceTracker, TRACKER_DEFAULTS } from '../../src/video/tracker';
import { overlayHeatmap } from '../../src/visualize/colormap';
import { BACKENDS, type BackendName, planBackends, probeWebGL, probeWebGPU, wasmThreads } from './backend';
import { centreCrop, rgbaToGray } from './preprocess';

/** Name of the untrained model written by scripts/make-demo-model.ts. */
const DEMO_MODEL_NAME = 'fer_cbam_browser_demo';

/** What the page exposes for tests and scripts in `#result-json` each time the panels change. */
interface DemoResult {
  backend: string;
  model: string;
  /** Where the preprocessing came from: `model.json`, `training.json` or `defaults` (`+ URL`). */
  preprocessingSource: string;
  preprocessing: Preprocessing;
  /** The probabilities shown: the model's for a photo, the track's smoothed ones live. */
  probabilities: number[];
  top: string;
  /** The picture's own probabilities (live: this frame's, before smoothing). */
  frameProbabilities: number[];
  frameTop: string;
  /** The face's number (its track id live), absent when the picture was taken whole. */
  trackId?: number;
  /** The picture (photo or camera frame) the panels show, as `#faces-json`'s `frame`. */
  frame?: number;
  /** The grayscale face the prediction was made on (`imageSize` squared bytes), base64. */
  face: string;
  heatmaps: { path: string; height: number; width: number; min: number; max: number }[];
  milliseconds: number;
}

/** One face as the page shows it in `#faces-json`. */
interface FaceResult {
  /** Its number on the box and in the list: the track id live, 1, 2... from the left in a photo. */
  trackId: number;
  box: { x: number; y: number; width: number; height: number };
  score: number | null;
  /** The label shown (live: smoothed, with hysteresis) and its probability. */
  label: string;
  probability: number;
  /** The probabilities shown (live: smoothed over `TRACKER_DEFAULTS.timeConstant` seconds). */
  probabilities: number[];
  /** This picture's own label and probabilities. */
  frameLabel: string;
  frameProbabilities: number[];
  /** The face's grayscale crop, base64. */
  crop: string;
}

/** What the page exposes in `#faces-json` after each photo or camera frame. */
interface FacesResult {
  source: 'photo' | 'camera';
  /** Counts the pictures (photos and frames) since the page opened. */
  frame: number;
  /** Live: the frame's time in seconds (the tracker's clock); null for a photo. */
  time: number | null;
  width: number;
  height: number;
  faces: FaceResult[];
  /** The selected face's number, or null. */
  selected: number | null;
  /** Detection + classification time of this picture. */
  milliseconds: number;
  /** Where this picture's time went (ms): detection, classification, drawing, the selected face's panels. */
  timings: { detect: number; classify: number; draw: number; panels: number };
  /** Frames per second of the live loop (moving average), or null for a photo. */
  fps: number | null;
  /** Frames per second since the third live frame (the first ones pay for warm-up), or null. */
  fpsMean: number | null;
}

/** One live frame in `window.ferCbamDemo.frames` (kept for the last {@link FRAME_LOG_SIZE} frames). */
interface FrameLog {
  frame: number;
  time: number;
  faces: Pick<
    FaceResult,
    'trackId' | 'box' | 'label' | 'probabilities' | 'frameLabel' | 'frameProbabilities'
  >[];
}
const FRAME_LOG_SIZE = 3000;

interface DetectorInfo {
  detector: FaceDetector | null;
  url: string;
  error?: string;
}

/** Colours of the boxes and label backgrounds drawn over the picture: other faces, the selected one. */
const BOX_COLOR = '#00e676';
const SELECTED_COLOR = '#2f6fde';
/** Longest side of the picture as drawn (and, live, as detected): larger frames are scaled down. */
const SCENE_MAX_SIDE = 960;

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
const frameLog: FrameLog[] = [];
(window as unknown as { ferCbamDemo: { frames: FrameLog[] } }).ferCbamDemo = { frames: frameLog };
let resultCount = 0;
let busy = false;

function setStatus(text: string, state?: 'loading' | 'ready' | 'error'): void {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', state === 'error');
  if (state) resultEl.dataset.state = state;
  if (state === 'error') resultEl.dataset.error = text;
}

// ---------------------------------------------------------------------------------------------
// Backend

/** The backend in use and why; shown under the Expression panel and in `#result`'s data. */
interface BackendInfo {
  name: BackendName;
  reason: string;
  /** wasm: the threads at work (see setupWasm); null on the other backends. */
  threads: number | null;
  /** Milliseconds per 3-face batch of each backend timed, when the choice was timed. */
  timings?: Partial<Record<BackendName, number>>;
}

/** What `setupWasm` configured, once the wasm backend started. */
let wasmSetup: WasmSetupResult | null = null;

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
      case 'wasm':
        // The library's set-up: threads where the page is cross-origin isolated, fer-cbam's SIMD
        // convolution kernels (most of the classifier's time) and their helper threads.
        wasmSetup ??= await setupWasm({
          threads: threadPlan().threads,
          wasmPaths: {
            'tfjs-backend-wasm.wasm': wasmPlainUrl,
            'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
            'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
          },
        });
        break;
      case 'cpu':
        await import('@tensorflow/tfjs-backend-cpu');
        break;
    }
    if (tf.getBackend() !== name && !(await tf.setBackend(name))) return false;
    await tf.ready();
    // A backend can initialise and still fail on first use (e.g. WebGL without float textures).
    tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
    return true;
  } catch (error) {
    console.warn(`fer-cbam demo: backend ${name} is not available:`, error);
    return false;
  }
}

/**
 * Starts the backend for this device (see backend.ts), or the one `?backend=` asks for. Returns
 * it, why, and the backends to time once the model is loaded.
 */
async function chooseBackend(): Promise<{ info: BackendInfo; time: BackendName[] }> {
  // Checked first so that a bad value is an error, not a silently single-threaded page.
  threadPlan();
  const requested = params.get('backend');
  if (requested) {
    if (!(BACKENDS as readonly string[]).includes(requested)) {
      throw new Error(`?backend= must be one of ${BACKENDS.join(', ')}, but got "${requested}".`);
    }
    if (!(await tryBackend(requested as BackendName))) {
      throw new Error(`the ${requested} backend (asked for by ?backend=) is not available in this browser.`);
    }
    return {
      info: withThreads({ name: requested as BackendName, reason: 'asked for by ?backend=' }),
      time: [],
    };
  }
  const plan = planBackends({ webgpu: await probeWebGPU(), webgl: probeWebGL() });
  if (params.get('pick') === 'time') {
    plan.order = ['wasm', 'webgl', 'cpu'];
    plan.time = ['wasm', 'webgl'];
    plan.reason = '?pick=time: the model was timed on WebGL and WebAssembly';
  }
  const failed: string[] = [];
  for (const name of plan.order) {
    if (await tryBackend(name)) {
      const reason = failed.length ? `${plan.reason} (${failed.join(', ')} failed to start)` : plan.reason;
      return { info: withThreads({ name, reason }), time: plan.time };
    }
    failed.push(name);
  }
  throw new Error('no TensorFlow.js backend is available.');
}

/** The wasm threads for this page (see backend.ts). */
const threadPlan = () =>
  wasmThreads(crossOriginIsolated, navigator.hardwareConcurrency, params.get('threads'));

function withThreads(info: Omit<BackendInfo, 'threads'>): BackendInfo {
  return { ...info, threads: info.name === 'wasm' && wasmSetup ? wasmSetup.threads : null };
}

/**
 * Times the model on each backend (a 3-face batch, the live case: one untimed call that compiles
 * shaders and allocates, then the median of three) and switches to the fastest.
 */
async function timeBackends(
  info: ModelInfo,
  backend: BackendInfo,
  names: BackendName[],
): Promise<BackendInfo> {
  const timings: Partial<Record<BackendName, number>> = {};
  const { cropSize } = info.preprocessing;
  for (const name of names) {
    if (!(await tryBackend(name))) continue;
    const x = tf.randomUniform<tf.Rank.R4>([3, cropSize, cropSize, 1], 0, 1, 'float32', 7);
    const once = async () => {
      const t0 = performance.now();
      const y = predictProbabilities(info.model, x);
      await y.data();
      y.dispose();
      return performance.now() - t0;
    };
    await once();
    const runs = [await once(), await once(), await once()].sort((a, b) => a - b);
    timings[name] = runs[1]!;
    x.dispose();
  }
  const timed = Object.entries(timings) as [BackendName, number][];
  if (timed.length === 0) return backend;
  const [best] = timed.reduce((a, b) => (b[1] < a[1] ? b : a));
  await tryBackend(best);
  const list = timed.map(([n, ms]) => `${n} ${ms.toFixed(0)} ms`).join(', ');
  return withThreads({ name: best, reason: `${backend.reason} (per 3 faces: ${list})`, timings });
}

/** `training.json` next to the model (written by `train` into `best/`), or `null`. */
async function readTrainingJson(
  modelUrl: string,
): Promise<ReturnType<typeof trainingJsonPreprocessing> | null> {
  try {
    const response = await fetch(new URL('training.json', modelUrl));
    if (!response.ok) return null;
    return trainingJsonPreprocessing(await response.json()); // the CLI reads it the same way
  } catch {
    return null; // missing, or not JSON (a server answering every URL with a page)
  }
}

/** The pretrained model when it is served (see vite.config.ts), else the untrained demo model. */
async function defaultModelUrl(): Promise<{ url: string; note?: string }> {
  const pretrained = new URL(`pretrained/${DEFAULT_PRETRAINED}/model.json`, location.href).href;
  try {
    const response = await fetch(pretrained);
    if (response.ok && (response.headers.get('content-type') ?? '').includes('json'))
      return { url: pretrained };
  } catch {
    // not served
  }
  return {
    url: new URL('model/model.json', location.href).href,
    note: `The pretrained model (models/${DEFAULT_PRETRAINED}/model.json in the repository) is not served, so the page uses untrained demo weights.`,
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
    asked || modelNote ? await tfl.loadLayersModel(url) : await loadPretrained(DEFAULT_PRETRAINED, { url });
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

/** What the panels show besides the model's own result (face mode). */
interface Shown {
  /** The probabilities to show (live: the track's smoothed ones) and this picture's own. */
  probabilities: number[];
  frameProbabilities: number[];
  trackId: number;
  frame: number;
  /** Live frames: the smoothed label with hysteresis (may differ from the smoothed argmax). */
  label: string;
  /** The face's spatial attention maps, from the pass that classified it (see {@link classify}). */
  maps: FaceMap[];
}

/** One attention layer's spatial map for one face. */
interface FaceMap {
  path: string;
  height: number;
  width: number;
  data: Float32Array;
}

const argmax = (values: readonly number[]): number => values.indexOf(Math.max(...values));

/**
 * Fills the Face, model input, Expression and attention panels for one 48x48 face: `gray` is
 * classified and its attention maps captured; with `shown` (a detected face), the Expression
 * panel shows the given probabilities (live: the smoothed ones) and the picture's own as well.
 */
async function predict(info: ModelInfo, backend: string, gray: Uint8Array, shown?: Shown): Promise<void> {
  const { model, preprocessing } = info;
  const { imageSize, cropSize: size, classNames } = preprocessing;
  const started = performance.now();
  const crop = centreCrop(gray, imageSize, imageSize, size);
  const cropCanvas = $<HTMLCanvasElement>('crop');
  cropCanvas.width = cropCanvas.height = size;
  cropCanvas.getContext('2d')!.putImageData(grayImage(crop, size, size), 0, 0);

  let frameProbabilities: number[];
  // A detected face's probabilities and maps came from the pass that classified it (classify());
  // a whole picture is run here.
  const faceMaps: FaceMap[] = shown ? [...shown.maps] : [];
  if (shown) frameProbabilities = shown.frameProbabilities;
  else {
    const x = facesToInput([gray], preprocessing);
    try {
      const probs = predictProbabilities(model, x);
      frameProbabilities = Array.from(await probs.data());
      probs.dispose();
      const entries = captureAttentionMaps(model, x);
      try {
        for (const { path, maps } of entries) {
          const spatial = maps.spatial;
          if (!spatial) continue;
          const [, height, width] = spatial.shape as number[];
          faceMaps.push({
            path,
            height: height!,
            width: width!,
            data: (await spatial.data()) as Float32Array,
          });
        }
      } finally {
        tf.dispose(entries.map((e) => e.maps));
      }
    } finally {
      x.dispose();
    }
  }
  const heatmaps: DemoResult['heatmaps'] = [];
  const figures: HTMLElement[] = [];
  for (const { path, height: h, width: w, data: map } of faceMaps) {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const v of map) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    heatmaps.push({ path, height: h, width: w, min, max });
    const overlay = overlayHeatmap(crop, size, size, map, h, w);
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
  const milliseconds = performance.now() - started;

  const probabilities = shown?.probabilities ?? frameProbabilities;
  const best = shown ? classNames.indexOf(shown.label) : argmax(probabilities);
  const frameBest = argmax(frameProbabilities);
  const name = (i: number) => classNames[i] ?? `class ${i}`;
  renderProbabilities(classNames, probabilities, best);
  const list = $('heatmap-list');
  if (figures.length) list.replaceChildren(...figures);
  else list.innerHTML = '<p class="lead">This model has no spatial attention layer.</p>';
  $('top').innerHTML = '';
  $('top').append(name(best), ' ');
  const small = document.createElement('small');
  small.textContent = `${(100 * probabilities[best]!).toFixed(1)} %`;
  $('top').append(small);
  // Live, the label shown is smoothed: say so, and show what this frame alone says.
  const frameEl = $('frame-label');
  const smoothed = shown && shown.probabilities !== shown.frameProbabilities;
  frameEl.hidden = !smoothed;
  frameEl.textContent = smoothed
    ? `Face ${shown.trackId}, smoothed over ${TRACKER_DEFAULTS.timeConstant} s · this frame alone: ` +
      `${name(frameBest)} ${(100 * frameProbabilities[frameBest]!).toFixed(1)} %`
    : '';
  if (shown) {
    const faceCanvas = $<HTMLCanvasElement>('face');
    faceCanvas.width = faceCanvas.height = imageSize;
    faceCanvas.getContext('2d')!.putImageData(grayImage(gray, imageSize, imageSize), 0, 0);
    $('face-caption').textContent = `face ${shown.trackId} · ${imageSize}×${imageSize} grayscale crop`;
  }

  const result: DemoResult = {
    backend,
    model: info.url,
    preprocessingSource: info.source,
    preprocessing,
    probabilities,
    top: name(best),
    frameProbabilities,
    frameTop: name(frameBest),
    ...(shown ? { trackId: shown.trackId, frame: shown.frame } : {}),
    face: base64(gray),
    heatmaps,
    milliseconds,
  };
  $('result-json').textContent = JSON.stringify(result);
  resultEl.dataset.count = String(++resultCount);
  if (!shown) setStatus(`Done in ${milliseconds.toFixed(0)} ms on ${backend}.`, 'ready');
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

/**
 * With wasm threads (a cross-origin isolated page on more than one core), fer-cbam's kernels split
 * each convolution with helper threads and wait for them: a gain on free cores, a loss where other
 * programs hold the cores (a helper that is not scheduled stalls every convolution; on a 2-core
 * machine busy training, BlazeFace took 3 s per frame with a helper against 0.1 s without). So the
 * page times one live frame's work (a detection on a 640x400 picture, three faces classified) with
 * its threads and with one, alternately, and keeps the faster (`setupWasm` switches the helpers).
 * `?threads=N` skips this.
 */
async function timeWasmThreads(
  info: ModelInfo,
  detector: FaceDetector | null,
  backend: BackendInfo,
): Promise<BackendInfo> {
  const many = wasmSetup?.threads ?? 1;
  if (backend.name !== 'wasm' || many <= 1 || !threadPlan().time) return backend;
  const picture = document.createElement('canvas');
  picture.width = 640;
  picture.height = 400;
  const ctx = picture.getContext('2d', { willReadFrequently: true })!;
  const gradient = ctx.createLinearGradient(0, 0, 640, 400);
  gradient.addColorStop(0, '#333');
  gradient.addColorStop(1, '#ccc');
  ctx.fillStyle = gradient;
  ctx.fillRect(0, 0, 640, 400);
  const { imageSize } = info.preprocessing;
  const faces: FaceCrop[] = [0, 1, 2].map((k) => ({
    box: { x: 0, y: 0, width: 1, height: 1 },
    score: null,
    square: { center: [0, 0], side: 1, angle: 0 },
    crop: Uint8Array.from({ length: imageSize * imageSize }, (_, i) => (i * (7 + k)) % 256),
  }));
  const step = async (): Promise<number> => {
    const t0 = performance.now();
    if (detector) await findFaceCrops(picture, { detector, detect: 'on', size: imageSize });
    await classify(info, faces);
    return performance.now() - t0;
  };
  const use = async (threads: number) => {
    wasmSetup = await setupWasm({ threads });
  };
  await step(); // warm-up: first-call allocations, billed to neither
  const times: Record<number, number[]> = { [many]: [], 1: [] };
  for (let round = 0; round < 3; round++) {
    for (const threads of [many, 1]) {
      await use(threads);
      times[threads]!.push(await step());
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const [tMany, tOne] = [median(times[many]!), median(times[1]!)];
  const best = tMany <= tOne ? many : 1;
  await use(best);
  return withThreads({
    ...backend,
    reason:
      `${backend.reason}; ${best} thread${best === 1 ? '' : 's'} because one frame took ` +
      `${tMany.toFixed(0)} ms with ${many} threads and ${tOne.toFixed(0)} ms with 1`,
  });
}

/** Writes the backend line under the Expression panel and the backend data on `#result`. */
function showBackend(backend: BackendInfo): void {
  const why = backend.name === 'wasm' ? threadPlan().why : '';
  const threads =
    backend.threads === null
      ? ''
      : ` (${backend.threads} thread${backend.threads === 1 ? '' : 's'}${why ? `; ${why}` : ''})`;
  $('backend-meta').textContent = `Backend: ${backend.name}${threads}, because ${backend.reason}.`;
  resultEl.dataset.backend = backend.name;
  resultEl.dataset.backendReason = backend.reason;
  resultEl.dataset.threads = String(backend.threads ?? '');
  resultEl.dataset.isolated = String(crossOriginIsolated);
  if (backend.timings) resultEl.dataset.backendTimings = JSON.stringify(backend.timings);
}

// ---------------------------------------------------------------------------------------------
// Faces in the picture: a photo, or the camera live

/** A face of the picture on the scene. */
interface SceneFace {
  /** Its number on the box and in the list (live: the track id). */
  id: number;
  face: FaceCrop;
  label: string;
  probabilities: number[];
  frameLabel: string;
  frameProbabilities: number[];
  /** Its spatial attention maps on this picture. */
  maps: FaceMap[];
}

/** The picture on the scene canvas and its faces. */
interface Scene {
  source: 'photo' | 'camera';
  /** Counts pictures, as `FacesResult.frame`. */
  frame: number;
  /** The picture's size in its own pixels (boxes are in these). */
  width: number;
  height: number;
  /**
   * The picture as drawn, without boxes, at `scale`. Kept so that selecting a face can redraw it:
   * an uploaded photo's bitmap is closed once read, and a camera frame is gone by then.
   */
  picture: HTMLCanvasElement;
  scale: number;
  faces: SceneFace[];
}

let scene: Scene | null = null;
/** What `#faces-json` holds. */
let lastFaces: FacesResult | null = null;
/** The selected face's number; live, it stays on its track while the track lives. */
let selectedId: number | null = null;
let pictureCount = 0;

/** Draws `source` into a new canvas, scaled so that its longer side is at most SCENE_MAX_SIDE. */
function pictureCanvas(
  source: CanvasImageSource,
  width: number,
  height: number,
  reuse?: HTMLCanvasElement,
): { canvas: HTMLCanvasElement; scale: number } {
  const scale = Math.min(1, SCENE_MAX_SIDE / Math.max(width, height));
  const canvas = reuse ?? document.createElement('canvas');
  const w = Math.round(width * scale);
  const h = Math.round(height * scale);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  // willReadFrequently: the detector reads the pixels back every live frame.
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(source, 0, 0, w, h);
  return { canvas, scale };
}

/** A face found on a scaled picture, in the original picture's pixels. */
function unscaleFace(f: FaceCrop, scale: number): FaceCrop {
  if (scale === 1) return f;
  const s = 1 / scale;
  const point = (p: readonly [number, number]): [number, number] => [p[0] * s, p[1] * s];
  const out: FaceCrop = {
    ...f,
    box: { x: f.box.x * s, y: f.box.y * s, width: f.box.width * s, height: f.box.height * s },
    square: { ...f.square, center: point(f.square.center), side: f.square.side * s },
  };
  if (f.keypoints) {
    out.keypoints = Object.fromEntries(
      Object.entries(f.keypoints).map(([k, p]) => [k, point(p as [number, number])]),
    ) as unknown as FaceCrop['keypoints'];
  }
  return out;
}

/** Draws the picture with a numbered box, the eyes and the shown label per face; the selected one in blue. */
function drawScene(s: Scene): void {
  const canvas = $<HTMLCanvasElement>('scene');
  if (canvas.width !== s.picture.width || canvas.height !== s.picture.height) {
    canvas.width = s.picture.width;
    canvas.height = s.picture.height;
  }
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(s.picture, 0, 0);
  const line = Math.max(2, Math.round(canvas.width / 320));
  const scale = s.scale;
  for (const f of s.faces) {
    const { box, keypoints } = f.face;
    const [x, y, w, h] = [box.x * scale, box.y * scale, box.width * scale, box.height * scale];
    const selected = f.id === selectedId;
    const colour = selected ? SELECTED_COLOR : BOX_COLOR;
    ctx.strokeStyle = colour;
    ctx.lineWidth = selected ? 2 * line : line;
    ctx.strokeRect(x, y, w, h);
    if (keypoints) {
      ctx.fillStyle = colour;
      for (const p of [keypoints.rightEye, keypoints.leftEye]) {
        ctx.beginPath();
        ctx.arc(p[0] * scale, p[1] * scale, line * 1.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    const best = f.probabilities[currentModel()?.preprocessing.classNames.indexOf(f.label) ?? 0] ?? 0;
    const text = `${f.id} · ${f.label} ${(100 * best).toFixed(0)}%`;
    const size = Math.max(12, Math.min(28, Math.round(w / 5)));
    ctx.font = `${size}px system-ui, sans-serif`;
    const tw = ctx.measureText(text).width + size * 0.6;
    const ty = y - size * 1.3 >= 0 ? y - size * 1.3 : y + h;
    // labels are often wider than their box: keep one near the right edge inside the picture
    const tx = Math.max(0, Math.min(x, canvas.width - tw));
    ctx.fillStyle = colour;
    ctx.fillRect(tx, ty, tw, size * 1.3);
    ctx.fillStyle = selected ? '#fff' : '#000';
    ctx.fillText(text, tx + size * 0.3, ty + size);
  }
}

/**
 * Shows the faces in the list, in number order. Items are kept and updated in place (keyed by the
 * number), not rebuilt, so that a click that spans a live frame still lands on its face.
 */
function renderFaceList(s: Scene, classNames: string[], imageSize: number): void {
  const list = $<HTMLUListElement>('face-list');
  const items = new Map<number, HTMLLIElement>();
  for (const li of Array.from(list.children) as HTMLLIElement[]) items.set(Number(li.dataset.trackId), li);
  const pct = (p: number[], label: string) => `${(100 * (p[classNames.indexOf(label)] ?? 0)).toFixed(0)}%`;
  for (const [id, li] of items) if (!s.faces.some((f) => f.id === id)) li.remove();
  for (const f of s.faces) {
    let li = items.get(f.id);
    if (!li) {
      li = document.createElement('li');
      li.dataset.trackId = String(f.id);
      const thumb = document.createElement('canvas');
      thumb.width = thumb.height = imageSize;
      const text = document.createElement('span');
      li.append(thumb, text);
      // Numbers only grow (track ids are never reused; a photo's are 1..n), so appending keeps the order.
      list.append(li);
    }
    li.dataset.label = f.label;
    li.dataset.frameLabel = f.frameLabel;
    li.dataset.probability = String(f.probabilities[classNames.indexOf(f.label)] ?? 0);
    li.classList.toggle('selected', f.id === selectedId);
    const thumb = li.querySelector('canvas')!;
    thumb.getContext('2d')!.putImageData(grayImage(f.face.crop, imageSize, imageSize), 0, 0);
    const text = li.querySelector('span')!;
    const strong = document.createElement('strong');
    strong.textContent = `face ${f.id}: ${f.label} ${pct(f.probabilities, f.label)}`;
    const rest =
      s.source === 'camera'
        ? `this frame: ${f.frameLabel} ${pct(f.frameProbabilities, f.frameLabel)}`
        : f.frameProbabilities
            .map((p, c) => ({ p, c }))
            .sort((a, b) => b.p - a.p)
            .slice(1, 3)
            .map(({ p, c }) => `${classNames[c] ?? c} ${(100 * p).toFixed(0)}%`)
            .join(' · ');
    text.replaceChildren(strong, document.createElement('br'), rest);
  }
}

/** Writes `#faces-json` (and, live, the frame log) for the scene. */
function publishScene(
  s: Scene,
  milliseconds: number,
  timings: FacesResult['timings'],
  time: number | null,
  fps: { ema: number | null; mean: number | null },
): void {
  const classNames = currentModel()!.preprocessing.classNames;
  const faces: FaceResult[] = s.faces.map((f) => ({
    trackId: f.id,
    box: f.face.box,
    score: f.face.score,
    label: f.label,
    probability: f.probabilities[classNames.indexOf(f.label)] ?? 0,
    probabilities: f.probabilities,
    frameLabel: f.frameLabel,
    frameProbabilities: f.frameProbabilities,
    crop: base64(f.face.crop),
  }));
  const result: FacesResult = {
    source: s.source,
    frame: s.frame,
    time,
    width: s.width,
    height: s.height,
    faces,
    selected: selectedId,
    milliseconds,
    timings,
    fps: fps.ema,
    fpsMean: fps.mean,
  };
  $('faces-json').textContent = JSON.stringify(result);
  lastFaces = result;
  if (time !== null) {
    frameLog.push({
      frame: s.frame,
      time,
      faces: faces.map(({ trackId, box, label, probabilities, frameLabel, frameProbabilities }) => ({
        trackId,
        box,
        label,
        probabilities,
        frameLabel,
        frameProbabilities,
      })),
    });
    if (frameLog.length > FRAME_LOG_SIZE) frameLog.shift();
  }
  resultEl.dataset.frames = String(s.frame);
  resultEl.dataset.faces = String(s.faces.length);
}

/** Fills the panels for the selected face of the scene (nothing when it is not in this picture). */
async function showSelected(s: Scene): Promise<void> {
  const f = s.faces.find((face) => face.id === selectedId);
  const model = currentModel();
  if (!f || !model) return;
  await predict(model, currentBackend(), f.face.crop, {
    probabilities: f.probabilities,
    frameProbabilities: f.frameProbabilities,
    label: f.label,
    trackId: f.id,
    frame: s.frame,
    maps: f.maps,
  });
}

/** Selects face `id` and redraws the scene from its kept picture (a click in the list or on a box). */
async function select(id: number): Promise<void> {
  if (!scene?.faces.some((f) => f.id === id)) return;
  selectedId = id;
  const model = currentModel()!;
  drawScene(scene);
  renderFaceList(scene, model.preprocessing.classNames, model.preprocessing.imageSize);
  await showSelected(scene);
  // Live, the next frame publishes the selection; a photo's is published here.
  if (lastFaces && lastFaces.frame === scene.frame) {
    lastFaces.selected = id;
    $('faces-json').textContent = JSON.stringify(lastFaces);
  }
}

/** The face under a click on the scene canvas (the smallest box containing it), or null. */
function faceAt(event: MouseEvent): number | null {
  if (!scene) return null;
  const canvas = $<HTMLCanvasElement>('scene');
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width / scene.scale;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height / scene.scale;
  const hits = scene.faces.filter(
    ({ face: { box } }) => x >= box.x && x <= box.x + box.width && y >= box.y && y <= box.y + box.height,
  );
  hits.sort((a, b) => a.face.box.width - b.face.box.width);
  return hits[0]?.id ?? null;
}

/**
 * Classifies face crops in one batch and keeps each face's spatial attention maps from the same
 * pass (the attention layers' `captureMaps`, as `captureAttentionMaps` does), so that the selected
 * face's heatmaps cost no second run of the model.
 */
async function classify(
  model: ModelInfo,
  faces: FaceCrop[],
): Promise<{ rows: number[][]; maps: FaceMap[][] }> {
  if (faces.length === 0) return { rows: [], maps: [] };
  const x = facesToInput(
    faces.map((f) => f.crop),
    model.preprocessing,
  );
  const layers = findAttentionLayers(model.model);
  for (const { layer } of layers) layer.captureMaps = true;
  try {
    const probs = predictProbabilities(model.model, x);
    const rows = (await probs.array()) as number[][];
    probs.dispose();
    const maps: FaceMap[][] = faces.map(() => []);
    for (const { path, layer } of layers) {
      const captured = layer.takeCapturedMaps();
      const spatial = captured?.spatial;
      if (spatial) {
        const [, height, width] = spatial.shape as number[];
        const data = (await spatial.data()) as Float32Array;
        const size = height! * width!;
        for (const [i, m] of maps.entries()) {
          m.push({ path, height: height!, width: width!, data: data.slice(i * size, (i + 1) * size) });
        }
      }
      if (captured) tf.dispose(captured);
    }
    return { rows, maps };
  } finally {
    // Off disposes anything still kept (e.g. after an error).
    for (const { layer } of layers) layer.captureMaps = false;
    x.dispose();
  }
}

/**
 * A photo with faces: each detected face gets a numbered box (1, 2, 3... from the left), a label
 * and its probabilities; face 1 goes through the full view, and clicking another selects it.
 */
async function runPhoto(
  model: ModelInfo,
  backend: string,
  detector: FaceDetector,
  bitmap: ImageBitmap,
): Promise<void> {
  if (busy) return;
  busy = true;
  setStatus('Finding faces…', 'loading');
  try {
    const { imageSize, classNames } = model.preprocessing;
    const started = performance.now();
    // Detected at full resolution (small faces in a large photo), drawn scaled down.
    const { faces: found } = await findFaceCrops(bitmap, { detector, detect: 'on', size: imageSize });
    const t1 = performance.now();
    const faces = [...found].sort((a, b) => a.box.x - b.box.x);
    const { rows, maps } = await classify(model, faces);
    const t2 = performance.now();
    const { canvas, scale } = pictureCanvas(bitmap, bitmap.width, bitmap.height);
    scene = {
      source: 'photo',
      frame: ++pictureCount,
      width: bitmap.width,
      height: bitmap.height,
      picture: canvas,
      scale,
      faces: faces.map((face, i) => {
        const label = classNames[argmax(rows[i]!)] ?? '?';
        const p = rows[i]!;
        return {
          id: i + 1,
          face,
          label,
          probabilities: p,
          frameLabel: label,
          frameProbabilities: p,
          maps: maps[i]!,
        };
      }),
    };
    selectedId = faces.length > 0 ? 1 : null;
    drawScene(scene);
    renderFaceList(scene, classNames, imageSize);
    const t3 = performance.now();
    await showSelected(scene);
    const t4 = performance.now();
    publishScene(
      scene,
      t2 - started,
      { detect: t1 - started, classify: t2 - t1, draw: t3 - t2, panels: t4 - t3 },
      null,
      { ema: null, mean: null },
    );
    if (faces.length === 0) {
      setStatus(
        `No face found in ${bitmap.width}×${bitmap.height} (${(t2 - started).toFixed(0)} ms). Faces narrower than about 1/20 of the picture are missed.`,
        'ready',
      );
      return;
    }
    setStatus(
      `${faces.length} face${faces.length === 1 ? '' : 's'} in ${(t2 - started).toFixed(0)} ms on ${backend}. Click a face to look at it.`,
      'ready',
    );
  } catch (error) {
    setStatus(`Error: ${(error as Error).message}`, 'error');
    console.error(error);
  } finally {
    busy = false;
  }
}

/** The live camera loop's state (null when stopped). */
interface Live {
  video: HTMLVideoElement;
  stream: MediaStream;
  tracker: FaceTracker;
  detector: FaceDetector | null;
  /** The frame being processed, so that Stop and an upload can wait for it. */
  running: Promise<void>;
  stopped: boolean;
  picture: HTMLCanvasElement;
  frames: number;
  fpsEma: number | null;
  lastAt: number;
  /** Time of the third frame and frames since, for the mean fps past warm-up. */
  meanFrom: number;
  meanFrames: number;
  /** Frames the video presented so far, that count when the last frame was grabbed, and who waits for the next. */
  presented: number;
  grabbed: number;
  wake: (() => void) | null;
  /** The tracker's clock (seconds) at the last frame, null before the first; when that frame started. */
  clock: number | null;
  lastStarted: number;
}
let live: Live | null = null;

type FrameCallbackVideo = HTMLVideoElement & { requestVideoFrameCallback?: (cb: () => void) => number };

/**
 * Counts the frames the video presents (`requestVideoFrameCallback`), so that the loop processes
 * each camera frame at most once and never waits when a new one is already there.
 */
function watchFrames(l: Live): void {
  const video = l.video as FrameCallbackVideo;
  if (!video.requestVideoFrameCallback) return;
  const onFrame = () => {
    l.presented++;
    l.wake?.();
    if (!l.stopped) video.requestVideoFrameCallback!(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

/**
 * Resolves when the video has a frame the loop has not processed: at once if one came while the
 * last was processed (after yielding, so that clicks and painting get their turn), else at the next
 * one. Without `requestVideoFrameCallback`, at the next animation frame. 100 ms at most.
 */
function nextVideoFrame(l: Live): Promise<void> {
  return new Promise((resolve) => {
    if (!(l.video as FrameCallbackVideo).requestVideoFrameCallback) {
      requestAnimationFrame(() => resolve());
      return;
    }
    if (l.presented > l.grabbed) {
      setTimeout(resolve, 0);
      return;
    }
    const timer = setTimeout(() => {
      l.wake = null;
      resolve();
    }, 100);
    l.wake = () => {
      clearTimeout(timer);
      l.wake = null;
      resolve();
    };
  });
}

/**
 * One live frame: detect and classify every face, follow them with the tracker, draw the numbered
 * boxes with the smoothed labels, update the list, and fill the panels for the selected face on
 * this frame.
 */
async function liveFrame(l: Live, model: ModelInfo): Promise<void> {
  const { video } = l;
  if (video.videoWidth === 0 || video.readyState < 2) return;
  const { imageSize, classNames } = model.preprocessing;
  const started = performance.now();
  l.grabbed = l.presented;
  // One copy of the frame is detected on and drawn, so the boxes sit on the picture they came from.
  const { canvas, scale } = pictureCanvas(video, video.videoWidth, video.videoHeight, l.picture);
  const found = await findFaceCrops(canvas, {
    ...(l.detector ? { detector: l.detector, detect: 'on' as const } : { detect: 'off' as const }),
    size: imageSize,
  });
  const faces = found.faces.map((f) => unscaleFace(f, scale));
  const t1 = performance.now();
  const { rows, maps } = await classify(model, faces);
  const t2 = performance.now();
  if (l.stopped) return;
  // The tracker's clock is real time, so smoothing means the same number of seconds at any frame
  // rate. However slowly frames come, no face is renumbered: a track ends only at a frame that
  // misses its face, `maxAge` seconds after it was last seen.
  const time = l.clock === null ? 0 : l.clock + (started - l.lastStarted) / 1000;
  l.clock = time;
  l.lastStarted = started;
  const tracked = l.tracker.update(
    faces.map((face, i) => ({ box: face.box, probabilities: rows[i]!, crop: face, maps: maps[i]! })),
    time,
  );
  scene = {
    source: 'camera',
    frame: ++pictureCount,
    width: video.videoWidth,
    height: video.videoHeight,
    picture: canvas,
    scale,
    faces: tracked.map((t) => ({
      id: t.trackId,
      face: t.face.crop,
      label: t.label,
      probabilities: t.probabilities,
      frameLabel: t.frameLabel,
      frameProbabilities: t.frameProbabilities,
      maps: t.face.maps,
    })),
  };
  // The selection follows its track while the track lives (a face missed for a frame keeps it).
  if (selectedId === null || !l.tracker.activeTrackIds.includes(selectedId)) {
    selectedId = scene.faces[0]?.id ?? null;
  }
  drawScene(scene);
  renderFaceList(scene, classNames, imageSize);
  const t3 = performance.now();
  await showSelected(scene);
  const t4 = performance.now();

  l.frames++;
  if (l.lastAt > 0) {
    const fps = 1000 / (t4 - l.lastAt);
    l.fpsEma = l.fpsEma === null ? fps : 0.8 * l.fpsEma + 0.2 * fps;
  }
  l.lastAt = t4;
  if (l.frames === 3) l.meanFrom = t4;
  if (l.frames > 3) l.meanFrames++;
  const mean = l.meanFrames > 0 ? (1000 * l.meanFrames) / (t4 - l.meanFrom) : null;
  $('fps').textContent = l.fpsEma === null ? '' : `· ${l.fpsEma.toFixed(1)} fps`;
  publishScene(
    scene,
    t2 - started,
    { detect: t1 - started, classify: t2 - t1, draw: t3 - t2, panels: t4 - t3 },
    time,
    { ema: l.fpsEma, mean },
  );
  setStatus(
    `Live on ${currentBackend()}: ${scene.faces.length} face${scene.faces.length === 1 ? '' : 's'}` +
      (l.fpsEma === null ? '' : `, ${l.fpsEma.toFixed(1)} fps`) +
      '. Click a face to follow it.',
  );
}

/** Starts the camera and the live loop. */
async function startLive(model: ModelInfo, detector: Promise<DetectorInfo>): Promise<void> {
  if (live) return;
  const video = $<HTMLVideoElement>('video');
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user' } });
  video.srcObject = stream;
  await video.play();
  $('camera-figure').hidden = false;
  const l: Live = {
    video,
    stream,
    tracker: new FaceTracker(model.preprocessing.classNames),
    detector: null, // set below, once it has loaded (it loads in the background)
    running: Promise.resolve(),
    stopped: false,
    picture: document.createElement('canvas'),
    frames: 0,
    fpsEma: null,
    lastAt: 0,
    meanFrom: 0,
    meanFrames: 0,
    clock: null,
    lastStarted: 0,
    presented: 0,
    grabbed: -1,
    wake: null,
  };
  l.detector = (await detector).detector;
  live = l;
  watchFrames(l);
  selectedId = null;
  resultEl.dataset.live = 'on';
  setButtons(true);
  setStatus(`Live on ${currentBackend()}: starting…`, 'ready');
  void (async () => {
    while (!l.stopped) {
      l.running = liveFrame(l, model).catch((error: Error) => {
        setStatus(`Error: ${error.message}`, 'error');
        console.error(error);
        void stopLive(); // frees the camera and the Start button; the error stays shown
      });
      await l.running;
      if (!l.stopped) await nextVideoFrame(l);
    }
  })();
}

/** Stops the live loop and the camera; the last frame stays, and its faces can still be selected. */
async function stopLive(): Promise<void> {
  const l = live;
  if (!l) return;
  l.stopped = true;
  l.wake?.();
  await l.running;
  for (const track of l.stream.getTracks()) track.stop();
  l.video.srcObject = null;
  $('camera-figure').hidden = true;
  live = null;
  resultEl.dataset.live = 'off';
  setButtons(false);
  if (resultEl.dataset.state !== 'error') {
    setStatus(
      scene && scene.faces.length > 0
        ? `Stopped after ${l.frames} frames; click a face to look at it.`
        : `Stopped after ${l.frames} frames.`,
      'ready',
    );
  }
}

function setButtons(running: boolean): void {
  $<HTMLButtonElement>('camera').disabled = running;
  $<HTMLButtonElement>('stop').disabled = !running;
}

// ---------------------------------------------------------------------------------------------
// Page set-up

/** The loaded model and the backend in use (set once by main). */
let loadedModel: ModelInfo | null = null;
let backendInUse: BackendInfo | null = null;
const currentModel = (): ModelInfo | null => loadedModel;
const currentBackend = (): string => backendInUse?.name ?? tf.getBackend();

async function onFile(
  info: ModelInfo,
  backend: string,
  detector: Promise<DetectorInfo>,
  file: File,
): Promise<void> {
  await stopLive();
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none' });
  try {
    // a face crop needs no detector (and does not wait for it to load)
    const det = looksLikeFaceCrop(bitmap.width, bitmap.height, 128) ? null : await detector;
    if (det?.detector) {
      await runPhoto(info, backend, det.detector, bitmap);
      return;
    }
    // already a face crop (or no detector): the centre square is the face
    scene = null;
    selectedId = null;
    $('face-list').replaceChildren();
    $('face-caption').textContent =
      `${info.preprocessing.imageSize}×${info.preprocessing.imageSize} grayscale (centre it on the face)`;
    await run(info, backend, () =>
      grabFace(bitmap, bitmap.width, bitmap.height, info.preprocessing.imageSize),
    );
  } finally {
    // Nothing keeps the bitmap: the scene drew it into its own canvas (see Scene.picture).
    bitmap.close();
  }
}

function setUpCamera(info: ModelInfo, detector: Promise<DetectorInfo>): void {
  const start = $<HTMLButtonElement>('camera');
  const stop = $<HTMLButtonElement>('stop');
  if (!navigator.mediaDevices?.getUserMedia) {
    start.disabled = true;
    start.title = 'This browser (or an insecure http:// page) gives no camera access.';
    return;
  }
  start.disabled = false;
  start.addEventListener('click', () => {
    start.disabled = true;
    startLive(info, detector).catch((error: Error) => {
      start.disabled = false;
      setStatus(`Camera: ${error.message}`, 'error');
    });
  });
  stop.addEventListener('click', () => void stopLive());
}

async function main(): Promise<void> {
  setStatus('Choosing a backend…', 'loading');
  const chosen = await chooseBackend();
  let backend = chosen.info;
  setStatus(`Loading the model on ${backend.name}…`, 'loading');
  const info = await loadModel();
  if (chosen.time.length > 1) {
    setStatus(`Timing the model on ${chosen.time.join(' and ')}…`, 'loading');
    backend = await timeBackends(info, backend, chosen.time);
  }
  loadedModel = info;
  backendInUse = backend;
  // the detector loads in the background: face crops work at once, photos wait for it
  let markReady = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const det = loadDetector().then(async (d) => {
    // Threads are timed on a frame's work, detection included, so once the detector is there, and
    // once the page is ready (not during the warm-up or ?bench's timing).
    await ready;
    backend = await timeWasmThreads(info, d.detector, backend);
    backendInUse = backend;
    showBackend(backend);
    $('detector-meta').textContent = d.detector
      ? `Face detector: BlazeFace from ${d.url}; crops aligned (eyes level) and framed like FER2013. ` +
        `Live, faces are followed from frame to frame and their expressions smoothed over ` +
        `${TRACKER_DEFAULTS.timeConstant} s (FaceTracker).`
      : `Face detection is off (${d.error}); photos and camera frames are read as one face (their centre square).`;
    resultEl.dataset.detector = d.detector ? 'on' : 'off';
    return d;
  });
  const { imageSize, cropSize, normalization } = info.preprocessing;
  const weights = info.model.countParams();
  const backendLine = document.createElement('span');
  backendLine.id = 'backend-meta';
  $('meta').innerHTML = '';
  $('meta').append(
    backendLine,
    document.createElement('br'),
    `Model: ${info.model.name} (${weights.toLocaleString('en')} weights)`,
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
  showBackend(backend);

  const fileInput = $<HTMLInputElement>('file');
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    if (file)
      void onFile(info, backend.name, det, file).catch((e: Error) =>
        setStatus(`Error: ${e.message}`, 'error'),
      );
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
      void onFile(info, backend.name, det, file).catch((err: Error) =>
        setStatus(`Error: ${err.message}`, 'error'),
      );
  });
  $('face-list').addEventListener('click', (e) => {
    const li = (e.target as HTMLElement).closest('li');
    if (li?.dataset.trackId) void select(Number(li.dataset.trackId));
  });
  $('scene').addEventListener('click', (e) => {
    const id = faceAt(e);
    if (id !== null) void select(id);
  });
  setStatus(`Warming up ${backend.name}…`, 'loading');
  warmUp(info);
  if (params.get('bench')) {
    setStatus(`Timing the model on ${backend.name}…`, 'loading');
    resultEl.dataset.bench = JSON.stringify({ backend: backend.name, ...(await benchmark(info)) });
  }
  setUpCamera(info, det);
  setStatus(`Ready on ${backend.name}: upload a photo or start the camera.`, 'ready');
  resultEl.dataset.state = 'ready';
  markReady();
}

main().catch((error: Error) => {
  setStatus(`Error: ${error.message}`, 'error');
  console.error(error);
});
