/**
 * SotW versions of distinct resource sets leave nothing behind: thousands of endpoint changes (each
 * a new set of 40 EDS resources) must not hold megabytes of keys, which a soak reads as heap growth,
 * while the same set keeps its version.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { setVersion } from '../../src/xds/codec.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Set number `i`: 40 clusters' assignments, each at a version of its own. */
function set(i: number): { name: string; version: string }[] {
  return Array.from({ length: 40 }, (_, k) => ({ name: `outbound|8080||svc-${k}.bench.svc.cluster.local`, version: `${i}-${k}`.padStart(16, '0') }));
}

it('4,000 distinct sets of 40 resources leave under 2 MiB of heap behind', () => {
  const versions = new Set<string>();
  const before = heapAfterGc();
  for (let i = 0; i < 4000; i++) versions.add(setVersion(set(i)));
  const grown = heapAfterGc() - before - versions.size * 64;
  expect(versions.size).toBe(4000);
  expect(grown).toBeLessThan(2 * 1024 * 1024);
});

it('a set keeps its version, whatever the order of its resources and the sets hashed between', () => {
  const v = setVersion(set(1));
  for (let i = 0; i < 4000; i++) setVersion(set(i + 10_000));
  expect(setVersion([...set(1)].reverse())).toBe(v);
});
