import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { FaceDataset, Fer2013Usage } from '../../data/dataset';
import { parseClassMap, remapClasses } from '../../data/remap';
import { subsetDataset, usageIndices } from '../../data/stats';
import { NonFiniteModelError } from '../../models/finite';
import { DEFAULT_PRETRAINED } from '../../pretrained/catalog';
import { confusionMatrixPng } from '../../train/confusion_png';
import { evaluate } from '../../train/evaluate';
import { formatClassificationReport, formatConfusionMatrix } from '../../train/metrics';
import {
  addPreprocessingOptions,
  CliError,
  checkDatasetKind,
  checkInputFile,
  checkOutputFile,
  DATASET_KINDS,
  intOption,
  loadDataset,
  loadModel,
  MODEL_OPTION_HELP,
  nonNegativeIntOption,
  preprocessingOverrides,
  selectBackend,
} from '../common';
import { startProgress } from '../progress';

// FER2013_USAGES in the order `--help` shows them: the held-out splits first.
const SPLITS: readonly Fer2013Usage[] = ['PublicTest', 'PrivateTest', 'Training'];

/** Registers `fer-cbam eval`. */
export function registerEval(program: Command): void {
  const command = program
    .command('eval')
    .description('evaluate a saved model: accuracy, per-class precision/recall/F1, confusion matrix')
    .option('--model <dir|name>', MODEL_OPTION_HELP)
    .requiredOption('--data <path>', 'fer2013.csv(.gz), a CK+ folder or an image folder')
    .option('--dataset <kind>', `dataset kind: ${DATASET_KINDS.join(' | ')}`, 'auto')
    .option('--ferplus-votes <csv>', 'FER+ votes (fer2013new.csv): score against FER+ labels')
    .option('--ferplus-mode <mode>', 'FER+ labels: majority | probability', 'majority')
    .option('--split <usage>', 'FER2013 rows to use: PublicTest | PrivateTest | Training', 'PublicTest')
    .option(
      '--class-map <list>',
      'data class = model class pairs for names that differ, e.g. anger=angry,sadness=sad,contempt=- (- leaves a class out); classes are otherwise matched by name',
    )
    .option('--limit <n>', 'evaluate only the first N images', intOption('--limit'))
    .option('--no-ten-crop', 'single centre crop instead of ten-crop averaging')
    .option(
      '--workers <n>',
      'worker threads that each classify part of every batch (one wasm thread each): on N cores, --threads 1 --workers N-1',
      nonNegativeIntOption('--workers'),
      0,
    )
    .option('--png <file>', 'also write the confusion matrix as a PNG')
    .option('--json <file>', 'also write the metrics as JSON');
  addPreprocessingOptions(command).action(async (opts, cmd: Command) => {
    const all = cmd.optsWithGlobals();
    // Every option and path is checked before the (possibly long) evaluation starts.
    const kind = checkDatasetKind(opts.dataset);
    const split = opts.split as Fer2013Usage;
    if (!SPLITS.includes(split)) {
      throw new CliError(`--split: expected one of ${SPLITS.join(', ')}, but got "${opts.split}".`);
    }
    if (opts.ferplusMode !== 'majority' && opts.ferplusMode !== 'probability') {
      throw new CliError(
        `--ferplus-mode: expected one of majority, probability, but got "${opts.ferplusMode}".`,
      );
    }
    let classMap: Record<string, string | null> = {};
    if (opts.classMap !== undefined) {
      try {
        classMap = parseClassMap(opts.classMap, '--class-map');
      } catch (error) {
        throw new CliError(`--class-map: ${(error as Error).message.replace(/^parseClassMap: /, '')}`);
      }
    }
    checkInputFile(opts.data, '--data', { directoryOk: true });
    if (opts.ferplusVotes !== undefined) checkInputFile(opts.ferplusVotes, '--ferplus-votes');
    if (opts.png !== undefined) checkOutputFile(opts.png, '--png');
    if (opts.json !== undefined) checkOutputFile(opts.json, '--json');

    await selectBackend(all);
    const { model, preprocessing } = await loadModel(opts.model, preprocessingOverrides(opts));
    // Images at the model's own size (its stored imageSize), labels in the model's class order.
    let data: FaceDataset = await loadDataset(opts.data, kind, {
      ferPlusVotes: opts.ferplusVotes,
      ferPlusMode: opts.ferplusMode,
      size: preprocessing.imageSize,
    });
    if (data.usages) {
      const indices = usageIndices(data, split);
      if (indices.length === 0) throw new CliError(`--split: "${opts.data}" has no ${split} rows.`);
      data = subsetDataset(data, indices);
    }
    try {
      data = remapClasses(data, preprocessing.classNames, classMap, 'eval');
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    if (opts.limit !== undefined && data.count > opts.limit) {
      data = subsetDataset(
        data,
        Array.from({ length: opts.limit }, (_, i) => i),
      );
    }
    if (data.count === 0) throw new CliError(`--data: "${opts.data}" holds no images to evaluate.`);
    const bar = startProgress('eval', data.count);
    const report = await evaluate(model, data, {
      tenCrop: opts.tenCrop,
      cropSize: preprocessing.cropSize,
      normalization: preprocessing.normalization,
      workers: opts.workers,
      onProgress: (done) => bar.update(done),
    })
      .catch((error: unknown) => {
        // A model that outputs NaN is the --model's fault: name it as the user did.
        if (error instanceof NonFiniteModelError) {
          throw new CliError(
            `--model ${opts.model === undefined ? `(the default, ${DEFAULT_PRETRAINED})` : `"${opts.model}"`}: ${error.message}`,
          );
        }
        throw error;
      })
      .finally(() => bar.stop());
    process.stdout.write(`${formatConfusionMatrix(report.confusionMatrix, data.classNames)}\n\n`);
    process.stdout.write(`${formatClassificationReport(report)}\n`);
    process.stdout.write(
      `accuracy ${(100 * report.accuracy).toFixed(2)} %, mean class accuracy ${(100 * report.meanClassAccuracy).toFixed(2)} % (${opts.tenCrop ? 'ten-crop' : 'centre crop'}, ${data.count} images)\n`,
    );
    if (opts.png)
      await writeFile(opts.png, await confusionMatrixPng(report.confusionMatrix, data.classNames));
    if (opts.json) {
      const { predictions: _p, labels: _l, ...metrics } = report;
      await writeFile(opts.json, `${JSON.stringify(metrics, null, 2)}\n`);
    }
  });
}
