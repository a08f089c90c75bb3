import { configDefaults, defineConfig } from 'vitest/config';

const MULTICLUSTER = 'test/e2e/multicluster/**/*.test.ts';

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
    projects: [
      { extends: true, test: { name: 'stages', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, MULTICLUSTER], sequence: { groupOrder: 0 } } },
      // The three-cluster simulations run real xDS clients and servers against time bounds the
      // issues set (e.g. a hot-reloaded grant within 2 s): they run last, one file at a time.
      { extends: true, test: { name: 'multicluster', include: [MULTICLUSTER], fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
