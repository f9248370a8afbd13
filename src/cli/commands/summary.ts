import type { Command } from 'commander';
import type { Placement } from '../../models/resnet_cbam';
import { resnetCbam } from '../../models/resnet_cbam';
import { intOption, selectBackend } from '../common';

/** Registers `fer-cbam summary`. */
export function registerSummary(program: Command): void {
  program
    .command('summary')
    .description('print the layers and parameter counts of a ResNet+CBAM configuration')
    .option('--depth <n>', 'ResNet depth: 10, 18, 34, 50, 101, 152', intOption('--depth'), 18)
    .option('--width <n>', 'channels of the first stage', intOption('--width'), 64)
    .option('--placement <where>', 'paper | everyBlock | none', 'paper')
    .option('--attention <name>', 'attention module', 'cbam')
    .option('--input <side>', 'input side (square, 1 channel)', intOption('--input'), 44)
    .option('--classes <n>', 'number of classes', intOption('--classes'), 7)
    .action(async (opts, cmd: Command) => {
      await selectBackend(cmd.optsWithGlobals());
      const model = resnetCbam({
        depth: opts.depth,
        width: opts.width,
        placement: opts.placement as Placement,
        attention: opts.attention,
        inputShape: [opts.input, opts.input, 1],
        numClasses: opts.classes,
        kernelInitializer: 'zeros', // only the structure is printed; skips random initialisation
      });
      model.summary(110, undefined, (line: string) => process.stdout.write(`${line}\n`));
    });
}
