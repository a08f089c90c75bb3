/**
 * Issue 16, item 5: a reload never applies a half-written file and converges to what is on disk
 * (real files written into a watched directory).
 */
import { linkSync, mkdtempSync, openSync, rmSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { watchConfig, type ConfigWatcher } from '../../src/config/watch.js';
import { BASE_TOPOLOGY, tempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
let watcher: ConfigWatcher | undefined;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  watcher?.close();
  watcher = undefined;
  tmp.remove();
});

const workload = (i: number) => `---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: reviews-v2-${i}, namespace: default, cluster: c1}
spec: {address: 127.0.2.${i + 1}, labels: {app: reviews, version: v2}}
`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

test('a file copied in slowly, in chunks, is applied only once complete: never empty, never partial', { timeout: 20_000 }, async () => {
  tmp.write('a.yaml', BASE_TOPOLOGY);
  const applied: MeshConfig[] = [];
  watcher = await watchConfig([tmp.dir], (c) => applied.push(c), { debounceMs: 50, settleMs: 1000, resyncMs: 0 });

  // Like a slow copy: the file exists empty first, then grows by whole documents (each prefix is valid YAML).
  const fd = openSync(join(tmp.dir, 'b.yaml'), 'w');
  for (let i = 0; i < 4; i++) {
    await sleep(300);
    writeSync(fd, workload(i));
  }
  closeSync(fd);

  await until(() => applied.some((c) => c.workloads.length === 5), 5000, 'the complete file applied');
  await sleep(300);
  // Every configuration handed over either lacks b.yaml or has all of it.
  for (const c of applied) expect(c.workloads.length, `applied ${c.workloads.map((w) => w.name).join(', ')}`).toBe(5);
  expect(applied).toHaveLength(1);
  expect(watcher.config!.workloads.map((w) => w.name).sort()).toEqual(['reviews-v1-0', 'reviews-v2-0', 'reviews-v2-1', 'reviews-v2-2', 'reviews-v2-3']);
});

test('a change the watcher gets no event for (written through a link outside the directory) is picked up by the resync', { timeout: 20_000 }, async () => {
  const file = tmp.write('a.yaml', BASE_TOPOLOGY);
  const elsewhere = mkdtempSync(join(tmpdir(), 'crossmesh-elsewhere-'));
  try {
    const link = join(elsewhere, 'same-inode.yaml');
    linkSync(file, link);
    watcher = await watchConfig([tmp.dir], () => undefined, { debounceMs: 50, settleMs: 50, resyncMs: 300 });
    expect(watcher.config!.workloads).toHaveLength(1);
    // inotify reports writes on the directory the file was opened through: this one is silent here.
    writeFileSync(link, BASE_TOPOLOGY + workload(0));
    await until(() => watcher!.config!.workloads.length === 2, 5000, 'the silent change applied');
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

test('an empty file that stays empty is loaded once it has settled', { timeout: 20_000 }, async () => {
  tmp.write('a.yaml', BASE_TOPOLOGY);
  watcher = await watchConfig([tmp.dir], () => undefined, { debounceMs: 50, settleMs: 300, resyncMs: 0 });
  const first = watcher.config!.version;
  tmp.write('empty.yaml', '');
  await until(() => watcher!.config!.files.length === 2, 5000, 'the empty file loaded');
  expect(watcher.config!.version).not.toBe(first);
  expect(watcher.config!.workloads).toHaveLength(1);
});
