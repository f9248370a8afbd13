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

// `fer-cbam predict photos/ | head -1`: once the reader has closed the pipe, every later write fails
// with EPIPE (Node ignores SIGPIPE, so it is an 'error' event that would end in a stack trace). Stop
// quietly instead, with the status of a Unix tool ended by SIGPIPE (128 + 13).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(141);
    throw error;
  });
}

runCli(process.argv, packageVersion()).then((status) => process.exit(status));
