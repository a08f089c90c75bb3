/**
 * The mesh publisher with a real SnapshotCache: grouping and sharing, compute on resolve,
 * incremental recompute from ChangeSets, the guard keeping the last good resource, unknown nodes;
 * and a real ADS stream on 127.0.0.1 receiving a sidecar's resources and an endpoint update.
 */
import { register } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModelStore } from '../../src/model/store.js';
import type { Workload } from '../../src/model/types.js';
import { SnapshotCache, type GroupChange } from '../../src/xds/cache.js';
import { MeshPublisher } from '../../src/xds/mesh-publisher.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, type NodeInfo, type TypeUrl } from '../../src/xds/types.js';
import { startHarness, until, type Harness } from '../support/xds-harness.js';
import { testNode } from '../support/xds-client.js';
import { defaultMeshStore } from './default-mesh.js';

function node(id: string, role?: string): NodeInfo {
  return { id, cluster: '', metadata: role ? { role } : {}, locality: { region: '', zone: '', sub_zone: '' }, userAgentName: 't', userAgentVersion: '' };
}

function groupsOf(cache: SnapshotCache, n: NodeInfo): ReadonlyMap<TypeUrl, string> {
  const g = cache.resolve(n, undefined);
  if (g instanceof Error) throw g;
  return g;
}

/** Collects the cache's change batches (flushed synchronously). */
function recorder(cache: SnapshotCache): { take(): GroupChange[] } {
  let seen: GroupChange[] = [];
  cache.onChange((b) => seen.push(...b));
  return {
    take() {
      cache.flush();
      const out = seen;
      seen = [];
      return out;
    },
  };
}

async function guardCount(type: string): Promise<number> {
  const m = await register.getSingleMetric('crossmesh_guard_rejections_total')!.get();
  return m.values.filter((v) => v.labels.type === type).reduce((s, v) => s + v.value, 0);
}

let store: ModelStore;
let cache: SnapshotCache;
let publisher: MeshPublisher;
beforeEach(async () => {
  // Publishing mechanics over the whole mesh: with access unscoped every sidecar sees every service.
  store = await defaultMeshStore({ unscoped: true });
  cache = new SnapshotCache({ debounceMs: 1 });
  publisher = MeshPublisher.attach(store, cache);
});
afterEach(() => {
  publisher.close();
  cache.close();
});

function workload(key: string): Workload {
  const w = store.current.workloads.get(key);
  if (!w) throw new Error(`no workload ${key}`);
  return w;
}

describe('MeshPublisher', () => {
  it('refuses an unknown node with a clear error, and lists it', () => {
    const r = cache.resolve(node('cluster1/default/ghost-0'), undefined);
    expect(r).toBeInstanceOf(Error);
    expect((r as Error).message).toBe('node cluster1/default/ghost-0: no workload "ghost-0" in namespace "default" of cluster "cluster1"');
    expect((cache.resolve(node('cluster9/default/x'), undefined) as Error).message).toMatch(/cluster "cluster9" is not in the mesh \(known clusters: cluster1, cluster2, cluster3\)/);
    expect((cache.resolve(node('cluster1/default/productpage-v1-0', 'ingress'), undefined) as Error).message).toMatch(/no Ingress Gateway|not translated/);
    expect(publisher.status().unresolved.map((u) => u.node)).toEqual(['cluster1/default/ghost-0', 'cluster1/default/productpage-v1-0', 'cluster9/default/x']);
    expect(publisher.stats().computations).toEqual({ clusters: 0, endpoints: 0, listeners: 0, routes: 0 });
  });

  it('computes a group when its first node resolves and shares it with proxies that get identical resources', () => {
    // Two replicas of reviews v1 in cluster3: same cluster, locality, identity, services and subsets.
    store.applyEvents([{ kind: 'upsertWorkload', workload: { ...workload('cluster3/default/reviews-v1-0'), name: 'reviews-v1-1', address: '127.0.3.99' } }]);
    const a = groupsOf(cache, node('cluster3/default/reviews-v1-0'));
    expect(publisher.stats().computations).toEqual({ clusters: 1, endpoints: 1, listeners: 1, routes: 1 });
    const b = groupsOf(cache, node('cluster3/default/reviews-v1-1'));
    for (const t of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE] as const) expect(b.get(t)).toBe(a.get(t));
    expect(a.get(SECRET_TYPE)).toBe('sds|spiffe://cluster3/ns/default/sa/bookinfo-reviews');
    expect(publisher.stats().computations).toEqual({ clusters: 1, endpoints: 1, listeners: 1, routes: 1 });
    expect(publisher.stats().shared).toEqual({ clusters: 1, endpoints: 1, listeners: 1, routes: 1 });
    const cds = cache.get(a.get(CLUSTER_TYPE)!, CLUSTER_TYPE);
    expect(cds.ready).toBe(true);
    expect(cds.resources.has('outbound|9080||reviews.default.svc.cluster.local')).toBe(true);
    // A proxy serving another service shares everything but its listeners.
    const c = groupsOf(cache, node('cluster3/default/ratings-v1-0'));
    expect(c.get(CLUSTER_TYPE)).toBe(a.get(CLUSTER_TYPE));
    expect(c.get(ENDPOINT_TYPE)).toBe(a.get(ENDPOINT_TYPE));
    expect(c.get(LISTENER_TYPE)).not.toBe(a.get(LISTENER_TYPE));
    expect(publisher.stats().computations.listeners).toBe(2);
    const g = publisher.status().groups.find((x) => x.key === a.get(CLUSTER_TYPE))!;
    expect(g.nodes).toEqual(['cluster3/default/ratings-v1-0', 'cluster3/default/reviews-v1-0', 'cluster3/default/reviews-v1-1']);
    expect(g.resources).toBe(cds.resources.size);
  });

  it('an endpoint change rebuilds only that service assignments, in every EDS group, and nothing else', () => {
    const sidecar = groupsOf(cache, node('cluster1/default/productpage-v1-0'));
    const gateway = groupsOf(cache, node('cluster1/crossmesh-system/east-west-gateway-0', 'gateway'));
    const changes = recorder(cache);
    changes.take();
    const before = publisher.stats();
    store.applyEvents([{ kind: 'upsertWorkload', workload: { ...workload('cluster1/default/reviews-v2-0'), health: 'UNHEALTHY' } }]);
    const after = publisher.stats();
    expect(after.computations).toEqual(before.computations); // no group recomputed
    expect(after.clustersRebuilt).toBe(0); // identities unchanged: CDS untouched
    // sidecar: reviews local + 3 .global + 3 subsets; gateway of cluster1: reviews + its v1, v2 subsets
    // Exactly the reviews assignments of each EDS group are rebuilt (every subset and .global form).
    const reviewsAssignments = [sidecar, gateway]
      .map((g) => [...cache.get(g.get(ENDPOINT_TYPE)!, ENDPOINT_TYPE).resources.keys()].filter((n) => n.includes('|reviews.')).length)
      .reduce((a, b) => a + b, 0);
    expect(after.assignmentsRebuilt - before.assignmentsRebuilt).toBe(reviewsAssignments);
    const batch = changes.take();
    expect(new Set(batch.map((c) => c.typeUrl))).toEqual(new Set([ENDPOINT_TYPE]));
    expect(new Set(batch.map((c) => c.group))).toEqual(new Set([sidecar.get(ENDPOINT_TYPE), gateway.get(ENDPOINT_TYPE)]));
    const changed = batch.flatMap((c) => [...c.names].map((n) => `${c.group === sidecar.get(ENDPOINT_TYPE) ? 'sidecar' : 'gateway'} ${n}`)).sort();
    expect(changed).toEqual([
      'gateway outbound|9080|version-v2|reviews.default.svc.cluster.local',
      'gateway outbound|9080||reviews.default.svc.cluster.local',
      'sidecar outbound|9080|version-v2|reviews.default.svc.cluster.local',
      'sidecar outbound|9080|version-v2|reviews.default.svc.cluster1.global',
      'sidecar outbound|9080||reviews.default.svc.cluster.local',
      'sidecar outbound|9080||reviews.default.svc.cluster1.global',
    ]);
    const cla = cache.get(sidecar.get(ENDPOINT_TYPE)!, ENDPOINT_TYPE).resources.get('outbound|9080|version-v2|reviews.default.svc.cluster1.global')!;
    expect(cla).toBeDefined();
  });

  it('rebuilds the clusters of a service, and nothing else in CDS, when the identities behind it change', () => {
    const g = groupsOf(cache, node('cluster1/default/productpage-v1-0'));
    const changes = recorder(cache);
    changes.take();
    const before = publisher.stats();
    store.applyEvents([{ kind: 'upsertWorkload', workload: { ...workload('cluster1/default/ratings-v1-0'), name: 'ratings-v1-1', address: '127.0.1.15', serviceAccount: 'ratings-canary' } }]);
    const after = publisher.stats();
    expect(after.computations).toEqual(before.computations);
    expect(after.clustersRebuilt - before.clustersRebuilt).toBe(4); // ratings' clusters: .cluster.local and three .global
    const cds = changes.take().filter((c) => c.typeUrl === CLUSTER_TYPE);
    expect(cds.flatMap((c) => [...c.names]).sort()).toEqual(['outbound|9080||ratings.default.svc.cluster.local', 'outbound|9080||ratings.default.svc.cluster1.global']);
    const c = cache.get(g.get(CLUSTER_TYPE)!, CLUSTER_TYPE).resources.get('outbound|9080||ratings.default.svc.cluster1.global')!;
    expect(c.any.toString('latin1')).toContain('spiffe://cluster1/ns/default/sa/ratings-canary');
  });

  it('keeps the last good resource when a change produces one the guard rejects, and surfaces the error', async () => {
    const g = groupsOf(cache, node('cluster1/default/productpage-v1-0'));
    const eds = g.get(ENDPOINT_TYPE)!;
    const name = 'outbound|9080||ratings.default.svc.cluster1.global';
    const good = cache.get(eds, ENDPOINT_TYPE).resources.get(name)!;
    const rejectionsBefore = await guardCount('eds');
    store.applyEvents([{ kind: 'upsertWorkload', workload: { ...workload('cluster1/default/ratings-v1-0'), address: '' } }]);
    expect(cache.get(eds, ENDPOINT_TYPE).resources.get(name)).toBe(good);
    const status = publisher.status().groups.find((x) => x.key === eds)!;
    expect(status.rejected.map((r) => r.name)).toContain(name);
    expect(status.rejected.find((r) => r.name === name)!.errors.join()).toMatch(/address/);
    expect(publisher.proxyStatus('cluster1/default/productpage-v1-0')).toMatchObject({ rejected: expect.arrayContaining([expect.objectContaining({ kind: 'endpoints', name })]) });
    expect(await guardCount('eds')).toBeGreaterThan(rejectionsBefore);
    // Fixing the input clears the rejection and publishes again.
    store.applyEvents([{ kind: 'upsertWorkload', workload: { ...workload('cluster1/default/ratings-v1-0'), address: '127.0.1.44' } }]);
    expect(publisher.status().groups.find((x) => x.key === eds)!.rejected).toEqual([]);
    expect(cache.get(eds, ENDPOINT_TYPE).resources.get(name)!.any.toString('latin1')).toContain('127.0.1.44');
  });

  it('moves a node to new groups when its workload changes and drops groups left empty', () => {
    const a = groupsOf(cache, node('cluster1/default/productpage-v1-0'));
    store.applyEvents([{ kind: 'upsertWorkload', workload: { ...workload('cluster1/default/productpage-v1-0'), locality: { region: 'us-east', zone: 'us-east-1c', subzone: '' } } }]);
    const b = groupsOf(cache, node('cluster1/default/productpage-v1-0'));
    expect(b.get(ENDPOINT_TYPE)).not.toBe(a.get(ENDPOINT_TYPE));
    expect(b.get(CLUSTER_TYPE)).toBe(a.get(CLUSTER_TYPE));
    publisher.prune(['cluster1/default/productpage-v1-0']);
    expect(publisher.status().groups.map((x) => x.key)).not.toContain(a.get(ENDPOINT_TYPE));
    publisher.prune([]);
    expect(publisher.status().groups).toEqual([]);
  });

  it('recomputes groups on a service change and adds the new service', () => {
    const g = groupsOf(cache, node('cluster1/default/productpage-v1-0'));
    const svc = store.current.services.get('cluster1/default/ratings')!;
    store.applyEvents([{ kind: 'upsertService', service: { ...svc, name: 'stars', selector: { app: 'ratings' } } }]);
    expect(cache.get(g.get(CLUSTER_TYPE)!, CLUSTER_TYPE).resources.has('outbound|9080||stars.default.svc.cluster.local')).toBe(true);
    expect(cache.get(g.get(ENDPOINT_TYPE)!, ENDPOINT_TYPE).resources.has('outbound|9080||stars.default.svc.cluster.local')).toBe(true);
    expect(publisher.stats().computations).toEqual({ clusters: 2, endpoints: 2, listeners: 2, routes: 2 });
  });
});

describe('MeshPublisher behind a real xDS server', () => {
  let h: Harness;
  let p: MeshPublisher;
  let s: ModelStore;
  beforeEach(async () => {
    h = await startHarness();
    s = await defaultMeshStore();
    p = MeshPublisher.attach(s, h.cache);
  });
  afterEach(async () => {
    p.close();
    await h.close();
  });

  it('serves a sidecar its clusters, listeners, routes and endpoints over ADS, and pushes an endpoint change', async () => {
    const stream = h.client().sotw();
    stream.send({ typeUrl: CLUSTER_TYPE, node: testNode('cluster1/default/productpage-v1-0') });
    const cds = await stream.next();
    expect(cds.names).toContain('outbound|9080||reviews.default.svc.cluster.local');
    expect(cds.names).toContain('inbound|9080||');
    expect(cds.names).toContain('PassthroughCluster');
    expect(cds.names).toContain('BlackHoleCluster');
    stream.ack(cds);
    stream.send({ typeUrl: ENDPOINT_TYPE, names: ['outbound|9080||reviews.default.svc.cluster.local'] });
    const eds = await stream.next();
    const cla = eds.resources[0]!.json as { endpoints: { priority?: number; lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] };
    expect(cla.endpoints.map((l) => l.priority ?? 0)).toEqual([0, 1, 2]);
    stream.ack(eds, ['outbound|9080||reviews.default.svc.cluster.local']);
    stream.send({ typeUrl: LISTENER_TYPE });
    const lds = await stream.next();
    expect(lds.names).toEqual(['0.0.0.0_9080', 'virtualInbound', 'virtualOutbound']);
    stream.ack(lds);
    stream.send({ typeUrl: ROUTE_TYPE, names: ['9080'] });
    const rds = await stream.next();
    expect(rds.names).toEqual(['9080']);
    stream.ack(rds, ['9080']);

    const w = s.current.workloads.get('cluster1/default/reviews-v2-0')!;
    s.applyEvents([{ kind: 'upsertWorkload', workload: { ...w, address: '127.0.1.99' } }]);
    const pushed = await stream.next();
    expect(pushed.type_url).toBe(ENDPOINT_TYPE);
    const addresses = (pushed.resources[0]!.json as typeof cla).endpoints[0]!.lb_endpoints.map((e) => e.endpoint.address.socket_address.address);
    expect(addresses).toEqual(['127.0.1.12', '127.0.1.99']);
    await stream.none(150); // nothing else (no CDS/LDS/RDS push) for an endpoint change
  });

  it('reports an unknown node on the server status and serves it nothing', async () => {
    const stream = h.client().sotw();
    stream.send({ typeUrl: CLUSTER_TYPE, node: testNode('cluster1/default/nobody') });
    await stream.none(200);
    await until(() => h.server.proxies().some((x) => x.resolverError !== null));
    expect(h.server.proxies()[0]!.resolverError).toMatch(/no workload "nobody"/);
  });
});
