import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

// The page imports the library from source (../../src). Node-only modules the library loads lazily
// (fs, zlib, sharp, Dawn's `webgpu`) stay external: they are never imported in a browser.
export default defineConfig({
  root: here,
  base: './',
  publicDir: 'public',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: false,
    rollupOptions: { external: [/^node:/, 'sharp', 'webgpu'] },
  },
  server: { host: '127.0.0.1', fs: { allow: [repo] } },
  preview: { host: '127.0.0.1' },
});
