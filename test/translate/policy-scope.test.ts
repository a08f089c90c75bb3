/**
 * Dependency-scoped configuration and policy changes through the real publisher and cache: under
 * `globalAccessPolicy: ENABLED` a sidecar gets only what its identity may reach (plus what its
 * TrafficPolicies send to), proxies with different dependencies never share a group, a policy
 * change recomputes only the groups of the proxies it selects, and `/debug/policies` (the
 * publisher's report) names proxies, resources, conflicts and problems.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TrafficPolicy } from '../../src/model/policies.js';
import type { ModelStore } from '../../src/model/store.js';
import { resolveProxy, translateProxy } from '../../src/translate/index.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { MeshPublisher } from '../../src/xds/mesh-publisher.js';
import { CLUSTER_TYPE, ROUTE_TYPE, type NodeInfo, type TypeUrl } from '../../src/xds/types.js';
import { seedFile, seedStore } from './policy-seed-mesh.js';

const SEED = ['01-virtual-mesh.yaml', '02-access-ingress-gateway.yaml', '03-access-productpage.yaml', '06-access-reviews-two-clusters.yaml', '05-traffic-policy-simple.yaml'].map(seedFile);
const NODES = ['kind2/default/productpage-v1-0', 'kind2/default/reviews-v1-0', 'kind2/default/reviews-v2-0', 'kind3/default/reviews-v3-0', 'kind2/default/ratings-v1-0', 'kind2/default/details-v1-0'];

function node(id: string): NodeInfo {
  return { id, cluster: '', metadata: {}, locality: { region: '', zone: '', sub_zone: '' }, userAgentName: 't', userAgentVersion: '' };
}

function services(names: Iterable<string>): string[] {
  return [...new Set([...names].filter((n) => n.startsWith('outbound|')).map((n) => n.split('|')[3]!.split('.')[0]!))].sort();
}

function setAccess(store: ModelStore, mode: 'ENABLED' | 'DISABLED', trafficPolicies?: TrafficPolicy[]): void {
  const s = store.current;
  store.applyDeclarations({
    clusters: [...s.clusters.values()],
    gateways: [...s.gateways.values()],
    policies: { ...s.policies, virtualMeshes: s.policies.virtualMeshes.map((vm) => ({ ...vm, globalAccessPolicy: mode })), ...(trafficPolicies ? { trafficPolicies } : {}) },
  });
}

describe('dependency-scoped configuration', () => {
  it('sends each sidecar only the services its identity may reach, and everything when enforcement is off', async () => {
    const { store } = await seedStore(SEED);
    const of = (id: string) => {
      const p = resolveProxy(store.current, id, 'sidecar');
      if (p instanceof Error) throw p;
      return translateProxy(store.current, p);
    };
    expect(services(of('kind2/default/productpage-v1-0').clusters.keys())).toEqual(['details', 'reviews']);
    expect(services(of('kind2/default/reviews-v1-0').clusters.keys())).toEqual(['ratings']);
    expect(services(of('kind2/default/ratings-v1-0').clusters.keys())).toEqual([]); // may call nothing
    const scoped = of('kind2/default/reviews-v1-0');
    setAccess(store, 'DISABLED');
    const full = of('kind2/default/reviews-v1-0');
    expect(services(full.clusters.keys())).toEqual(['details', 'productpage', 'ratings', 'reviews']);
    expect(scoped.clusters.size).toBeLessThan(full.clusters.size);
    expect(scoped.endpoints.size).toBeLessThan(full.endpoints.size);
    expect(JSON.stringify([...scoped.routes.values()]).length).toBeLessThan(JSON.stringify([...full.routes.values()]).length / 2);
  });
});

describe('through the publisher', () => {
  let publisher: MeshPublisher | undefined;
  let cache: SnapshotCache | undefined;
  afterEach(() => {
    publisher?.close();
    cache?.close();
  });

  async function attach(): Promise<{ store: ModelStore; groups: Map<string, ReadonlyMap<TypeUrl, string>> }> {
    const { store } = await seedStore(SEED);
    cache = new SnapshotCache({ debounceMs: 1 });
    publisher = MeshPublisher.attach(store, cache);
    const groups = new Map<string, ReadonlyMap<TypeUrl, string>>();
    for (const id of NODES) {
      const g = cache.resolve(node(id), undefined);
      if (g instanceof Error) throw g;
      groups.set(id, g);
    }
    return { store, groups };
  }

  it('proxies with different dependencies never share a group; replicas with the same do', async () => {
    const { groups } = await attach();
    const key = (id: string, t: TypeUrl) => groups.get(id)!.get(t)!;
    expect(key('kind2/default/productpage-v1-0', CLUSTER_TYPE)).not.toBe(key('kind2/default/details-v1-0', CLUSTER_TYPE));
    expect(key('kind2/default/reviews-v1-0', ROUTE_TYPE)).toBe(key('kind2/default/reviews-v2-0', ROUTE_TYPE));
    expect(key('kind2/default/productpage-v1-0', ROUTE_TYPE)).not.toBe(key('kind2/default/reviews-v1-0', ROUTE_TYPE));
    const counts = (id: string) => (publisher!.proxyStatus(id) as { resources: Record<string, number> }).resources;
    expect(counts('kind2/default/reviews-v1-0').clusters).toBeLessThan(counts('kind2/default/productpage-v1-0').clusters!);
  });

  it('a TrafficPolicy change on ratings recomputes only the groups of the proxies that call ratings', async () => {
    const { store, groups } = await attach();
    const before = publisher!.stats().computations;
    const ratingsTimeout: TrafficPolicy = { name: 'ratings-timeout', namespace: 'team', sourceSelector: [], destinationSelector: [{ kind: 'refs', services: [{ name: 'ratings', namespace: 'default' }] }], httpRequestMatchers: [], requestTimeoutMs: 1500 };
    setAccess(store, 'ENABLED', [...store.current.policies.trafficPolicies, ratingsTimeout]);
    const after = publisher!.stats().computations;
    // Only the reviews sidecars call ratings: their CDS and RDS groups in kind2 and in kind3.
    expect(after.routes - before.routes).toBe(2);
    expect(after.clusters - before.clusters).toBe(2);
    expect(after.listeners).toBe(before.listeners);
    expect(after.endpoints).toBe(before.endpoints);
    const computed = new Map(publisher!.status().groups.map((g) => [g.key, g.computations]));
    for (const t of [CLUSTER_TYPE, ROUTE_TYPE] as const) {
      expect(computed.get(groups.get('kind2/default/productpage-v1-0')!.get(t)!)).toBe(1);
      expect(computed.get(groups.get('kind2/default/reviews-v1-0')!.get(t)!)).toBe(2);
    }
    const rds = cache!.get(groups.get('kind2/default/reviews-v1-0')!.get(ROUTE_TYPE)!, ROUTE_TYPE).resources.get('9080')!;
    expect(rds.any.length).toBeGreaterThan(0);
    const report = publisher!.policies();
    const effect = report.policies.find((p) => p.policy === 'team/ratings-timeout')!;
    expect(effect.proxies).toEqual(['kind2/default/reviews-v1-0', 'kind2/default/reviews-v2-0', 'kind3/default/reviews-v3-0']);
    expect(effect.resources).toContain('rds 9080 ratings.default.svc.cluster.local:9080 (sidecars in kind2)');
    expect(effect.problems).toEqual([]);
    expect(report.scopes.find((s) => s.node === 'kind2/default/productpage-v1-0')).toEqual({ node: 'kind2/default/productpage-v1-0', services: 2, sourceOf: [] });
  });

  it('reports a policy that selects nothing, and an AccessPolicy with its proxies', async () => {
    const { store } = await attach();
    const ghost: TrafficPolicy = { name: 'ghost', namespace: 'team', sourceSelector: [], destinationSelector: [{ kind: 'refs', services: [{ name: 'nosuch', namespace: 'default' }] }], httpRequestMatchers: [], requestTimeoutMs: 1 };
    setAccess(store, 'ENABLED', [...store.current.policies.trafficPolicies, ghost]);
    const report = publisher!.policies();
    expect(report.policies.find((p) => p.policy === 'team/ghost')!.problems).toContain('destination selector matched no service');
    const pp = report.policies.find((p) => p.policy === 'service-mesh-hub/productpage')!;
    expect(pp.proxies).toEqual(['kind2/default/details-v1-0', 'kind2/default/reviews-v1-0', 'kind2/default/reviews-v2-0', 'kind3/default/reviews-v3-0']);
    expect(pp.resources).toContain('lds virtualInbound inbound|9080|reviews.default (workloads of kind3/default/reviews)');
  });
});
