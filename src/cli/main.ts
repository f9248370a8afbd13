import './prod_mode'; // first: silences tfjs's console advice before any module makes a tensor
import { createRequire } from 'node:module';
import { runCli } from './program';
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

runCli(process.argv, packageVersion()).then((status) => process.exit(status));
