/**
 * `fer-cbam predict clip.mp4`: a video file frame by frame. Faces are found and classified in each
 * frame as for pictures, followed from frame to frame by the library's {@link FaceTracker}
 * (smoothed probabilities, label hysteresis), and reported as one JSON line per frame (`--json`) or
 * as label changes (text); a per-track summary ends the output. `--annotate out.mp4` writes the
 * video with numbered boxes and the shown labels.
 * @module
 * @internal
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { annotationSvg } from '../../faces/annotate';
import { classifyFaceCrops, type DetectMode, findFaceCrops } from '../../faces/recognize';
import type { FaceDetector } from '../../faces/types';
import { importSharp } from '../../image/sharp';
import type { Preprocessing } from '../../models/preprocessing';
import { decodeVideo, encodeVideo, type VideoWriter } from '../../video/ffmpeg';
import { FaceTracker, type TrackerOptions, type TrackSummary } from '../../video/tracker';
import type { RgbImage } from '../../visualize/colormap';
import { startProgress } from '../progress';

/** What {@link predictVideo} needs from the command line. @internal */
export interface PredictVideoOptions {
  model: tfl.LayersModel;
  preprocessing: Preprocessing;
  detector: FaceDetector;
  detect: DetectMode;
  minScore: number;
  tiles: number;
  maxSide: number;
  /** Frames per second to analyse (`--fps`), or every frame. */
  fps?: number;
  json: boolean;
  batchSize: number;
  /** Output video (`--annotate`), checked by the caller. */
  annotate?: string;
  tracker: TrackerOptions;
  /** Where lines go (stdout). */
  write: (line: string) => void;
}

/** What a video gave: frames read and the tracks' summary. @internal */
export interface VideoResult {
  frames: number;
  summary: TrackSummary[];
}

const round = (v: number, digits = 4) => Number(v.toFixed(digits));

/** Draws numbered boxes and labels on a frame (sharp composites the same SVG as `annotateImage`). */
async function annotateFrame(image: RgbImage, faces: { box: RgbBox; label: string }[]): Promise<RgbImage> {
  const sharp = await importSharp('predict --annotate');
  const svg = annotationSvg(image.width, image.height, faces);
  const raw = { width: image.width, height: image.height, channels: 3 as const };
  const out = await sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw,
  })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .removeAlpha()
    .raw()
    .toBuffer();
  return {
    width: image.width,
    height: image.height,
    data: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
  };
}
type RgbBox = { x: number; y: number; width: number; height: number };

function percent(p: number): string {
  return `${(100 * p).toFixed(0)}%`;
}

/**
 * Runs one video file through detection, classification and the tracker.
 * @throws FfmpegError naming the file when ffmpeg is missing or cannot read or write it.
 * @internal
 */
export async function predictVideo(file: string, o: PredictVideoOptions): Promise<VideoResult> {
  const names = o.preprocessing.classNames;
  const tracker = new FaceTracker(names, o.tracker);
  const { frames, info } = await decodeVideo(file, {
    ...(o.fps !== undefined ? { fps: o.fps } : {}),
    maxSide: o.maxSide,
  });
  let writer: VideoWriter | null = null;
  let progress: ReturnType<typeof startProgress> | null = null;
  const shown = new Map<number, string>();
  let count = 0;
  try {
    for await (const frame of frames) {
      if (count === 0) {
        const { fps, duration } = await info;
        if (duration !== null && duration * fps >= 50) {
          progress = startProgress(`predict ${file}`, Math.max(1, Math.round(duration * fps)), 'frames');
        }
      }
      const found = await findFaceCrops(frame.image, {
        detect: o.detect,
        size: o.preprocessing.imageSize,
        minScore: o.minScore,
        tiles: o.tiles,
        maxSide: o.maxSide,
        detector: o.detector,
      });
      const faces = found.faces;
      const classified = await classifyFaceCrops(
        o.model,
        faces.map((f) => f.crop),
        o.batchSize,
      );
      const tracked = tracker.update(
        faces.map((f, i) => ({ ...f, probabilities: classified.probabilities[i]! })),
        frame.time,
      );
      if (o.json) {
        o.write(
          JSON.stringify({
            file,
            frame: frame.index,
            time: round(frame.time),
            faces: tracked.map((t) => ({
              track: t.trackId,
              box: {
                x: round(t.face.box.x, 1),
                y: round(t.face.box.y, 1),
                width: round(t.face.box.width, 1),
                height: round(t.face.box.height, 1),
              },
              score: t.face.score === null ? null : round(t.face.score),
              label: t.label,
              probabilities: Object.fromEntries(names.map((n, k) => [n, round(t.probabilities[k]!)])),
              frameLabel: t.frameLabel,
              frameProbabilities: Object.fromEntries(
                names.map((n, k) => [n, round(t.frameProbabilities[k]!)]),
              ),
            })),
          }),
        );
      } else {
        for (const t of tracked) {
          if (shown.get(t.trackId) === t.label) continue;
          const before = shown.get(t.trackId);
          shown.set(t.trackId, t.label);
          const k = names.indexOf(t.label);
          o.write(
            `${file} ${frame.time.toFixed(2)}s face ${t.trackId}: ${before === undefined ? '' : `${before} -> `}${t.label} ${percent(t.probabilities[k]!)}`,
          );
        }
      }
      if (o.annotate) {
        writer ??= await encodeVideo(o.annotate, {
          fps: (await info).fps,
          width: frame.image.width,
          height: frame.image.height,
        });
        const drawn = await annotateFrame(
          frame.image,
          tracked.map((t) => ({
            box: t.face.box,
            label: `${t.trackId} ${t.label} ${percent(t.probabilities[names.indexOf(t.label)]!)}`,
          })),
        );
        await writer.write(drawn);
      }
      count++;
      progress?.update(count, { faces: tracked.length });
    }
    await writer?.close();
    writer = null;
  } finally {
    progress?.stop();
    await writer?.abort();
  }
  const summary = tracker.summary();
  if (o.json) {
    o.write(JSON.stringify({ file, frames: count, summary }));
  } else {
    o.write(`${file}: ${count} frames, ${summary.length} ${summary.length === 1 ? 'face' : 'faces'}`);
    for (const s of summary) {
      const shares = Object.entries(s.shares)
        .sort((a, b) => b[1] - a[1])
        .map(([n, v]) => `${n} ${percent(v)}`)
        .join(', ');
      o.write(
        `  face ${s.trackId}: ${s.start.toFixed(2)}-${s.end.toFixed(2)} s, ${s.frames} frames, mostly ${s.dominant} (${shares})`,
      );
    }
  }
  return { frames: count, summary };
}
