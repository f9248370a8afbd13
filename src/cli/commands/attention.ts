import type { Command } from 'commander';
import type { FaceCrops } from '../../faces/recognize';
import {
  addPreprocessingOptions,
  CliError,
  checkOutputDir,
  intOption,
  loadModel,
  MODEL_OPTION_HELP,
  preprocessingOverrides,
  selectBackend,
} from '../common';
import {
  addFaceOptions,
  checkDetect,
  expandInputs,
  faceOptions,
  facesOf,
  inputGuard,
  lazyDetector,
  makeOutputDir,
  noFaceLine,
  pictureFailure,
  skippedNotice,
  uniqueStems,
  writeHeatmaps,
} from './face_inputs';

/** Registers `fer-cbam attention`. */
export function registerAttention(program: Command): void {
  addPreprocessingOptions(
    addFaceOptions(
      program
        .command('attention')
        .description(
          'write attention heatmaps (CBAM spatial maps and Grad-CAM) over each face in images, as PNG',
        )
        .option('--model <dir|name>', MODEL_OPTION_HELP)
        .argument('<images...>', 'image files and folders of them'),
    ),
  )
    .option('--out <dir>', 'output folder (made if missing)', 'attention-out')
    .option('--scale <n>', 'upscaling of the 48x48 output', intOption('--scale'), 4)
    .action(async (images: string[], opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      const detect = checkDetect(opts.detect);
      const o = faceOptions(detect, opts);
      const skipped: string[] = [];
      const files = expandInputs(images, skipped);
      if (skipped.length > 0) process.stderr.write(skippedNotice('attention', skipped));
      if (files.length === 0) throw new CliError('attention: no image files in the given folders.');
      const guard = inputGuard(files);
      checkOutputDir(opts.out, '--out');
      await selectBackend(all);
      const { model, preprocessing } = await loadModel(opts.model, preprocessingOverrides(opts));
      const detector = lazyDetector();
      const stems = uniqueStems(files);
      await makeOutputDir(opts.out, '--out');
      let failed = 0;
      for (const [i, file] of files.entries()) {
        let found: FaceCrops;
        try {
          found = await facesOf(file, o, preprocessing, detector);
        } catch (e) {
          if (e instanceof CliError) throw e;
          failed++;
          process.stderr.write(`fer-cbam: attention: ${pictureFailure(file, e, o)}\n`);
          continue;
        }
        if (found.faces.length === 0) {
          process.stdout.write(noFaceLine(file, found.image.originalWidth, found.image.originalHeight));
          continue;
        }
        await writeHeatmaps(
          model,
          preprocessing,
          found.faces,
          file,
          stems[i]!,
          opts.out,
          opts.scale,
          undefined,
          guard,
          '--out',
        );
      }
      if (failed > 0)
        throw new CliError(`attention: ${failed} of ${files.length} pictures failed (see above).`);
    });
}
