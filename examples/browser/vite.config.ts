import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Folders outside the page served under a URL prefix: in `vite` (dev) by a middleware, in
 * `vite build` copied into the output. Nothing is copied into the repository.
 * - `pretrained/<name>/` → the repository's `models/<name>/`, for every shipped expression model (the
 *   page loads the default one, `DEFAULT_PRETRAINED`; `?model=pretrained/<name>/model.json` another);
 * - `detector/` → `node_modules/@vladmandic/human/models/blazeface.*` (the face detector's weights,
 *   from the optional dev dependency; the page shows a note and skips detection when it is absent).
 */
const models = join(repo, 'models');
const MOUNTS: { prefix: string; dir: string; files?: string[] }[] = [
  ...(existsSync(models) ? readdirSync(models) : []).map((name) => ({
    prefix: `pretrained/${name}/`,
    dir: join(models, name),
  })),
  {
    prefix: 'detector/',
    dir: join(repo, 'node_modules/@vladmandic/human/models'),
    files: ['blazeface.json', 'blazeface.bin'],
  },
];

/**
 * Cross-origin isolation: with these two headers on the page (and on everything it loads from its
 * own origin) the browser gives it `SharedArrayBuffer`, so tfjs's wasm backend runs its threaded
 * SIMD build (and fer-cbam's kernels their helper threads); without them wasm runs on one thread.
 * Hosts of the built page must send them too (docs/faces.md). `require-corp` blocks cross-origin
 * files that do not opt in: a `?model=` on another origin must be served with CORS.
 */
export const CROSS_ORIGIN_ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
} as const;

function mountedFiles(m: (typeof MOUNTS)[number]): string[] {
  if (!existsSync(m.dir)) return [];
  return (m.files ?? readdirSync(m.dir)).filter((f) => existsSync(join(m.dir, f)));
}

function serveMounts(): Plugin {
  return {
    name: 'fer-cbam-mounts',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
        for (const m of MOUNTS) {
          if (!path.startsWith(m.prefix)) continue;
          const name = path.slice(m.prefix.length);
          if (!mountedFiles(m).includes(name)) break;
          // Vite adds server.headers in its own middlewares only, not in this one.
          for (const [k, v] of Object.entries(CROSS_ORIGIN_ISOLATION)) res.setHeader(k, v);
          res.setHeader(
            'content-type',
            name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
          );
          res.end(readFileSync(join(m.dir, name)));
          return;
        }
        next();
      });
    },
    generateBundle() {
      for (const m of MOUNTS) {
        for (const name of mountedFiles(m)) {
          this.emitFile({
            type: 'asset',
            fileName: `${m.prefix}${name}`,
            source: readFileSync(join(m.dir, name)),
          });
        }
      }
    },
  };
}

// The page imports the library from source (../../src). Node-only modules the library loads lazily
// (fs, zlib, sharp, Dawn's `webgpu`) stay external: they are never imported in a browser.
export default defineConfig({
  root: here,
  base: './',
  publicDir: 'public',
  plugins: [serveMounts()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: false,
    rollupOptions: { external: [/^node:/, 'sharp', 'webgpu'] },
  },
  server: { host: '127.0.0.1', fs: { allow: [repo] }, headers: CROSS_ORIGIN_ISOLATION },
  preview: { host: '127.0.0.1', headers: CROSS_ORIGIN_ISOLATION },
});
