import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Command } from 'commander';
import type { FaceDataset } from '../../data/dataset';
import { remapClasses } from '../../data/remap';
import { type Normalization, subsetDataset, usageIndices } from '../../data/stats';
import { writeFileAtomic } from '../../io/atomic';
import { createModel } from '../../models/model_registry';
import { getPreprocessing } from '../../models/preprocessing';
import { readCheckpointState } from '../../train/checkpoint';
import { evaluate } from '../../train/evaluate';
import { formatConfusionMatrix } from '../../train/metrics';
import { SCHEDULE_NAMES, type ScheduleName } from '../../train/schedules';
import { train } from '../../train/train';
import {
  addArchitectureOptions,
  architectureFrom,
  CliError,
  checkDatasetKind,
  checkInputFile,
  checkOutputDir,
  DATASET_KINDS,
  detectDatasetKind,
  intOption,
  loadDataset,
  loadModel,
  nonNegativeIntOption,
  positiveNumberOption,
  selectBackend,
} from '../common';
import {
  addPhotoOptions,
  checkWritableDir,
  FACE_CACHE_DIR,
  FINE_TUNE_DEFAULTS,
  holdOut,
  loadPhotoFolder,
  matchInitClasses,
  photoOptions,
} from '../photo_folder';
import { startProgress } from '../progress';

/**
 * Run-directory entries that mean `--out` holds an earlier run (hidden files, the lock and the
 * face-crop cache are ignored).
 */
function earlierRun(out: string): string[] {
  if (!existsSync(out)) return [];
  return readdirSync(out).filter((name) => !name.startsWith('.') && name !== FACE_CACHE_DIR);
}

/**
 * Watches for Ctrl-C while training. A training step is synchronous, so a SIGINT handler in this
 * process only runs after the current batch (seconds for a large one): a tiny helper process in the
 * same process group (which the terminal's Ctrl-C reaches too) prints the message at once and, on a
 * second Ctrl-C, ends this process at once (SIGKILL; checkpoints are written atomically, so the
 * last complete one stays loadable). This process still handles the first Ctrl-C itself: it stops
 * after the batch and saves a checkpoint.
 */
export function watchInterrupts(onStop: () => void): {
  /** Resolves once the helper listens (or could not start); Ctrl-C before that is handled after the batch. */
  ready: Promise<void>;
  dispose(): void;
} {
  let helperReported = false;
  let helper: ChildProcess | null = null;
  const script = `
let n = 0;
const parent = ${process.pid};
process.on('SIGINT', () => {
  n++;
  if (n === 1) {
    process.stderr.write('\\nstopping: saving a checkpoint after this batch (Ctrl-C again to quit at once)\\n');
    if (process.connected) process.send('sigint');
  } else {
    process.stderr.write('\\nquitting at once (the last complete checkpoint is kept)\\n');
    try { process.kill(parent, 'SIGKILL'); } catch {}
    process.exit(130);
  }
});
process.on('disconnect', () => process.exit(0));
if (process.connected) process.send('ready');
setInterval(() => { try { process.kill(parent, 0); } catch { process.exit(0); } }, 1000);
`;
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });
  // The helper and its channel keep this process alive only until the helper listens.
  const markReady = () => {
    helper?.unref();
    helper?.channel?.unref();
    resolveReady();
  };
  try {
    helper = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    helper.on('message', (message) => {
      if (message === 'ready') markReady();
      else helperReported = true;
    });
    helper.on('error', () => {
      helper = null;
      markReady();
    });
    helper.on('exit', () => markReady());
  } catch {
    helper = null;
    markReady();
  }
  let seen = 0;
  const onSigint = () => {
    seen++;
    if (seen > 1) {
      process.stderr.write('\nquitting at once\n');
      process.exit(130);
    }
    // When Ctrl-C came from the terminal the helper has printed the message already.
    setTimeout(() => {
      if (!helperReported) {
        process.stderr.write(
          '\nstopping: saving a checkpoint after this batch (Ctrl-C again to quit at once)\n',
        );
      }
    }, 50).unref();
    onStop();
  };
  process.on('SIGINT', onSigint);
  return {
    ready,
    dispose() {
      markReady();
      process.off('SIGINT', onSigint);
      if (helper && helper.exitCode === null) {
        helper.removeAllListeners('message');
        helper.kill();
      }
    },
  };
}

/** The architecture options, for {@link checkpointNetwork}. */
const ARCHITECTURE_FLAGS = ['arch', 'depth', 'width', 'placement', 'attention'] as const;

/**
 * The network of the checkpoint in `path` (its model.json), so `--resume` needs no architecture
 * options. Options given anyway must describe the same network (the same weight shapes).
 */
async function checkpointNetwork(
  path: string,
  cmd: Command,
  fromFlags: () => tfl.LayersModel,
): Promise<tfl.LayersModel> {
  const file = resolve(path, 'model.json');
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(`file://${file}`);
  } catch (error) {
    throw new CliError(
      `--resume: cannot load the checkpoint's network "${file}": ${(error as Error).message}`,
    );
  }
  const given = ARCHITECTURE_FLAGS.filter((name) => cmd.getOptionValueSource(name) === 'cli');
  if (given.length > 0) {
    const wanted = fromFlags();
    const shapes = (m: tfl.LayersModel) => JSON.stringify(m.weights.map((w) => w.shape));
    const same = shapes(wanted) === shapes(model);
    wanted.dispose();
    if (!same) {
      model.dispose();
      throw new CliError(
        `${given.map((n) => `--${n}`).join(', ')}: the checkpoint in "${path}" is another network (${model.name}); --resume reads the architecture from the checkpoint: drop ${given.map((n) => `--${n}`).join(', ')}.`,
      );
    }
  }
  return model;
}

/**
 * Trains only the last layer (the classifier) of `model` for `o.epochs`, every other layer frozen,
 * without checkpoints; the layers are trainable again afterwards.
 */
async function trainHeadFirst(
  model: tfl.LayersModel,
  data: { train: FaceDataset; validation: FaceDataset | undefined },
  o: {
    epochs: number;
    batchSize: number;
    seed: number;
    learningRate: number;
    cropSize: number;
    normalization: 'dataset' | Normalization;
    balanced: boolean;
    signal: AbortSignal;
  },
): Promise<void> {
  const frozen = model.layers.slice(0, -1).filter((layer) => layer.trainable);
  for (const layer of frozen) layer.trainable = false;
  const bar = startProgress('classifier', o.epochs * data.train.count);
  try {
    const result = await train(model, data, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      seed: o.seed,
      schedule: { type: 'onecycle', maxLearningRate: o.learningRate },
      cropSize: o.cropSize,
      normalization: o.normalization,
      balanced: o.balanced,
      signal: o.signal,
      callbacks: {
        onProgress: (p) =>
          bar.update(p.epoch * data.train.count + p.images, {
            epoch: `${p.epoch + 1}/${p.epochs}`,
            loss: p.loss.toFixed(3),
            acc: p.accuracy.toFixed(3),
          }),
        onEpochEnd: (log) => {
          const val = log.valAccuracy === undefined ? '' : ` val ${(100 * log.valAccuracy).toFixed(2)} %`;
          process.stderr.write(
            `\nclassifier epoch ${log.epoch}: loss ${log.loss.toFixed(4)} acc ${(100 * log.accuracy).toFixed(2)} %${val}\n`,
          );
        },
      },
    });
    if (result.stopped) {
      throw new CliError(
        'train: stopped while training the classifier alone (--head-epochs); nothing was saved.',
        130,
      );
    }
  } finally {
    bar.stop();
    for (const layer of frozen) layer.trainable = true;
  }
}

/** Registers `fer-cbam train`. */
export function registerTrain(program: Command): void {
  // The options for folders of photos come first in --help, after the architecture's.
  addPhotoOptions(addArchitectureOptions(program.command('train')))
    .description(
      'train a ResNet+CBAM on FER2013, FER+, CK+ or a folder of photos or face crops (select on the validation split); with --init, fine-tune',
    )
    .requiredOption(
      '--data <path>',
      'fer2013.csv(.gz), a CK+ folder, or a folder of class folders of photos or face crops (DIR/<class>/*.jpg)',
    )
    .option('--dataset <kind>', `dataset kind: ${DATASET_KINDS.join(' | ')}`, 'auto')
    .option('--validation <path>', 'validation data for a folder dataset (FER2013 uses its PublicTest rows)')
    .option('--ferplus-votes <csv>', 'FER+ votes (fer2013new.csv) to train on FER+ labels')
    .option('--out <dir>', 'run directory: checkpoints, best model, log.jsonl', 'runs/fer2013')
    .option(
      '--init <model>',
      'start from a pretrained name (fer2013) or a saved model directory instead of new weights (its architecture replaces --arch and its overrides)',
    )
    .option('--epochs <n>', `epochs (${FINE_TUNE_DEFAULTS.epochs} with --init)`, intOption('--epochs'), 30)
    .option(
      '--batch-size <n>',
      `batch size (${FINE_TUNE_DEFAULTS.batchSize} with --init)`,
      intOption('--batch-size'),
      128,
    )
    .option('--schedule <name>', `learning-rate schedule: ${SCHEDULE_NAMES.join(' | ')}`, 'onecycle')
    .option(
      '--lr <rate>',
      `initial (paper, constant) or peak (cosine, onecycle) learning rate (default: the schedule's; ${FINE_TUNE_DEFAULTS.lr} with --init)`,
      positiveNumberOption('--lr'),
    )
    .option(
      '--seed <n>',
      'seed of the initial weights, batch order, augmentation and dropout',
      nonNegativeIntOption('--seed'),
      1,
    )
    .option('--crop <n>', 'random crop size (44 for 48x48 FER2013)', intOption('--crop'), 44)
    .option(
      '--limit <n>',
      'use only the first N training and the first N validation images (quick runs on a subset)',
      intOption('--limit'),
    )
    .option(
      '--workers <n>',
      'data-parallel gradient workers (worker_threads, one wasm thread each): on N cores, --threads 1 --workers N-1',
      nonNegativeIntOption('--workers'),
      0,
    )
    .option('--balanced', 'class-balanced sampling', false)
    .option('--ten-crop-validation', 'validate with ten-crop averaging (slower)', false)
    .option('--resume', 'continue from the last checkpoint in --out', false)
    .option('--overwrite', 'replace an earlier run in --out (its checkpoints, best model and log)', false)
    .action(async (opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      // Every option is checked before anything is loaded or written.
      const schedule = opts.schedule as ScheduleName;
      if (!SCHEDULE_NAMES.includes(schedule)) {
        throw new CliError(
          `--schedule: expected one of ${SCHEDULE_NAMES.join(', ')}, but got "${opts.schedule}".`,
        );
      }
      const kind = checkDatasetKind(opts.dataset);
      const arch = architectureFrom(opts);
      if (opts.init !== undefined) {
        const clash = ARCHITECTURE_FLAGS.filter((name) => cmd.getOptionValueSource(name) === 'cli');
        if (clash.length > 0) {
          throw new CliError(
            `--init ${opts.init} brings its own architecture: drop ${clash.map((n) => `--${n}`).join(', ')}.`,
          );
        }
      }
      if (opts.resume && opts.overwrite) {
        throw new CliError('--resume and --overwrite contradict each other: give one of them.');
      }
      const side = 48; // every dataset is read (or resized) at 48x48
      if (opts.crop > side) {
        throw new CliError(`--crop: expected at most the image size ${side}, but got ${opts.crop}.`);
      }
      if (opts.val !== undefined) {
        if (opts.validation !== undefined) {
          throw new CliError('--val is short for --validation: give one of them.');
        }
        opts.validation = opts.val;
      }
      checkInputFile(opts.data, '--data', { directoryOk: true });
      if (opts.validation !== undefined)
        checkInputFile(opts.validation, '--validation', { directoryOk: true });
      if (opts.ferplusVotes !== undefined) checkInputFile(opts.ferplusVotes, '--ferplus-votes');
      const out = resolve(opts.out);
      checkOutputDir(out, '--out');
      checkWritableDir(out, '--out');
      const photo = photoOptions(opts, out);
      // A folder of class folders is read as photos: one face per photo, found as predict finds it.
      const isFolder = (path: string, arg: string) =>
        kind === 'folder' ||
        (kind === 'auto' && !opts.ferplusVotes && detectDatasetKind(path, arg) === 'folder');
      const photos = isFolder(opts.data, '--data');
      if (opts.headEpochs > 0 && opts.init === undefined) {
        throw new CliError('--head-epochs trains the classifier of an --init model first: give --init too.');
      }
      // Fine-tuning defaults, for the options the command line did not set.
      const fineTune = opts.init !== undefined;
      const unset = (name: string) => cmd.getOptionValueSource(name) !== 'cli';
      if (fineTune && unset('epochs')) opts.epochs = FINE_TUNE_DEFAULTS.epochs;
      if (fineTune && unset('batchSize')) opts.batchSize = FINE_TUNE_DEFAULTS.batchSize;
      if (fineTune && unset('lr')) opts.lr = FINE_TUNE_DEFAULTS.lr;
      const fineTuneNote =
        fineTune && (unset('epochs') || unset('batchSize') || unset('lr'))
          ? `fine-tuning defaults: --epochs ${opts.epochs} --batch-size ${opts.batchSize} --lr ${opts.lr} (set them to override)\n`
          : '';
      const earlier = earlierRun(out);
      if (earlier.length > 0 && !opts.resume && !opts.overwrite) {
        throw new CliError(
          `--out: "${out}" already holds a run (${earlier.slice(0, 4).join(', ')}${earlier.length > 4 ? ', ...' : ''}); pass --resume to continue it, --overwrite to replace it, or choose another --out.`,
        );
      }

      // A resume continues the checkpoint's run: its network and its --workers, checked now.
      let resumeFrom: Awaited<ReturnType<typeof readCheckpointState>> = null;
      if (opts.resume) {
        try {
          resumeFrom = await readCheckpointState(out);
        } catch (error) {
          throw new CliError(`--resume: ${(error as Error).message}`);
        }
      }
      if (resumeFrom) {
        const recorded = resumeFrom.state.workers;
        if (recorded !== undefined && recorded !== opts.workers) {
          throw new CliError(
            `--workers: the run in "${out}" was trained with --workers ${recorded}, and an exact resume needs the same (each part of a batch has its own BatchNorm statistics): resume with --workers ${recorded}.`,
          );
        }
        if (opts.init !== undefined) {
          process.stderr.write(
            `fer-cbam: train: --init ${opts.init} is not read: the checkpoint in "${resumeFrom.path}" holds the network and its weights.\n`,
          );
        }
      }

      const backend = await selectBackend(all);
      process.stderr.write(`backend: ${backend}\n`);
      // The --init model is read and checked before the data (which may mean detecting many photos).
      const init =
        opts.init !== undefined && !resumeFrom
          ? await loadModel(opts.init, { arg: '--init', preprocessingFlags: false })
          : undefined;
      if (init) {
        const { cropSize, imageSize } = init.preprocessing;
        if (cropSize !== opts.crop || imageSize !== side) {
          throw new CliError(
            `--init: "${opts.init}" takes ${cropSize}x${cropSize} crops of ${imageSize}x${imageSize} images, but this run uses ${opts.crop}x${opts.crop} crops of ${side}x${side} (set --crop ${cropSize}).`,
          );
        }
      }
      let data: FaceDataset;
      if (photos) data = await loadPhotoFolder(opts.data, '--data', photo, side);
      else data = await loadDataset(opts.data, kind, { ferPlusVotes: opts.ferplusVotes });
      let trainSet: FaceDataset = data;
      let validation: FaceDataset | undefined;
      if (data.usages) {
        trainSet = subsetDataset(data, usageIndices(data, 'Training'));
        validation = subsetDataset(data, usageIndices(data, 'PublicTest'));
        if (validation.count === 0) validation = undefined;
      } else if (opts.validation) {
        validation = isFolder(opts.validation, '--validation')
          ? await loadPhotoFolder(opts.validation, '--validation', photo, side)
          : await loadDataset(opts.validation, kind, { arg: '--validation' });
        // By name, ignoring case (the --init match below puts both in the model's order).
        const byName: Record<string, string> = {};
        for (const n of validation.classNames) {
          const to = data.classNames.find((c) => c.toLowerCase() === n.toLowerCase());
          if (to !== undefined && to !== n) byName[n] = to;
        }
        validation = remapClasses(validation, data.classNames, byName, '--validation');
      } else if (photos) {
        // A stratified share of each class chooses best/ (by default when fine-tuning).
        const fraction =
          (opts.valFraction as number | undefined) ?? (fineTune ? FINE_TUNE_DEFAULTS.valFraction : 0);
        ({ train: trainSet, validation } = holdOut(data, fraction, opts.seed));
      }
      if (opts.limit !== undefined) {
        const first = (ds: FaceDataset) =>
          ds.count > opts.limit
            ? subsetDataset(
                ds,
                Array.from({ length: opts.limit }, (_, i) => i),
              )
            : ds;
        trainSet = first(trainSet);
        if (validation) validation = first(validation);
      }
      if (trainSet.count === 0) {
        throw new CliError(
          `--data: "${opts.data}" holds no training images${data.usages ? ' (no rows with Usage Training)' : ''}.`,
        );
      }
      let model: tfl.LayersModel;
      let normalization: 'dataset' | Normalization = 'dataset';
      if (resumeFrom) {
        model = await checkpointNetwork(resumeFrom.path, cmd, () =>
          createModel(arch.name, {
            ...arch.overrides,
            inputShape: [opts.crop, opts.crop, 1],
            numClasses: data.classNames.length,
            classifierActivation: 'linear',
            seed: opts.seed,
          }),
        );
        normalization = resumeFrom.state.normalization;
        if (photos && getPreprocessing(model)) {
          // The checkpoint's classes (a fine-tune may have given it a new classifier), by name.
          ({ train: trainSet, validation } = matchInitClasses(
            model,
            '--resume',
            { train: trainSet, validation },
            opts.seed,
          ));
        }
      } else if (init) {
        // Classes by name, in any order and case; new classes get a new classifier.
        const matched = matchInitClasses(
          init.model,
          `--init ${opts.init}`,
          { train: trainSet, validation },
          opts.seed,
        );
        trainSet = matched.train;
        validation = matched.validation;
        model = matched.model;
        // The network learnt on inputs normalised this way; keep it rather than recomputing it.
        normalization = init.preprocessing.normalization;
      } else {
        model = createModel(arch.name, {
          ...arch.overrides,
          inputShape: [opts.crop, opts.crop, 1],
          numClasses: data.classNames.length,
          classifierActivation: 'linear',
          seed: opts.seed,
        });
      }
      process.stderr.write(fineTuneNote);
      process.stderr.write(
        `model ${model.name}${resumeFrom ? ` (from the checkpoint ${resumeFrom.path})` : opts.init !== undefined ? ` (from ${opts.init})` : ''}: ${model.countParams()} parameters; ${trainSet.count} training and ${validation?.count ?? 0} validation images\n`,
      );
      const controller = new AbortController();
      const interrupts = watchInterrupts(() => controller.abort());
      // Let the helper listen before the first (synchronous) step; never wait long for it.
      let readyTimer: NodeJS.Timeout | undefined;
      await Promise.race([interrupts.ready, new Promise((r) => (readyTimer = setTimeout(r, 2000)))]);
      clearTimeout(readyTimer);
      const lr = opts.lr as number | undefined;
      if (opts.headEpochs > 0 && !resumeFrom) {
        // The classifier alone first (every other layer frozen), so a new head does not disturb the
        // trained features with its random start; then everything, in the run below.
        await trainHeadFirst(
          model,
          { train: trainSet, validation },
          {
            epochs: opts.headEpochs,
            batchSize: opts.batchSize,
            seed: opts.seed,
            learningRate: lr ?? FINE_TUNE_DEFAULTS.lr,
            cropSize: opts.crop,
            normalization,
            balanced: opts.balanced,
            signal: controller.signal,
          },
        ).catch((error: unknown) => {
          interrupts.dispose();
          throw error;
        });
      }
      const bar = startProgress('train', opts.epochs * trainSet.count);
      // train() stores the preprocessing (image size, crop, normalisation, class names) in every saved
      // model.json (checkpoints and best), so eval/predict prepare images the same way.
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
          workers: opts.workers,
          validationTenCrop: opts.tenCropValidation,
          checkpointDir: out,
          resume: opts.resume,
          overwrite: opts.overwrite,
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
        interrupts.dispose();
      });
      await model.save(`file://${resolve(out, 'last')}`);
      if (result.stopped) {
        // Interrupted: say where (an epoch in progress is not "after" the one before it) and exit
        // 130, as a program ended by Ctrl-C does, so scripts do not take the run for finished.
        const where =
          result.batch > 0
            ? `in epoch ${result.epochsCompleted + 1} of ${opts.epochs}, after batch ${result.batch} of ${result.stepsPerEpoch}`
            : `after epoch ${result.epochsCompleted} of ${opts.epochs}`;
        throw new CliError(
          `train: stopped ${where}, with a checkpoint there; resume with --resume --out ${out}`,
          130,
        );
      }
      if (validation) {
        const report = await evaluate(model, validation, {
          tenCrop: true,
          cropSize: opts.crop,
          normalization: result.normalization,
        });
        process.stdout.write(`${formatConfusionMatrix(report.confusionMatrix, trainSet.classNames)}\n`);
        process.stdout.write(
          `validation ten-crop accuracy (last epoch): ${(100 * report.accuracy).toFixed(2)} %\n`,
        );
        await writeFileAtomic(
          resolve(out, 'final_validation.json'),
          `${JSON.stringify({ accuracy: report.accuracy, meanClassAccuracy: report.meanClassAccuracy, best: result.best }, null, 2)}\n`,
        );
      }
      if (result.best) {
        process.stdout.write(
          `best: ${result.best.monitor} ${result.best.value.toFixed(4)} at epoch ${result.best.epoch}; models in ${out}/best and ${out}/last\n`,
        );
      } else {
        process.stdout.write(
          `no validation images, so no best model was chosen; the last model is in ${out}/last\n`,
        );
      }
    });
}
