import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { annotateImage } from '../../faces/annotate';
import { classifyFaceCrops, type FaceCrops } from '../../faces/recognize';
import { importSharp } from '../../image/sharp';
import { writeFileAtomic } from '../../io/atomic';
import { NonFiniteModelError } from '../../models/finite';
import { isVideoPath, VIDEO_EXTENSIONS } from '../../video/ffmpeg';
import { TRACKER_DEFAULTS } from '../../video/tracker';
import {
  addPreprocessingOptions,
  CliError,
  checkOutputDir,
  checkOutputFile,
  intOption,
  loadModel,
  MODEL_OPTION_HELP,
  numberOption,
  preprocessingOverrides,
  selectBackend,
} from '../common';
import { startProgress } from '../progress';
import {
  type AnnotateTarget,
  addFaceOptions,
  annotateTarget,
  boxText,
  checkDetect,
  expandInputs,
  type FaceOptions,
  type FileResult,
  faceOptions,
  facesOf,
  inputGuard,
  lazyDetector,
  lazyProxy,
  makeOutputDir,
  modelLabel,
  noFaceLine,
  pictureFailure,
  roundBox,
  skippedNotice,
  smallPictureWarning,
  top,
  uniqueStems,
  writeHeatmaps,
} from './face_inputs';
import { predictVideo } from './predict_video';

/**
 * `predict` on video files: every option checked first, then each video through
 * {@link predictVideo} (per-frame lines, the tracker, a per-track summary).
 */
async function predictVideos(
  videos: string[],
  pictures: number,
  o: FaceOptions,
  opts: Record<string, unknown>,
  all: Record<string, unknown>,
): Promise<void> {
  if (pictures > 0) {
    throw new CliError(
      `predict: got ${videos.length} video ${videos.length === 1 ? 'file' : 'files'} and ${pictures} ${pictures === 1 ? 'picture' : 'pictures'}; run predict once for the pictures and once for the videos.`,
    );
  }
  if (opts.heatmap) throw new CliError('--heatmap: not available for videos; use it with pictures.');
  const annotate = opts.annotate as string | undefined;
  if (annotate !== undefined) {
    if (!isVideoPath(annotate)) {
      throw new CliError(
        `--annotate: "${annotate}" must name a video file for a video (${VIDEO_EXTENSIONS.join(' ')}), such as out.mp4.`,
      );
    }
    if (videos.length > 1) {
      throw new CliError(
        `--annotate: "${annotate}" names one video, but there are ${videos.length}; annotate one video per run.`,
      );
    }
    checkOutputFile(annotate, '--annotate');
    inputGuard(videos)(annotate, '--annotate');
  }
  for (const file of videos) {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (!stat?.isFile()) throw new CliError(`predict: "${file}" is not a video file that exists.`);
  }
  const fps = opts.fps as number | undefined;
  if (fps !== undefined && !(fps > 0 && fps <= 1000)) {
    throw new CliError(`--fps: expected a number of frames per second in (0, 1000], but got ${fps}.`);
  }
  for (const [name, value, max] of [
    ['--smoothing', opts.smoothing, Number.POSITIVE_INFINITY],
    ['--hysteresis', opts.hysteresis, 1],
  ] as const) {
    if (!(typeof value === 'number' && value >= 0 && value <= max)) {
      throw new CliError(`${name}: expected a number in [0, ${max === 1 ? 1 : '∞'}), but got ${value}.`);
    }
  }
  await selectBackend(all);
  const { model, preprocessing } = await loadModel(
    opts.model as string | undefined,
    preprocessingOverrides(opts),
  );
  const detector = lazyProxy(lazyDetector());
  for (const file of videos) {
    try {
      await predictVideo(file, {
        model,
        preprocessing,
        detector,
        detect: o.detect,
        minScore: o.minScore,
        tiles: o.tiles,
        maxSide: o.maxSide,
        ...(fps !== undefined ? { fps } : {}),
        json: opts.json as boolean,
        batchSize: opts.batchSize as number,
        ...(annotate !== undefined ? { annotate } : {}),
        tracker: { timeConstant: opts.smoothing as number, hysteresis: opts.hysteresis as number },
        write: (line) => process.stdout.write(`${line}\n`),
      });
    } catch (e) {
      if (e instanceof CliError) throw e;
      if (e instanceof NonFiniteModelError)
        throw new CliError(`${modelLabel(opts.model as string)}: ${e.message}`);
      throw new CliError(`predict: ${(e as Error).message}`);
    }
    if (annotate !== undefined && !opts.json) process.stderr.write(`wrote ${annotate}\n`);
  }
}

/** Registers `fer-cbam predict`. */
export function registerPredict(program: Command): void {
  addPreprocessingOptions(
    addFaceOptions(
      program
        .command('predict')
        .description(
          'find the faces in photos and print their expressions: one line per face (box, top classes)',
        )
        .option('--model <dir|name>', MODEL_OPTION_HELP)
        .argument(
          '<images...>',
          `image files (png, jpg, webp, ...) and folders of them, or video files (${VIDEO_EXTENSIONS.join(' ')}; read with ffmpeg)`,
        ),
    ),
  )
    .option('--top <k>', 'classes shown per face', intOption('--top'), 3)
    .option('--json', 'print JSON instead of text', false)
    .option(
      '--annotate <path>',
      'write each picture with boxes and labels: a .png, .jpg or .webp file for one picture; any other path is a folder (made if missing) that gets <name>_annotated.png per picture; never over an input',
    )
    .option(
      '--heatmap <dir>',
      'also write the CBAM attention and Grad-CAM of each face as PNG into this folder (made if missing)',
    )
    .option('--batch-size <n>', 'faces per forward pass', intOption('--batch-size'), 32)
    .option('--fps <n>', 'videos: frames per second to analyse (default: every frame)', numberOption('--fps'))
    .option(
      '--smoothing <seconds>',
      'videos: time constant of the per-face smoothing of probabilities (0: none)',
      numberOption('--smoothing'),
      TRACKER_DEFAULTS.timeConstant,
    )
    .option(
      '--hysteresis <p>',
      "videos: a face's shown label changes only when another class leads it by more than this",
      numberOption('--hysteresis'),
      TRACKER_DEFAULTS.hysteresis,
    )
    .action(async (images: string[], opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      const detect = checkDetect(opts.detect);
      const o = faceOptions(detect, opts);
      // Every input and output is checked before the backend, the model and the first picture.
      const skipped: string[] = [];
      const inputs = expandInputs(images, skipped);
      if (skipped.length > 0) process.stderr.write(skippedNotice('predict', skipped));
      if (inputs.length === 0) throw new CliError('predict: no image files in the given folders.');
      const videos = inputs.filter(isVideoPath);
      if (videos.length > 0) {
        await predictVideos(videos, inputs.length - videos.length, o, opts, all);
        return;
      }
      const files = inputs;
      const guard = inputGuard(files);
      const annotate: AnnotateTarget | null = opts.annotate
        ? annotateTarget(opts.annotate, files.length)
        : null;
      if (annotate?.kind === 'file') guard(annotate.path, '--annotate');
      if (opts.heatmap) checkOutputDir(opts.heatmap, '--heatmap');
      await selectBackend(all);
      const { model, preprocessing } = await loadModel(opts.model, preprocessingOverrides(opts));
      const detector = lazyDetector();
      const names = preprocessing.classNames;
      const stems = annotate?.kind === 'dir' || opts.heatmap ? uniqueStems(files) : [];
      if (annotate?.kind === 'dir') await makeOutputDir(annotate.path, '--annotate');
      if (opts.heatmap) await makeOutputDir(opts.heatmap, '--heatmap');
      const progress = files.length >= 10 ? startProgress('predict', files.length, 'img') : null;
      const results: FileResult[] = [];
      let failed = 0;
      const chunk = Math.max(1, Math.min(16, opts.batchSize));
      for (let start = 0; start < files.length; start += chunk) {
        const group = files.slice(start, start + chunk);
        const found: FileResult[] = [];
        const crops: FaceCrops[] = [];
        for (const file of group) {
          try {
            const f = await facesOf(file, o, preprocessing, detector);
            crops.push(f);
            found.push({
              file,
              width: f.image.originalWidth,
              height: f.image.originalHeight,
              mode: f.mode,
              ...(f.notice ? { notice: f.notice } : {}),
            });
          } catch (e) {
            if (e instanceof CliError) throw e; // the detector itself is missing: every file would fail
            failed++;
            found.push({ file, error: pictureFailure(file, e, o) });
            crops.push({ faces: [], mode: 'detected', image: null as never });
          }
        }
        const flat = crops.flatMap((c) => c.faces);
        let classified: Awaited<ReturnType<typeof classifyFaceCrops>>;
        try {
          classified = await classifyFaceCrops(
            model,
            flat.map((f) => f.crop),
            opts.batchSize,
          );
        } catch (e) {
          if (e instanceof NonFiniteModelError) throw new CliError(`${modelLabel(opts.model)}: ${e.message}`);
          throw e;
        }
        const { probabilities, labels } = classified;
        let k = 0;
        for (const [i, r] of found.entries()) {
          if (r.error) {
            process.stderr.write(`fer-cbam: predict: ${r.error}\n`); // in input order
            results.push(r);
            continue;
          }
          r.faces = crops[i]!.faces.map((f) => ({
            ...f,
            label: labels[k]!,
            probabilities: probabilities[k++]!,
          }));
          const warning = smallPictureWarning(r, preprocessing);
          if (warning) {
            r.warning = warning;
            process.stderr.write(`fer-cbam: predict: warning: ${warning}\n`);
          }
          results.push(r);
          if (!opts.json) {
            if (r.faces.length === 0) process.stdout.write(noFaceLine(r.file, r.width, r.height));
            for (const [j, f] of r.faces.entries()) {
              const where =
                r.mode === 'whole' ? 'whole image' : `face ${j + 1}/${r.faces.length} ${boxText(f)}`;
              process.stdout.write(`${r.file}: ${where}: ${top(names, f.probabilities, opts.top)}\n`);
            }
          }
          if (annotate) {
            let picture = await annotateImage(
              r.file,
              r.faces.map((f) => ({
                box: f.box,
                label: `${f.label} ${(100 * Math.max(...f.probabilities)).toFixed(0)}%`,
                ...(f.keypoints ? { keypoints: f.keypoints } : {}),
              })),
            );
            const out =
              annotate.kind === 'file'
                ? annotate.path
                : join(annotate.path, `${stems[start + i]}_annotated.png`);
            guard(out, '--annotate');
            if (annotate.kind === 'file' && annotate.format !== 'png') {
              const sharp = await importSharp('predict --annotate');
              picture = await sharp(picture).toFormat(annotate.format).toBuffer();
            }
            await writeFileAtomic(out, picture);
            if (!opts.json) process.stderr.write(`wrote ${out}\n`);
          }
          if (opts.heatmap && r.faces.length > 0) {
            await writeHeatmaps(
              model,
              preprocessing,
              crops[i]!.faces,
              r.file,
              stems[start + i]!,
              opts.heatmap,
              4,
              (line) => process.stderr.write(`wrote ${line}\n`),
              guard,
              '--heatmap',
            );
          }
        }
        progress?.update(Math.min(files.length, start + group.length), {
          faces: results.reduce((s, r) => s + (r.faces?.length ?? 0), 0),
        });
      }
      progress?.stop();
      if (opts.json) {
        const out = results.map((r) =>
          r.error
            ? { file: r.file, error: r.error }
            : {
                file: r.file,
                width: r.width,
                height: r.height,
                mode: r.mode,
                ...(r.warning ? { warning: r.warning } : {}),
                ...(r.notice ? { notice: r.notice } : {}),
                faces: r.faces!.map((f) => ({
                  box: roundBox(f.box),
                  score: f.score === null ? null : Number(f.score.toFixed(4)),
                  ...(f.keypoints
                    ? {
                        eyes: {
                          right: f.keypoints.rightEye.map(Math.round),
                          left: f.keypoints.leftEye.map(Math.round),
                        },
                      }
                    : {}),
                  label: f.label,
                  probabilities: Object.fromEntries(
                    names.map((n, c) => [n, Number(f.probabilities[c]!.toFixed(5))]),
                  ),
                })),
              },
        );
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }
      if (failed > 0)
        throw new CliError(`predict: ${failed} of ${files.length} pictures failed (see above).`);
    });
}
