import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import type { Command } from 'commander';
import { useBackend } from '../../backends/select';
import { loadGrayImage } from '../../data/image_io';
import { facesToInput, predictProbabilities } from '../../models/predict';
import { explainFaces } from '../../visualize/heatmaps';
import { encodePng } from '../../visualize/png';
import { loadModel } from '../common';

async function readFaces(files: string[], size: number, centerCrop: boolean): Promise<Uint8Array[]> {
  return Promise.all(files.map((f) => loadGrayImage(f, { size, fit: centerCrop ? 'cover' : 'fill' })));
}

/** Registers `fer-cbam predict` and `fer-cbam attention`. */
export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('print the class probabilities for face images of any size or colour')
    .requiredOption('--model <dir>', 'model directory (or its model.json)')
    .argument('<images...>', 'image files (png, jpg, webp, ...)')
    .option('--no-center-crop', 'squash the whole image to a square instead of cropping its centre')
    .option('--json', 'print JSON instead of a table', false)
    .action(async (images: string[], opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      await useBackend(all.backend);
      const { model, preprocessing } = await loadModel(opts.model);
      const faces = await readFaces(images, preprocessing.imageSize, opts.centerCrop);
      const x = facesToInput(faces, preprocessing);
      const probs = predictProbabilities(model, x);
      const rows = (await probs.array()) as number[][];
      x.dispose();
      probs.dispose();
      const names = preprocessing.classNames;
      if (opts.json) {
        const out = images.map((file, i) => ({
          file,
          prediction: names[rows[i]!.indexOf(Math.max(...rows[i]!))],
          probabilities: Object.fromEntries(names.map((n, c) => [n, rows[i]![c]])),
        }));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      const width = Math.max(...names.map((n) => n.length), 8);
      for (const [i, file] of images.entries()) {
        const row = rows[i]!;
        const best = row.indexOf(Math.max(...row));
        process.stdout.write(`${file}: ${names[best]}\n`);
        for (const [c, name] of names.entries()) {
          const bar = '#'.repeat(Math.round(row[c]! * 40));
          process.stdout.write(
            `  ${name.padEnd(width)} ${(100 * row[c]!).toFixed(1).padStart(5)} % ${bar}\n`,
          );
        }
      }
    });

  program
    .command('attention')
    .description('write attention heatmaps (CBAM spatial maps and Grad-CAM) over face images as PNG')
    .requiredOption('--model <dir>', 'model directory (or its model.json)')
    .argument('<images...>', 'image files')
    .option('--out <dir>', 'output directory', 'attention-out')
    .option('--scale <n>', 'upscaling of the 48x48 output', '4')
    .option('--no-center-crop', 'squash the whole image instead of cropping its centre')
    .action(async (images: string[], opts, cmd: Command) => {
      const all = cmd.optsWithGlobals();
      await useBackend(all.backend);
      const { model, preprocessing } = await loadModel(opts.model);
      const faces = await readFaces(images, preprocessing.imageSize, opts.centerCrop);
      const x = facesToInput(faces, preprocessing);
      const explained = explainFaces(model, faces, x, preprocessing.imageSize);
      x.dispose();
      await mkdir(opts.out, { recursive: true });
      for (const [i, e] of explained.entries()) {
        const file = resolve(opts.out, `${basename(images[i]!, extname(images[i]!))}_attention.png`);
        await writeFile(file, await encodePng(e.tile, Number(opts.scale)));
        const layers = [
          ...e.attention.map((a) => a.path),
          ...(e.gradCam ? [`Grad-CAM(${e.gradCam.layerName})`] : []),
        ];
        process.stdout.write(
          `${file}: face | ${layers.join(' | ')}; predicted ${preprocessing.classNames[e.predicted]}\n`,
        );
      }
    });
}
