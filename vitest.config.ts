import { configDefaults, defineConfig } from 'vitest/config';

const MULTICLUSTER = 'test/e2e/multicluster/**/*.test.ts';
// Real Envoy and the pods-as-namespaces simulation: kernel resources and processes.
const ENVOY = ['test/envoy/**/*.test.ts', 'test/netsim/**/*.test.ts'];
// Two files at a time in `stages` and `envoy` (vitest's default on a 2-core machine is one): many
// files mostly wait (leaf lifetimes, token expiry, ejection times, API servers), so two at once
// keeps both cores busy. In `envoy` that is at most two meshes at once; separate simulations
// coexist, each under its own run prefix (src/netsim/names.ts) with no address in the host namespace.
const TWO_FILES = 2;

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
    projects: [
      { extends: true, test: { name: 'stages', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, MULTICLUSTER, ...ENVOY], maxWorkers: TWO_FILES, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'envoy', include: ENVOY, maxWorkers: TWO_FILES, globalSetup: ['test/support/envoy-global-setup.ts'], sequence: { groupOrder: 1 } } },
      // The three-cluster simulations run real xDS clients and servers against time bounds the
      // issues set (e.g. a hot-reloaded grant within 2 s): they run last, one file at a time.
      { extends: true, test: { name: 'multicluster', include: [MULTICLUSTER], fileParallelism: false, sequence: { groupOrder: 2 } } },
    ],
  },
});
