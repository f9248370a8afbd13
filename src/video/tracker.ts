/**
 * Faces followed from frame to frame, with expressions smoothed over time: the one tracker the CLI's
 * video path and the browser page use. Pure logic on boxes and probabilities (no tfjs, no IO), so it
 * runs anywhere and is tested against hand-computed values. Browser-safe.
 * @module
 */
import { expected } from '../errors';
import type { FaceBox } from '../faces/types';

/** Options of {@link FaceTracker}. @category Video */
export interface TrackerOptions {
  /**
   * Time constant of the exponential smoothing of each track's probabilities, in **seconds** (not
   * frames, so the result does not depend on the frame rate): a frame `dt` seconds after the track's
   * previous one gets weight `1 - exp(-dt / timeConstant)`. `0` turns smoothing off. Defaults to `0.1`:
   * with `hysteresis` 0.2 it kept per-frame accuracy while cutting label switches from 5.2 to 1.2 per
   * true change on clips of unseen people; 0.5 s lagged behind each change and lost 6 points
   * (`bench/video_smoothing.ts`, docs/video.md).
   */
  timeConstant?: number;
  /**
   * Hysteresis of the shown label: it changes only when another class's smoothed probability
   * exceeds the current label's by more than this margin, so a 51/49 frame does not flip it.
   * `0` shows the smoothed argmax. Defaults to `0.2`.
   */
  hysteresis?: number;
  /** A face and a track whose boxes overlap at least this much (IoU) may be matched. Defaults to `0.3`. */
  minIoU?: number;
  /**
   * A face whose box overlaps a track's less than `minIoU` may still be matched to it when their
   * centres are closer than this fraction of the track box's size (`sqrt(width * height)`): a fast
   * move between frames at a low frame rate. Defaults to `0.5`.
   */
  maxCenterDistance?: number;
  /**
   * Seconds a track lives on without a matching face: it ends at the first frame that does not match
   * it more than `maxAge` after its last face (so at frame rates below `1 / maxAge` a track ends at
   * its first missed frame, not between frames). Defaults to `1`.
   */
  maxAge?: number;
}

/** Defaults of {@link TrackerOptions}. @category Video */
export const TRACKER_DEFAULTS = Object.freeze({
  timeConstant: 0.1,
  hysteresis: 0.2,
  minIoU: 0.3,
  maxCenterDistance: 0.5,
  maxAge: 1,
});

/** What the tracker needs of a face: its box and the model's probabilities for it. @category Video */
export interface TrackableFace {
  /** Box in image pixels. */
  box: FaceBox;
  /** Class probabilities of this frame, in `classNames` order. */
  probabilities: number[];
}

/** A face of one frame, matched to a track. @category Video */
export interface TrackedFace<F extends TrackableFace = TrackableFace> {
  /** The track's id: 1, 2, 3... in the order tracks started; never reused. */
  trackId: number;
  /** The label to show: the smoothed probabilities' class, with hysteresis. */
  label: string;
  /** Smoothed probabilities, in `classNames` order. */
  probabilities: number[];
  /** This frame's own most probable class. */
  frameLabel: string;
  /** This frame's own probabilities. */
  frameProbabilities: number[];
  /** The face as given to {@link FaceTracker.update} (box, crop, keypoints...). */
  face: F;
  /** Seconds since the track started. */
  age: number;
  /** Frames in which the track had a face. */
  frames: number;
}

/** A track's summary over a clip ({@link FaceTracker.summary}). @category Video */
export interface TrackSummary {
  /** The track's id. */
  trackId: number;
  /** Time of its first frame, in seconds. */
  start: number;
  /** Time of its last frame, in seconds. */
  end: number;
  /** Frames in which it had a face. */
  frames: number;
  /** The label shown most often. */
  dominant: string;
  /** Share of the track's frames with each shown label (0-1; the labels shown at least once). */
  shares: Record<string, number>;
}

interface Track {
  id: number;
  box: FaceBox;
  probabilities: number[];
  label: number;
  start: number;
  last: number;
  frames: number;
  labelFrames: number[];
}

const WHERE = 'FaceTracker';

/** Intersection over union of two boxes. @category Video */
export function boxIoU(a: FaceBox, b: FaceBox): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function checkOption(value: number, name: string, max = Number.POSITIVE_INFINITY): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new RangeError(
      expected(WHERE, name, `a number in [0, ${max === Number.POSITIVE_INFINITY ? '∞' : max}]`, value),
    );
  }
  return value;
}

/**
 * Follows faces through a video and smooths their expressions: each call to {@link update} gives
 * one frame's faces (boxes and probabilities) and its time; faces are matched to tracks greedily by
 * overlap (IoU, then centre distance for fast moves), unmatched faces start new tracks, and a track
 * with no face for `maxAge` seconds ends. Each track's probabilities are smoothed exponentially with
 * a time constant in seconds, and its shown label changes only past a hysteresis margin.
 * @example
 * ```ts
 * const tracker = new FaceTracker(getPreprocessing(model)!.classNames, { timeConstant: 0.1 });
 * for (const { image, time } of frames) {
 *   const faces = await recognizeExpressions(image, { model });
 *   for (const t of tracker.update(faces, time)) console.log(t.trackId, t.label, t.frameLabel);
 * }
 * console.log(tracker.summary()); // dominant expression and time shares per track
 * ```
 * @category Video
 */
export class FaceTracker {
  /** The options in force, defaults filled in. */
  readonly options: Readonly<Required<TrackerOptions>>;
  private readonly classNames: readonly string[];
  private tracks: Track[] = [];
  private ended: Track[] = [];
  private nextId = 1;
  private lastTime = Number.NEGATIVE_INFINITY;

  /**
   * @param classNames The model's class names, in output order.
   * @param options See {@link TrackerOptions}; defaults in {@link TRACKER_DEFAULTS}.
   * @throws RangeError naming an option out of range, or empty `classNames`.
   */
  constructor(classNames: readonly string[], options: TrackerOptions = {}) {
    if (!Array.isArray(classNames) || classNames.length === 0) {
      throw new RangeError(
        expected(WHERE, 'classNames', 'the model class names (a non-empty array)', classNames),
      );
    }
    this.classNames = [...classNames];
    const o = { ...TRACKER_DEFAULTS, ...options };
    this.options = Object.freeze({
      timeConstant: checkOption(o.timeConstant, 'timeConstant'),
      hysteresis: checkOption(o.hysteresis, 'hysteresis', 1),
      minIoU: checkOption(o.minIoU, 'minIoU', 1),
      maxCenterDistance: checkOption(o.maxCenterDistance, 'maxCenterDistance'),
      maxAge: checkOption(o.maxAge, 'maxAge'),
    });
  }

  /**
   * Takes one frame's faces and returns them with their tracks, in track-id order (a stable order for
   * numbered boxes and lists).
   * @param faces The frame's faces (e.g. {@link recognizeExpressions}'s result).
   * @param time The frame's time in seconds; must not go back.
   * @returns One {@link TrackedFace} per face.
   * @throws RangeError when `time` goes back or a face's probabilities do not match `classNames`.
   */
  update<F extends TrackableFace>(faces: readonly F[], time: number): TrackedFace<F>[] {
    if (typeof time !== 'number' || !Number.isFinite(time) || time < this.lastTime) {
      throw new RangeError(
        expected(
          WHERE,
          'time',
          `a frame time in seconds, at least the previous frame's (${this.lastTime})`,
          time,
        ),
      );
    }
    for (const [i, f] of faces.entries()) {
      if (!Array.isArray(f?.probabilities) || f.probabilities.length !== this.classNames.length) {
        throw new RangeError(
          expected(
            WHERE,
            `faces[${i}].probabilities`,
            `${this.classNames.length} class probabilities`,
            f?.probabilities?.length,
          ),
        );
      }
    }
    this.lastTime = time;
    const o = this.options;
    // Candidate pairs, best first: overlapping ones by IoU, then near ones by centre distance.
    const pairs: { face: number; track: number; key: number }[] = [];
    for (const [fi, f] of faces.entries()) {
      for (const [ti, t] of this.tracks.entries()) {
        const iou = boxIoU(f.box, t.box);
        if (iou >= o.minIoU && iou > 0) {
          pairs.push({ face: fi, track: ti, key: 1 + iou });
          continue;
        }
        const size = Math.sqrt(t.box.width * t.box.height);
        const dx = f.box.x + f.box.width / 2 - (t.box.x + t.box.width / 2);
        const dy = f.box.y + f.box.height / 2 - (t.box.y + t.box.height / 2);
        const d = Math.hypot(dx, dy) / Math.max(size, 1e-9);
        if (d < o.maxCenterDistance)
          pairs.push({ face: fi, track: ti, key: 1 - d / (o.maxCenterDistance + 1e-9) });
      }
    }
    pairs.sort((a, b) => b.key - a.key || a.track - b.track || a.face - b.face);
    const trackOf = new Array<Track | undefined>(faces.length);
    const taken = new Set<number>();
    for (const p of pairs) {
      if (trackOf[p.face] !== undefined || taken.has(p.track)) continue;
      trackOf[p.face] = this.tracks[p.track]!;
      taken.add(p.track);
    }
    const out: TrackedFace<F>[] = [];
    for (const [fi, face] of faces.entries()) {
      let t = trackOf[fi];
      const frame = face.probabilities;
      if (t === undefined) {
        t = {
          id: this.nextId++,
          box: face.box,
          probabilities: [...frame],
          label: argmax(frame),
          start: time,
          last: time,
          frames: 0,
          labelFrames: new Array(this.classNames.length).fill(0),
        };
        this.tracks.push(t);
      } else {
        const dt = time - t.last;
        const w = o.timeConstant === 0 ? 1 : 1 - Math.exp(-dt / o.timeConstant);
        t.probabilities = t.probabilities.map((p, k) => (1 - w) * p + w * frame[k]!);
        const top = argmax(t.probabilities);
        if (top !== t.label && t.probabilities[top]! - t.probabilities[t.label]! > o.hysteresis)
          t.label = top;
        t.box = face.box;
        t.last = time;
      }
      t.frames++;
      t.labelFrames[t.label]!++;
      out.push({
        trackId: t.id,
        label: this.classNames[t.label]!,
        probabilities: [...t.probabilities],
        frameLabel: this.classNames[argmax(frame)]!,
        frameProbabilities: [...frame],
        face,
        age: time - t.start,
        frames: t.frames,
      });
    }
    // End the tracks this frame did not match that were last seen more than maxAge ago. Only after
    // matching: at a low frame rate (a frame every 2 s) the gap between frames alone exceeds maxAge,
    // and a face still there must keep its track.
    const alive: Track[] = [];
    for (const t of this.tracks) (time - t.last > o.maxAge ? this.ended : alive).push(t);
    this.tracks = alive;
    return out.sort((a, b) => a.trackId - b.trackId);
  }

  /** Tracks not ended (see `maxAge`), by id. */
  get activeTrackIds(): number[] {
    return this.tracks.map((t) => t.id).sort((a, b) => a - b);
  }

  /**
   * Every track so far (ended and alive), by id: its span, frames, dominant shown label and the share
   * of its frames with each shown label.
   * @example
   * ```ts
   * for (const s of tracker.summary()) console.log(`face ${s.trackId}: mostly ${s.dominant}`);
   * ```
   */
  summary(): TrackSummary[] {
    return [...this.ended, ...this.tracks]
      .sort((a, b) => a.id - b.id)
      .map((t) => {
        const shares: Record<string, number> = {};
        for (const [k, n] of t.labelFrames.entries()) if (n > 0) shares[this.classNames[k]!] = n / t.frames;
        return {
          trackId: t.id,
          start: t.start,
          end: t.last,
          frames: t.frames,
          dominant: this.classNames[argmax(t.labelFrames)]!,
          shares,
        };
      });
  }
}
