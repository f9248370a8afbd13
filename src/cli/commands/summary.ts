import type { Command } from 'commander';
import { createModel } from '../../models/model_registry';
import { addArchitectureOptions, architectureFrom, intOption, selectBackend } from '../common';

/** Registers `fer-cbam summary`. */
export function registerSummary(program: Command): void {
  addArchitectureOptions(program.command('summary'))
    .description('print the layers and parameter counts of a ResNet+CBAM configuration')
    .option('--input <side>', 'input side (square, 1 channel)', intOption('--input'), 44)
    .option('--classes <n>', 'number of classes', intOption('--classes'), 7)
    .action(async (opts, cmd: Command) => {
      const arch = architectureFrom(opts);
      await selectBackend(cmd.optsWithGlobals());
      const model = createModel(arch.name, {
        ...arch.overrides,
        inputShape: [opts.input, opts.input, 1],
        numClasses: opts.classes,
        kernelInitializer: 'zeros', // only the structure is printed; skips random initialisation
      });
      model.summary(110, undefined, (line: string) => process.stdout.write(`${line}\n`));
    });
}
