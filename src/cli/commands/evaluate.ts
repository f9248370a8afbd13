import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { useBackend } from '../../backends/select';
import type { FaceDataset } from '../../data/dataset';
import { subsetDataset, usageIndices } from '../../data/stats';
import { confusionMatrixPng } from '../../train/confusion_png';
import { evaluate } from '../../train/evaluate';
import { formatClassificationReport, formatConfusionMatrix } from '../../train/metrics';
import { CliError, DATASET_KINDS, type DatasetKind, loadDataset, loadModel } from '../common';
import { startProgress } from '../progress';

/** Registers `fer-cbam eval`. */
export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate a saved model: accuracy, per-class precision/recall/F1, confusion matrix')
    .requiredOption('--model <dir>', 'model directory (or its model.json)')
    .requiredOption('--data <path>', 'fer2013.csv(.gz), a CK+ folder or an image folder')
    .option('--dataset <kind>', `dataset kind: ${DATASET_KINDS.join(' | ')}`, 'auto')
    .option('--split <usage>', 'FER2013 rows to use: PublicTest | PrivateTest | Training', 'PublicTest')
    .option('--no-ten-crop', 'single centre crop instead of ten-crop averaging')
    .option('--png <file>', 'also write the confusion matrix as a PNG')
    .option('--json <file>', 'also write the metrics as JSON')
    .action(async (opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      await useBackend(all.backend);
      const { model, preprocessing } = await loadModel(opts.model);
      let data: FaceDataset = await loadDataset(opts.data, opts.dataset as DatasetKind);
      if (data.usages) {
        const split = opts.split as 'PublicTest' | 'PrivateTest' | 'Training';
        const indices = usageIndices(data, split);
        if (indices.length === 0) throw new CliError(`--split: the data has no ${split} rows.`);
        data = subsetDataset(data, indices);
      }
      const bar = startProgress('eval', data.count);
      const report = await evaluate(model, data, {
        tenCrop: opts.tenCrop,
        cropSize: preprocessing.cropSize,
        normalization: preprocessing.normalization,
        onProgress: (done) => bar.update(done),
      }).finally(() => bar.stop());
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
