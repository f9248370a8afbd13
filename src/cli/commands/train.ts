import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { useBackend } from '../../backends/select';
import type { FaceDataset } from '../../data/dataset';
import { datasetStats, subsetDataset, usageIndices } from '../../data/stats';
import { setPreprocessing } from '../../models/preprocessing';
import { type Placement, resnetCbam } from '../../models/resnet_cbam';
import { evaluate } from '../../train/evaluate';
import { formatConfusionMatrix } from '../../train/metrics';
import { SCHEDULE_NAMES, type ScheduleName } from '../../train/schedules';
import { train } from '../../train/train';
import { CliError, DATASET_KINDS, type DatasetKind, intOption, loadDataset, numberOption } from '../common';
import { startProgress } from '../progress';

/** Registers `fer-cbam train`. */
export function registerTrain(program: Command): void {
  program
    .command('train')
    .description(
      'train a ResNet+CBAM on FER2013, FER+, CK+ or an image folder (select on the validation split)',
    )
    .requiredOption('--data <path>', 'fer2013.csv(.gz), a CK+ folder, or a train/<class>/*.png folder')
    .option('--dataset <kind>', `dataset kind: ${DATASET_KINDS.join(' | ')}`, 'auto')
    .option('--validation <path>', 'validation data for a folder dataset (FER2013 uses its PublicTest rows)')
    .option('--ferplus-votes <csv>', 'FER+ votes (fer2013new.csv) to train on FER+ labels')
    .option('--out <dir>', 'run directory: checkpoints, best model, log.jsonl', 'runs/fer2013')
    .option('--depth <n>', 'ResNet depth: 10, 18, 34, 50, 101, 152', intOption('--depth'), 18)
    .option('--width <n>', 'channels of the first stage', intOption('--width'), 64)
    .option('--placement <where>', 'attention placement: paper | everyBlock | none', 'paper')
    .option('--attention <name>', 'attention module (any registered name)', 'cbam')
    .option('--epochs <n>', 'epochs', intOption('--epochs'), 30)
    .option('--batch-size <n>', 'batch size', intOption('--batch-size'), 128)
    .option('--schedule <name>', `learning-rate schedule: ${SCHEDULE_NAMES.join(' | ')}`, 'onecycle')
    .option(
      '--lr <rate>',
      'initial (paper, constant) or peak (cosine, onecycle) learning rate',
      numberOption('--lr'),
    )
    .option(
      '--seed <n>',
      'seed of the initial weights, batch order, augmentation and dropout',
      intOption('--seed'),
      1,
    )
    .option('--crop <n>', 'random crop size (44 for 48x48 FER2013)', intOption('--crop'), 44)
    .option('--balanced', 'class-balanced sampling', false)
    .option('--ten-crop-validation', 'validate with ten-crop averaging (slower)', false)
    .option('--resume', 'continue from the last checkpoint in --out', false)
    .action(async (opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      const backend = await useBackend(all.backend);
      process.stderr.write(`backend: ${backend}\n`);
      const schedule = opts.schedule as ScheduleName;
      if (!SCHEDULE_NAMES.includes(schedule)) {
        throw new CliError(
          `--schedule: expected one of ${SCHEDULE_NAMES.join(', ')}, but got "${opts.schedule}".`,
        );
      }
      const data = await loadDataset(opts.data, opts.dataset as DatasetKind, {
        ferPlusVotes: opts.ferplusVotes,
      });
      let trainSet: FaceDataset = data;
      let validation: FaceDataset | undefined;
      if (data.usages) {
        trainSet = subsetDataset(data, usageIndices(data, 'Training'));
        validation = subsetDataset(data, usageIndices(data, 'PublicTest'));
      } else if (opts.validation) {
        validation = await loadDataset(opts.validation, opts.dataset as DatasetKind);
      }
      const side = data.height;
      const model = resnetCbam({
        depth: opts.depth,
        width: opts.width,
        placement: opts.placement as Placement,
        attention: opts.attention,
        inputShape: [opts.crop, opts.crop, 1],
        numClasses: data.classNames.length,
        classifierActivation: 'linear',
        seed: opts.seed,
      });
      process.stderr.write(
        `model ${model.name}: ${model.countParams()} parameters; ${trainSet.count} training and ${validation?.count ?? 0} validation images\n`,
      );
      const out = resolve(opts.out);
      await mkdir(out, { recursive: true });
      const controller = new AbortController();
      const onSigint = () => {
        process.stderr.write(
          '\nstopping: saving a checkpoint after this batch (Ctrl-C again to quit at once)\n',
        );
        process.off('SIGINT', onSigint);
        controller.abort();
      };
      process.on('SIGINT', onSigint);
      // Stored in model.json (checkpoints, best and last models), so eval/predict prepare images the same way.
      const normalization = datasetStats(trainSet);
      setPreprocessing(model, {
        imageSize: side,
        cropSize: opts.crop,
        normalization,
        classNames: data.classNames,
      });
      const bar = startProgress('train', opts.epochs * trainSet.count);
      const lr = opts.lr as number | undefined;
      const result = await train(
        model,
        { train: trainSet, validation },
        {
          epochs: opts.epochs,
          batchSize: opts.batchSize,
          seed: opts.seed,
          schedule:
            lr === undefined
              ? schedule
              : schedule === 'onecycle'
                ? { type: 'onecycle', maxLearningRate: lr }
                : { type: schedule, learningRate: lr },
          cropSize: opts.crop,
          normalization,
          balanced: opts.balanced,
          validationTenCrop: opts.tenCropValidation,
          checkpointDir: out,
          resume: opts.resume,
          overwrite: !opts.resume,
          signal: controller.signal,
          callbacks: {
            onProgress: (p) =>
              bar.update(p.epoch * trainSet.count + p.images, {
                epoch: `${p.epoch + 1}/${p.epochs}`,
                loss: p.loss.toFixed(3),
                acc: p.accuracy.toFixed(3),
              }),
            onEpochEnd: (log) => {
              const val = log.valAccuracy === undefined ? '' : ` val ${(100 * log.valAccuracy).toFixed(2)} %`;
              process.stderr.write(
                `\nepoch ${log.epoch}: loss ${log.loss.toFixed(4)} acc ${(100 * log.accuracy).toFixed(2)} %${val}\n`,
              );
            },
          },
        },
      ).finally(() => {
        bar.stop();
        process.off('SIGINT', onSigint);
      });
      await model.save(`file://${resolve(out, 'last')}`);
      if (result.stopped) {
        process.stdout.write(
          `stopped after epoch ${result.epochsCompleted}; resume with --resume --out ${out}\n`,
        );
        return;
      }
      if (validation) {
        const report = await evaluate(model, validation, {
          tenCrop: true,
          cropSize: opts.crop,
          normalization: result.normalization,
        });
        process.stdout.write(`${formatConfusionMatrix(report.confusionMatrix, data.classNames)}\n`);
        process.stdout.write(
          `validation ten-crop accuracy (last epoch): ${(100 * report.accuracy).toFixed(2)} %\n`,
        );
        await writeFile(
          resolve(out, 'final_validation.json'),
          `${JSON.stringify({ accuracy: report.accuracy, meanClassAccuracy: report.meanClassAccuracy, best: result.best }, null, 2)}\n`,
        );
      }
      process.stdout.write(`best: ${JSON.stringify(result.best)}; models in ${out}/best and ${out}/last\n`);
    });
}
