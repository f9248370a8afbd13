import { defineConfig } from 'tsup';

// Library: ESM + CJS + .d.ts. The CLI: one ESM entry with a shebang, used by the package `bin`.
// Peers (tfjs) and optional backends stay external so the user's single tfjs instance is used.
export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'neutral',
    external: [/^@tensorflow\//, 'webgpu', 'sharp', /^node:/],
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
