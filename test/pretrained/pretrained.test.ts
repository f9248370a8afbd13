import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogNames, rewriteCatalog } from '../../scripts/catalog-digests';
import { ckplusHoldout } from '../../scripts/ckplus-holdout';
import {
  DEFAULT_PRETRAINED,
  type EvaluationResult,
  evaluate,
  facesToInput,
  getPreprocessing,
  isPretrainedName,
  listPretrained,
  loadCkPlus,
  loadFer2013,
  loadPretrained,
  predictProbabilities,
  usageIndices,
  useBackend,
} from '../../src/index';
import { pretrainedModelPath } from '../../src/pretrained/index';
import { sha256Hex } from '../../src/pretrained/sha256';

const FER2013 = resolve(__dirname, '../../../shared/data/fer2013/fer2013.csv.gz');
const models = listPretrained();

describe('listPretrained / loadPretrained', () => {
  it('lists the default model first, every card complete', () => {
    expect(models[0]?.name).toBe(DEFAULT_PRETRAINED);
    for (const m of models) {
      expect(isPretrainedName(m.name)).toBe(true);
      expect(m.classNames.length).toBeGreaterThan(1);
      expect(m.command).toMatch(/fer-cbam|examples\//);
      expect(m.card).toMatch(/^docs\/models\.md#/);
      expect(Object.keys(m.metrics).length).toBeGreaterThan(0);
    }
    expect(isPretrainedName('imagenet')).toBe(false);
  });

  it.each(models.map((m) => [m.name, m] as const))(
    '%s: the shipped files match its card (classes, preprocessing, parameters, size)',
    async (name, card) => {
      const path = await pretrainedModelPath(card.name);
      expect(path).toBe(resolve(__dirname, '../../models', name, 'model.json'));
      const model = await loadPretrained(name);
      const pre = getPreprocessing(model)!;
      expect(pre.classNames).toEqual(card.classNames);
      expect(pre.imageSize).toBe(48);
      expect(pre.cropSize).toBe(model.inputs[0]!.shape[1]);
      expect(model.countParams()).toBe(card.parameters);
      expect((await stat(resolve(dirname(path), 'weights.bin'))).size).toBe(card.weightBytes);
      const manifest = JSON.parse(await readFile(path, 'utf8')).weightsManifest[0].weights;
      expect(
        manifest.every((w: { quantization?: { dtype: string } }) => w.quantization?.dtype === 'float16'),
      ).toBe(true);
      // Outputs are finite logits of the right size.
      const y = model.predict(tf.zeros([2, pre.cropSize, pre.cropSize, 1])) as tf.Tensor;
      expect(y.shape).toEqual([2, card.classNames.length]);
      expect(Array.from(await y.data()).every(Number.isFinite)).toBe(true);
      tf.dispose(y);
      model.dispose();
    },
  );

  it.each(models.map((m) => [m.name, m] as const))(
    '%s: the card states what the pack script measured (docs/models/<name>.json)',
    async (name, card) => {
      const measured = JSON.parse(
        await readFile(resolve(__dirname, '../../docs/models', `${name}.json`), 'utf8'),
      );
      expect(card.parameters).toBe(measured.parameters);
      expect(card.weightBytes).toBe(measured.weightBytes);
      if (measured.publicTest) {
        expect(card.metrics.publicTestTenCrop).toBe(measured.publicTest.float16.tenCrop.accuracy);
        expect(card.metrics.publicTestSingleCrop).toBe(measured.publicTest.float16.singleCrop.accuracy);
        // float16 storage costs less than 0.2 points.
        expect(
          Math.abs(
            measured.publicTest.float16.tenCrop.accuracy - measured.publicTest.float32.tenCrop.accuracy,
          ),
        ).toBeLessThan(0.002);
      } else {
        expect(card.metrics.crossValidationMean).toBe(measured.crossValidation.mean);
        expect(card.metrics.crossValidationStd).toBe(measured.crossValidation.std);
      }
    },
  );

  it('rejects an unknown name, listing the shipped ones', async () => {
    await expect(loadPretrained('imagenet')).rejects.toThrow(/no pretrained model "imagenet".*fer2013/);
  });

  it('reports an unreachable URL with the URL', async () => {
    await expect(loadPretrained('fer2013', { url: 'file:///nonexistent/dir/' })).rejects.toThrow(
      /\/nonexistent\/dir\/model\.json/,
    );
  });
});

describe('shipped weights are checked against the catalog (issue 31, item 3)', () => {
  it.each(models.map((m) => [m.name, m] as const))(
    "%s: the catalog's SHA-256 and size are the shipped weights.bin's",
    async (name, card) => {
      const bytes = await readFile(resolve(__dirname, '../../models', name, 'weights.bin'));
      const digest = createHash('sha256').update(bytes).digest('hex');
      expect(
        { sha256: card.weightsSha256, bytes: card.weightBytes },
        `models/${name}/weights.bin changed: run \`npx tsx scripts/catalog-digests.ts ${name}\``,
      ).toEqual({ sha256: digest, bytes: bytes.length });
    },
  );

  it('refuses a copy with one float16 weight set to NaN (same length), naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fer-cbam tampered '));
    try {
      const from = resolve(__dirname, '../../models/fer2013');
      copyFileSync(join(from, 'model.json'), join(dir, 'model.json'));
      const weights = readFileSync(join(from, 'weights.bin'));
      weights.writeUInt16LE(0x7e00, 1000); // float16 NaN
      writeFileSync(join(dir, 'weights.bin'), weights);
      await expect(loadPretrained('fer2013', { url: `file://${dir}/model.json` })).rejects.toThrow(
        new RegExp(
          `loadPretrained\\('fer2013'\\): the weights of file://${dir}/model\\.json are not the shipped 'fer2013' model: their SHA-256 is [0-9a-f]{64}, the catalog's is ${models.find((m) => m.name === 'fer2013')!.weightsSha256}; serve the package's models/fer2013/ files unchanged`,
        ),
      );
      // The intact copy loads from the same place.
      copyFileSync(join(from, 'weights.bin'), join(dir, 'weights.bin'));
      const model = await loadPretrained('fer2013', { url: `file://${dir}/model.json` });
      expect(model.outputs[0]!.shape).toEqual([null, 7]);
      model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sha256Hex agrees with node:crypto across block boundaries and split buffers', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
      const want = createHash('sha256').update(bytes).digest('hex');
      expect(sha256Hex(bytes), `${n} bytes`).toBe(want);
      expect(sha256Hex([bytes.subarray(0, n >> 1), bytes.subarray(n >> 1)]), `${n} bytes in two`).toBe(want);
    }
  });

  it('the digest script rewrites one entry of the catalog and nothing else', async () => {
    const source = await readFile(resolve(__dirname, '../../src/pretrained/catalog.ts'), 'utf8');
    expect(catalogNames(source)).toEqual(models.map((m) => m.name));
    const next = rewriteCatalog(source, 'ferplus', { bytes: 12, sha256: 'ab'.repeat(32) });
    const changed = next.split('\n').filter((line, i) => line !== source.split('\n')[i]);
    expect(changed).toEqual(['    weightBytes: 12,', `    weightsSha256: '${'ab'.repeat(32)}',`]);
    const ferplus = models.find((m) => m.name === 'ferplus')!;
    expect(
      rewriteCatalog(next, 'ferplus', { bytes: ferplus.weightBytes, sha256: ferplus.weightsSha256 }),
    ).toBe(source);
    expect(() => rewriteCatalog(source, 'imagenet', { bytes: 1, sha256: '' })).toThrow(
      /no entry named 'imagenet'/,
    );
  });
});

// The real-data checks classify hundreds of faces with the shipped networks: on the wasm backend
// (what the card measured with), many times faster than the tests' default cpu backend.
async function onWasm(): Promise<void> {
  await useBackend('wasm');
}
async function backToCpu(): Promise<void> {
  await tf.setBackend('cpu');
}

describe.skipIf(!existsSync(FER2013))('the FER2013-class models on real FER2013 faces', () => {
  beforeAll(onWasm);
  afterAll(backToCpu);
  let data: Awaited<ReturnType<typeof loadFer2013>> | undefined;
  it.each(['realfaces', 'fer2013'])(
    '%s predicts PublicTest faces as its card says (first 600 rows, single centre crop)',
    async (name) => {
      const card = models.find((m) => m.name === name)!;
      data ??= await loadFer2013(FER2013);
      const rows = usageIndices(data, 'PublicTest').slice(0, 600);
      const model = await loadPretrained(name);
      const pre = getPreprocessing(model)!;
      const faces = rows.map((r) => data!.images.subarray(r * 48 * 48, (r + 1) * 48 * 48));
      const x = facesToInput(faces, pre);
      const probs = predictProbabilities(model, x);
      const predicted = (await tf.argMax(probs, 1).data()) as Int32Array;
      tf.dispose([x, probs]);
      let correct = 0;
      rows.forEach((r, i) => {
        if (predicted[i] === data!.labels[r]) correct++;
      });
      // The card's full-split single-crop accuracy, within the sampling error of 600 faces (3 sigma).
      const expected = card.metrics.publicTestSingleCrop!;
      const sigma = Math.sqrt((expected * (1 - expected)) / rows.length);
      expect(Math.abs(correct / rows.length - expected)).toBeLessThan(3 * sigma);
      // Fixed faces: the first five happy PublicTest faces (the clearest class); at least four are right.
      const happy = rows.filter((r) => data!.labels[r] === 3).slice(0, 5);
      const happyRight = happy.filter((r) => predicted[rows.indexOf(r)] === 3).length;
      expect(happyRight).toBeGreaterThanOrEqual(4);
      model.dispose();
    },
    300_000,
  );
});

const CKPLUS = resolve(__dirname, '../../../shared/data/ckplus/CK+48');
describe.skipIf(!existsSync(CKPLUS))(
  'realfaces on the CK+ hold-out (39 subjects it never trained on)',
  () => {
    beforeAll(onWasm);
    afterAll(backToCpu);
    it("scores its card's figure, far above fer2013's on the same faces, angry and disgust included", async () => {
      const ck = await loadCkPlus(CKPLUS);
      const holdout = ckplusHoldout(ck);
      expect(holdout.count).toBe(309);
      const scores: Record<string, EvaluationResult> = {};
      for (const name of ['realfaces', 'fer2013']) {
        const model = await loadPretrained(name);
        const pre = getPreprocessing(model)!;
        scores[name] = await evaluate(model, holdout, {
          cropSize: pre.cropSize,
          normalization: pre.normalization,
        });
        model.dispose();
      }
      // The figure scripts/pack-pretrained.ts --holdout measured on wasm, to within one face on any backend.
      const card = models.find((m) => m.name === 'realfaces')!;
      expect(Math.abs(scores.realfaces!.accuracy - card.metrics.ckplusHoldout!)).toBeLessThanOrEqual(
        1 / 309 + 1e-9,
      );
      expect(scores.realfaces!.accuracy).toBeGreaterThan(scores.fer2013!.accuracy + 0.15);
      const recall = (r: EvaluationResult, c: string) => r.perClass.find((x) => x.name === c)!.recall;
      for (const c of ['angry', 'disgust'])
        expect(recall(scores.realfaces!, c)).toBeGreaterThan(recall(scores.fer2013!, c));
    }, 300_000);
  },
);
