/**
 * What proxyless gRPC nodes receive, checked against crossmesh's guard and against grpc-js-xds's
 * own resource validators (the code that would NACK): client api_listeners named as targets,
 * routes distinct from the server's, EDS clusters with certificate-provider mTLS and SPIFFE SAN
 * matchers, contiguous locality priorities, and server listeners on the workload address.
 */
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { resolveProxy, translateProxy, MeshView, ROLE_TRANSLATORS, type ProxyResources } from '../../src/translate/index.js';
import { PROXYLESS_ROUTE_NAME, proxylessCluster } from '../../src/translate/proxyless.js';
import { serverListenerName } from '../../src/translate/proxyless-listeners.js';
import { buildProxylessBootstrap } from '../../src/translate/proxyless-bootstrap.js';
import { RESOURCE_KINDS, type ResourceKind } from '../../src/translate/resources.js';
import { guardResources } from '../../src/translate/semantics.js';
import { encodeResource } from '../../src/xds/codec.js';
import { messageType } from '../../src/xds/protos.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, type TypeUrl } from '../../src/xds/types.js';
import { defaultMeshStore } from './default-mesh.js';

type Obj = Record<string, any>;

const require = createRequire(import.meta.url);
const TYPE_OF: Record<ResourceKind, TypeUrl> = { clusters: CLUSTER_TYPE, endpoints: ENDPOINT_TYPE, listeners: LISTENER_TYPE, routes: ROUTE_TYPE };
const RESOURCE_TYPE_MODULE: Record<ResourceKind, [string, string]> = {
  clusters: ['cluster-resource-type', 'ClusterResourceType'],
  endpoints: ['endpoint-resource-type', 'EndpointResourceType'],
  listeners: ['listener-resource-type', 'ListenerResourceType'],
  routes: ['route-config-resource-type', 'RouteConfigurationResourceType'],
};

function translate(snap: MeshSnapshot, node: string): ProxyResources {
  const p = resolveProxy(snap, node, 'proxyless');
  if (p instanceof Error) throw p;
  return translateProxy(snap, p);
}

/** Runs grpc-js-xds's decoder + validator on every resource; returns its errors by name. */
function grpcErrors(resources: ProxyResources): string[] {
  const bootstrap = buildProxylessBootstrap({ nodeId: 'cluster1/default/x', xdsAddress: '127.0.0.1:18000', certDir: '/certs', locality: { region: 'r', zone: 'z', subzone: '' } });
  const context = { bootstrap: { certificateProviders: bootstrap.certificate_providers }, server: {} };
  const any = messageType('google.protobuf.Any');
  const errors: string[] = [];
  for (const kind of RESOURCE_KINDS) {
    const [file, cls] = RESOURCE_TYPE_MODULE[kind];
    const type = require(`@grpc/grpc-js-xds/build/src/xds-resource-type/${file}.js`)[cls].get();
    for (const [name, r] of resources[kind]) {
      const enc = encodeResource(TYPE_OF[kind], name, r);
      const decoded = type.decode(context, any.toObject(any.decode(enc.any), { keepCase: true } as never));
      if (decoded.error) errors.push(`${kind} ${name}: ${decoded.error}`);
    }
  }
  return errors;
}

describe('proxyless gRPC on the default mesh', () => {
  let snap: MeshSnapshot;
  let client: ProxyResources;
  beforeAll(async () => {
    // grpc-js-xds registers the RBAC filter only when this is set before it loads.
    process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';
    require('@grpc/grpc-js-xds').register();
    snap = (await defaultMeshStore()).current;
    client = translate(snap, 'cluster1/default/productpage-v1-0');
  });

  it('is a registered role', () => {
    expect(ROLE_TRANSLATORS.proxyless?.role).toBe('proxyless');
  });

  it('passes the guard with nothing rejected', () => {
    const r = guardResources(client);
    expect(r.rejected).toEqual([]);
  });

  it('passes grpc-js-xds validation for every resource (no NACK)', () => {
    expect(grpcErrors(client)).toEqual([]);
    expect(grpcErrors(translate(snap, 'cluster2/default/reviews-v3-0'))).toEqual([]);
    // The same validators do refuse what gRPC cannot take: a sidecar's SDS-based clusters.
    const sidecar = resolveProxy(snap, 'cluster1/default/productpage-v1-0', 'sidecar');
    if (sidecar instanceof Error) throw sidecar;
    const errors = grpcErrors(translateProxy(snap, sidecar));
    expect(errors.some((e) => /sds/i.test(e))).toBe(true);
  });

  it('answers every target name a client may use with an api_listener loading the client routes over ADS', () => {
    for (const name of [
      'reviews.default.svc.cluster.local:9080',
      'reviews.default.svc.cluster.local',
      'reviews.default.svc.cluster2.global:9080',
      'reviews.default:9080',
      'reviews:9080',
      'details.default.svc.cluster.local:9080',
    ]) {
      const l = client.listeners.get(name) as Obj | undefined;
      expect(l, name).toBeDefined();
      const hcm = l!.api_listener.api_listener;
      expect(hcm.rds).toEqual({ route_config_name: PROXYLESS_ROUTE_NAME, config_source: { ads: {}, resource_api_version: 'V3' } });
      expect(hcm.http_filters.at(-1).typed_config['@type']).toBe('type.googleapis.com/envoy.extensions.filters.http.router.v3.Router');
    }
    // Every domain of the route configuration has a listener, and nothing else is client-side.
    const domains = (client.routes.get(PROXYLESS_ROUTE_NAME) as Obj).virtual_hosts.flatMap((vh: Obj) => vh.domains).sort();
    const apiNames = [...client.listeners.values()].filter((l: Obj) => l.api_listener).map((l: Obj) => l.name).sort();
    expect(apiNames).toEqual(domains);
    // Global access policy is enforced: productpage may not call ratings, so it is not even offered.
    expect(client.listeners.has('ratings.default.svc.cluster.local:9080')).toBe(false);
  });

  it('carries the TrafficPolicy split and the FailoverService aggregate a sidecar of the same workload gets', () => {
    const rc = client.routes.get(PROXYLESS_ROUTE_NAME) as Obj;
    const reviews = rc.virtual_hosts.find((vh: Obj) => vh.domains.includes('reviews.default.svc.cluster.local:9080'));
    const weighted = reviews.routes.at(-1).route.weighted_clusters.clusters.map((c: Obj) => [c.name.split('|')[2], c.weight.value]);
    expect(weighted).toEqual([['version-v3', 75], ['version-v1', 15], ['version-v2', 10]]);
    for (const c of reviews.routes.at(-1).route.weighted_clusters.clusters) expect(client.clusters.has(c.name)).toBe(true);
    const c2 = translate(snap, 'cluster2/default/productpage-v1-0');
    expect(c2.listeners.has('reviews-failover.default.global:9080')).toBe(true);
    const agg = c2.clusters.get('outbound|9080||reviews-failover.default.global') as Obj;
    expect(agg.cluster_type.typed_config.clusters[0]).toBe('outbound|9080||reviews.default.svc.cluster2.global');
    expect(agg.lb_policy).toBe('ROUND_ROBIN');
    expect(guardResources(c2).rejected).toEqual([]);
    expect(grpcErrors(c2)).toEqual([]);
  });

  it('serves the workload on its own address as grpc/server?xds.resource.listening_address=<ip>:<port>, never sharing routes with clients', () => {
    const name = serverListenerName('127.0.1.10', 9080);
    expect(name).toBe('grpc/server?xds.resource.listening_address=127.0.1.10:9080');
    const l = client.listeners.get(name) as Obj;
    expect(l.address.socket_address).toEqual({ address: '127.0.1.10', port_value: 9080 });
    expect(l.filter_chains).toHaveLength(1);
    const chain = l.filter_chains[0];
    expect(chain.filter_chain_match).toEqual({ transport_protocol: 'raw_buffer' });
    expect(chain.filters).toHaveLength(1);
    const hcm = chain.filters[0].typed_config;
    expect(hcm.rds).toBeUndefined();
    expect(hcm.route_config.virtual_hosts[0].routes[0].non_forwarding_action).toEqual({});
    expect(hcm.route_config.name).not.toBe(PROXYLESS_ROUTE_NAME);
    // The client route configuration routes, never non_forwarding_action.
    const rc = client.routes.get(PROXYLESS_ROUTE_NAME) as Obj;
    expect(JSON.stringify(rc)).not.toContain('non_forwarding_action');
    const tls = chain.transport_socket.typed_config;
    expect(tls.require_client_certificate).toEqual({ value: true });
    expect(tls.common_tls_context.tls_certificate_provider_instance).toEqual({ instance_name: 'default' });
    expect(tls.common_tls_context.validation_context.ca_certificate_provider_instance).toEqual({ instance_name: 'ROOTCA' });
  });

  it('gives EDS clusters mTLS through certificate providers with the SPIFFE IDs behind them, and no SDS anywhere', () => {
    const c = client.clusters.get('outbound|9080||reviews.default.svc.cluster2.global') as Obj;
    expect(c.type).toBe('EDS');
    expect(c.lb_policy).toBe('ROUND_ROBIN');
    expect(c.eds_cluster_config.eds_config.ads).toEqual({});
    const ctx = c.transport_socket.typed_config.common_tls_context;
    expect(ctx.tls_certificate_provider_instance).toEqual({ instance_name: 'default' });
    expect(ctx.validation_context.match_subject_alt_names).toEqual([{ exact: 'spiffe://cluster2/ns/default/sa/bookinfo-reviews' }]);
    expect(ctx.tls_params).toBeUndefined();
    for (const kind of RESOURCE_KINDS) expect(JSON.stringify(Object.fromEntries(client[kind]))).not.toMatch(/sds_secret_config/);
    for (const c2 of client.clusters.values()) expect((c2 as Obj).type === 'STATIC').toBe(false);
  });

  it('prioritises localities contiguously from 0 and weights every locality', () => {
    const cla = client.endpoints.get('outbound|9080||reviews.default.svc.cluster.local') as Obj;
    const priorities = [...new Set(cla.endpoints.map((l: Obj) => l.priority))].sort();
    expect(priorities).toEqual(priorities.map((_p, i) => i));
    for (const l of cla.endpoints) expect(l.load_balancing_weight.value).toBeGreaterThan(0);
    // cluster1's own zone first.
    const p0 = cla.endpoints.filter((l: Obj) => l.priority === 0).flatMap((l: Obj) => l.lb_endpoints.map((e: Obj) => e.endpoint.address.socket_address.address));
    expect(p0.sort()).toEqual(['127.0.1.12', '127.0.1.13']);
  });

  it('rewrites aggregate clusters to ROUND_ROBIN (gRPC NACKs CLUSTER_PROVIDED) and refuses a cluster it could not verify', () => {
    const agg = proxylessCluster({ name: 'agg', connect_timeout: { seconds: 1 }, lb_policy: 'CLUSTER_PROVIDED', cluster_type: { name: 'envoy.clusters.aggregate', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig', clusters: ['a', 'b'] } } });
    expect(agg?.lb_policy).toBe('ROUND_ROBIN');
    expect(proxylessCluster({ name: 'static', type: 'STATIC' })).toBeUndefined();
    // The sidecar's capture clusters (STATIC without endpoints, ORIGINAL_DST) are not given to clients.
    expect(proxylessCluster({ name: 'PassthroughCluster', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: { seconds: 10 } })).toBeUndefined();
    for (const name of ['PassthroughCluster', 'BlackHoleCluster']) expect(client.clusters.has(name), name).toBe(false);
    expect(() => proxylessCluster({ name: 'plain', type: 'EDS', eds_cluster_config: {} })).toThrow(/plain.*no accepted SPIFFE IDs/);
  });

  it('shares client groups: workloads serving nothing in the same cluster and namespace get one listener scope', () => {
    const view = new MeshView(snap);
    const t = ROLE_TRANSLATORS.proxyless!;
    const a = resolveProxy(snap, 'cluster1/default/reviews-v1-0', 'proxyless');
    const b = resolveProxy(snap, 'cluster1/default/reviews-v2-0', 'proxyless');
    if (a instanceof Error || b instanceof Error) throw new Error('resolve');
    const sa = t.scopes(view, a);
    const sb = t.scopes(view, b);
    expect(sa.clusters.key).toBe(sb.clusters.key);
    expect(sa.routes.key).toBe(sb.routes.key);
    expect(sa.endpoints.key).toBe(sb.endpoints.key);
    // Both serve reviews on their own addresses: their LDS differs.
    expect(sa.listeners.key).not.toBe(sb.listeners.key);
  });
});
