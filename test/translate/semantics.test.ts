/**
 * The guard refuses resources that break Envoy's rules, keeps the last good version of a refused
 * name, and cascades: a route naming a refused cluster that has no previous version is refused too.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveProxy, translateProxy, type ProxyResources } from '../../src/translate/index.js';
import { AGGREGATE_CLUSTER_TYPE } from '../../src/translate/filters.js';
import { guardResources } from '../../src/translate/semantics.js';
import type { ResourceKind } from '../../src/translate/resources.js';
import { defaultMeshStore } from './default-mesh.js';

type Obj = Record<string, any>;

let base: ProxyResources;
beforeAll(async () => {
  const snap = (await defaultMeshStore()).current;
  const p = resolveProxy(snap, 'cluster1/default/reviews-v1-0', 'sidecar');
  if (p instanceof Error) throw p;
  base = translateProxy(snap, p);
});

const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';
const RATINGS = 'outbound|9080||ratings.default.svc.cluster.local';

/** A deep copy of the base resources with one resource of `kind` replaced (or added) by `edit`. */
function withResource(kind: ResourceKind, name: string, edit: (r: Obj) => Obj | void): ProxyResources {
  const copy = { clusters: new Map(base.clusters), endpoints: new Map(base.endpoints), listeners: new Map(base.listeners), routes: new Map(base.routes) } as Record<ResourceKind, Map<string, Obj>>;
  const r = structuredClone(copy[kind].get(name) ?? {}) as Obj;
  copy[kind].set(name, edit(r) ?? r);
  return copy as unknown as ProxyResources;
}

function rejectionOf(r: ProxyResources, kind: ResourceKind, name: string): string[] {
  const res = guardResources(r);
  const rej = res.rejected.find((x) => x.kind === kind && x.name === name);
  return rej ? [...rej.errors] : [];
}

const inboundHcm = (l: Obj) => l.filter_chains[0].filters.at(-1).typed_config;

describe('guardResources', () => {
  it('accepts the translator output', () => {
    expect(guardResources(base).rejected).toEqual([]);
  });

  const cases: [string, ResourceKind, string, (r: Obj) => Obj | void, RegExp][] = [
    ['a resource published under another name', 'clusters', REVIEWS, (c) => { c.name = 'other'; }, /names itself "other"/],
    ['a filter after the router', 'listeners', 'virtualInbound', (l) => { inboundHcm(l).http_filters.push({ name: 'envoy.filters.http.fault', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' } }); }, /router must be the last HTTP filter|last HTTP filter must be the router/],
    ['a missing router', 'listeners', '0.0.0.0_9080', (l) => { l.filter_chains[0].filters[0].typed_config.http_filters = []; }, /last HTTP filter must be the router/],
    ['a network filter after tcp_proxy', 'listeners', '0.0.0.0_9080', (l) => {
      l.filter_chains[0].filters = [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 's', cluster: REVIEWS } }, l.filter_chains[0].filters[0]];
    }, /terminal but not the last network filter/],
    ['two chains with the same match', 'listeners', 'virtualInbound', (l) => { l.filter_chains.push(structuredClone(l.filter_chains[0])); }, /has the same match as filter_chains\[0\]/],
    ['a listener without filter chains', 'listeners', 'virtualInbound', (l) => { l.filter_chains = []; }, /no filter chain/],
    ['a capture default chain to a cluster the proxy does not have', 'listeners', 'virtualOutbound', (l) => { l.default_filter_chain.filters[0].typed_config.cluster = 'missing'; }, /default_filter_chain\.filters\[0\] tcp_proxy targets cluster "missing"/],
    ['an EDS cluster without EDS config', 'clusters', REVIEWS, (c) => { delete c.eds_cluster_config; }, /no eds_cluster_config/],
    ['a route to a cluster the proxy does not have', 'routes', '9080', (rc) => { rc.virtual_hosts[0].routes[0].route.cluster = 'outbound|1||nowhere'; }, /routes to cluster "outbound\|1\|\|nowhere"/],
    ['tcp_proxy to a cluster the proxy does not have', 'listeners', '10.96.0.1_1', () => ({
      name: '10.96.0.1_1', address: { socket_address: { address: '10.96.0.1', port_value: 1 } }, bind_to_port: { value: false },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 's', cluster: 'missing' } }] }],
    }), /tcp_proxy targets cluster "missing"/],
    ['an aggregate naming a missing cluster', 'clusters', 'agg', () => ({
      name: 'agg', connect_timeout: { seconds: 1 }, lb_policy: 'CLUSTER_PROVIDED',
      cluster_type: { name: 'envoy.clusters.aggregate', typed_config: { '@type': AGGREGATE_CLUSTER_TYPE, clusters: [REVIEWS, 'missing'] } },
    }), /aggregate cluster names "missing"/],
    ['an aggregate containing itself', 'clusters', 'agg', () => ({
      name: 'agg', connect_timeout: { seconds: 1 }, lb_policy: 'CLUSTER_PROVIDED',
      cluster_type: { name: 'envoy.clusters.aggregate', typed_config: { '@type': AGGREGATE_CLUSTER_TYPE, clusters: ['agg'] } },
    }), /contains itself/],
    ['an RDS name the proxy is not given', 'listeners', '0.0.0.0_9080', (l) => { l.filter_chains[0].filters[0].typed_config.rds.route_config_name = 'nope'; }, /route configuration "nope"/],
    ['an assignment without a cluster', 'endpoints', 'outbound|1||ghost', () => ({ cluster_name: 'outbound|1||ghost', endpoints: [] }), /no cluster named/],
    ['a secret other than default/ROOTCA', 'clusters', REVIEWS, (c) => { c.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name = 'stolen'; }, /SDS secret "stolen"/],
    ['a protoc-gen-validate violation', 'clusters', REVIEWS, (c) => { c.connect_timeout = { seconds: -1 }; }, /connect_timeout: must be > 0s/],
    ['two virtual hosts sharing a domain', 'routes', '9080', (rc) => { rc.virtual_hosts[1].domains.push(rc.virtual_hosts[0].domains[0]); }, /domain ".*" is in virtual hosts/],
    ['two listeners on one address', 'listeners', 'zz-copy', () => ({ ...structuredClone(base.listeners.get('0.0.0.0_9080') as Obj), name: 'zz-copy' }), /already bound by listener "0\.0\.0\.0_9080"/],
  ];
  for (const [what, kind, name, edit, message] of cases) {
    it(`rejects ${what}`, () => {
      const errors = rejectionOf(withResource(kind, name, edit), kind, name);
      expect(errors.join('\n')).toMatch(message);
    });
  }

  it('keeps the previous version of a rejected name, and drops a new one that has none', () => {
    // ratings: reachable from reviews and routed as is (no TrafficPolicy reroutes it to subsets).
    const broken = withResource('clusters', RATINGS, (c) => { delete c.eds_cluster_config; });
    const kept = guardResources(broken, { previous: base });
    expect(kept.accepted.clusters.get(RATINGS)).toBe(base.clusters.get(RATINGS));
    expect(kept.rejected.map((r) => [r.kind, r.name])).toEqual([['clusters', RATINGS]]);
    const dropped = guardResources(broken);
    expect(dropped.accepted.clusters.has(RATINGS)).toBe(false);
    // ...and what referenced it is refused in turn: its assignment, the route configuration, the listener loading it.
    expect(dropped.rejected.map((r) => `${r.kind}:${r.name}`).sort()).toEqual([`clusters:${RATINGS}`, `endpoints:${RATINGS}`, 'listeners:0.0.0.0_9080', 'routes:9080']);
  });

  it('judges only the kinds asked for, using the others as references', () => {
    const broken = withResource('clusters', REVIEWS, (c) => { delete c.eds_cluster_config; });
    const r = guardResources(broken, { kinds: ['routes'] });
    expect(r.rejected).toEqual([]);
    expect(r.accepted.clusters).toBe(broken.clusters);
  });
});
