/**
 * FaceTracker: matching faces to tracks, smoothing in seconds (hand-computed exponential weights),
 * hysteresis, track ends and summaries, and refusals of bad input.
 */
import { describe, expect, it } from 'vitest';
import { boxIoU, FaceTracker } from '../../src/video/tracker';

const CLASSES = ['happy', 'sad', 'neutral'];
const box = (x: number, y: number, size = 100) => ({ x, y, width: size, height: size });
const face = (x: number, y: number, probabilities: number[], size = 100) => ({
  box: box(x, y, size),
  probabilities,
});

describe('boxIoU', () => {
  it('matches hand-computed overlaps', () => {
    expect(boxIoU(box(0, 0), box(0, 0))).toBe(1);
    expect(boxIoU(box(0, 0), box(50, 0))).toBeCloseTo(5000 / 15000, 12);
    expect(boxIoU(box(0, 0), box(100, 0))).toBe(0);
    expect(boxIoU(box(0, 0, 10), box(200, 200, 10))).toBe(0);
  });
});

describe('FaceTracker', () => {
  it('keeps ids across frames, in a stable order, while the faces move', () => {
    const t = new FaceTracker(CLASSES);
    const p = [1, 0, 0];
    // Face A on the left, B on the right; given in a different order each frame (as a detector's
    // score order would change), A moves right by 10 px per frame.
    const f1 = t.update([face(0, 0, p), face(300, 0, p)], 0);
    expect(f1.map((f) => [f.trackId, f.face.box.x])).toEqual([
      [1, 0],
      [2, 300],
    ]);
    const f2 = t.update([face(300, 0, p), face(10, 0, p)], 0.04);
    expect(f2.map((f) => [f.trackId, f.face.box.x])).toEqual([
      [1, 10],
      [2, 300],
    ]);
    const f3 = t.update([face(20, 0, p)], 0.08);
    expect(f3.map((f) => f.trackId)).toEqual([1]);
    expect(t.activeTrackIds).toEqual([1, 2]);
  });

  it('matches a fast move by centre distance when the boxes no longer overlap enough', () => {
    const t = new FaceTracker(CLASSES);
    t.update([face(0, 0, [1, 0, 0])], 0);
    // Boxes 40 px apart: IoU 60/140 = 0.43 >= 0.3, matched by overlap.
    expect(t.update([face(40, 0, [1, 0, 0])], 0.1)[0]!.trackId).toBe(1);
    // 80 px further: IoU 20/180 = 0.11 < 0.3 and the centres 0.8 box sizes apart (> 0.5): a new track.
    expect(t.update([face(120, 0, [1, 0, 0])], 0.2)[0]!.trackId).toBe(2);
    const loose = new FaceTracker(CLASSES, { minIoU: 0.9 });
    loose.update([face(0, 0, [1, 0, 0])], 0);
    // IoU 0.82 < 0.9, centre distance 10 / 100 = 0.1 < 0.5: matched by distance.
    expect(loose.update([face(10, 0, [1, 0, 0])], 0.1)[0]!.trackId).toBe(1);
  });

  it('smooths with weight 1 - exp(-dt / timeConstant), so the frame rate does not matter', () => {
    const tau = 0.5;
    const t = new FaceTracker(CLASSES, { timeConstant: tau, hysteresis: 0 });
    t.update([face(0, 0, [1, 0, 0])], 0);
    const a = t.update([face(0, 0, [0, 1, 0])], 0.1)[0]!;
    const w = 1 - Math.exp(-0.1 / tau);
    expect(a.probabilities[0]).toBeCloseTo(1 - w, 12);
    expect(a.probabilities[1]).toBeCloseTo(w, 12);
    expect(a.frameLabel).toBe('sad');
    expect(a.label).toBe('happy');
    // The same 0.4 s of "sad" at 10 fps and at 50 fps gives the same smoothed value.
    const at = (fps: number) => {
      const tr = new FaceTracker(CLASSES, { timeConstant: tau });
      tr.update([face(0, 0, [1, 0, 0])], 0);
      let last = tr.update([face(0, 0, [0, 1, 0])], 1 / fps);
      for (let k = 2; k <= 0.4 * fps; k++) last = tr.update([face(0, 0, [0, 1, 0])], k / fps);
      return last[0]!.probabilities[1]!;
    };
    expect(at(10)).toBeCloseTo(1 - Math.exp(-0.4 / tau), 10);
    expect(at(50)).toBeCloseTo(at(10), 10);
    // timeConstant 0: no smoothing.
    const raw = new FaceTracker(CLASSES, { timeConstant: 0 });
    raw.update([face(0, 0, [1, 0, 0])], 0);
    expect(raw.update([face(0, 0, [0.2, 0.7, 0.1])], 0.01)[0]!.probabilities).toEqual([0.2, 0.7, 0.1]);
  });

  it('does not flip the label on a 51/49 frame, but follows a lasting change', () => {
    const t = new FaceTracker(CLASSES, { timeConstant: 0 });
    t.update([face(0, 0, [0.6, 0.4, 0])], 0);
    const flicker = t.update([face(0, 0, [0.49, 0.51, 0])], 0.04)[0]!;
    expect(flicker.frameLabel).toBe('sad');
    expect(flicker.label).toBe('happy');
    const change = t.update([face(0, 0, [0.3, 0.7, 0])], 0.08)[0]!;
    expect(change.label).toBe('sad');
    // And back only past the margin as well.
    expect(t.update([face(0, 0, [0.52, 0.48, 0])], 0.12)[0]!.label).toBe('sad');
  });

  it('ends a track after maxAge seconds without a face and starts a new id for a new face', () => {
    const t = new FaceTracker(CLASSES, { maxAge: 1 });
    t.update([face(0, 0, [1, 0, 0])], 0);
    t.update([], 0.5);
    expect(t.activeTrackIds).toEqual([1]);
    // Back within maxAge: the same track.
    expect(t.update([face(0, 0, [1, 0, 0])], 0.9)[0]!.trackId).toBe(1);
    t.update([], 2.5);
    expect(t.activeTrackIds).toEqual([]);
    expect(t.update([face(0, 0, [1, 0, 0])], 2.6)[0]!.trackId).toBe(2);
  });

  it('keeps a track across frames further apart than maxAge (a low frame rate), ending it at a missed frame', () => {
    const t = new FaceTracker(CLASSES, { maxAge: 1 });
    // one frame every 2 s: the same face, moving a little
    for (let i = 0; i < 4; i++) expect(t.update([face(i * 2, 0, [1, 0, 0])], i * 2)[0]!.trackId).toBe(1);
    expect(t.activeTrackIds).toEqual([1]);
    // the face is gone at the next frame: 2 s > maxAge since it was seen, so the track ends there
    t.update([], 8);
    expect(t.activeTrackIds).toEqual([]);
    expect(t.summary()[0]!.frames).toBe(4);
  });

  it('summarises each track: span, frames, dominant label and shares', () => {
    const t = new FaceTracker(CLASSES, { timeConstant: 0, hysteresis: 0 });
    const labels = [0, 0, 0, 1, 2];
    labels.forEach((k, i) => {
      const p = [0, 0, 0];
      p[k] = 1;
      t.update([face(0, 0, p)], i * 0.1);
    });
    expect(t.summary()).toEqual([
      {
        trackId: 1,
        start: 0,
        end: 0.4,
        frames: 5,
        dominant: 'happy',
        shares: { happy: 0.6, sad: 0.2, neutral: 0.2 },
      },
    ]);
  });

  it('refuses bad options, times that go back and probabilities of the wrong length', () => {
    expect(() => new FaceTracker([])).toThrow(/classNames/);
    expect(() => new FaceTracker(CLASSES, { timeConstant: -1 })).toThrow(/timeConstant/);
    expect(() => new FaceTracker(CLASSES, { hysteresis: 2 })).toThrow(/hysteresis/);
    expect(() => new FaceTracker(CLASSES, { maxAge: Number.NaN })).toThrow(/maxAge/);
    const t = new FaceTracker(CLASSES);
    t.update([], 1);
    expect(() => t.update([], 0.5)).toThrow(/time/);
    expect(() => t.update([face(0, 0, [1, 0])], 2)).toThrow(/faces\[0\]\.probabilities.*3 class/);
  });
});
