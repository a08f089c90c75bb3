/**
 * Through the real publisher path (ModelStore → MeshPublisher → guard → SnapshotCache): an
 * endpoint change re-encodes only the assignments it changed, and proxies in different groups
 * that receive an identical resource share one encoding.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModelStore } from '../../src/model/store.js';
import { encodedCount } from '../../src/xds/codec.js';
import { SnapshotCache, type GroupChange } from '../../src/xds/cache.js';
import { MeshPublisher } from '../../src/xds/mesh-publisher.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, type NodeInfo, type TypeUrl } from '../../src/xds/types.js';
import { defaultMeshStore } from '../translate/default-mesh.js';

function node(id: string): NodeInfo {
  return { id, cluster: '', metadata: {}, locality: { region: '', zone: '', sub_zone: '' }, userAgentName: 't', userAgentVersion: '' };
}

let store: ModelStore;
let cache: SnapshotCache;
let publisher: MeshPublisher;
beforeEach(async () => {
  store = await defaultMeshStore({ unscoped: true });
  cache = new SnapshotCache({ debounceMs: 1 });
  publisher = MeshPublisher.attach(store, cache);
});
afterEach(() => {
  publisher.close();
  cache.close();
});

function groups(id: string): ReadonlyMap<TypeUrl, string> {
  const g = cache.resolve(node(id), undefined);
  if (g instanceof Error) throw g;
  return g;
}

describe('MeshPublisher encoding', () => {
  it('an endpoint change encodes only the rebuilt assignments of that service, not the groups', () => {
    const a = groups('cluster1/default/productpage-v1-0');
    const b = groups('cluster2/default/reviews-v3-0');
    expect(a.get(ENDPOINT_TYPE)).not.toBe(b.get(ENDPOINT_TYPE));
    const batches: GroupChange[] = [];
    cache.onChange((x) => batches.push(...x));
    cache.flush();
    batches.length = 0;
    const before = encodedCount();
    const rebuiltBefore = publisher.stats().assignmentsRebuilt;
    const w = store.current.workloads.get('cluster1/default/reviews-v2-0')!;
    store.applyEvents([{ kind: 'upsertWorkload', workload: { ...w, health: 'UNHEALTHY' } }]);
    const encoded = encodedCount() - before;
    cache.flush();
    expect(new Set(batches.map((c) => c.typeUrl))).toEqual(new Set([ENDPOINT_TYPE]));
    const changed = batches.reduce((n, c) => n + c.names.size, 0);
    expect(changed).toBeGreaterThan(0);
    // Only the rebuilt assignments of that service were encoded (one two groups share counts once);
    // the rest of each group kept its bytes.
    const rebuilt = publisher.stats().assignmentsRebuilt - rebuiltBefore;
    expect(encoded).toBeGreaterThanOrEqual(changed / 2);
    expect(encoded).toBeLessThanOrEqual(rebuilt);
    const eds = cache.get(a.get(ENDPOINT_TYPE)!, ENDPOINT_TYPE).resources.size;
    expect(encoded).toBeLessThan(eds);
  });

  it('groups of different proxies hold the same bytes for an identical resource', () => {
    const a = groups('cluster1/default/productpage-v1-0');
    const b = groups('cluster1/default/details-v1-0');
    const c = groups('cluster3/default/reviews-v2-0');
    const sets = [a, b, c].map((g) => cache.get(g.get(CLUSTER_TYPE)!, CLUSTER_TYPE).resources);
    const name = 'outbound|9080||details.default.svc.cluster.local';
    const [x, y, z] = sets.map((s) => s.get(name)!);
    expect(x).toBeDefined();
    if (a.get(CLUSTER_TYPE) !== b.get(CLUSTER_TYPE)) expect(y!.any).toBe(x!.any);
    if (z!.version === x!.version) expect(z!.any).toBe(x!.any);
    // Across all groups, every distinct (name, version) is one Buffer.
    const seen = new Map<string, Buffer>();
    for (const s of sets) for (const r of s.values()) {
      const k = `${r.name}|${r.version}`;
      const prev = seen.get(k);
      if (prev) expect(r.any).toBe(prev);
      else seen.set(k, r.any);
    }
  });
});
