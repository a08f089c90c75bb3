/**
 * FailoverService → aggregate cluster: children in declared order (each a one-cluster `.global`
 * host), outlier detection on the children (TrafficPolicy or default), a virtual host for the
 * hostname, children present even when not otherwise visible, and self-containment / cycles
 * rejected by the guard without taking the route configuration with them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { StaticDiscovery, applyConfig } from '../../src/discovery/static/static-discovery.js';
import { ModelStore } from '../../src/model/store.js';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { MeshView, rebuildAssignments, resolveProxy, translateProxy, type ProxyResources } from '../../src/translate/index.js';
import { ROLE_TRANSLATORS } from '../../src/translate/index.js';
import { failoverConfigProblems } from '../../src/translate/failover.js';
import { guardResources } from '../../src/translate/semantics.js';
import { defaultMeshStore } from './default-mesh.js';

type Obj = Record<string, any>;
const FAILOVER = 'outbound|9080||reviews-failover.default.global';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A mesh from YAML documents, through the real loader (schema-checked). */
async function meshFromYaml(yaml: string): Promise<MeshSnapshot> {
  const dir = await mkdtemp(join(tmpdir(), 'crossmesh-failover-'));
  dirs.push(dir);
  await writeFile(join(dir, 'mesh.yaml'), yaml);
  const r = await loadConfig([dir]);
  if (!r.config) throw new Error(r.errors.map((e) => e.message).join('; '));
  const store = new ModelStore();
  applyConfig(store, new StaticDiscovery(r.config as MeshConfig), r.config as MeshConfig);
  return store.current;
}

function translate(snap: MeshSnapshot, node: string): ProxyResources {
  const p = resolveProxy(snap, node, 'sidecar');
  if (p instanceof Error) throw p;
  return translateProxy(snap, p);
}

/** The virtual hosts routing to `cluster`, in every route configuration (one per HTTP port) of the proxy. */
function vhostsTo(r: ProxyResources, cluster: string): Obj[] {
  expect(r.routes.size).toBeGreaterThan(0);
  return [...r.routes.values()].flatMap((rc) => (rc as Obj).virtual_hosts.filter((vh: Obj) => vh.routes.some((rt: Obj) => rt.route?.cluster === cluster)));
}

/** Two clusters in one network and VirtualMesh, reviews in both; optional extra documents. */
function smallMesh(extra: string): string {
  const cluster = (n: string, region: string) => `
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: ${n}}
spec: {network: net1, locality: {region: ${region}, zone: ${region}-a}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: reviews, namespace: default, cluster: ${n}}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: reviews-0, namespace: default, cluster: ${n}}
spec: {address: 127.0.${n === 'c1' ? 1 : 2}.10, labels: {app: reviews}, serviceAccount: reviews}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: client-0, namespace: default, cluster: ${n}}
spec: {address: 127.0.${n === 'c1' ? 1 : 2}.20, labels: {app: client}}
---`;
  return `${cluster('c1', 'r1')}${cluster('c2', 'r2')}
apiVersion: networking.smh.solo.io/v1alpha2
kind: VirtualMesh
metadata: {name: vm, namespace: crossmesh-system}
spec: {meshes: [{name: c1}, {name: c2}]}
${extra}`;
}

function failover(name: string, hostname: string, backing: [string, string][], port = 9080): string {
  return `---
apiVersion: networking.smh.solo.io/v1alpha2
kind: FailoverService
metadata: {name: ${name}, namespace: crossmesh-system}
spec:
  hostname: ${hostname}
  port: {number: ${port}, protocol: http}
  backingServices:
${backing.map(([svc, c]) => `  - kubeService: {name: ${svc}, namespace: default, clusterName: ${c}}`).join('\n')}
`;
}

describe('FailoverService on the default mesh', () => {
  let r: ProxyResources;
  beforeAll(async () => {
    r = translate((await defaultMeshStore()).current, 'cluster1/default/productpage-v1-0');
  });

  it('is an aggregate cluster whose children are the backing services in declared order', () => {
    const c = r.clusters.get(FAILOVER) as Obj;
    expect(c.lb_policy).toBe('CLUSTER_PROVIDED');
    expect(c.cluster_type.name).toBe('envoy.clusters.aggregate');
    expect(c.cluster_type.typed_config['@type']).toBe('type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig');
    // failover.yaml: cluster2, then cluster1, then cluster3 (not sorted: the order is the policy)
    expect(c.cluster_type.typed_config.clusters).toEqual([
      'outbound|9080||reviews.default.svc.cluster2.global',
      'outbound|9080||reviews.default.svc.cluster1.global',
      'outbound|9080||reviews.default.svc.cluster3.global',
    ]);
    for (const child of c.cluster_type.typed_config.clusters) {
      expect((r.clusters.get(child) as Obj).type).toBe('EDS');
      expect(r.endpoints.has(child)).toBe(true);
    }
    expect(guardResources(r).rejected).toEqual([]);
  });

  it("gives each child the outlier detection of the TrafficPolicy that selects it (mgmt-reviews-outlier)", () => {
    for (const c of ['cluster1', 'cluster2', 'cluster3']) {
      expect((r.clusters.get(`outbound|9080||reviews.default.svc.${c}.global`) as Obj).outlier_detection).toEqual({
        consecutive_5xx: { value: 1 },
        interval: { seconds: 10 },
        base_ejection_time: { seconds: 120 },
        max_ejection_percent: { value: 100 },
        enforcing_success_rate: { value: 0 },
      });
    }
  });

  it('routes the hostname, with and without port, to the aggregate, in the route configuration of its port', () => {
    // Only the configuration of the FailoverService's port (9080) has its virtual host.
    const named = [...r.routes].filter(([, rc]) => ((rc as Obj).virtual_hosts as Obj[]).some((v) => v.name === 'reviews-failover.default.global:9080'));
    expect(named.map(([n]) => n)).toEqual(['9080']);
    const vh = ((r.routes.get('9080') as Obj).virtual_hosts as Obj[]).find((v) => v.name === 'reviews-failover.default.global:9080');
    expect(vh?.domains).toEqual(['reviews-failover.default.global', 'reviews-failover.default.global:9080']);
    expect(vh?.routes).toEqual([{ name: 'default', match: { prefix: '/' }, route: { cluster: FAILOVER, timeout: { seconds: 0 } } }]);
  });
});

describe('FailoverService in a small mesh', () => {
  it('children without a TrafficPolicy eject after 5 consecutive 5xx (10 s interval, 30 s ejection, 100 %)', async () => {
    const snap = await meshFromYaml(smallMesh(failover('f', 'reviews-f.default.global', [['reviews', 'c1'], ['reviews', 'c2']])));
    const r = translate(snap, 'c2/default/client-0');
    const agg = r.clusters.get('outbound|9080||reviews-f.default.global') as Obj;
    expect(agg.cluster_type.typed_config.clusters).toEqual(['outbound|9080||reviews.default.svc.c1.global', 'outbound|9080||reviews.default.svc.c2.global']);
    for (const c of agg.cluster_type.typed_config.clusters) {
      expect((r.clusters.get(c) as Obj).outlier_detection).toEqual({
        consecutive_5xx: { value: 5 },
        interval: { seconds: 10 },
        base_ejection_time: { seconds: 30 },
        max_ejection_percent: { value: 100 },
        enforcing_success_rate: { value: 0 },
      });
    }
    // Clusters that back no failover keep no outlier detection.
    expect((r.clusters.get('outbound|9080||reviews.default.svc.cluster.local') as Obj).outlier_detection).toBeUndefined();
    expect(guardResources(r).rejected).toEqual([]);
  });

  it('adds a child the proxy does not otherwise see, with an empty assignment, and keeps it on endpoint rebuilds', async () => {
    // c3 is not a cluster of this mesh, and ratings runs nowhere: both children exist but are empty.
    const snap = await meshFromYaml(smallMesh(failover('f', 'reviews-f.default.global', [['reviews', 'c3'], ['ratings', 'c1'], ['reviews', 'c2']])));
    const r = translate(snap, 'c1/default/client-0');
    for (const child of ['outbound|9080||reviews.default.svc.c3.global', 'outbound|9080||ratings.default.svc.c1.global']) {
      expect((r.clusters.get(child) as Obj).type).toBe('EDS');
      expect((r.endpoints.get(child) as Obj).endpoints).toEqual([]);
      expect((r.clusters.get(child) as Obj).outlier_detection).toBeDefined();
    }
    expect(vhostsTo(r, 'outbound|9080||ratings.default.svc.c1.global')).toEqual([]); // reachable only through the aggregate
    expect((r.endpoints.get('outbound|9080||reviews.default.svc.c2.global') as Obj).endpoints).toHaveLength(1);
    expect(guardResources(r).rejected).toEqual([]);

    // The incremental EDS path knows the added children too.
    const view = new MeshView(snap);
    const p = resolveProxy(snap, 'c1/default/client-0', 'sidecar');
    if (p instanceof Error) throw p;
    const t = ROLE_TRANSLATORS.sidecar!;
    const rebuilt = rebuildAssignments(view, t, t.scopes(view, p).endpoints, new Set(['default/ratings']));
    expect([...rebuilt.keys()]).toEqual(['outbound|9080||ratings.default.svc.c1.global']);
  });

  it('is offered only to clusters that see one of its meshes', async () => {
    const yaml = smallMesh(
      `${failover('f', 'reviews-f.default.global', [['reviews', 'c1']]).replace('spec:\n', 'spec:\n  meshes: [{name: c1}]\n')}---
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: c9}
spec: {network: net1}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: client-0, namespace: default, cluster: c9}
spec: {address: 127.0.9.20, labels: {app: client}}
`,
    );
    const snap = await meshFromYaml(yaml);
    expect(translate(snap, 'c2/default/client-0').clusters.has('outbound|9080||reviews-f.default.global')).toBe(true);
    expect(translate(snap, 'c9/default/client-0').clusters.has('outbound|9080||reviews-f.default.global')).toBe(false);
  });

  it('an aggregate that contains itself is rejected by the guard, and the routes stay publishable', async () => {
    // The hostname is the host of its own backing service reviews@c9 (no such cluster, so no service claims the name).
    const self = 'outbound|9080||reviews.default.svc.c9.global';
    const snap = await meshFromYaml(smallMesh(failover('self', 'reviews.default.svc.c9.global', [['reviews', 'c1'], ['reviews', 'c9']])));
    const r = translate(snap, 'c1/default/client-0');
    expect((r.clusters.get(self) as Obj).cluster_type.typed_config.clusters).toEqual(['outbound|9080||reviews.default.svc.c1.global', self]);
    const g = guardResources(r);
    expect(g.rejected).toEqual([{ kind: 'clusters', name: self, errors: ['aggregate cluster contains itself'] }]);
    expect(vhostsTo(r, self)).toEqual([]);
    expect(failoverConfigProblems(snap.policies.failoverServices)).toEqual([
      { namespace: 'crossmesh-system', name: 'self', message: `aggregate cluster "${self}" would contain itself (a backing service's host is the FailoverService's hostname)` },
    ]);
  });

  it('a hostname that is a visible service host leaves that service untouched (the FailoverService is left out)', async () => {
    const host = 'outbound|9080||reviews.default.svc.c2.global';
    const snap = await meshFromYaml(smallMesh(failover('self', 'reviews.default.svc.c2.global', [['reviews', 'c1'], ['reviews', 'c2']])));
    const r = translate(snap, 'c1/default/client-0');
    expect((r.clusters.get(host) as Obj).type).toBe('EDS');
    expect(guardResources(r).rejected).toEqual([]);
    expect(failoverConfigProblems(snap.policies.failoverServices).map((p) => p.name)).toEqual(['self']);
  });

  it('aggregates that form a cycle are rejected by the guard with the cycle spelled out, and get no virtual host', async () => {
    // fa's child is fb's aggregate and fb's child is fa's: a → b → a.
    const a = 'outbound|9080||fa.default.svc.c9.global';
    const b = 'outbound|9080||fb.default.svc.c9.global';
    const snap = await meshFromYaml(
      smallMesh(
        failover('fa', 'fa.default.svc.c9.global', [['reviews', 'c1'], ['fb', 'c9']]) +
          failover('fb', 'fb.default.svc.c9.global', [['fa', 'c9'], ['reviews', 'c2']]) +
          failover('ok', 'reviews-ok.default.global', [['reviews', 'c1'], ['reviews', 'c2']]),
      ),
    );
    const r = translate(snap, 'c1/default/client-0');
    expect((r.clusters.get(a) as Obj).cluster_type.typed_config.clusters).toEqual(['outbound|9080||reviews.default.svc.c1.global', b]);
    const g = guardResources(r);
    expect(g.rejected.find((x) => x.name === a)?.errors).toEqual([`aggregate clusters form a cycle: ${a} -> ${b} -> ${a}`]);
    expect(g.rejected.find((x) => x.name === b)?.errors).toEqual([`aggregate clusters form a cycle: ${b} -> ${a} -> ${b}`]);
    expect(vhostsTo(r, a)).toEqual([]);
    expect(vhostsTo(r, b)).toEqual([]);
    // The sound failover next to them is untouched, routes included.
    expect(g.accepted.clusters.has('outbound|9080||reviews-ok.default.global')).toBe(true);
    expect(vhostsTo(r, 'outbound|9080||reviews-ok.default.global')).toHaveLength(1);
    expect(g.rejected.map((x) => x.name).sort()).toEqual([a, b]);
    expect(failoverConfigProblems(snap.policies.failoverServices).map((p) => p.message)).toEqual([
      `aggregate clusters form a cycle: ${a} -> ${b} -> ${a}`,
      `aggregate clusters form a cycle: ${b} -> ${a} -> ${b}`,
    ]);
  });

  it('a nested aggregate (no cycle) is rejected too: Envoy would carry no traffic through it', async () => {
    const a = 'outbound|9080||fa.default.svc.c9.global';
    const b = 'outbound|9080||fb.default.svc.c9.global';
    const snap = await meshFromYaml(smallMesh(failover('fa', 'fa.default.svc.c9.global', [['fb', 'c9']]) + failover('fb', 'fb.default.svc.c9.global', [['reviews', 'c2']])));
    const g = guardResources(translate(snap, 'c1/default/client-0'));
    expect(g.rejected).toEqual([{ kind: 'clusters', name: a, errors: [`aggregate cluster names "${b}", itself an aggregate cluster: nested aggregates carry no traffic`] }]);
  });
});
