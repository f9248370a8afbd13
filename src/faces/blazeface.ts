/**
 * The face detector adapter: MediaPipe BlazeFace ("back" model, 256x256 input, 896 anchors,
 * 6 keypoints) as a tfjs graph model, with the anchor decoding and weighted non-maximum
 * suppression done here. The weights are not part of fer-cbam: in Node they are read offline from
 * the optional peer package `@vladmandic/human` (`models/blazeface.json`, 540 KB, MIT), in browsers
 * from a URL you serve. Loading a graph model needs the optional peer `@tensorflow/tfjs-converter`,
 * which uses your tfjs instance. Browser-safe.
 * @module
 */

import * as tf from '@tensorflow/tfjs-core';
import { backendReady } from '../backends/ready';
import { checkBoolean, checkNumberInRange, checkPositiveInteger, expected } from '../errors';
import '../io/index'; // file:// for tfjs-converter's loadGraphModel in Node
import { isNode, nodeFs, nodePath } from '../node_env';
import {
  DETECT_DEFAULTS,
  type DetectedFace,
  type DetectOptions,
  type FaceDetector,
  type FaceKeypoints,
  type Point,
} from './types';

/** The npm package whose `models/blazeface.json` {@link loadFaceDetector} reads in Node. @category Faces */
export const BLAZEFACE_WEIGHTS_PACKAGE = '@vladmandic/human';
/** Path of the weights inside {@link BLAZEFACE_WEIGHTS_PACKAGE}. @category Faces */
export const BLAZEFACE_WEIGHTS_PATH = 'models/blazeface.json';

/** Options of {@link loadFaceDetector}. @category Faces */
export interface LoadFaceDetectorOptions {
  /**
   * Where `blazeface.json` is: a URL (`http(s)://`, a path relative to the page, `file://`), a
   * plain file path in Node, or a tfjs `IOHandler`. Defaults in Node to the copy inside the
   * installed `@vladmandic/human` package; in browsers there is no default (serve the file and
   * pass its URL).
   */
  model?: string | tf.io.IOHandler;
}

type Converter = typeof import('@tensorflow/tfjs-converter');
type GraphModel = import('@tensorflow/tfjs-converter').GraphModel;

let converter: Promise<Converter> | null = null;

/** Imports `@tensorflow/tfjs-converter` once, with a message naming the package when it is missing. */
function importConverter(where: string): Promise<Converter> {
  converter ??= import('@tensorflow/tfjs-converter').catch((e: Error) => {
    converter = null;
    throw new Error(
      `${where}: face detection needs the optional peer package \`@tensorflow/tfjs-converter\` ` +
        `(npm install @tensorflow/tfjs-converter), which failed to load: ${e.message}`,
    );
  });
  return converter;
}

/**
 * Finds `models/blazeface.json` of an installed `@vladmandic/human` in Node, searching the
 * `node_modules` folders above the current directory and above this file. `null` when absent.
 * (The package's `exports` map does not expose its models, so this does not use `require.resolve`.)
 * @example
 * ```ts
 * if (!(await findBlazeFaceWeights())) console.log('npm install @vladmandic/human for face detection');
 * ```
 * @category Faces
 */
export async function findBlazeFaceWeights(): Promise<string | null> {
  if (!isNode()) return null;
  const fs = await nodeFs();
  const path = await nodePath();
  const starts = [process.cwd()];
  try {
    const here = typeof __filename === 'string' ? __filename : new URL(import.meta.url).pathname;
    starts.push(path.dirname(here));
  } catch {
    // no usable module location
  }
  for (const start of starts) {
    let dir = path.resolve(start);
    for (;;) {
      const candidate = path.join(dir, 'node_modules', BLAZEFACE_WEIGHTS_PACKAGE, BLAZEFACE_WEIGHTS_PATH);
      try {
        await fs.access(candidate);
        return candidate;
      } catch {
        // keep climbing
      }
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return null;
}

async function resolveModel(where: string, model: LoadFaceDetectorOptions['model']) {
  if (model !== undefined && typeof model !== 'string') return model;
  if (typeof model === 'string') {
    if (model.length === 0) throw new TypeError(expected(where, 'model', 'a URL or a path', model));
    if (isNode() && !/^[a-z][a-z0-9+.-]*:\/\//i.test(model)) {
      const path = await nodePath();
      return `file://${path.resolve(model)}`;
    }
    return model;
  }
  const found = await findBlazeFaceWeights();
  if (found) return `file://${found}`;
  throw new Error(
    isNode()
      ? `${where}: no face detector weights: install the optional peer package \`${BLAZEFACE_WEIGHTS_PACKAGE}\` ` +
          `(npm install ${BLAZEFACE_WEIGHTS_PACKAGE}; fer-cbam reads its ${BLAZEFACE_WEIGHTS_PATH} offline), ` +
          'or pass `model` (the path or URL of a BlazeFace blazeface.json).'
      : `${where}: in a browser, pass \`model\`: the URL where you serve BlazeFace's blazeface.json ` +
          `(for example ${BLAZEFACE_WEIGHTS_PACKAGE}/${BLAZEFACE_WEIGHTS_PATH} copied next to your page).`,
  );
}

/** BlazeFace anchors in input pixels: strides 16 (2 per cell) then 32 (6 per cell). @internal */
export function blazeFaceAnchors(inputSize: number): Float32Array {
  const specs: [number, number][] = [
    [16, 2],
    [32, 6],
  ];
  const out: number[] = [];
  for (const [stride, perCell] of specs) {
    const cells = Math.ceil(inputSize / stride);
    for (let gy = 0; gy < cells; gy++) {
      for (let gx = 0; gx < cells; gx++) {
        for (let n = 0; n < perCell; n++) out.push(stride * (gx + 0.5), stride * (gy + 0.5));
      }
    }
  }
  return Float32Array.from(out);
}

/** A detection in image pixels, before it becomes a {@link DetectedFace}. @internal */
export interface Candidate {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  points: number[]; // 12 values: 6 keypoints
}

function iou(a: Candidate, b: Candidate): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

/**
 * MediaPipe's weighted non-maximum suppression: each cluster of overlapping candidates becomes one
 * detection whose coordinates are the score-weighted mean of the cluster (steadier than plain NMS).
 * @internal
 */
export function weightedNms(candidates: Candidate[], iouThreshold: number, maxFaces: number): Candidate[] {
  const rest = [...candidates].sort((a, b) => b.score - a.score);
  const out: Candidate[] = [];
  while (rest.length > 0 && out.length < maxFaces) {
    const best = rest[0]!;
    const cluster: Candidate[] = [];
    for (let i = rest.length - 1; i >= 0; i--) {
      if (iou(best, rest[i]!) > iouThreshold) cluster.push(...rest.splice(i, 1));
    }
    const total = cluster.reduce((s, c) => s + c.score, 0);
    const mean = (f: (c: Candidate) => number) => cluster.reduce((s, c) => s + f(c) * c.score, 0) / total;
    out.push({
      x1: mean((c) => c.x1),
      y1: mean((c) => c.y1),
      x2: mean((c) => c.x2),
      y2: mean((c) => c.y2),
      score: best.score,
      points: best.points.map((_, k) => mean((c) => c.points[k]!)),
    });
  }
  return out;
}

/** Resolves and checks {@link DetectOptions}. @internal */
export function resolveDetectOptions(where: string, options: DetectOptions = {}) {
  return {
    minScore: checkNumberInRange(options.minScore ?? DETECT_DEFAULTS.minScore, 'minScore', where, 0, 1),
    iouThreshold: checkNumberInRange(
      options.iouThreshold ?? DETECT_DEFAULTS.iouThreshold,
      'iouThreshold',
      where,
      0,
      1,
    ),
    maxFaces: checkPositiveInteger(options.maxFaces ?? DETECT_DEFAULTS.maxFaces, 'maxFaces', where),
    minFaceSize: checkNumberInRange(
      options.minFaceSize ?? DETECT_DEFAULTS.minFaceSize,
      'minFaceSize',
      where,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    largeFaces: checkBoolean(options.largeFaces ?? DETECT_DEFAULTS.largeFaces, 'largeFaces', where),
  };
}

/**
 * A face wider than this fraction of the picture's longer side is taken from the zoomed-out look
 * rather than the first one. MediaPipe trained this BlazeFace with SSD anchor scales from 0.156 to
 * 0.75 of its input, and its boxes stop growing at about 0.7 of the input: measured on 200
 * face-filling crops, faces at a median 0.75 and 0.94 of the input came back with boxes of 0.70 and
 * 0.74 of it, and 11 of the 200 were missed at 0.94 (docs/faces.md). Half the input leaves a margin
 * below that.
 * @internal
 */
export const LARGE_FACE = 0.5;

/**
 * A first-look face wider than this fraction of the picture's longer side makes the detector look
 * again zoomed out. Lower than {@link LARGE_FACE} because a face too large for the first look often
 * comes back as a box on part of it (an eye and the nose: a third of the face); faces in group
 * photos stay far below it (at most 0.13 in the benchmark's photos), so they keep the single look.
 * Measured on 400 face-filling crops: with 0.5 two were missed, with 0.3 one, with 0.25 none
 * (docs/faces.md).
 * @internal
 */
export const LOOK_AGAIN_FACE = 0.25;

/**
 * The zoomed-out looks: the picture's longer side as a fraction of the detector's input. The first
 * (half) puts every face inside the trained range; the second runs only when neither the first look
 * nor the half-size one found a face (on 400 face-filling crops it ran once, and found that face;
 * docs/faces.md).
 * @internal
 */
export const ZOOM_OUT = [0.5, 0.4] as const;

function overlaps(a: Candidate, b: Candidate, iouThreshold: number): boolean {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return false;
  const smaller = Math.min((a.x2 - a.x1) * (a.y2 - a.y1), (b.x2 - b.x1) * (b.y2 - b.y1));
  // a box mostly inside another is the same face: the saturated first look of a face that fills the
  // picture often adds a smaller box on part of it, whose IoU with the whole face stays low
  return iou(a, b) > iouThreshold || (w * h) / smaller > 0.5;
}

/**
 * Merges the first look (`first`) with a zoomed-out look (`zoomed`) at one picture whose longer side
 * is `side` pixels: a large face (wider than {@link LARGE_FACE} of `side`) is taken from the
 * zoomed-out look, where it lies inside the detector's trained range, any other face from the first
 * look, which sees it at twice the resolution; faces of either look that overlap a face already
 * taken are dropped. Best first, at most `maxFaces`.
 * @internal
 */
export function mergeLooks(
  first: Candidate[],
  zoomed: Candidate[],
  side: number,
  iouThreshold: number,
  maxFaces: number,
): Candidate[] {
  const large = (c: Candidate) => c.x2 - c.x1 > LARGE_FACE * side;
  const ordered = [...zoomed.filter(large), ...first, ...zoomed.filter((c) => !large(c))];
  const out: Candidate[] = [];
  for (const c of ordered) if (out.every((k) => !overlaps(k, c, iouThreshold))) out.push(c);
  return out.sort((a, b) => b.score - a.score).slice(0, maxFaces);
}

function toDetectedFace(c: Candidate): DetectedFace {
  const p = (k: number): Point => [c.points[2 * k]!, c.points[2 * k + 1]!];
  const keypoints: FaceKeypoints = {
    rightEye: p(0),
    leftEye: p(1),
    nose: p(2),
    mouth: p(3),
    rightEar: p(4),
    leftEar: p(5),
  };
  return {
    box: { x: c.x1, y: c.y1, width: c.x2 - c.x1, height: c.y2 - c.y1 },
    score: c.score,
    keypoints,
  };
}

/**
 * The BlazeFace adapter behind {@link loadFaceDetector}. The image is area-averaged down to
 * 256 pixels on its longer side (aspect ratio kept) and letterboxed to 256x256, so faces narrower than about a
 * twentieth of the image's longer side are not found; crop or tile very large group photos. When
 * the first look finds no face, or one wider than a quarter of the picture, the picture is looked at
 * again zoomed out, for faces too large for the first look (see {@link DetectOptions.largeFaces}).
 * @example
 * ```ts
 * const graph = await loadGraphModel('https://example.org/blazeface.json'); // @tensorflow/tfjs-converter
 * const detector = new BlazeFaceDetector(graph);
 * const faces = await detector.detect(tf.browser.fromPixels(video));
 * ```
 * @category Faces
 */
export class BlazeFaceDetector implements FaceDetector {
  readonly name = 'blazeface';
  private readonly model: GraphModel;
  private readonly inputSize: number;
  private readonly anchors: Float32Array;

  /** Wraps an already loaded BlazeFace graph model; most callers use {@link loadFaceDetector}. */
  constructor(model: GraphModel) {
    this.model = model;
    const shape = model.inputs[0]?.shape;
    this.inputSize = shape?.[1] && shape[1] > 0 ? shape[1] : 256;
    this.anchors = blazeFaceAnchors(this.inputSize);
  }

  async detect(image: tf.Tensor3D, options: DetectOptions = {}): Promise<DetectedFace[]> {
    const where = 'BlazeFaceDetector.detect';
    const o = resolveDetectOptions(where, options);
    if (image.rank !== 3 || image.shape[2] !== 3) {
      throw new RangeError(expected(where, 'image', 'a [height, width, 3] RGB tensor', image.shape));
    }
    const side = Math.max(image.shape[0], image.shape[1]);
    const first = await this.look(image, 1, o);
    // ordinary photos stop here, exactly as before: faces found, all of them small in the picture
    if (!o.largeFaces || (first.length > 0 && first.every((c) => c.x2 - c.x1 <= LOOK_AGAIN_FACE * side))) {
      return first.map(toDetectedFace);
    }
    let zoomed = await this.look(image, ZOOM_OUT[0], o);
    if (first.length === 0 && zoomed.length === 0) zoomed = await this.look(image, ZOOM_OUT[1], o);
    return mergeLooks(first, zoomed, side, o.iouThreshold, o.maxFaces).map(toDetectedFace);
  }

  /**
   * One detector run: the picture scaled so its longer side is `zoom` of the input, centred and
   * padded with black; candidates in the picture's pixels after weighted NMS.
   */
  private async look(
    image: tf.Tensor3D,
    zoom: number,
    o: ReturnType<typeof resolveDetectOptions>,
  ): Promise<Candidate[]> {
    const [h, w] = image.shape;
    const side = Math.max(h, w);
    const s = this.inputSize;
    const target = s * zoom;
    // letterbox: shrink so the longer side is `target` (keeping the aspect ratio), then pad so the
    // picture's centre is the input's centre
    const rw = Math.max(1, Math.round((w * target) / side));
    const rh = Math.max(1, Math.round((h * target) / side));
    const padX = Math.floor((s - rw) / 2);
    const padY = Math.floor((s - rh) / 2);
    const outputs = tf.tidy(() => {
      let x4 = tf.expandDims(tf.cast(image, 'float32'), 0) as tf.Tensor4D;
      // halve while more than twice too big: each halving is an exact 2x2 average (area
      // averaging against aliasing), and costs a quarter of the previous step
      let [ch, cw] = [h, w];
      while (Math.max(ch, cw) >= 2 * target) {
        [ch, cw] = [Math.ceil(ch / 2), Math.ceil(cw / 2)];
        x4 = tf.image.resizeBilinear(x4, [ch, cw], false, true);
      }
      x4 = tf.image.resizeBilinear(x4, [rh, rw], false, true);
      x4 = tf.pad(x4, [
        [0, 0],
        [padY, s - rh - padY],
        [padX, s - rw - padX],
        [0, 0],
      ]);
      const normalized = tf.sub(tf.div(x4, 127.5), 1);
      const raw = this.model.execute(normalized) as tf.Tensor[];
      // outputs: scores [1,512,1], [1,384,1] and regressors [1,512,16], [1,384,16], in some order
      const sorted = [...raw].sort((a, b) => a.size - b.size);
      const [s384, s512, r384, r512] = sorted as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      return {
        scores: tf.concat([tf.reshape(s512, [-1]), tf.reshape(s384, [-1])]),
        boxes: tf.concat([tf.reshape(r512, [-1, 16]), tf.reshape(r384, [-1, 16])]),
      };
    });
    const [scores, regress] = (await Promise.all([outputs.scores.data(), outputs.boxes.data()])) as [
      Float32Array,
      Float32Array,
    ];
    outputs.scores.dispose();
    outputs.boxes.dispose();
    const logit = Math.log(o.minScore / (1 - o.minScore));
    const sx = w / rw;
    const sy = h / rh;
    const toImage = (px: number, py: number): Point => [(px - padX) * sx, (py - padY) * sy];
    const candidates: Candidate[] = [];
    for (let i = 0; i < scores.length; i++) {
      if (!(scores[i]! > logit)) continue;
      const r = i * 16;
      const ax = this.anchors[2 * i]!;
      const ay = this.anchors[2 * i + 1]!;
      const cx = regress[r]! + ax;
      const cy = regress[r + 1]! + ay;
      const bw = regress[r + 2]!;
      const bh = regress[r + 3]!;
      const [x1, y1] = toImage(cx - bw / 2, cy - bh / 2);
      const [x2, y2] = toImage(cx + bw / 2, cy + bh / 2);
      const points: number[] = [];
      for (let k = 0; k < 6; k++) {
        points.push(...toImage(regress[r + 4 + 2 * k]! + ax, regress[r + 5 + 2 * k]! + ay));
      }
      candidates.push({ x1, y1, x2, y2, score: 1 / (1 + Math.exp(-scores[i]!)), points });
    }
    return weightedNms(candidates, o.iouThreshold, o.maxFaces).filter((c) => c.x2 - c.x1 >= o.minFaceSize);
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * Loads the face detector (BlazeFace) without any network access: in Node from the installed
 * optional peer package `@vladmandic/human`, or from `model` (a path, URL or `IOHandler`).
 * Needs the optional peer `@tensorflow/tfjs-converter`.
 * @param options See {@link LoadFaceDetectorOptions}.
 * @example
 * ```ts
 * // npm install -D @tensorflow/tfjs-converter @vladmandic/human
 * const detector = await loadFaceDetector();
 * const faces = await detectFaces('group.jpg', { detector });
 * ```
 * @throws Error naming the package to install when `@tensorflow/tfjs-converter` or the weights are missing.
 * @category Faces
 */
export async function loadFaceDetector(options: LoadFaceDetectorOptions = {}): Promise<BlazeFaceDetector> {
  const where = 'loadFaceDetector';
  const { loadGraphModel } = await importConverter(where);
  const source = await resolveModel(where, options.model);
  // a backend imported just before (wasm) initialises asynchronously; without waiting, the load
  // fails with a message that blames the model file
  await backendReady(where);
  let model: GraphModel;
  try {
    model = await loadGraphModel(source);
  } catch (e) {
    const name = typeof source === 'string' ? source : 'the given IOHandler';
    throw new Error(`${where}: cannot load the BlazeFace model from ${name}: ${(e as Error).message}`);
  }
  return new BlazeFaceDetector(model);
}
