import { defineConfig } from 'tsup';

// Library: ESM + CJS + .d.ts, the root and its subpaths (package.json `exports`). Code splitting in
// both formats, so that `fer-cbam` and `fer-cbam/backends` share one copy of each module (one kernel
// registry, one class per layer) rather than bundling their own. The CLI: one ESM entry with a
// shebang, used by the package `bin`. Peers (tfjs) and optional backends stay external so the user's
// single tfjs instance is used.
const SUBPATHS = [
  'backends',
  'data',
  'diagnostics',
  'export',
  'faces',
  'io',
  'models',
  'ops',
  'pretrained',
  'train',
  'video',
  'visualize',
];

export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      ...Object.fromEntries(SUBPATHS.map((name) => [name, `src/${name}/index.ts`])),
    },
    format: ['esm', 'cjs'],
    splitting: true,
    // import.meta.url in the CJS build (code splitting leaves it raw otherwise, a syntax error there).
    shims: true,
    // `@internal` declarations stay out of the published typings: they are not part of the API.
    dts: { compilerOptions: { stripInternal: true } },
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'neutral',
    external: [/^@tensorflow\//, 'webgpu', 'sharp', /^node:/],
  },
  {
    // train()'s gradient worker (a worker_thread entry; ES module only: it awaits at top level).
    entry: { train_worker: 'src/train/gradient_worker.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    external: [/^@tensorflow\//, 'webgpu', 'sharp'],
  },
  {
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    external: [/^@tensorflow\//, 'webgpu', 'sharp'],
  },
]);
