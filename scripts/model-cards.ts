/**
 * Writes docs/models.md, the model cards of the shipped pretrained models, from the catalog
 * (src/pretrained/catalog.ts: commands, descriptions) and the measurements scripts/pack-pretrained.ts
 * wrote to docs/models/<name>.json, so the card never disagrees with what was measured.
 *
 *   npx tsx scripts/model-cards.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { DEFAULT_PRETRAINED, PRETRAINED_MODELS } from '../src/pretrained/catalog';

interface ClassRow {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}
interface Scores {
  accuracy: number;
  meanClassAccuracy: number;
  macroF1: number;
  perClass: ClassRow[];
}
interface Measured {
  parameters: number;
  weightBytes: number;
  preprocessing: { imageSize: number; cropSize: number; normalization: { mean: number; std: number } };
  publicTest?: {
    count: number;
    float32: { singleCrop: Scores; tenCrop: Scores };
    float16: { singleCrop: Scores; tenCrop: Scores };
  };
  float16MaxLogitDifference?: number;
  crossValidation?: {
    accuracies: number[];
    mean: number;
    std: number;
    seconds: number;
    args: Record<string, unknown>;
  };
  log?: { epoch: number; seconds?: number; valAccuracy?: number; imagesPerSec?: number }[];
  ckplusHoldout?: {
    what: string;
    faces: number;
    subjects: number;
    shipped: HoldoutScore;
    fer2013: HoldoutScore;
  };
  facesPerSecondWasmNode: { batch1: number; batch32: number };
  facesPerSecondChromium?: {
    browser: string;
    backend: string;
    facesPerSecBatch1: number;
    facesPerSecBatch32: number;
  };
}

interface HoldoutScore {
  accuracy: number;
  meanClassAccuracy: number;
  recall: Record<string, number>;
  support: Record<string, number>;
}

interface Calibration {
  temperature: number;
  fittedOn: string;
  ece: {
    publicTest: { before: number; after: number };
    publicTestHalves?: { before: number; after: number; crossFittedAllFaces?: number };
    noiseFloor?: { allFaces: number; halfFaces: number };
    ckplusHoldout: { faces: number; before: number; after: number };
  };
}
const calibration = (
  existsSync('docs/models/calibration.json')
    ? JSON.parse(readFileSync('docs/models/calibration.json', 'utf8'))
    : {}
) as Record<string, Calibration>;

const DATA_NAMES: Record<string, string> = {
  realfaces: 'FER2013 Training + CK+48 faces of 79 subjects',
  fer2013: 'FER2013 Training',
  ferplus: 'FER+ majority labels of FER2013 Training',
  ckplus: 'CK+48, all 981 faces',
};
const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
/** How an ECE compares with the floor a perfectly calibrated model shows on as many faces. */
const aboveFloor = (ece: number, floor: number) =>
  ece > floor
    ? `${(100 * (ece - floor)).toFixed(1)} points above what a perfectly calibrated model would show on that many faces`
    : `within what a perfectly calibrated model would show on that many faces (${(100 * (floor - ece)).toFixed(1)} points below it)`;
const out: string[] = [];
out.push(`# Pretrained models

fer-cbam ships expression models trained with its own \`train()\` on a 2-core CPU (no GPU). Load them by
name; in Node the weights come from the installed package, offline:

\`\`\`ts
import '@tensorflow/tfjs-backend-wasm'; // or any backend
import { facesToInput, getPreprocessing, listPretrained, loadPretrained, predictProbabilities } from 'fer-cbam';

const model = await loadPretrained('${DEFAULT_PRETRAINED}'); // a tf.LayersModel; its preprocessing and class names travel with it
const pre = getPreprocessing(model)!;           // { imageSize: 48, cropSize: 44, normalization, classNames }
const probs = predictProbabilities(model, facesToInput([face48x48], pre));
console.log(listPretrained().map((m) => m.name)); // [ ${PRETRAINED_MODELS.map((m) => `'${m.name}'`).join(', ')} ]
\`\`\`

On the command line \`fer-cbam predict face.png\` uses \`${DEFAULT_PRETRAINED}\` (the default model) when \`--model\` is omitted, and
\`--model ferplus\` picks another one by name (\`predict\`, \`attention\` and \`eval\` alike).

**In a browser** the application serves the files. With Vite, copy the package's \`models/\` folder into
\`public/\` (for example \`"predev": "cp -r node_modules/fer-cbam/models public/"\` in package.json), then

\`\`\`ts
const model = await loadPretrained('${DEFAULT_PRETRAINED}', { url: '/models/${DEFAULT_PRETRAINED}/model.json' });
\`\`\`

The files are standard TensorFlow.js layers models (float16 weights, which tfjs expands on load), so
\`tf.loadLayersModel(url)\` works too, after \`import 'fer-cbam'\` registers the custom layers.

| name | classes | data | accuracy | parameters | weights |
| --- | --- | --- | --- | --- | --- |`);
const sections: string[] = [];
for (const card of PRETRAINED_MODELS) {
  const file = `docs/models/${card.name}.json`;
  if (!existsSync(file))
    throw new Error(`${file} is missing: run scripts/pack-pretrained.ts --name ${card.name}`);
  const m = JSON.parse(readFileSync(file, 'utf8')) as Measured;
  const headline = m.publicTest
    ? `${pct(m.publicTest.float16.tenCrop.accuracy)} PublicTest ten-crop`
    : `${pct(m.crossValidation!.mean)} ± ${(100 * m.crossValidation!.std).toFixed(2)} (10-fold, subject-independent)`;
  out.push(
    `| [\`${card.name}\`](#${card.name}) | ${card.classNames.length} | ${DATA_NAMES[card.name]} | ${headline} | ${m.parameters.toLocaleString('en-US')} | ${(m.weightBytes / 1024).toFixed(0)} KiB |`,
  );
  const s: string[] = [];
  const notes = `docs/models/${card.name}-notes.md`;
  s.push(`## ${card.name}`, '', card.description, '');
  s.push(`- **Network**: \`${card.architecture}\`, ${m.parameters.toLocaleString('en-US')} parameters.`);
  s.push(`- **Classes** (output order): ${card.classNames.map((c) => `\`${c}\``).join(', ')}.`);
  s.push(`- **Data**: ${card.data}`);
  s.push(
    `- **Input**: ${m.preprocessing.imageSize}x${m.preprocessing.imageSize} grayscale face, centre ${m.preprocessing.cropSize}x${m.preprocessing.cropSize} crop, pixels / 255 then (x - ${m.preprocessing.normalization.mean.toFixed(4)}) / ${m.preprocessing.normalization.std.toFixed(4)}.`,
  );
  s.push(`- **Trained with**: \`${card.command}\``);
  if (m.log?.length) {
    const seconds = m.log.reduce((t, r) => t + (r.seconds ?? 0), 0);
    const ips = m.log.reduce((t, r) => t + (r.imagesPerSec ?? 0), 0) / m.log.length;
    s.push(
      `- **Wall time**: ${(seconds / 60).toFixed(0)} min of training over ${m.log.length} epochs (${ips.toFixed(0)} images/s on average) on a 2-core x86-64 VM, Node 20, the wasm backend (threads as in the command), while other work shared the machine.`,
    );
  }
  if (m.crossValidation) {
    const cv = m.crossValidation;
    s.push(
      `- **Cross-validation**: ${cv.accuracies.length} subject-independent folds (\`subjectKFold\`), scored with ten-crop averaging after the last epoch (a fixed epoch, never the per-fold best): ${cv.accuracies.map((a) => (100 * a).toFixed(1)).join(', ')} %; **mean ${pct(cv.mean)} ± ${(100 * cv.std).toFixed(2)}** (std over folds); ${(cv.seconds / 60).toFixed(0)} min in all. The shipped model is the same recipe on all images.`,
    );
  }
  s.push(
    `- **Size**: ${m.weightBytes.toLocaleString('en-US')} bytes of float16 weights.${m.float16MaxLogitDifference === undefined ? '' : ` Float16 storage changes logits by at most ${m.float16MaxLogitDifference.toExponential(1)} on random inputs.`}`,
  );
  const node = m.facesPerSecondWasmNode;
  const chromium = m.facesPerSecondChromium;
  s.push(
    `- **Speed** (classification of prepared crops, measured with no training running): in Node on wasm ${node.batch1.toFixed(0)} faces/s at batch 1 and ${node.batch32.toFixed(0)} at batch 32 (\`scripts/pack-pretrained.ts\`)${chromium ? `; in headless ${chromium.browser} on ${chromium.backend} (one thread: the page is not cross-origin isolated) ${chromium.facesPerSecBatch1.toFixed(0)} at batch 1 and ${chromium.facesPerSecBatch32.toFixed(0)} at batch 32 (\`npx tsx bench/browser_expressions.ts --json docs/models/${card.name}.json\`)` : ''}. Side by side with face-api: the table at the top.`,
  );
  if (m.publicTest) {
    const p = m.publicTest;
    s.push('', `### Accuracy on PublicTest (${p.count} images, the validation split used for selection)`, '');
    s.push(
      '| weights | single crop | ten-crop | ten-crop mean class accuracy | ten-crop macro F1 |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const k of ['float32', 'float16'] as const) {
      s.push(
        `| ${k}${k === 'float16' ? ' (shipped)' : ''} | ${pct(p[k].singleCrop.accuracy)} | ${pct(p[k].tenCrop.accuracy)} | ${pct(p[k].tenCrop.meanClassAccuracy)} | ${p[k].tenCrop.macroF1.toFixed(3)} |`,
      );
    }
    s.push(
      '',
      'Per class (shipped weights, ten-crop):',
      '',
      '| class | precision | recall | F1 | images |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const c of p.float16.tenCrop.perClass) {
      s.push(
        `| ${c.name} | ${c.precision.toFixed(3)} | ${c.recall.toFixed(3)} | ${c.f1.toFixed(3)} | ${c.support} |`,
      );
    }
    s.push('', `![confusion matrix of ${card.name}](models/${card.name}-confusion.png)`);
  }
  if (m.log?.length) s.push('', `![training curve of ${card.name}](models/${card.name}-curve.png)`);
  if (m.ckplusHoldout) {
    const h = m.ckplusHoldout;
    const classes = Object.keys(h.shipped.recall);
    s.push(
      '',
      `### Across datasets: the CK+ hold-out (${h.faces} faces of ${h.subjects} subjects, never trained on)`,
      '',
      `Posed studio faces of the CK+ subjects left out of training (${h.what}), next to the 0.1.0 default \`fer2013\` on the same faces (\`npx tsx scripts/pack-pretrained.ts ... --holdout\`). Recall per class:`,
      '',
      `| model | accuracy | mean class accuracy | ${classes.join(' | ')} |`,
      `| --- | --- | --- | ${classes.map(() => '---').join(' | ')} |`,
      ...(
        [
          [`${card.name} (shipped)`, h.shipped],
          ['fer2013 (0.1.0 default)', h.fer2013],
        ] as const
      ).map(
        ([n, r]) =>
          `| ${n} | ${pct(r.accuracy)} | ${pct(r.meanClassAccuracy)} | ${classes.map((c) => `${(100 * r.recall[c]!).toFixed(0)} %`).join(' | ')} |`,
      ),
      `| faces | ${h.faces} | | ${classes.map((c) => h.shipped.support[c]).join(' | ')} |`,
    );
  }
  const cal = calibration[card.name];
  s.push('', '### Calibration', '');
  if (cal) {
    s.push(
      `A temperature fitted on ${cal.fittedOn}, never on test data: **T = ${cal.temperature.toFixed(3)}**${Math.abs(cal.temperature - 1) < 0.02 ? ', so close to 1 that none is stored: the raw probabilities are already calibrated there' : ', stored in the model and applied by `predictProbabilities`, `recognizeExpressions` and the CLI (`{ calibrated: false }` gives the raw softmax)'}. Expected calibration error (15 bins, single centre crop; \`npx tsx scripts/calibrate.ts --models ${card.name}\`):`,
      '',
      '| faces | raw | calibrated |',
      '| --- | --- | --- |',
      `| PublicTest, the faces the temperature was fitted on | ${pct(cal.ece.publicTest.before)} | ${pct(cal.ece.publicTest.after)} |`,
    );
    const halves = cal.ece.publicTestHalves;
    if (halves) {
      s.push(
        `| PublicTest, fitted on one half and measured on the other (both ways, mean) | ${pct(halves.before)} | ${pct(halves.after)} |`,
      );
      if (halves.crossFittedAllFaces !== undefined) {
        s.push(
          `| PublicTest, cross-fitted: every face scaled by the temperature of the half it is not in, one ECE over all faces | ${pct(cal.ece.publicTest.before)} | ${pct(halves.crossFittedAllFaces)} |`,
        );
      }
    }
    const floor = cal.ece.noiseFloor;
    s.push(
      `| CK+ hold-out (${cal.ece.ckplusHoldout.faces} posed studio faces of 39 subjects) | ${pct(cal.ece.ckplusHoldout.before)} | ${pct(cal.ece.ckplusHoldout.after)} |`,
      '',
      ...(floor
        ? [
            `An ECE measured on a few thousand faces is not zero even for a perfect model: with labels drawn from these calibrated probabilities themselves it comes out at ${pct(floor.allFaces)} on all of PublicTest and ${pct(floor.halfFaces)} on half of it, so the held-out figure above is ${aboveFloor(halves!.after, floor.halfFaces)}${halves!.crossFittedAllFaces === undefined ? '' : `, and the cross-fitted one ${aboveFloor(halves!.crossFittedAllFaces, floor.allFaces)}`}.`,
            '',
          ]
        : []),
      'A temperature learnt on FER2013 does not carry over to posed studio photos (the CK+ row): calibrate on faces like your own when the probabilities matter.',
      '',
      `![reliability diagram of ${card.name}](models/${card.name}-reliability.png)`,
    );
  } else {
    s.push(
      'Not calibrated: it was trained on every CK+ face, so no faces with its classes are left to fit a temperature on.',
    );
  }
  // A card's hand-written part (its recipe, the levers and their measured effects, its own limits).
  if (existsSync(notes)) s.push('', readFileSync(notes, 'utf8').trimEnd(), '');
  else
    s.push(
      '',
      '**Known limits.** Trained on tight 48x48 grayscale face crops: give it aligned crops (the face',
      'pipeline in [faces](faces.md) makes them from photos). FER2013 was collected by image search and',
      'labelled once per image: its labels are noisy (FER+ relabelling agrees with them on about 62 %), the',
      'classes are imbalanced (disgust has 436 training images), and its faces skew towards young, adult,',
      'light-skinned people, so accuracy on other groups is likely lower and has not been measured.',
      'The PrivateTest split, on which published FER2013 results are reported, is not in our data and was',
      'never used; PublicTest numbers here were also used to choose the epoch, so they are optimistic by a',
      'little. Do not use expression recognition to judge people (hiring, policing, health).',
      '',
    );
  sections.push(s.join('\n'));
}
const benchFile = 'docs/models/expressions-bench.json';
if (existsSync(benchFile)) {
  const b = JSON.parse(readFileSync(benchFile, 'utf8')) as {
    args: { count: string; threads: string };
    result: Record<string, { accuracy: number; facesPerSecBatch1: number; facesPerSecBatch32: number }>;
  };
  out.push(
    '',
    `Side by side with face-api's FaceExpressionNet (\`@vladmandic/face-api\`, the model JavaScript users run today), on the same first ${b.args.count} FER2013 PublicTest faces, one pass each, wasm backend in Node with ${b.args.threads} threads, in one run (\`npx tsx bench/expressions.ts --count ${b.args.count} --threads ${b.args.threads}\`):`,
    '',
    '| model | accuracy | faces/s, batch 1 | faces/s, batch 32 |',
    '| --- | --- | --- | --- |',
    ...Object.entries(b.result).map(
      ([n, r]) =>
        `| ${n} | ${pct(r.accuracy)} | ${r.facesPerSecBatch1.toFixed(0)} | ${r.facesPerSecBatch32.toFixed(0)} |`,
    ),
    '',
    "face-api's training data is not documented; it may include FER2013 images, so its number here is not a held-out score.",
    '',
    "Both run on the same backend set-up: with 2 threads XNNPACK's pool takes one and fer-cbam's native kernels the other (`xnnpackThreads: 'auto'`). face-api's model runs on XNNPACK only, so it gets one thread here; with `xnnpackThreads: 2` (XNNPACK on both threads, as before 2026-12-02) it measured 177 faces/s at batch 1 and 266 at batch 32.",
  );
}
const reproFile = 'docs/models/reproduction.json';
if (existsSync(reproFile)) {
  const r = JSON.parse(readFileSync(reproFile, 'utf8')) as {
    date: string;
    machine: string;
    runs: {
      model: string;
      what: string;
      command: string;
      shipped: Record<string, number>;
      rerun: Record<string, number>;
      note: string;
    }[];
  };
  const show = (v: Record<string, number>) =>
    Object.entries(v)
      .map(([k, x]) => `${k} ${pct(x)}`)
      .join(', ');
  out.push(
    '',
    `Reproduction (${r.date}; ${r.machine}): each card's command run again and compared with the shipped model.`,
    '',
    '| model | what was re-run | shipped | re-run | note |',
    '| --- | --- | --- | --- | --- |',
    ...r.runs.map(
      (x) =>
        `| ${x.model} | ${x.what}: \`${x.command}\` | ${show(x.shipped)} | ${show(x.rerun)} | ${x.note} |`,
    ),
  );
}
// The section on the model in training is written by hand (it changes with each session of the
// campaign); it goes between the table and the cards.
const campaign = 'docs/models/realfaces-campaign.md';
if (existsSync(campaign)) out.push('', readFileSync(campaign, 'utf8').trimEnd());
out.push('', ...sections);
await writeFile('docs/models.md', `${out.join('\n')}\n`);
console.log('wrote docs/models.md');
