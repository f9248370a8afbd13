import { Command, CommanderError, Option } from 'commander';
import { BACKEND_NAMES } from '../backends/select';
import { registerAttention } from './commands/attention';
import { registerBench } from './commands/bench';
import { registerDemo } from './commands/demo';
import { registerEval } from './commands/evaluate';
import { registerExport } from './commands/export';
import { registerPredict } from './commands/predict';
import { registerSummary } from './commands/summary';
import { registerTrain } from './commands/train';
import { CliError, intOption } from './common';

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
    .option(
      '--threads <n>',
      'wasm backend threads, 1-8 (default: one per CPU core, at most 8)',
      intOption('--threads'),
    )
    .option('--verbose', 'print the stack trace of an error', false);
  registerDemo(program);
  registerTrain(program);
  registerEval(program);
  registerPredict(program);
  registerAttention(program);
  registerBench(program);
  registerSummary(program);
  registerExport(program);
  return program;
}

/** Where {@link runCli} writes its error line (tests capture it). */
export interface CliIo {
  /** Writes to stderr. Defaults to `process.stderr.write`. */
  writeErr?: (text: string) => void;
}

/**
 * Runs the command line and returns the exit status: 0 on success, 1 on any error (130 for a
 * training run stopped by Ctrl-C: a `CliError`'s `exitCode`), printed as one
 * line `fer-cbam: <message>` on stderr (with the stack trace only under `--verbose`); commander's
 * own errors (unknown flags, missing arguments, bad choices) are printed the same way, with a pointer
 * to `--help`. `main.ts` exits with the status.
 * @param argv `process.argv` (node, script, arguments...).
 * @param version The version `--version` prints.
 * @example
 * ```ts
 * process.exitCode = await runCli(process.argv, '1.0.0');
 * ```
 */
export async function runCli(argv: string[], version: string, io: CliIo = {}): Promise<number> {
  const writeErr = io.writeErr ?? ((text: string) => void process.stderr.write(text));
  const program = buildProgram(version);
  let commandName = '';
  const quiet = (cmd: Command) => {
    cmd.exitOverride();
    // Commander's own error text is printed by us, as one line; help and version still go to stdout.
    cmd.configureOutput({ writeErr: () => {}, outputError: () => {} });
    cmd.hook('preAction', (_this, action) => {
      commandName = action.name();
    });
    for (const sub of cmd.commands) quiet(sub);
  };
  quiet(program);
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0; // --help, --version
      const message = error.message
        .replace(/^error: /, '')
        .replace(/\n\(Did you mean (.+)\?\)/, ' (did you mean $1?)')
        .replace(/\s*\n\s*/g, ' ');
      const sub = argv.slice(2).find((a) => program.commands.some((c) => c.name() === a)) ?? commandName;
      writeErr(`fer-cbam: ${message}; see fer-cbam ${sub ? `${sub} ` : ''}--help\n`);
      return error.exitCode || 1;
    }
    const e = error instanceof Error ? error : new Error(String(error));
    const line = e.message.replace(/\s*\n\s*/g, ' ').trim() || e.name;
    writeErr(`fer-cbam: ${line}\n`);
    if (verbose && e.stack) writeErr(`${e.stack}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}
