/**
 * The detector on real photos shipped in `@vladmandic/human` (skipped when it is not installed) and
 * on composites of FER2013 / CK+ faces pasted at known places (skipped when ../shared/data is absent),
 * plus awkward files: tiny faces, huge, EXIF-rotated, grayscale, CMYK and alpha pictures.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { faceCropSquare } from '../../src/faces/align';
import { detectFaces, findFaceCrops, recognizeExpressions } from '../../src/faces/recognize';
import { ckSamples, ferSamples, measure, type Sample, summarize } from './calibration';
import { FACEDETECT_JPG, HAS_DETECTOR, HAS_PHOTOS, iou, sharedDetector, tinyModel } from './helpers';

const ck = HAS_DETECTOR ? await ckSamples(12) : [];
const CALIBRATION_FACES = 12;
const fer = HAS_DETECTOR ? await ferSamples(CALIBRATION_FACES) : [];

interface Placed {
  sample: Sample;
  x: number;
  y: number;
  side: number;
}

/** A gray `width x height` picture with the faces upscaled and pasted, as PNG bytes. */
async function pasteFaces(width: number, height: number, placed: Placed[], background = '#7a7a7a') {
  const layers = await Promise.all(
    placed.map(async (p) => ({
      input: await sharp(Buffer.from(p.sample.pixels), { raw: { width: 48, height: 48, channels: 1 } })
        .resize(p.side, p.side, { kernel: 'cubic' })
        .toColourspace('srgb')
        .png()
        .toBuffer(),
      left: p.x,
      top: p.y,
    })),
  );
  return sharp({ create: { width, height, channels: 3, background } })
    .composite(layers)
    .png()
    .toBuffer();
}

/** The truth square of a pasted face vs the crop square of the best-matching detection. */
function matchIou(p: Placed, faces: { box: { x: number; y: number; width: number; height: number } }[]) {
  const truth = { x: p.x, y: p.y, width: p.side, height: p.side };
  return Math.max(
    0,
    ...faces.map((f) => {
      const s = faceCropSquare({ ...f, score: 1 }, { align: false });
      return iou(truth, {
        x: s.center[0] - s.side / 2,
        y: s.center[1] - s.side / 2,
        width: s.side,
        height: s.side,
      });
    }),
  );
}

describe.skipIf(!HAS_PHOTOS)('detectFaces on real photos (shipped in @vladmandic/human)', () => {
  it('finds the five portraits of screenshot-facedetect.jpg with level, correctly ordered eyes', async () => {
    const detector = await sharedDetector();
    const faces = await detectFaces(FACEDETECT_JPG, { detector });
    const portraits = faces.filter((f) => f.box.y > 330 && f.box.y < 420);
    expect(portraits.length).toBe(5);
    const xs = portraits.map((f) => f.box.x).sort((a, b) => a - b);
    // one portrait per 160-pixel column of the bottom row
    expect(xs.map((x) => Math.floor(x / 160))).toEqual([0, 1, 2, 3, 4]);
    for (const f of portraits) {
      expect(f.score).toBeGreaterThan(0.7);
      expect(f.box.width).toBeGreaterThan(80);
      expect(f.box.width).toBeLessThan(115);
      const k = f.keypoints!;
      expect(k.rightEye[0]).toBeLessThan(k.leftEye[0]); // the person's right eye is on the image's left
      expect(Math.abs(k.rightEye[1] - k.leftEye[1])).toBeLessThan(25);
      expect(k.rightEye[1]).toBeGreaterThan(f.box.y);
      expect(k.mouth![1]).toBeGreaterThan(k.rightEye[1]);
    }
  });

  it('recognizeExpressions gives a 48x48 crop, probabilities and a label per face', async () => {
    const detector = await sharedDetector();
    const model = tinyModel();
    const faces = await recognizeExpressions(FACEDETECT_JPG, { model, detector, minScore: 0.7 });
    expect(faces.length).toBeGreaterThanOrEqual(5);
    for (const f of faces) {
      expect(f.crop.length).toBe(48 * 48);
      expect(f.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(f.classNames).toContain(f.label);
      expect(f.score).toBeGreaterThan(0.7);
    }
    model.dispose();
  });
});

describe.skipIf(!HAS_DETECTOR || ck.length === 0)(
  'detectFaces on composites of CK+ and FER2013 faces',
  () => {
    it('finds four CK+ faces pasted into one picture at known places (crop IoU > 0.75)', async () => {
      const detector = await sharedDetector();
      const placed: Placed[] = [
        { sample: ck[0]!, x: 30, y: 40, side: 150 },
        { sample: ck[3]!, x: 250, y: 60, side: 110 },
        { sample: ck[6]!, x: 420, y: 200, side: 170 },
        { sample: ck[9]!, x: 80, y: 260, side: 120 },
      ];
      const faces = await detectFaces(await pasteFaces(640, 420, placed), { detector });
      expect(faces.length).toBe(4);
      for (const p of placed) expect(matchIou(p, faces)).toBeGreaterThan(0.75);
    });

    it('frames crops like the originals (the calibration, on 12 + 12 faces)', {
      timeout: 600_000,
    }, async () => {
      const detector = await sharedDetector();
      const ckm = await measure(detector, ck.slice(0, CALIBRATION_FACES));
      expect(ckm.filter((m) => m.found).length, 'CK+ faces found').toBeGreaterThanOrEqual(
        CALIBRATION_FACES - 1,
      );
      expect(summarize(ckm, 'iou').median).toBeGreaterThan(0.8);
      expect(summarize(ckm, 'mad').median).toBeLessThan(35);
      if (fer.length > 0) {
        const ferm = await measure(detector, fer);
        expect(ferm.filter((m) => m.found).length, 'FER2013 faces found').toBeGreaterThanOrEqual(
          CALIBRATION_FACES - 2,
        );
        expect(summarize(ferm, 'iou').median).toBeGreaterThan(0.65);
      }
    });

    it('finds nothing in a picture without a face, and misses tiny faces unless tiled', {
      timeout: 600_000,
    }, async () => {
      const detector = await sharedDetector();
      const noise = Buffer.from(Array.from({ length: 320 * 240 * 3 }, (_, i) => (i * 7919) % 251));
      const blank = await sharp(noise, { raw: { width: 320, height: 240, channels: 3 } })
        .png()
        .toBuffer();
      expect(await detectFaces(blank, { detector })).toEqual([]);
      const tiny: Placed = { sample: ck[1]!, x: 1700, y: 900, side: 90 };
      const big = await pasteFaces(2400, 1600, [tiny]);
      expect(await detectFaces(big, { detector })).toEqual([]);
      const tiled = await detectFaces(big, { detector, tiles: 3 });
      expect(tiled.length).toBe(1);
      expect(matchIou(tiny, tiled)).toBeGreaterThan(0.6);
    });

    it('reads huge, EXIF-rotated, grayscale, CMYK and alpha pictures and reports boxes in original pixels', async () => {
      const detector = await sharedDetector();
      const placed: Placed = { sample: ck[4]!, x: 2600, y: 900, side: 1100 };
      const huge = await sharp(await pasteFaces(6000, 3000, [placed]))
        .jpeg()
        .toBuffer();
      const hugeFaces = await detectFaces(huge, { detector }); // decoded at 2048 wide
      expect(hugeFaces.length).toBe(1);
      expect(matchIou(placed, hugeFaces)).toBeGreaterThan(0.7);

      const p: Placed = { sample: ck[5]!, x: 60, y: 50, side: 140 };
      const upright = await pasteFaces(400, 300, [p]);
      // stored turned a quarter anticlockwise, with EXIF orientation 6 to show it upright again
      const stored = await sharp(upright)
        .rotate(270)
        .jpeg({ quality: 95 })
        .withMetadata({ orientation: 6 })
        .toBuffer();
      const variants: [string, Buffer][] = [
        ['exif-rotated', stored],
        ['grayscale', await sharp(upright).greyscale().jpeg().toBuffer()],
        ['cmyk', await sharp(upright).toColourspace('cmyk').jpeg().toBuffer()],
        ['alpha', await sharp(upright).ensureAlpha(1).png().toBuffer()],
      ];
      for (const [name, bytes] of variants) {
        const faces = await detectFaces(bytes, { detector, name });
        expect(faces.length, name).toBe(1);
        expect(matchIou(p, faces), name).toBeGreaterThan(0.75);
      }
    });

    it("detect: 'auto' takes a 48x48 face crop whole and detects in a larger picture", async () => {
      const detector = await sharedDetector();
      const crop48 = await sharp(Buffer.from(ck[2]!.pixels), { raw: { width: 48, height: 48, channels: 1 } })
        .png()
        .toBuffer();
      const whole = await findFaceCrops(crop48, { detector });
      expect(whole.mode).toBe('whole');
      expect(whole.faces.length).toBe(1);
      expect(whole.faces[0]!.score).toBeNull();
      // the crop of a face crop is the face itself
      const diff = whole.faces[0]!.crop.reduce((s, v, i) => s + Math.abs(v - ck[2]!.pixels[i]!), 0) / 2304;
      expect(diff).toBeLessThan(2);
      const placed = await findFaceCrops(
        await pasteFaces(400, 300, [{ sample: ck[2]!, x: 100, y: 60, side: 160 }]),
        {
          detector,
        },
      );
      expect(placed.mode).toBe('detected');
      expect(placed.faces.length).toBe(1);
      const on = await findFaceCrops(crop48, { detector, detect: 'on' });
      expect(on.mode).toBe('detected');
    });
  },
);
