import { describe, expect, it } from 'vitest';
import { eyeAngle, FER2013_FRAMING, faceCropSquare } from '../../src/faces/align';
import type { DetectedFace } from '../../src/faces/types';
import { sampleSquare } from '../../src/image/sample';

const face = (rightEye: [number, number], leftEye: [number, number]): DetectedFace => ({
  box: { x: 100, y: 100, width: 100, height: 100 },
  score: 0.9,
  keypoints: { rightEye, leftEye },
});

describe('faceCropSquare', () => {
  it('frames the box with the calibrated FER2013 margins', () => {
    const s = faceCropSquare(face([130, 140], [170, 140]));
    expect(s.angle).toBeCloseTo(0);
    expect(s.side).toBeCloseTo(100 * FER2013_FRAMING.scale);
    expect(s.center[0]).toBeCloseTo(150);
    expect(s.center[1]).toBeCloseTo(150 + FER2013_FRAMING.offsetY * s.side);
  });

  it('levels the eyes: the roll follows the eye line, and align: false keeps it upright', () => {
    const tilted = face([130, 130], [170, 170]);
    expect(eyeAngle(tilted)).toBeCloseTo(Math.PI / 4);
    expect(faceCropSquare(tilted).angle).toBeCloseTo(Math.PI / 4);
    expect(faceCropSquare(tilted, { align: false }).angle).toBe(0);
    expect(eyeAngle({ box: tilted.box, score: 1 })).toBe(0);
  });

  it('rejects a bad framing and an empty box, naming the argument', () => {
    expect(() =>
      faceCropSquare(face([0, 0], [1, 0]), { framing: { scale: 0, offsetX: 0, offsetY: 0 } }),
    ).toThrow(/faceCropSquare: expected `framing.scale`/);
    expect(() => faceCropSquare({ box: { x: 0, y: 0, width: 0, height: 5 }, score: 1 })).toThrow(
      /expected `face.box` to be a box with positive width and height/,
    );
  });
});

describe('sampleSquare', () => {
  const w = 64;
  const ramp = { data: Float32Array.from({ length: w * w }, (_, i) => i % w), width: w, height: w };

  it('reproduces the source at scale 1 and averages when shrinking', () => {
    const same = sampleSquare(ramp, { center: [32, 32], side: 64, angle: 0 }, 64);
    expect(Array.from(same.slice(0, 64))).toEqual(Array.from({ length: 64 }, (_, i) => i));
    const half = sampleSquare(ramp, { center: [32, 32], side: 64, angle: 0 }, 32);
    expect(half[0]).toBe(1); // mean of 0 and 1, rounded
    expect(half[31]).toBe(63);
  });

  it('rotates: a quarter turn maps the horizontal ramp to a vertical one', () => {
    const turned = sampleSquare(ramp, { center: [32, 32], side: 64, angle: Math.PI / 2 }, 64);
    expect(turned[0]).toBeGreaterThan(61); // the crop x axis points down the image: top-left is column ~63
    expect(turned[63 * 64]).toBeLessThan(2);
  });

  it('repeats edge pixels outside the image', () => {
    const out = sampleSquare(ramp, { center: [0, 32], side: 64, angle: 0 }, 8);
    expect(out[0]).toBe(0);
  });
});
