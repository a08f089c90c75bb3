/**
 * explainProxy against the default mesh (examples/default): what it says agrees with what the
 * publisher serves the node (assignments, routes, aggregates, the destination's RBAC filter), and
 * the reasons it gives are the documented ones (same zone, region, other network via gateway; the
 * conflict rule; the AccessPolicy that decides).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultMeshDir } from '../../src/config/default-mesh.js';
import { loadConfig } from '../../src/config/loader.js';
import { StaticDiscovery, applyConfig } from '../../src/discovery/static/static-discovery.js';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { ModelStore } from '../../src/model/store.js';
import { explainProxy, type Explanation } from '../../src/translate/explain.js';
import { MeshView } from '../../src/translate/index.js';
import type { ProxyResources } from '../../src/translate/resources.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { MeshPublisher } from '../../src/xds/mesh-publisher.js';
import type { NodeInfo } from '../../src/xds/types.js';
import { defaultMeshStore } from './default-mesh.js';

type Obj = Record<string, any>;

const PRODUCTPAGE = 'cluster1/default/productpage-v1-0';
const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';
const V1 = 'outbound|9080|version-v1|reviews.default.svc.cluster.local';
const V2 = 'outbound|9080|version-v2|reviews.default.svc.cluster.local';
const V3 = 'outbound|9080|version-v3|reviews.default.svc.cluster2.global';

function explain(snapshot: MeshSnapshot, node: string, options: Parameters<typeof explainProxy>[2] = {}): Explanation {
  const e = explainProxy(new MeshView(snapshot), node, options);
  if (e instanceof Error) throw e;
  return e;
}

/** What the publisher serves a node through a real snapshot cache: what crossmesh would send it. */
function served(store: ModelStore, id: string, role?: string): ProxyResources {
  const cache = new SnapshotCache({ debounceMs: 1 });
  const publisher = MeshPublisher.attach(store, cache);
  try {
    const node: NodeInfo = { id, cluster: '', metadata: role ? { role } : {}, locality: { region: '', zone: '', sub_zone: '' }, userAgentName: 't', userAgentVersion: '' };
    const g = cache.resolve(node, undefined);
    if (g instanceof Error) throw g;
    const r = publisher.resourcesOf(id);
    if (!r) throw new Error(`nothing served to ${id}`);
    return r;
  } finally {
    publisher.close();
    cache.close();
  }
}

/** A locality group of an assignment as a comparable row. */
function claRows(cla: Obj): unknown[] {
  return (cla.endpoints as Obj[]).map((l) => ({
    priority: l.priority,
    locality: { region: l.locality.region, zone: l.locality.zone, subzone: l.locality.sub_zone },
    weight: l.load_balancing_weight.value,
    endpoints: (l.lb_endpoints as Obj[]).map((e) => ({ address: e.endpoint.address.socket_address.address, port: e.endpoint.address.socket_address.port_value, health: e.health_status, weight: e.load_balancing_weight.value })),
  }));
}

function explainedRows(e: Explanation, cluster: string): unknown[] {
  const a = e.endpoints.find((x) => x.cluster === cluster);
  expect(a, cluster).toBeDefined();
  return a!.priorities.flatMap((p) => p.localities.map((l) => ({ priority: p.priority, locality: l.locality, weight: l.weight, endpoints: l.endpoints })));
}

const RANK = { zone: 0, region: 1, elsewhere: 2 } as const;

let store: ModelStore;
beforeAll(async () => {
  store = await defaultMeshStore();
});

describe('explainProxy: a productpage sidecar in cluster1 of the default mesh', () => {
  it('names the proxy: role, placement, identity, the mesh and what scoping sends it', () => {
    const e = explain(store.current, PRODUCTPAGE);
    expect(e.proxy).toMatchObject({ role: 'sidecar', cluster: 'cluster1', namespace: 'default', network: 'net1', locality: { region: 'us-east', zone: 'us-east-1a', subzone: '' }, identity: 'spiffe://cluster1/ns/default/sa/bookinfo-productpage', services: ['cluster1/default/productpage'] });
    expect(e.mesh).toEqual({ virtualMesh: 'crossmesh-system/virtual-mesh', visibleClusters: ['cluster1', 'cluster2', 'cluster3'], accessPolicyEnforced: true, dependencies: ['default/details', 'default/reviews'] });
    expect(e.rejected).toEqual([]);
  });

  it('lists reviews endpoints by priority with the reasons: same zone, same region, the other network through its gateway', () => {
    const a = explain(store.current, PRODUCTPAGE).endpoints.find((x) => x.cluster === REVIEWS)!;
    expect(a.overprovisioningFactor).toBe(140);
    const summary = a.priorities.map((p) => p.localities.map((l) => ({ priority: p.priority, places: l.places.map((x) => ({ cluster: x.cluster, gateway: x.gateway, endpoints: x.endpoints, reason: x.reason })) })));
    expect(summary).toEqual([
      [{ priority: 0, places: [{ cluster: 'cluster1', gateway: undefined, endpoints: 2, reason: 'same zone, this cluster' }] }],
      [{ priority: 1, places: [{ cluster: 'cluster3', gateway: undefined, endpoints: 2, reason: 'same region, another zone, another cluster' }] }],
      [{ priority: 2, places: [{ cluster: 'cluster2', gateway: '127.0.2.100:15443', endpoints: 1, reason: 'another region, another cluster' }] }],
    ]);
    const p2 = a.priorities[2]!.localities[0]!;
    expect(p2.places[0]).toMatchObject({ network: 'net2', closeness: { level: 'elsewhere', sameCluster: false } });
    // The gateway stands for reviews v3 (cluster2's only reviews): one serving endpoint, its weight.
    expect(p2.endpoints).toEqual([{ address: '127.0.2.100', port: 15443, health: 'HEALTHY', weight: 1 }]);
  });

  it('agrees with every ClusterLoadAssignment the publisher serves that node', () => {
    const e = explain(store.current, PRODUCTPAGE);
    const r = served(store, PRODUCTPAGE);
    expect(e.endpoints.map((a) => a.cluster)).toEqual([...r.endpoints.keys()]);
    for (const [name, cla] of r.endpoints) expect(explainedRows(e, name), name).toEqual(claRows(cla as Obj));
  });

  it('gives reasons that order like the priorities, for every node of the mesh', () => {
    for (const node of store.current.workloads.keys()) {
      const e = explain(store.current, node);
      for (const a of e.endpoints) {
        let last = -1;
        for (const p of a.priorities) {
          const ranks = new Set(p.localities.flatMap((l) => l.places.map((x) => RANK[x.closeness.level] * 2 + (x.closeness.sameCluster ? 0 : 1))));
          // One priority, one closeness; a later priority is never closer.
          expect(ranks.size, `${node} ${a.cluster} priority ${p.priority}`).toBe(1);
          const rank = [...ranks][0]!;
          expect(rank, `${node} ${a.cluster} priority ${p.priority}`).toBeGreaterThan(last);
          last = rank;
          for (const l of p.localities) for (const x of l.places) expect(x.gateway !== undefined, `${node} ${a.cluster}`).toBe(x.network !== e.proxy.network);
        }
      }
    }
  });

  it("shows the seed's traffic shift (75/15/10) as the TrafficPolicy on reviews, as the served route has it", () => {
    const e = explain(store.current, PRODUCTPAGE);
    const h = e.trafficPolicies.find((x) => x.host === 'reviews.default.svc.cluster.local')!;
    expect(h.policies).toEqual(['crossmesh-system/mgmt-reviews-outlier', 'crossmesh-system/simple']);
    expect(h.routeGroups).toHaveLength(1);
    const g = h.routeGroups[0]!;
    expect(g.matches).toEqual([]);
    expect(g.fields).toEqual([{ field: 'trafficShift', winner: 'crossmesh-system/simple', losers: [] }]);
    expect(g.destinations).toEqual([
      { cluster: V3, weight: 75 },
      { cluster: V1, weight: 15 },
      { cluster: V2, weight: 10 },
    ]);
    expect(g.leftOut).toEqual([]);
    expect(h.clusterFields).toEqual([{ field: 'outlierDetection', winner: 'crossmesh-system/mgmt-reviews-outlier', losers: [] }]);
    const vh = (served(store, PRODUCTPAGE).routes.get('9080') as Obj).virtual_hosts.find((v: Obj) => v.name === 'reviews.default.svc.cluster.local:9080');
    expect(g.destinations.map((d) => ({ name: d.cluster, weight: { value: d.weight } }))).toEqual(vh.routes[0].route.weighted_clusters.clusters);
    // cluster2's reviews goes to the failover service (the seed's slide 56).
    const c2 = e.trafficPolicies.find((x) => x.host === 'reviews.default.svc.cluster2.global')!;
    expect(c2.routeGroups[0]).toMatchObject({ policies: ['default/reviews-shift-failover'], destinations: [{ cluster: 'outbound|9080||reviews-failover.default.global' }] });
  });

  it('shows the failover service: its aggregate children in the order the served cluster tries them', () => {
    const e = explain(store.current, PRODUCTPAGE);
    expect(e.failover).toHaveLength(1);
    const f = e.failover[0]!;
    expect(f).toMatchObject({ failoverService: 'crossmesh-system/reviews-failover', hostname: 'reviews-failover.default.global', port: 9080, cluster: 'outbound|9080||reviews-failover.default.global' });
    expect(f.children).toEqual([
      { cluster: 'outbound|9080||reviews.default.svc.cluster2.global', firstPriority: 'cluster2 via gateway 127.0.2.100:15443' },
      { cluster: 'outbound|9080||reviews.default.svc.cluster1.global', firstPriority: '2 endpoints in cluster1' },
      { cluster: 'outbound|9080||reviews.default.svc.cluster3.global', firstPriority: '2 endpoints in cluster3' },
    ]);
    const agg = served(store, PRODUCTPAGE).clusters.get(f.cluster) as Obj;
    expect(f.children.map((c) => c.cluster)).toEqual(agg.cluster_type.typed_config.clusters);
  });

  it('lists the reachable hosts as the served route configuration names them', () => {
    const e = explain(store.current, PRODUCTPAGE);
    const vhosts = (served(store, PRODUCTPAGE).routes.get('9080') as Obj).virtual_hosts.map((v: Obj) => v.name).sort();
    expect(e.reachable.filter((r) => r.protocol === 'http').map((r) => r.name)).toEqual(vhosts);
    expect(e.reachable.find((r) => r.name === 'details.default.svc.cluster.local:9080')).toMatchObject({ domains: expect.arrayContaining(['details', 'details:9080']), routes: [{ name: 'default', destinations: [{ cluster: 'outbound|9080||details.default.svc.cluster.local' }] }] });
    expect(e.reachable.some((r) => r.name.startsWith('ratings.'))).toBe(false);
  });
});

/** The RBAC policies on a destination's inbound chain for a service port, as its listener is served. */
function servedRbac(node: string, service: string, port: number): Record<string, Obj> {
  const l = served(store, node).listeners.get('virtualInbound') as Obj;
  const chain = (l.filter_chains as Obj[]).find((c) => (c.filter_chain_match?.server_names ?? []).includes(`outbound_.${port}_._.${service}.default.svc.cluster.local`));
  expect(chain, `${node} chain for ${service}:${port}`).toBeDefined();
  const hcm = (chain!.filters as Obj[]).find((f) => f.name === 'envoy.filters.network.http_connection_manager')!;
  const rbac = (hcm.typed_config.http_filters as Obj[]).find((f) => f.name === 'envoy.filters.http.rbac')!;
  return rbac.typed_config.rules.policies;
}

function admits(policy: Obj, id: string): boolean {
  return (policy.principals as Obj[]).some((p) => p.authenticated.principal_name.exact === id || (p.authenticated.principal_name.prefix !== undefined && id.startsWith(p.authenticated.principal_name.prefix)));
}

describe('explainProxy --to: the access check matches the AccessPolicies of examples/default', () => {
  it('productpage may call reviews: ALLOW by crossmesh-system/productpage in every cluster, as the reviews sidecar enforces it', () => {
    const a = explain(store.current, PRODUCTPAGE, { to: 'reviews' }).access!;
    expect(a).toMatchObject({ host: 'reviews.default.svc.cluster.local', port: 9080, caller: 'spiffe://cluster1/ns/default/sa/bookinfo-productpage', verdict: 'ALLOW', inConfiguration: true });
    expect(a.destinations.map((d) => [d.cluster, d.decision, d.policy])).toEqual([
      ['cluster1', 'ALLOW', 'crossmesh-system/productpage'],
      ['cluster2', 'ALLOW', 'crossmesh-system/productpage'],
      ['cluster3', 'ALLOW', 'crossmesh-system/productpage'],
    ]);
    const rbac = servedRbac('cluster1/default/reviews-v1-0', 'reviews', 9080);
    expect(admits(rbac['crossmesh-system/productpage']!, a.caller)).toBe(true);
  });

  it('productpage may not call ratings: DENY, only crossmesh-system/reviews is on that port, and ratings is not in its configuration', () => {
    const a = explain(store.current, PRODUCTPAGE, { to: 'ratings.default.svc.cluster.local:9080' }).access!;
    expect(a.verdict).toBe('DENY');
    expect(a.inConfiguration).toBe(false);
    for (const d of a.destinations) {
      expect(d).toMatchObject({ decision: 'DENY', allowedBy: [], otherPolicies: ['crossmesh-system/reviews'] });
      expect(d.reason).toBe(
        'globalAccessPolicy ENABLED (VirtualMesh crossmesh-system/virtual-mesh) and no AccessPolicy allows spiffe://cluster1/ns/default/sa/bookinfo-productpage; AccessPolicies on this port admit other callers only: crossmesh-system/reviews',
      );
    }
    expect(a.destinations.map((d) => d.cluster)).toEqual(['cluster1', 'cluster2', 'cluster3']);
    const rbac = servedRbac('cluster1/default/ratings-v1-0', 'ratings', 9080);
    expect(Object.keys(rbac)).toEqual(['crossmesh-system/reviews']);
    expect(Object.values(rbac).some((p) => admits(p, a.caller))).toBe(false);
  });

  it('reviews may call ratings (crossmesh-system/reviews); the ingress gateway may call productpage (crossmesh-system/ingress-gateway)', () => {
    const r = explain(store.current, 'cluster3/default/reviews-v2-0', { to: 'ratings:9080' }).access!;
    expect(r.verdict).toBe('ALLOW');
    expect(new Set(r.destinations.map((d) => d.policy))).toEqual(new Set(['crossmesh-system/reviews']));
    const i = explain(store.current, 'cluster1/crossmesh-system/ingress-gateway-0', { to: 'productpage.default' });
    expect(i.proxy.role).toBe('ingress');
    expect(i.access).toMatchObject({ verdict: 'ALLOW', host: 'productpage.default.svc.cluster.local' });
    expect(i.access!.destinations.map((d) => [d.cluster, d.policy])).toEqual([
      ['cluster1', 'crossmesh-system/ingress-gateway'],
      ['cluster2', 'crossmesh-system/ingress-gateway'],
    ]);
  });

  it('with globalAccessPolicy DISABLED every mesh caller is allowed, and says so', async () => {
    const open = await defaultMeshStore({ unscoped: true });
    const a = explain(open.current, PRODUCTPAGE, { to: 'ratings' }).access!;
    expect(a.verdict).toBe('ALLOW');
    expect(a.inConfiguration).toBe(true);
    expect(a.destinations[0]!.reason).toMatch(/^access policy is not enforced in cluster1 \(VirtualMesh crossmesh-system\/virtual-mesh does not have globalAccessPolicy ENABLED\): no RBAC filter/);
  });

  it('a FailoverService hostname is checked against each backing service', () => {
    const a = explain(store.current, PRODUCTPAGE, { to: 'reviews-failover.default.global' }).access!;
    expect(a).toMatchObject({ host: 'reviews-failover.default.global', port: 9080, verdict: 'ALLOW', inConfiguration: true });
    expect(a.destinations.map((d) => d.cluster)).toEqual(['cluster2', 'cluster1', 'cluster3']);
  });
});

describe('explainProxy errors', () => {
  it('an unknown node is named with close matches', () => {
    const e = explainProxy(new MeshView(store.current), 'cluster1/default/productpage');
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toBe(
      'unknown node "cluster1/default/productpage": no workload with that id (node ids are <cluster>/<namespace>/<name>); close matches: cluster1/default/productpage-v1-0, cluster2/default/productpage-v1-0',
    );
    expect((explainProxy(new MeshView(store.current), 'reviews-v1-0') as Error).message).toMatch(/close matches: cluster1\/default\/reviews-v1-0, cluster3\/default\/reviews-v1-0/);
  });

  it('an unknown --to host is named with close matches; a role the workload cannot play is refused', () => {
    const e = explainProxy(new MeshView(store.current), PRODUCTPAGE, { to: 'reveiws' });
    expect((e as Error).message).toBe('--to reveiws: no service named "reveiws" is visible from cluster1; close matches: reviews');
    expect((explainProxy(new MeshView(store.current), PRODUCTPAGE, { to: 'reviews:9999' }) as Error).message).toMatch(/^--to reviews:9999: no service port 9999 named "reviews" is visible from cluster1; close matches: reviews/);
    expect((explainProxy(new MeshView(store.current), PRODUCTPAGE, { role: 'ingress' }) as Error).message).toMatch(/no Ingress Gateway/);
  });
});

/** A store of the default mesh with `edit` applied to a copy of its files. */
async function editedMesh(edit: (dir: string) => void): Promise<ModelStore> {
  const dir = mkdtempSync(join(tmpdir(), 'crossmesh-explain-'));
  try {
    cpSync(defaultMeshDir(), dir, { recursive: true });
    edit(dir);
    const r = await loadConfig([dir]);
    if (!r.config) throw new Error(r.errors.map((x) => x.message).join('; '));
    const s = new ModelStore();
    applyConfig(s, new StaticDiscovery(r.config), r.config);
    return s;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('explainProxy --to: instances that decide differently', () => {
  it('productpage allowed to reviews in cluster1 only: SOME, ALLOW there and DENY in cluster2 and cluster3', async () => {
    const narrowed = await editedMesh((dir) => {
      const file = join(dir, 'access-policies.yaml');
      const text = readFileSync(file, 'utf8');
      const reviews = '      labels:\n        service: reviews\n';
      expect(text).toContain(reviews);
      writeFileSync(file, text.replace(reviews, `${reviews}      clusters:\n      - cluster1\n`));
    });
    const a = explain(narrowed.current, PRODUCTPAGE, { to: 'reviews' }).access!;
    expect(a.verdict).toBe('SOME');
    expect(a.destinations.map((d) => [d.cluster, d.decision, d.policy ?? null])).toEqual([
      ['cluster1', 'ALLOW', 'crossmesh-system/productpage'],
      ['cluster2', 'DENY', null],
      ['cluster3', 'DENY', null],
    ]);
    expect(a.destinations[1]!.reason).toBe('globalAccessPolicy ENABLED (VirtualMesh crossmesh-system/virtual-mesh) and no AccessPolicy allows spiffe://cluster1/ns/default/sa/bookinfo-productpage; no AccessPolicy selects this port');
  });
});

describe('explainProxy: TrafficPolicies beyond the default mesh (a conflict, an unavailable destination)', () => {
  let conflicted: ModelStore;
  beforeAll(async () => {
    // Sorts before crossmesh-system/simple, so it wins the trafficShift field; its timeout is uncontested.
    conflicted = await editedMesh((dir) =>
      writeFileSync(
        join(dir, 'zz-conflict.yaml'),
        `apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata: {namespace: crossmesh-system, name: a-all-v1}
spec:
  destinationSelector:
  - kubeServiceRefs: {services: [{clusterName: cluster1, name: reviews, namespace: default}]}
  requestTimeout: 3s
  trafficShift:
    destinations:
    - kubeService: {clusterName: cluster1, name: reviews, namespace: default, subset: {version: v1}}
      weight: 100
`,
      ),
    );
  });

  it('a shift destination the proxy cannot have is left out with the reason, as the served route leaves it out', async () => {
    const broken = await editedMesh((dir) =>
      writeFileSync(
        join(dir, 'zz-shift.yaml'),
        `apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata: {namespace: crossmesh-system, name: shift-c3}
spec:
  destinationSelector:
  - kubeServiceRefs: {services: [{clusterName: cluster3, name: reviews, namespace: default}]}
  trafficShift:
    destinations:
    - kubeService: {clusterName: cluster3, name: reviews, namespace: default, subset: {version: v1}}
      weight: 50
    - kubeService: {clusterName: cluster3, name: details, namespace: default, port: 9999}
      weight: 50
`,
      ),
    );
    const g = explain(broken.current, PRODUCTPAGE).trafficPolicies.find((x) => x.host === 'reviews.default.svc.cluster3.global')!.routeGroups[0]!;
    const v1 = 'outbound|9080|version-v1|reviews.default.svc.cluster3.global';
    expect(g.destinations).toEqual([{ cluster: v1 }]);
    expect(g.leftOut).toEqual([{ destination: 'default/details in cluster3', reason: 'service default/details has no port 9999' }]);
    const vh = (served(broken, PRODUCTPAGE).routes.get('9080') as Obj).virtual_hosts.find((v: Obj) => v.name === 'reviews.default.svc.cluster3.global:9080');
    expect(vh.routes[0].route.cluster).toBe(v1);
  });

  it('names the winner by the conflict rule, and the served route follows it', () => {
    const e = explain(conflicted.current, PRODUCTPAGE);
    const g = e.trafficPolicies.find((x) => x.host === 'reviews.default.svc.cluster.local')!.routeGroups[0]!;
    expect(g.policies).toEqual(['crossmesh-system/a-all-v1', 'crossmesh-system/simple']);
    expect(g.fields).toEqual([
      { field: 'trafficShift', winner: 'crossmesh-system/a-all-v1', losers: ['crossmesh-system/simple'] },
      { field: 'requestTimeoutMs', winner: 'crossmesh-system/a-all-v1', losers: [] },
    ]);
    expect(e.conflictRule).toBe('the policy whose <namespace>/<name> sorts first wins the field');
    expect(g.destinations).toEqual([{ cluster: V1 }]);
    const vh = (served(conflicted, PRODUCTPAGE).routes.get('9080') as Obj).virtual_hosts.find((v: Obj) => v.name === 'reviews.default.svc.cluster.local:9080');
    expect(vh.routes[0].route.cluster).toBe(V1);
    expect(vh.routes[0].route.timeout).toEqual({ seconds: 3 });
  });
});
