import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // tfjs kernels are CPU-heavy and this machine has 2 cores: a small pool avoids thrashing.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    setupFiles: ['test/setup.ts'],
    hookTimeout: 120_000,
  },
});
