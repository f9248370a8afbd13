import { createRequire } from 'node:module';
import { CliError } from './common';
import { buildProgram } from './program';
import '../io/index'; // registers file:// for model.save / loadLayersModel

/** The package version, from the nearest fer-cbam package.json (dist/cli.js or src/cli/main.ts). */
function packageVersion(): string {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(candidate) as { name?: string; version?: string };
      if (pkg.name === 'fer-cbam' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}

const version = packageVersion();

buildProgram(version)
  .parseAsync(process.argv)
  .then(() => process.exit(0))
  .catch((error: unknown) => {
    if (error instanceof CliError || error instanceof RangeError || error instanceof TypeError) {
      process.stderr.write(`fer-cbam: ${(error as Error).message}\n`);
    } else {
      process.stderr.write(
        `fer-cbam: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
    }
    process.exit(1);
  });
