import type { Command } from 'commander';
import { Option } from 'commander';
import { ONNX_OPSET } from '../../export/onnx_graph';
import { writeFileAtomic } from '../../io/atomic';
import { CliError, checkOutputFile, loadModel, MODEL_OPTION_HELP, selectBackend } from '../common';

/** Registers `fer-cbam export`. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      `export a model to ONNX (opset ${ONNX_OPSET}, float32), class names and preprocessing in its metadata`,
    )
    .option('--model <dir|name>', MODEL_OPTION_HELP)
    .addOption(new Option('--format <format>', 'the file format').choices(['onnx']).default('onnx'))
    .requiredOption('--out <file>', 'the file to write, e.g. fer2013.onnx (replaced atomically)')
    .addOption(
      new Option(
        '--layout <layout>',
        'input layout: nchw (ONNX convention) or nhwc (tfjs; a Transpose first)',
      )
        .choices(['nchw', 'nhwc'])
        .default('nchw'),
    )
    .option('--no-calibration', "the raw softmax, without the model's stored temperature")
    .action(async (opts, cmd: Command) => {
      // Checked before the model loads, so a typo in --out costs nothing.
      checkOutputFile(opts.out, '--out');
      await selectBackend(cmd.optsWithGlobals());
      const { model, preprocessing } = await loadModel(opts.model, { preprocessingFlags: false });
      // Loaded here, not at start-up: the other commands need no protobuf code.
      const { exportOnnx, OnnxExportError, readOnnxInfo } = await import('../../export/index');
      let bytes: Uint8Array;
      try {
        bytes = await exportOnnx(model, {
          inputLayout: opts.layout,
          preprocessing,
          calibrated: opts.calibration,
        });
      } catch (error) {
        if (error instanceof OnnxExportError) throw new CliError(`--model: ${error.message}`);
        throw error;
      } finally {
        model.dispose();
      }
      try {
        await writeFileAtomic(opts.out, bytes);
      } catch (error) {
        throw new CliError(`--out: ${(error as Error).message.replace(/^writeFileAtomic: /, '')}`);
      }
      const info = readOnnxInfo(bytes);
      const shape = (v: { name: string; shape: (number | string)[] }) =>
        `"${v.name}" [${v.shape.join(', ')}]`;
      const { imageSize, cropSize, normalization: n, classNames } = preprocessing;
      process.stdout.write(
        `wrote ${opts.out} (${(bytes.byteLength / 1e6).toFixed(2)} MB): ONNX opset ${info.opset}, float32\n` +
          `  input  ${info.inputs.map(shape).join(', ')} ${info.metadata.input_layout}: a grayscale face resized to ` +
          `${imageSize}x${imageSize}, centre crop ${cropSize}x${cropSize}, pixels / 255, (x - ${n.mean.toFixed(4)}) / ${n.std.toFixed(4)}\n` +
          `  output ${info.outputs.map(shape).join(', ')}: ${classNames.join(', ')}` +
          `${Number(info.metadata.temperature) === 1 ? '' : ` (calibrated: softmax(logits / ${info.metadata.temperature}))`}\n`,
      );
    });
}
