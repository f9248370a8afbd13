import { Command, Option } from 'commander';
import { BACKEND_NAMES } from '../backends/select';
import { registerBench } from './commands/bench';
import { registerDemo } from './commands/demo';
import { registerEval } from './commands/evaluate';
import { registerPredict } from './commands/predict';
import { registerSummary } from './commands/summary';
import { registerTrain } from './commands/train';

/** Builds the `fer-cbam` command line (exported for tests). */
export function buildProgram(version: string): Command {
  const program = new Command('fer-cbam')
    .description('Facial-expression recognition with ResNet + CBAM on TensorFlow.js')
    .version(version)
    .addOption(
      new Option('--backend <name>', 'tfjs backend (tensorflow = @tensorflow/tfjs-node(-gpu), if installed)')
        .choices([...BACKEND_NAMES])
        .default('auto'),
    )
    .showHelpAfterError();
  registerDemo(program);
  registerTrain(program);
  registerEval(program);
  registerPredict(program);
  registerBench(program);
  registerSummary(program);
  return program;
}
