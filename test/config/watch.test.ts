import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { watchConfig, type ConfigWatcher } from '../../src/config/watch.js';
import { applyConfig, StaticDiscovery } from '../../src/discovery/static/static-discovery.js';
import { ModelStore } from '../../src/model/store.js';
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

const SECOND_WORKLOAD = `---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata:
  name: reviews-v2-0
  namespace: default
  cluster: c1
spec:
  address: 127.0.1.22
  labels: {app: reviews, version: v2}
`;

/** Resolves with the next config handed to onChange, or rejects after `ms`. */
function nextChange(queue: MeshConfig[], waiters: ((c: MeshConfig) => void)[], ms: number): Promise<MeshConfig> {
  const ready = queue.shift();
  if (ready) return Promise.resolve(ready);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no config change within ${ms} ms`)), ms);
    waiters.push((c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function startWatching(paths: string[]) {
  const queue: MeshConfig[] = [];
  const waiters: ((c: MeshConfig) => void)[] = [];
  const store = new ModelStore();
  const discovery = new StaticDiscovery();
  return {
    store,
    async start() {
      watcher = await watchConfig(paths, (config) => {
        applyConfig(store, discovery, config);
        const w = waiters.shift();
        if (w) w(config);
        else queue.push(config);
      });
      if (watcher.config) applyConfig(store, discovery, watcher.config);
      return watcher;
    },
    next: (ms = 1000) => nextChange(queue, waiters, ms),
  };
}

test('a valid change takes effect within 1 s, through to the model', async () => {
  tmp.write('mesh.yaml', BASE_TOPOLOGY);
  const h = startWatching([tmp.dir]);
  const w = await h.start();
  const first = w.config!;
  expect(first.workloads).toHaveLength(1);
  expect(h.store.current.endpoints.get('c1/default/reviews')).toHaveLength(1);

  const started = Date.now();
  tmp.write('mesh.yaml', BASE_TOPOLOGY + SECOND_WORKLOAD);
  const next = await h.next(1000);
  expect(Date.now() - started).toBeLessThan(1000);
  expect(next.workloads).toHaveLength(2);
  expect(next.version).not.toBe(first.version);
  expect(w.config).toBe(next);
  expect(h.store.current.endpoints.get('c1/default/reviews')!.map((e) => e.address)).toEqual(['127.0.1.21', '127.0.1.22']);
  expect(w.status().lastGood?.version).toBe(next.version);
  expect(w.status().reloads.applied).toBe(1);
});

test('an editor that saves by renaming a new file over the old one is noticed', async () => {
  const file = tmp.write('mesh.yaml', BASE_TOPOLOGY);
  const h = startWatching([file]);
  await h.start();
  const swap = join(tmp.dir, '.mesh.yaml.swp');
  writeFileSync(swap, BASE_TOPOLOGY + SECOND_WORKLOAD);
  renameSync(swap, file);
  const next = await h.next(1000);
  expect(next.workloads.map((x) => x.name)).toEqual(['reviews-v1-0', 'reviews-v2-0']);
});

test('an invalid change is reported and the last good config keeps serving; fixing it applies', async () => {
  tmp.write('mesh.yaml', BASE_TOPOLOGY);
  const invalidSeen: number[] = [];
  const h = startWatching([tmp.dir]);
  const w = await h.start();
  const good = w.config!;
  const goodModel = h.store.current;

  tmp.write('mesh.yaml', BASE_TOPOLOGY.replace('    port: 9080', '    port: nine') + SECOND_WORKLOAD);
  await until(() => w.status().lastAttempt?.ok === false, 1000);
  invalidSeen.push(w.status().reloads.invalid);
  const status = w.status();
  expect(status.lastAttempt!.errors).toEqual([`${join(tmp.dir, 'mesh.yaml')}:22: Service reviews: spec.ports[0].port: expected a port number 1..65535`]);
  expect(status.lastGood!.version).toBe(good.version);
  expect(w.config).toBe(good);
  expect(h.store.current).toBe(goodModel);
  expect(invalidSeen[0]).toBeGreaterThanOrEqual(1);

  tmp.write('mesh.yaml', BASE_TOPOLOGY + SECOND_WORKLOAD);
  const fixed = await h.next(1000);
  expect(fixed.workloads).toHaveLength(2);
  expect(w.status().lastAttempt!.ok).toBe(true);
  expect(h.store.current.workloads.size).toBe(2);
});

test('a new file in a watched directory is loaded; a deleted one is unloaded', async () => {
  tmp.write('a.yaml', BASE_TOPOLOGY);
  const h = startWatching([tmp.dir]);
  await h.start();
  tmp.write('b.yml', SECOND_WORKLOAD.replace('---\n', ''));
  tmp.write('notes.txt', 'ignored');
  const withB = await h.next(1000);
  expect(withB.files.map((f) => f.slice(tmp.dir.length + 1))).toEqual(['a.yaml', 'b.yml']);
  expect(h.store.current.workloads.size).toBe(2);
  const { rmSync } = await import('node:fs');
  rmSync(join(tmp.dir, 'b.yml'));
  const withoutB = await h.next(1000);
  expect(withoutB.workloads).toHaveLength(1);
  expect(h.store.current.workloads.size).toBe(1);
});
