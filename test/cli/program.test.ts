import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program';

function capture(): { program: ReturnType<typeof buildProgram>; out: string[] } {
  const out: string[] = [];
  const program = buildProgram('9.9.9');
  program.exitOverride();
  program.configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => out.push(s) });
  for (const cmd of program.commands) {
    cmd.exitOverride();
    cmd.configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => out.push(s) });
  }
  return { program, out };
}

describe('fer-cbam CLI', () => {
  it('lists every command and the backend choices in --help', () => {
    const help = buildProgram('9.9.9').helpInformation();
    for (const command of ['demo', 'train', 'eval', 'predict', 'attention', 'bench', 'summary', 'export']) {
      expect(help).toContain(command);
    }
    expect(help.replace(/\s+/g, ' ')).toMatch(
      /--backend <name>.*choices: "auto", "cpu", "wasm", "webgpu", "tensorflow"/,
    );
  });

  it('has --help on every command', () => {
    const program = buildProgram('9.9.9');
    for (const cmd of program.commands) {
      expect(cmd.helpInformation()).toContain(`Usage: fer-cbam ${cmd.name()}`);
      expect(cmd.description().length).toBeGreaterThan(10);
    }
  });

  it('rejects an unknown backend and a bad integer with messages that name the option', async () => {
    const { program, out } = capture();
    await expect(program.parseAsync(['node', 'fer-cbam', '--backend', 'tpu', 'summary'])).rejects.toThrow();
    expect(out.join('')).toMatch(/--backend <name>' argument 'tpu' is invalid/);
    const second = capture();
    await expect(second.program.parseAsync(['node', 'fer-cbam', 'summary', '--depth', 'x'])).rejects.toThrow(
      /--depth: expected a positive integer, but got "x"/,
    );
  });

  it('summary prints the reference parameter count of ResNet-18 + CBAM (paper)', async () => {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => {
      lines.push(s);
      return true;
    }) as typeof process.stdout.write;
    try {
      await buildProgram('9.9.9').parseAsync([
        'node',
        'fer-cbam',
        'summary',
        '--depth',
        '18',
        '--placement',
        'paper',
      ]);
    } finally {
      process.stdout.write = write;
    }
    expect(lines.join('')).toMatch(/Trainable params: 11205363/);
  });
});
