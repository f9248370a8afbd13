// Prints the runtime names the package root exports, one per line, sorted: the public surface that
// scripts/check-pack.sh compares with docs/api-surface.txt. `node scripts/api-surface.mjs [dist/index.cjs]`.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const require = createRequire(import.meta.url);
const entry = resolve(process.argv[2] ?? 'dist/index.cjs');
// The root registers layers with tfjs; a backend is not needed to list the names.
const names = Object.keys(require(entry)).filter((n) => n !== '__esModule');
console.log(names.sort().join('\n'));
