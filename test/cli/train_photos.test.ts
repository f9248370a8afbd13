/**
 * `fer-cbam train --data DIR --init MODEL` on a folder of class folders (issue 28): classes matched
 * by name (another order and case, a subset, new classes with a new classifier, each said), the
 * stratified validation split that chooses best/, the classifier-first epochs, and the errors that
 * name the file and the fix. In-process on the cpu backend with a tiny network and 64x64 pictures
 * (taken whole: they are face crops); the detector is needed only by the "no face" case.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { getPreprocessing } from '../../src/models/preprocessing';
import { resnetCbam } from '../../src/models/resnet_cbam';
import { HAS_DETECTOR } from '../faces/helpers';
import { cli, saveModel, squareFace, testFolder } from './helpers';

const { at } = testFolder('fer-cbam-cli-train-photos-');

const tiny = ['--crop', '40', '--epochs', '1', '--batch-size', '4'];

beforeAll(async () => {
  for (const [cls, square] of [
    ['Bright', 48],
    ['dark', 16],
    ['medium', 32],
  ] as const) {
    for (const f of ['a', 'b', 'c', 'd', 'e']) await squareFace(at('photos', cls, `${f}.png`), square);
  }
  // The same pictures, only two classes (a subset of the model's).
  for (const f of ['a', 'b', 'c']) await squareFace(at('two', 'Dark', `${f}.png`), 16);
  for (const f of ['a', 'b', 'c']) await squareFace(at('two', 'bright', `${f}.png`), 48);
  const model = resnetCbam({ depth: 10, width: 4, inputShape: [40, 40, 1], numClasses: 3, seed: 1 });
  await saveModel(model, at('init'), {
    imageSize: 48,
    cropSize: 40,
    normalization: { mean: 0.3, std: 0.4 },
    classNames: ['dark', 'bright', 'other'],
  });
  const two = resnetCbam({ depth: 10, width: 4, inputShape: [40, 40, 1], numClasses: 2, seed: 2 });
  await saveModel(two, at('init-two'), {
    imageSize: 48,
    cropSize: 40,
    normalization: { mean: 0.3, std: 0.4 },
    classNames: ['dark', 'bright'],
  });
}, 60_000);

const classesOf = async (dir: string) =>
  getPreprocessing(await tfl.loadLayersModel(`file://${join(dir, 'model.json')}`))?.classNames;

describe('fer-cbam train on a folder of photos with --init', () => {
  it('gives classes the model lacks a new classifier (and says so), holds out a stratified split, chooses best/ on it', async () => {
    const out = at('run-new');
    const r = await cli('train', '--data', at('photos'), '--init', at('init'), '--out', out, ...tiny);
    expect(r.status, r.err).toBe(0);
    expect(r.err).toMatch(
      /15 photos in 3 classes: 15 faces \(0 from the cache, 15 taken whole as face crops\)/,
    );
    expect(r.err).toMatch(
      /--init .*init: the data has classes it lacks \(medium\): a new classifier for bright, dark, medium \(replaceClassifier\), starting from its weights for the 2 classes both have; other leaves the model/,
    );
    expect(r.err).toMatch(/holding out 3 of 15 faces \(20 % of each class, --val-fraction\)/);
    expect(r.err).toMatch(/12 training and 3 validation images/);
    expect(r.err).toMatch(/fine-tuning defaults: --epochs 1 --batch-size 4 --lr 0.01/);
    expect(r.out).toMatch(/best: valAccuracy [\d.]+ at epoch 1/);
    expect(await classesOf(join(out, 'best'))).toEqual(['bright', 'dark', 'medium']);

    // --resume reads the checkpoint's network and classes and makes the same held-out split.
    const more = await cli(
      'train',
      '--data',
      at('photos'),
      '--init',
      at('init'),
      '--out',
      out,
      '--resume',
      ...tiny,
    );
    expect(more.status, more.err).toBe(0);
    expect(more.err).toMatch(/--resume: the same classes, matched by name \(bright, dark, medium\)/);
    expect(more.err).toMatch(/12 training and 3 validation images/);
    expect(readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
  }, 120_000);

  it('keeps the classifier for a subset in another case and order, and trains the head first with --head-epochs', async () => {
    const out = at('run-subset');
    const r = await cli(
      'train',
      '--data',
      at('two'),
      '--init',
      at('init'),
      '--out',
      out,
      '--head-epochs',
      '1',
      '--val',
      at('two'),
      ...tiny,
    );
    expect(r.status, r.err).toBe(0);
    expect(r.err).toMatch(
      /the data has 2 of its 3 classes \(no other\): its classifier is kept, and the model still predicts all 3/,
    );
    expect(r.err).toMatch(/classifier epoch 1: loss/);
    expect(r.err).toMatch(/6 training and 6 validation images/);
    expect(await classesOf(join(out, 'best'))).toEqual(['dark', 'bright', 'other']);

    // The same classes in another order and case (the refusal of issue 28): the model's order.
    const same = await cli(
      'train',
      '--data',
      at('two'),
      '--init',
      at('init-two'),
      '--out',
      at('run-same'),
      ...tiny,
    );
    expect(same.status, same.err).toBe(0);
    expect(same.err).toMatch(/--init .*init-two: the same classes, matched by name \(dark, bright\)/);
    expect(await classesOf(join(at('run-same'), 'best'))).toEqual(['dark', 'bright']);
  }, 120_000);

  it('names the file and the fix: no class folders, an undecodable photo, an empty class, an --out that cannot be made', async () => {
    mkdirSync(at('flat'), { recursive: true });
    await squareFace(at('flat', 'a.png'));
    const flat = await cli('train', '--data', at('flat'), '--init', at('init'), '--out', at('r1'), ...tiny);
    expect(flat.status).toBe(1);
    expect(flat.err).toMatch(
      /--data: ".*flat" holds no class folders: put each class's photos in a sub-folder named for the class \(.*flat\/happy\/\*\.jpg/,
    );

    await squareFace(at('broken', 'dark', 'a.png'));
    await squareFace(at('broken', 'bright', 'a.png'), 48);
    await squareFace(at('broken', 'bright', 'b.png'), 48);
    writeFileSync(at('broken', 'bright', 'bad.jpg'), 'not a jpeg');
    const bad = await cli('train', '--data', at('broken'), '--init', at('init'), '--out', at('r2'), ...tiny);
    expect(bad.status).toBe(1);
    expect(bad.err).toMatch(
      /--data: .*bright\/bad\.jpg: cannot decode the image .* pass --skip-invalid to skip \(and list\) the photos that cannot be decoded\./,
    );
    const skip = await cli(
      'train',
      '--data',
      at('broken'),
      '--init',
      at('init'),
      '--out',
      at('r2'),
      '--skip-invalid',
      ...tiny,
    );
    expect(skip.status, skip.err).toBe(0);
    expect(skip.err).toMatch(
      /skipped 1 photo that cannot be decoded: ".*bad\.jpg" \(cannot decode the image/,
    );

    await squareFace(at('hollow', 'dark', 'a.png'));
    mkdirSync(at('hollow', 'bright'), { recursive: true });
    const hollow = await cli('train', '--data', at('hollow'), '--out', at('r4'), ...tiny);
    expect(hollow.status).toBe(1);
    expect(hollow.err).toMatch(
      /--data: the class folder ".*hollow\/bright" holds no photos \(.*\); add photos or remove the folder\./,
    );

    writeFileSync(at('a-file'), 'x');
    const out = await cli('train', '--data', at('two'), '--out', join(at('a-file'), 'run'), ...tiny);
    expect(out.status).toBe(1);
    expect(out.err).toMatch(
      /--out: ".*a-file" is a file, so ".*run" cannot be created; choose another --out\./,
    );
    if (process.getuid?.() !== 0) {
      mkdirSync(at('locked'));
      chmodSync(at('locked'), 0o500);
      const locked = await cli('train', '--data', at('two'), '--out', join(at('locked'), 'run'), ...tiny);
      expect(locked.err).toMatch(/--out: cannot write to ".*locked"/);
      chmodSync(at('locked'), 0o700);
    }
  }, 120_000);

  it.skipIf(!HAS_DETECTOR)(
    'refuses a class in which no photo shows a face, naming it and --detect off',
    async () => {
      const blank = async (file: string) => {
        mkdirSync(join(file, '..'), { recursive: true });
        const sharp = (await import('sharp')).default;
        await sharp({ create: { width: 160, height: 120, channels: 3, background: '#808080' } })
          .png()
          .toFile(file);
      };
      await blank(at('noface', 'happy', 'a.png'));
      await blank(at('noface', 'happy', 'b.png'));
      const r = await cli('train', '--data', at('noface'), '--init', at('init'), '--out', at('r3'), ...tiny);
      expect(r.status).toBe(1);
      expect(r.err).toMatch(
        /no face found in 2 of 2 photos, left out \(all of them in .*r3\/face-cache\/no-face\.txt\); if they are face crops use --detect off/,
      );
      expect(r.err).toMatch(
        /--data: no face found in any photo of "happy" \(.*noface\/happy\); if those pictures are face crops, pass --detect off/,
      );
    },
    120_000,
  );
});
