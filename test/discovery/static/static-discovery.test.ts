import { afterEach, beforeEach, expect, test } from 'vitest';
import { loadConfig } from '../../../src/config/loader.js';
import type { MeshConfig } from '../../../src/config/mesh-config.js';
import { applyConfig, StaticDiscovery, staticClusters, staticEvents } from '../../../src/discovery/static/static-discovery.js';
import { ModelStore } from '../../../src/model/store.js';
import type { TopologyEvent } from '../../../src/model/types.js';
import { BASE_TOPOLOGY, tempDir, type TempDir } from '../../config/helpers.js';

let tmp: TempDir;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

const KUBE_CLUSTER = `---
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: k1}
spec:
  discovery: {kubernetes: {kubeconfig: /dev/null, context: kind-k1}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: declared-anyway, cluster: k1}
spec: {address: 127.0.5.1}
`;

async function load(text: string): Promise<MeshConfig> {
  const r = await loadConfig([tmp.write(`mesh-${Math.random().toString(36).slice(2)}.yaml`, text)]);
  expect(r.errors).toEqual([]);
  return r.config!;
}

test('config topology becomes one replaceCluster per static cluster; Kubernetes clusters are left to their source', async () => {
  const config = await load(BASE_TOPOLOGY + KUBE_CLUSTER);
  expect(staticClusters(config)).toEqual(['c1']);
  const { events, managed } = staticEvents(config);
  expect([...managed]).toEqual(['c1']);
  expect(events).toHaveLength(1);
  const ev = events[0] as Extract<TopologyEvent, { kind: 'replaceCluster' }>;
  expect(ev.kind).toBe('replaceCluster');
  expect(ev.cluster).toBe('c1');
  expect(ev.services.map((s) => s.name)).toEqual(['reviews']);
  expect(ev.workloads.map((w) => w.name)).toEqual(['reviews-v1-0']);
});

test('as a DiscoverySource: start reports the topology, update reports a reload, removed objects and clusters disappear', async () => {
  const store = new ModelStore();
  const first = await load(BASE_TOPOLOGY);
  store.applyDeclarations(first);
  const source = new StaticDiscovery(first);
  const batches: (readonly TopologyEvent[])[] = [];
  await source.start((events) => {
    batches.push(events);
    store.applyEvents(events);
  });
  expect(batches).toHaveLength(1);
  expect(store.current.endpoints.get('c1/default/reviews')!.map((e) => e.address)).toEqual(['127.0.1.21']);

  // Reload without the workload: it leaves the model.
  const second = await load(BASE_TOPOLOGY.slice(0, BASE_TOPOLOGY.lastIndexOf('---')));
  store.applyDeclarations(second);
  source.update(second);
  expect(store.current.workloads.size).toBe(0);
  expect(store.current.endpoints.get('c1/default/reviews')).toEqual([]);

  // Reload without cluster c1 at all: its objects are removed too.
  const third = await load(`apiVersion: crossmesh.io/v1alpha1\nkind: Cluster\nmetadata: {name: other}\n`);
  const cs = applyConfig(store, source, third);
  expect(cs.services.removed).toEqual(['c1/default/reviews']);
  expect(cs.clusters).toEqual({ added: ['other'], changed: [], removed: ['c1'] });
  expect(store.current.services.size).toBe(0);
  await source.stop();
});
