/**
 * The bad-input corpus, part 3: command-line arguments and model files. Every case runs the CLI
 * in-process (`runCli`, what `fer-cbam` runs), and must exit non-zero with exactly one line on stderr
 * that names the argument or file, with no stack trace (unless `--verbose`).
 */
import { copyFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { BRIGHTNESS_PREPROCESSING, brightnessModel, cli, saveModel, squareFace, testFolder } from './helpers';

const { at } = testFolder('fer-cbam cli ünï 😀 ');
const PRE = BRIGHTNESS_PREPROCESSING;

let model = '';
beforeAll(async () => {
  await tf.setBackend('cpu');
  model = await saveModel(brightnessModel(16), at('model'), PRE);
  await squareFace(at('faces/dark/a.png'));
  await squareFace(at('faces/dark/b.png'));
  mkdirSync(at('empty_out'), { recursive: true });
  writeFileSync(at('a_file.txt'), 'x');
  // Model-file corruptions, each a copy of the good model with one thing wrong.
  const variant = (name: string) => {
    mkdirSync(at(name), { recursive: true });
    copyFileSync(at('model/model.json'), at(name, 'model.json'));
    copyFileSync(at('model/weights.bin'), at(name, 'weights.bin'));
    return at(name);
  };
  writeFileSync(join(variant('corrupt_json'), 'model.json'), '{"modelTopology": {"class_name": ');
  writeFileSync(join(variant('not_a_model'), 'model.json'), '{"hello": 1}');
  truncateSync(join(variant('truncated_weights'), 'weights.bin'), 4);
  const big = readFileSync(at('model/weights.bin'));
  writeFileSync(join(variant('trailing_bytes'), 'weights.bin'), Buffer.concat([big, Buffer.alloc(3)]));
  // Weights of another model: same layer names, the dense layer has 3 units instead of 2.
  const other = await saveModel(brightnessModel(16, 3), at('other3'), {
    ...PRE,
    classNames: ['a', 'b', 'c'],
  });
  const mismatched = variant('mismatched_shapes');
  const json = JSON.parse(readFileSync(at('model/model.json'), 'utf8'));
  json.weightsManifest = JSON.parse(readFileSync(join(other, 'model.json'), 'utf8')).weightsManifest;
  writeFileSync(join(mismatched, 'model.json'), JSON.stringify(json));
  copyFileSync(join(other, 'weights.bin'), join(mismatched, 'weights.bin'));
  copyFileSync(join(other, 'weights.bin'), join(variant('larger_weights'), 'weights.bin'));
  mkdirSync(at('json_is_dir/model.json'), { recursive: true });
  mkdirSync(at('no_model_json'), { recursive: true });
  await saveModel(brightnessModel(16), at('no_preprocessing'), null);
  await saveModel(brightnessModel(16, 3), at('three_no_preprocessing'), null);
  // A two-output model.
  const input = tfl.input({ shape: [16, 16, 1] });
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(input) as tfl.SymbolicTensor;
  const two = tfl.model({
    inputs: input,
    outputs: [
      tfl.layers.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor,
      tfl.layers.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor,
    ],
  });
  await saveModel(two, at('two_outputs'), PRE);
  mkdirSync(at('faces_bad/dark'), { recursive: true });
  writeFileSync(at('faces_bad/dark/notes.png'), 'plain text');
  writeFileSync(at('bad.csv'), 'emotion,pixels,Usage\n0,1 2 3,Training\n');
  // Issue 31: a picture for predict, a model with a NaN weight (file length kept) and a model whose
  // finite weights overflow to an infinite output.
  await squareFace(at('pic.png'));
  const nan = readFileSync(at('model/weights.bin'));
  nan.writeFloatLE(Number.NaN, 0);
  writeFileSync(join(variant('nan_weights'), 'weights.bin'), nan);
  const overflow = brightnessModel(16);
  const dense = overflow.layers.at(-1)!;
  dense.setWeights([tf.fill([1, 2], 3e38), tf.fill([2], 3e38)]);
  await saveModel(overflow, at('overflow'), PRE);
  writeFileSync(
    at('public_only.csv'),
    `emotion,pixels,Usage\n0,${Array(2304).fill(7).join(' ')},PublicTest\n`,
  );
}, 30_000);

interface Case {
  name: string;
  args: () => string[];
  /** What the one line must say (it must also name `names`). */
  says: RegExp;
  /** The argument, file or line the message must name. */
  names: () => string;
}

const train = (...args: string[]) => ['train', '--data', at('faces'), '--out', at('empty_out'), ...args];
const evalArgs = (...args: string[]) => ['eval', '--model', model, '--data', at('faces'), ...args];

const cases: Case[] = [
  // CLI arguments.
  {
    name: 'an unknown flag, with a suggestion',
    args: () => train('--epoch', '3'),
    says: /unknown option '--epoch' \(did you mean --epochs\?\); see fer-cbam train --help$/,
    names: () => '--epoch',
  },
  {
    name: '--epochs -1',
    args: () => train('--epochs', '-1'),
    says: /expected a positive integer, but got "-1"/,
    names: () => '--epochs',
  },
  {
    name: '--epochs 2.5',
    args: () => train('--epochs', '2.5'),
    says: /positive integer, but got "2\.5"/,
    names: () => '--epochs',
  },
  {
    name: '--lr abc',
    args: () => train('--lr', 'abc'),
    says: /expected a positive number, but got "abc"/,
    names: () => '--lr',
  },
  {
    name: '--lr -1',
    args: () => train('--lr', '-1'),
    says: /expected a positive number, but got "-1"/,
    names: () => '--lr',
  },
  {
    name: '--batch-size 0',
    args: () => train('--batch-size', '0'),
    says: /positive integer, but got "0"/,
    names: () => '--batch-size',
  },
  {
    name: '--crop 100 on 48x48 images (before any loading)',
    args: () => train('--crop', '100'),
    says: /expected at most the image size 48, but got 100/,
    names: () => '--crop',
  },
  {
    name: '--dataset foo',
    args: () => train('--dataset', 'foo'),
    says: /expected one of auto, fer2013, ferplus, ckplus, folder, but got "foo"/,
    names: () => '--dataset',
  },
  {
    name: '--schedule foo',
    args: () => train('--schedule', 'foo'),
    says: /expected one of .*, but got "foo"/,
    names: () => '--schedule',
  },
  {
    name: '--depth 11',
    args: () => train('--depth', '11'),
    says: /expected one of 10, 18, 34, 50, 101, 152, but got 11/,
    names: () => '--depth',
  },
  {
    name: '--placement sideways',
    args: () => train('--placement', 'sideways'),
    says: /but got "sideways"/,
    names: () => '--placement',
  },
  {
    name: '--arch resnet11w16-cbam (not a preset name)',
    args: () => train('--arch', 'resnet11w16-cbam'),
    says: /--arch: expected one of resnet10, .*, or resnet<depth>\[w<width>\]\[-<attention>\[-every\]\], but got "resnet11w16-cbam"/,
    names: () => '--arch',
  },
  {
    name: '--attention foo',
    args: () => train('--attention', 'foo'),
    says: /expected one of cbam, .*, but got "foo"/,
    names: () => '--attention',
  },
  {
    name: '--init with an architecture flag',
    args: () => train('--init', 'fer2013', '--width', '8'),
    says: /--init fer2013 brings its own architecture: drop --width/,
    names: () => '--init',
  },
  {
    // Issue 28: classes are matched by name now (new ones get a new classifier), so this is refused
    // only where nothing can be fine-tuned.
    name: '--head-epochs without --init',
    args: () => train('--head-epochs', '2'),
    says: /--head-epochs trains the classifier of an --init model first: give --init too/,
    names: () => '--head-epochs',
  },
  {
    name: '--threads with a backend that has no threads',
    args: () => ['--backend', 'cpu', '--threads', '2', ...train()],
    says: /--threads sets the wasm backend's threads; it does not apply to --backend cpu/,
    names: () => '--threads',
  },
  {
    name: '--threads 9',
    args: () => ['--threads', '9', ...train()],
    says: /--threads: expected 1 to 8, but got 9/,
    names: () => '--threads',
  },
  {
    name: '--workers -1',
    args: () => train('--workers', '-1'),
    says: /--workers: expected a non-negative integer, but got "-1"/,
    names: () => '--workers',
  },
  {
    name: '--limit 0',
    args: () => train('--limit', '0'),
    says: /positive integer, but got "0"/,
    names: () => '--limit',
  },
  {
    name: '--data that does not exist',
    args: () => ['train', '--data', at('missing.csv'), '--out', at('empty_out')],
    says: /no such file or directory/,
    names: () => at('missing.csv'),
  },
  {
    name: '--validation that does not exist',
    args: () => train('--validation', at('no val')),
    says: /--validation: no such file or directory/,
    names: () => at('no val'),
  },
  {
    name: '--out that is a file',
    args: () => ['train', '--data', at('faces'), '--out', at('a_file.txt')],
    says: /--out: expected a directory, but ".*" is a file/,
    names: () => at('a_file.txt'),
  },
  {
    name: '--resume with --overwrite',
    args: () => train('--resume', '--overwrite'),
    says: /contradict/,
    names: () => '--overwrite',
  },
  {
    name: 'a required option missing',
    args: () => ['train', '--out', at('empty_out')],
    says: /required option '--data <path>' not specified/,
    names: () => '--data',
  },
  {
    name: 'demo --max-seconds -5',
    args: () => ['demo', '--max-seconds', '-5'],
    says: /expected a positive number, but got "-5"/,
    names: () => '--max-seconds',
  },
  {
    name: 'demo --out that is a file',
    args: () => ['demo', '--out', at('a_file.txt')],
    says: /--out: expected a directory, but ".*" is a file/,
    names: () => at('a_file.txt'),
  },
  {
    name: 'demo --max-seconds 0',
    args: () => ['demo', '--max-seconds', '0'],
    says: /expected a positive number, but got "0"/,
    names: () => '--max-seconds',
  },
  {
    name: 'eval --split Foo',
    args: () => evalArgs('--split', 'Foo'),
    says: /expected one of PublicTest, PrivateTest, Training, but got "Foo"/,
    names: () => '--split',
  },
  {
    name: 'eval --normalization 0.5',
    args: () => evalArgs('--normalization', '0.5'),
    says: /expected <mean>,<std> with std > 0/,
    names: () => '--normalization',
  },
  {
    name: 'eval --class-map nonsense',
    args: () => evalArgs('--class-map', 'dark'),
    says: /entries of the form data=model/,
    names: () => '--class-map',
  },
  {
    name: 'eval --png in a folder that does not exist (before the evaluation)',
    args: () => evalArgs('--png', at('missing dir/cm.png')),
    says: /the folder of ".*cm\.png" does not exist/,
    names: () => '--png',
  },
  {
    name: 'eval --json naming a directory',
    args: () => evalArgs('--json', at('faces')),
    says: /expected a file name, but ".*" is a directory/,
    names: () => '--json',
  },
  {
    name: 'eval --dataset ferplus without --ferplus-votes',
    args: () => ['eval', '--model', model, '--data', at('bad.csv'), '--dataset', 'ferplus'],
    says: /--dataset ferplus needs --ferplus-votes/,
    names: () => '--ferplus-votes',
  },
  {
    name: 'eval --ferplus-votes that does not exist',
    args: () => [
      'eval',
      '--model',
      model,
      '--data',
      at('bad.csv'),
      '--ferplus-votes',
      at('votes missing.csv'),
    ],
    says: /--ferplus-votes: no such file or directory/,
    names: () => at('votes missing.csv'),
  },
  // Model files.
  {
    name: '--model that does not exist',
    args: () => ['eval', '--model', at('nope'), '--data', at('faces')],
    says: /--model: no such file or directory/,
    names: () => at('nope'),
  },
  {
    name: '--model: a directory without model.json',
    args: () => ['eval', '--model', at('no_model_json'), '--data', at('faces')],
    says: /is a directory without a model\.json/,
    names: () => at('no_model_json'),
  },
  {
    name: '--model: model.json is a directory',
    args: () => ['eval', '--model', at('json_is_dir'), '--data', at('faces')],
    says: /expected a file, but ".*" is a directory/,
    names: () => at('json_is_dir/model.json'),
  },
  {
    name: 'a corrupt model.json',
    args: () => ['eval', '--model', at('corrupt_json'), '--data', at('faces')],
    says: /is not valid JSON/,
    names: () => at('corrupt_json/model.json'),
  },
  {
    name: 'a JSON file that is not a model',
    args: () => ['eval', '--model', at('not_a_model/model.json'), '--data', at('faces')],
    says: /is not a tfjs model\.json/,
    names: () => at('not_a_model/model.json'),
  },
  {
    name: 'a truncated weights.bin',
    args: () => ['eval', '--model', at('truncated_weights'), '--data', at('faces')],
    says: /is truncated: it holds 4 bytes, but model\.json describes 16 bytes \(2 weights/,
    names: () => at('truncated_weights/weights.bin'),
  },
  {
    name: 'a weights.bin with trailing bytes',
    args: () => ['eval', '--model', at('trailing_bytes'), '--data', at('faces')],
    says: /holds 19 bytes, 3 more than the 16 bytes .*trailing bytes, or the weights of another model/,
    names: () => at('trailing_bytes/weights.bin'),
  },
  {
    name: 'a larger weights.bin of another model',
    args: () => ['eval', '--model', at('larger_weights'), '--data', at('faces')],
    says: /holds 24 bytes, 8 more than the 16 bytes/,
    names: () => at('larger_weights/weights.bin'),
  },
  {
    name: 'weights whose shapes do not match the layers',
    args: () => ['eval', '--model', at('mismatched_shapes'), '--data', at('faces')],
    says: /do not fit its layers/,
    names: () => at('mismatched_shapes/model.json'),
  },
  {
    name: 'a model with two outputs',
    args: () => ['eval', '--model', at('two_outputs'), '--data', at('faces')],
    says: /has 2 outputs; fer-cbam needs a classifier with one output/,
    names: () => at('two_outputs/model.json'),
  },
  {
    name: 'a model without stored preprocessing (no silent default)',
    args: () => ['eval', '--model', at('no_preprocessing'), '--data', at('faces')],
    says: /stores no preprocessing .* setPreprocessing\(model, .* --image-size <n> and --normalization <mean>,<std>/,
    names: () => at('no_preprocessing/model.json'),
  },
  {
    name: 'a model without preprocessing and only --image-size',
    args: () => ['eval', '--model', at('no_preprocessing'), '--data', at('faces'), '--image-size', '16'],
    says: /\(missing: --normalization <mean>,<std>\)/,
    names: () => at('no_preprocessing/model.json'),
  },
  {
    name: 'a 3-class model without class names',
    args: () => [
      'eval',
      '--model',
      at('three_no_preprocessing'),
      '--data',
      at('faces'),
      '--image-size',
      '16',
      '--normalization',
      '0,1',
    ],
    says: /stores no class names and has 3 outputs .* --class-names/,
    names: () => at('three_no_preprocessing/model.json'),
  },
  // Data seen through the CLI.
  {
    name: 'eval on a folder with a text file named .png',
    args: () => ['eval', '--model', model, '--data', at('faces_bad')],
    says: /cannot decode the image \(not an image/,
    names: () => at('faces_bad/dark/notes.png'),
  },
  {
    name: 'eval on a CSV with a bad row',
    args: () => ['eval', '--model', model, '--data', at('bad.csv')],
    says: /line 2: expected `pixels` to be 2304 integers/,
    names: () => at('bad.csv'),
  },
  {
    name: 'eval with data classes the model does not have',
    args: () => ['eval', '--model', at('other3'), '--data', at('faces')],
    says: /the data's classes \["dark"\] are not classes of the model \(a, b, c\).*--class-map dark=<model class>/,
    names: () => '--class-map',
  },
  {
    name: 'train on a FER2013 file without Training rows',
    args: () => ['train', '--data', at('public_only.csv'), '--out', at('empty_out'), '--epochs', '1'],
    says: /holds no training images \(no rows with Usage Training\)/,
    names: () => at('public_only.csv'),
  },
  // Issue 31: advice, outputs and models of predict, attention and train.
  {
    name: '--arch resnet10w64 (the default width spelled out)',
    args: () => train('--arch', 'resnet10w64'),
    says: /--arch: expected "resnet10" \(64 is the default width, so a network of width 64 is named without "w64"\), but got "resnet10w64"/,
    names: () => '--arch',
  },
  {
    name: '--model FER2013 (a pretrained name in capitals)',
    args: () => ['predict', '--model', 'FER2013', at('pic.png')],
    says: /--model: no such file or directory: "FER2013"; the pretrained model is named "fer2013" \(lower case\)/,
    names: () => 'FER2013',
  },
  {
    name: '--model naming nothing lists the pretrained names',
    args: () => ['eval', '--model', at('no such model'), '--data', at('faces')],
    says: /no such file or directory: .*; give a saved model's directory or a pretrained name: realfaces, fer2013, ferplus, ckplus/,
    names: () => at('no such model'),
  },
  {
    name: 'attention --scale 0 (parsed before any work)',
    args: () => ['attention', '--model', model, at('pic.png'), '--scale', '0', '--out', at('att_out')],
    says: /--scale: expected a positive integer, but got "0"/,
    names: () => '--scale',
  },
  {
    name: 'predict --annotate over its own input',
    args: () => ['predict', '--model', model, at('pic.png'), '--detect', 'off', '--annotate', at('pic.png')],
    says: /--annotate: ".*" is one of the input pictures; writing there would replace it: give another file name or folder/,
    names: () => at('pic.png'),
  },
  {
    name: 'predict --annotate over an input spelled another way',
    args: () => [
      'predict',
      '--model',
      model,
      at('faces/dark/a.png'),
      '--detect',
      'off',
      '--annotate',
      at('faces/dark/../dark/a.png'),
    ],
    says: /is one of the input pictures; writing there would replace it/,
    names: () => '--annotate',
  },
  {
    name: 'predict --annotate one file for two pictures',
    args: () => [
      'predict',
      '--model',
      model,
      at('pic.png'),
      at('faces/dark/a.png'),
      '--annotate',
      at('o.png'),
    ],
    says: /names one file, but there are 2 pictures; give a folder instead \(it gets <name>_annotated\.png per picture\)/,
    names: () => at('o.png'),
  },
  {
    name: 'predict --annotate into a folder that does not exist (before the work)',
    args: () => ['predict', '--model', model, at('pic.png'), '--annotate', at('nodir/sub/out.png')],
    says: /--annotate: the folder of ".*out\.png" does not exist/,
    names: () => at('nodir/sub'),
  },
  {
    name: 'predict --annotate folder that is an existing file',
    args: () => ['predict', '--model', model, at('pic.png'), '--annotate', at('a_file.txt')],
    says: /--annotate: expected a directory, but ".*" is a file/,
    names: () => at('a_file.txt'),
  },
  {
    name: 'predict --annotate in a format it does not write',
    args: () => ['predict', '--model', model, at('pic.png'), '--annotate', at('out.gif')],
    says: /names a \.gif file, but annotated pictures are written as \.png, \.jpg or \.webp; name it so, or give a folder/,
    names: () => at('out.gif'),
  },
  {
    name: 'predict --heatmap that is a file',
    args: () => ['predict', '--model', model, at('pic.png'), '--heatmap', at('a_file.txt')],
    says: /--heatmap: expected a directory, but ".*" is a file/,
    names: () => at('a_file.txt'),
  },
  {
    name: 'attention --out that is a file',
    args: () => ['attention', '--model', model, at('pic.png'), '--out', at('a_file.txt')],
    says: /--out: expected a directory, but ".*" is a file/,
    names: () => at('a_file.txt'),
  },
  {
    name: 'eval with a model whose weights hold NaN (file length kept)',
    args: () => ['eval', '--model', at('nan_weights'), '--data', at('faces')],
    says: /holds 1 NaN or infinite values \(of 2\), so every prediction would be NaN: .*use an intact copy/,
    names: () => at('nan_weights/model.json'),
  },
  {
    name: 'predict with a model whose weights hold NaN',
    args: () => ['predict', '--model', at('nan_weights'), at('pic.png'), '--detect', 'off'],
    says: /holds 1 NaN or infinite values/,
    names: () => at('nan_weights/model.json'),
  },
  {
    name: 'predict with a model whose output is not finite',
    args: () => ['predict', '--model', at('overflow'), at('pic.png'), '--detect', 'off'],
    says: /--model ".*": classifyFaceCrops: the output of the model ".*" is not finite \(NaN for input 1\).*check the model file/,
    names: () => at('overflow'),
  },
  {
    name: 'eval with a model whose output is not finite (no accuracy from NaN scores)',
    args: () => ['eval', '--model', at('overflow'), '--data', at('faces')],
    says: /--model ".*": evaluate: the output of the model ".*" is not finite \(NaN for images 1-2\)/,
    names: () => at('overflow'),
  },
  {
    name: 'train --init a model without preprocessing: advice without flags train lacks',
    args: () => train('--init', at('no_preprocessing')),
    says: /stores no preprocessing .* store it with setPreprocessing\(model, \{ imageSize, cropSize, normalization, classNames \}\) from fer-cbam before saving\.$/,
    names: () => at('no_preprocessing/model.json'),
  },
  {
    name: 'predict with a model without preprocessing: the flags it names exist',
    args: () => ['predict', '--model', at('no_preprocessing'), at('pic.png'), '--image-size', '16'],
    says: /\(missing: --normalization <mean>,<std>\)/,
    names: () => at('no_preprocessing/model.json'),
  },
];

describe('bad input corpus: CLI arguments and model files', () => {
  it('has at least 60 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const { status, err } = await cli(...c.args());
    expect(status).toBe(1);
    const lines = err.split('\n').filter((l) => l.length > 0);
    const errorLines = lines.filter((l) => l.startsWith('fer-cbam: '));
    expect(errorLines, err).toHaveLength(1);
    expect(lines.at(-1)).toBe(errorLines[0]);
    expect(err).not.toMatch(/\n\s+at /); // no stack trace
    expect(errorLines[0]).toContain(c.names());
    expect(errorLines[0]).toMatch(c.says);
  });

  it('--verbose adds the stack trace', async () => {
    const { status, err } = await cli('--verbose', 'eval', '--model', model, '--data', at('bad.csv'));
    expect(status).toBe(1);
    expect(err).toMatch(/(^|\n)fer-cbam: .*bad\.csv line 2: /);
    expect(err).toMatch(/\n\s+at /);
  });
});
