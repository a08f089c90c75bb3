/**
 * TrafficPolicy translation: the seed's policies (test/fixtures/seed/) on the workshop's two
 * clusters give the Envoy resources matching what Service Mesh Hub's Istio objects did — the
 * 75/15/10 shift, outlier detection on every reviews cluster, the shift to a failover service —
 * and hand-written policies pin matcher order, inheritance, retries/timeouts/faults/CORS/mirror/
 * headers, circuit breakers and conflict resolution. Every result passes the guard.
 */
import { describe, expect, it } from 'vitest';
import type { TrafficPolicy } from '../../src/model/policies.js';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { ModelStore } from '../../src/model/store.js';
import { MeshView, resolveProxy, translateProxy, type ProxyResources } from '../../src/translate/index.js';
import { guardResources } from '../../src/translate/semantics.js';
import { DEFAULT_MAX_RETRIES, routeMatch, segmentPrefix, trafficPolicyConflicts } from '../../src/translate/traffic-policy.js';
import { encodeResource } from '../../src/xds/codec.js';
import { CLUSTER_TYPE, ROUTE_TYPE } from '../../src/xds/types.js';
import { seedFile, seedStore } from './policy-seed-mesh.js';

type Obj = Record<string, any>;

function translate(snap: MeshSnapshot, node: string): ProxyResources {
  const p = resolveProxy(snap, node, 'sidecar');
  if (p instanceof Error) throw p;
  const r = translateProxy(snap, p);
  const g = guardResources(r);
  expect(g.rejected, JSON.stringify(g.rejected)).toEqual([]);
  return r;
}

/** A virtual host `<host>:<port>`, from the route configuration of its port (named by the port). */
function vhost(r: ProxyResources, name: string): Obj {
  const port = name.slice(name.lastIndexOf(':') + 1);
  const rc = r.routes.get(port) as Obj;
  expect(rc, `route configuration ${port}`).toBeDefined();
  const vh = rc.virtual_hosts.find((v: Obj) => v.name === name);
  expect(vh, `virtual host ${name}`).toBeDefined();
  return vh;
}

const PRODUCTPAGE = 'kind2/default/productpage-v1-0';
const V1 = 'outbound|9080|version-v1|reviews.default.svc.cluster.local';
const V2 = 'outbound|9080|version-v2|reviews.default.svc.cluster.local';
const V3 = 'outbound|9080|version-v3|reviews.default.svc.kind3.global';

describe('seed 000 traffic policies', () => {
  it('"simple" (slide 45): reviews from kind2 is split 75 to v3 in kind3, 15 to v1, 10 to v2, as the VirtualService did', async () => {
    const { store } = await seedStore([seedFile('01-virtual-mesh.yaml'), seedFile('03-access-productpage.yaml'), seedFile('05-traffic-policy-simple.yaml')]);
    const r = translate(store.current, PRODUCTPAGE);
    const vh = vhost(r, 'reviews.default.svc.cluster.local:9080');
    expect(vh.routes).toHaveLength(1);
    expect(vh.routes[0].match).toEqual({ prefix: '/' });
    expect(vh.routes[0].route.weighted_clusters.clusters).toEqual([
      { name: V3, weight: { value: 75 } },
      { name: V1, weight: { value: 15 } },
      { name: V2, weight: { value: 10 } },
    ]);
    // Each weighted cluster exists, verifies exactly the identities of its subset, and has endpoints.
    for (const c of [V1, V2, V3]) expect(r.clusters.has(c), c).toBe(true);
    const v3 = r.endpoints.get(V3) as Obj;
    expect(v3.endpoints.flatMap((l: Obj) => l.lb_endpoints.map((e: Obj) => e.endpoint.address.socket_address.address))).toEqual(['127.0.3.100']); // kind3's gateway
    const v1 = r.endpoints.get(V1) as Obj;
    expect(v1.endpoints[0].lb_endpoints.map((e: Obj) => e.endpoint.address.socket_address.address)).toEqual(['127.0.2.12']);
    // The kind3 instance is not selected: its own name keeps the plain route.
    expect(vhost(r, 'reviews.default.svc.kind3.global:9080').routes[0].route).toEqual({ cluster: 'outbound|9080||reviews.default.svc.kind3.global', timeout: { seconds: 0 } });
    // kind2's `.global` name stands for the selected instance too.
    expect(vhost(r, 'reviews.default.svc.kind2.global:9080').routes[0].route.weighted_clusters.clusters.map((c: Obj) => c.weight.value)).toEqual([75, 15, 10]);
  });

  it('"mgmt-reviews-outlier" (slide 53): every reviews cluster ejects after 1 error for 2 minutes, up to 100 %; others untouched', async () => {
    const { store } = await seedStore([seedFile('01-virtual-mesh.yaml'), seedFile('03-access-productpage.yaml'), seedFile('05-traffic-policy-simple.yaml'), seedFile('07-traffic-policy-outlier.yaml')]);
    const r = translate(store.current, PRODUCTPAGE);
    const reviews = [...r.clusters.keys()].filter((n) => n.includes('|reviews.'));
    expect(reviews.length).toBeGreaterThanOrEqual(6);
    for (const n of reviews) {
      expect((r.clusters.get(n) as Obj).outlier_detection, n).toEqual({
        consecutive_5xx: { value: 1 },
        interval: { seconds: 10 },
        base_ejection_time: { seconds: 120 },
        max_ejection_percent: { value: 100 },
        enforcing_success_rate: { value: 0 },
      });
    }
    for (const n of ['outbound|9080||details.default.svc.cluster.local', 'outbound|9080||details.default.svc.kind2.global']) expect((r.clusters.get(n) as Obj).outlier_detection, n).toBeUndefined();
  });

  it('"reviews-shift-failover" (slide 56): reviews from kind2 goes to the failover aggregate, which exists with its children', async () => {
    const { store } = await seedStore([seedFile('08-failover-service.yaml'), seedFile('09-traffic-policy-shift-failover.yaml')]);
    const r = translate(store.current, PRODUCTPAGE);
    const agg = 'outbound|9080||reviews-failover.default.global';
    expect(vhost(r, 'reviews.default.svc.cluster.local:9080').routes[0].route).toEqual({ cluster: agg, timeout: { seconds: 0 } });
    const c = r.clusters.get(agg) as Obj;
    expect(c.cluster_type.typed_config.clusters).toEqual(['outbound|9080||reviews.default.svc.kind2.global', 'outbound|9080||reviews.default.svc.kind3.global']);
  });

  it('two policies shifting the same destination conflict: the first <namespace>/<name> wins and the conflict is reported', async () => {
    const { store } = await seedStore([seedFile('05-traffic-policy-simple.yaml'), seedFile('08-failover-service.yaml'), seedFile('09-traffic-policy-shift-failover.yaml')]);
    const r = translate(store.current, PRODUCTPAGE);
    expect(vhost(r, 'reviews.default.svc.cluster.local:9080').routes[0].route.cluster).toBe('outbound|9080||reviews-failover.default.global');
    const conflicts = trafficPolicyConflicts(new MeshView(store.current));
    expect(conflicts).toEqual([
      expect.objectContaining({ destination: 'default/reviews', clusters: ['kind2'], field: 'trafficShift', winner: 'default/reviews-shift-failover', losers: ['service-mesh-hub/simple'] }),
    ]);
  });
});

/** The seed topology (one VirtualMesh, access policy not enforced) with hand-written TrafficPolicies (model shapes). */
async function withPolicies(tps: TrafficPolicy[]): Promise<ModelStore> {
  const { store } = await seedStore([seedFile('01-virtual-mesh.yaml')]);
  const s = store.current;
  const virtualMeshes = s.policies.virtualMeshes.map((vm) => ({ ...vm, globalAccessPolicy: 'DISABLED' as const }));
  store.applyDeclarations({ clusters: [...s.clusters.values()], gateways: [...s.gateways.values()], policies: { ...s.policies, virtualMeshes, trafficPolicies: tps } });
  return store;
}

function tp(name: string, spec: Partial<TrafficPolicy>): TrafficPolicy {
  return { name, namespace: 'team', sourceSelector: [], destinationSelector: [{ kind: 'refs', services: [{ name: 'ratings', namespace: 'default' }] }], httpRequestMatchers: [], ...spec };
}

describe('request matchers, route fields and conflicts', () => {
  const policies = [
    tp('a-prefix', { httpRequestMatchers: [{ path: { kind: 'prefix', value: '/ratings' }, headers: [{ name: 'end-user', value: 'jason', regex: false, invertMatch: false }], queryParameters: [], method: 'GET' }], faultInjection: { delayMs: 500, abort: { httpStatus: 503 }, percentage: 10 } }),
    tp('b-exact', { httpRequestMatchers: [{ path: { kind: 'exact', value: '/health' }, headers: [], queryParameters: [] }], requestTimeoutMs: 100 }),
    tp('c-regex', { httpRequestMatchers: [{ path: { kind: 'regex', value: '/v[0-9]+/.*' }, headers: [{ name: 'x-debug', regex: false, invertMatch: true }], queryParameters: [{ name: 'q', value: 'a.*', regex: true }] }], mirror: { service: { name: 'details', namespace: 'default' }, percentage: 5 } }),
    tp('d-default', { requestTimeoutMs: 2000, retries: { attempts: 3, perTryTimeoutMs: 500 }, corsPolicy: { allowOrigins: [{ kind: 'exact', value: 'https://a.example' }], allowMethods: ['GET'], allowHeaders: [], exposeHeaders: [], maxAgeMs: 3_600_000, allowCredentials: true } }),
    tp('e-default', { requestTimeoutMs: 9000, headerManipulation: { appendRequestHeaders: { 'x-mesh': 'crossmesh' }, removeRequestHeaders: ['x-internal'], appendResponseHeaders: {}, removeResponseHeaders: ['server'] }, connectionPool: { maxConnections: 100, maxPendingRequests: 10, maxRequests: 1000, maxRetries: 3, connectTimeoutMs: 1000 } }),
  ];

  it('orders routes most specific first, ends with the catch-all, and lets specific routes inherit what they do not set', async () => {
    const store = await withPolicies(policies);
    const r = translate(store.current, PRODUCTPAGE);
    const routes = vhost(r, 'ratings.default.svc.cluster.local:9080').routes as Obj[];
    expect(routes.map((x) => x.name)).toEqual(['team/b-exact#0', 'team/c-regex#0', 'team/a-prefix#0', 'team/d-default,team/e-default']);
    expect(routes.map((x) => x.match)).toEqual([
      { path: '/health' },
      { safe_regex: { regex: '/v[0-9]+/.*' }, headers: [{ name: 'x-debug', present_match: true, invert_match: true }], query_parameters: [{ name: 'q', string_match: { safe_regex: { regex: 'a.*' } } }] },
      { path_separated_prefix: '/ratings', headers: [{ name: 'end-user', string_match: { exact: 'jason' } }, { name: ':method', string_match: { exact: 'GET' } }] },
      { prefix: '/' },
    ]);
    const [exact, regex, prefix, catchAll] = routes as [Obj, Obj, Obj, Obj];
    // Own field beats inherited; the rest comes from the catch-all group.
    expect(exact.route.timeout).toEqual({ seconds: 0, nanos: 100_000_000 });
    expect(prefix.route.timeout).toEqual({ seconds: 2 });
    // Istio's conditions, plus reset because a per-try timeout is set; a retry avoids the hosts already tried.
    expect(prefix.route.retry_policy).toEqual({
      retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes,reset',
      num_retries: { value: 3 },
      retriable_status_codes: [503],
      retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }],
      host_selection_retry_max_attempts: 5,
      per_try_timeout: { seconds: 0, nanos: 500_000_000 },
    });
    // Routes that retry make Envoy send x-envoy-attempt-count upstream.
    expect(vhost(r, 'ratings.default.svc.cluster.local:9080').include_request_attempt_count).toBe(true);
    expect(vhost(r, 'details.default.svc.cluster.local:9080').include_request_attempt_count).toBeUndefined();
    // The route configuration encodes: every Any type it names (the predicate's) is among the loaded protos.
    expect(() => encodeResource(ROUTE_TYPE, '9080', r.routes.get('9080')!)).not.toThrow();
    expect(prefix.typed_per_filter_config['envoy.filters.http.fault']).toEqual({
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
      delay: { fixed_delay: { seconds: 0, nanos: 500_000_000 }, percentage: { numerator: 10, denominator: 'HUNDRED' } },
      abort: { http_status: 503, percentage: { numerator: 10, denominator: 'HUNDRED' } },
    });
    expect(catchAll.typed_per_filter_config['envoy.filters.http.fault']).toBeUndefined();
    expect(catchAll.typed_per_filter_config['envoy.filters.http.cors']).toMatchObject({ allow_origin_string_match: [{ exact: 'https://a.example' }], allow_methods: 'GET', max_age: '3600', allow_credentials: { value: true } });
    expect(regex.route.request_mirror_policies).toEqual([{ cluster: 'outbound|9080||details.default.svc.cluster.local', runtime_fraction: { default_value: { numerator: 5, denominator: 'HUNDRED' } } }]);
    // Conflict on requestTimeout between d and e: d (sorts first) wins.
    expect(catchAll.route.timeout).toEqual({ seconds: 2 });
    expect(catchAll.request_headers_to_add).toEqual([{ header: { key: 'x-mesh', value: 'crossmesh' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' }]);
    expect(catchAll.request_headers_to_remove).toEqual(['x-internal']);
    expect(catchAll.response_headers_to_remove).toEqual(['server']);
    // The fault and CORS filters run before the router on the outbound HTTP listener (of port 9080).
    const hcm = (r.listeners.get('0.0.0.0_9080') as Obj).filter_chains[0].filters[0].typed_config;
    expect(hcm.http_filters.map((f: Obj) => f.name)).toEqual(['envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
    // Circuit breakers on every ratings cluster, none elsewhere.
    const ratings = r.clusters.get('outbound|9080||ratings.default.svc.kind3.global') as Obj;
    expect(ratings.circuit_breakers).toEqual({ thresholds: [{ priority: 'DEFAULT', max_connections: { value: 100 }, max_pending_requests: { value: 10 }, max_requests: { value: 1000 }, max_retries: { value: 3 } }] });
    expect(ratings.connect_timeout).toEqual({ seconds: 1 });
    expect(() => encodeResource(CLUSTER_TYPE, ratings.name, ratings)).not.toThrow();
    expect((r.clusters.get('outbound|9080||details.default.svc.cluster.local') as Obj).circuit_breakers).toBeUndefined();
    // The conflict is reported, settled by the documented rule.
    expect(trafficPolicyConflicts(new MeshView(store.current))).toEqual([expect.objectContaining({ destination: 'default/ratings', field: 'requestTimeoutMs', winner: 'team/d-default', losers: ['team/e-default'], matchers: '[]' })]);
  });

  it('is deterministic whatever order the policies are declared in', async () => {
    const a = translate((await withPolicies(policies)).current, PRODUCTPAGE);
    const b = translate((await withPolicies([...policies].reverse())).current, PRODUCTPAGE);
    expect(JSON.stringify([...b.routes])).toBe(JSON.stringify([...a.routes]));
  });

  it('a source selector gives the policy only to the workloads it picks', async () => {
    const store = await withPolicies([tp('only-productpage', { sourceSelector: [{ labels: { app: 'productpage' }, namespaces: [], clusters: [] }], requestTimeoutMs: 1500 })]);
    const pp = translate(store.current, PRODUCTPAGE);
    const reviews = translate(store.current, 'kind2/default/reviews-v1-0');
    expect(vhost(pp, 'ratings.default.svc.cluster.local:9080').routes[0].route.timeout).toEqual({ seconds: 1, nanos: 500_000_000 });
    expect(vhost(reviews, 'ratings.default.svc.cluster.local:9080').routes[0].route.timeout).toEqual({ seconds: 0 });
  });

  it('a destination the proxy does not have is dropped from the split instead of breaking the route configuration', async () => {
    const store = await withPolicies([tp('to-missing', { trafficShift: { destinations: [
      { kind: 'service', service: { name: 'ratings', namespace: 'default', cluster: 'kind3' }, subset: {}, weight: 50 },
      { kind: 'service', service: { name: 'nosuch', namespace: 'default' }, subset: {}, weight: 50 },
    ] } })]);
    const r = translate(store.current, PRODUCTPAGE);
    expect(vhost(r, 'ratings.default.svc.cluster.local:9080').routes[0].route.cluster).toBe('outbound|9080||ratings.default.svc.kind3.global');
  });
});

describe('retries, retry budget and segment prefixes', () => {
  it('a retrying policy lifts Envoy\'s default of 3 concurrent retries on its clusters, unless connectionPool sets maxRetries', async () => {
    const r = translate((await withPolicies([tp('retry', { retries: { attempts: 2 } })])).current, PRODUCTPAGE);
    const ratings = r.clusters.get('outbound|9080||ratings.default.svc.kind3.global') as Obj;
    expect(ratings.circuit_breakers).toEqual({ thresholds: [{ priority: 'DEFAULT', max_retries: { value: DEFAULT_MAX_RETRIES } }] });
    expect((r.clusters.get('outbound|9080||details.default.svc.cluster.local') as Obj).circuit_breakers).toBeUndefined();
    // Without a per-try timeout, Istio's conditions alone.
    expect(vhost(r, 'ratings.default.svc.cluster.local:9080').routes[0].route.retry_policy.retry_on).toBe('connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes');
    const capped = translate((await withPolicies([tp('retry', { retries: { attempts: 2 }, connectionPool: { maxRetries: 7 } })])).current, PRODUCTPAGE);
    expect((capped.clusters.get('outbound|9080||ratings.default.svc.kind3.global') as Obj).circuit_breakers.thresholds[0].max_retries).toEqual({ value: 7 });
  });

  it('connectionPool.retryBudget becomes the circuit breakers\' retry_budget', async () => {
    const r = translate((await withPolicies([tp('budget', { connectionPool: { retryBudget: { budgetPercent: 12.5, minRetryConcurrency: 2 } } })])).current, PRODUCTPAGE);
    const ratings = r.clusters.get('outbound|9080||ratings.default.svc.kind3.global') as Obj;
    expect(ratings.circuit_breakers).toEqual({ thresholds: [{ priority: 'DEFAULT', retry_budget: { budget_percent: { value: 12.5 }, min_retry_concurrency: { value: 2 } } }] });
    expect(() => encodeResource(CLUSTER_TYPE, ratings.name, ratings)).not.toThrow();
  });

  it('a prefix ends on a path segment (path_separated_prefix) unless Envoy cannot take it: ending in /, or with ? or #', () => {
    const m = (value: string) => routeMatch({ path: { kind: 'prefix', value }, headers: [], queryParameters: [] });
    expect(m('/api')).toEqual({ path_separated_prefix: '/api' });
    expect(m('/api/v1')).toEqual({ path_separated_prefix: '/api/v1' });
    expect(m('/api/')).toEqual({ prefix: '/api/' });
    expect(m('/')).toEqual({ prefix: '/' });
    expect(m('/a?b')).toEqual({ prefix: '/a?b' });
    expect(m('/a#b')).toEqual({ prefix: '/a#b' });
    expect(segmentPrefix('/a')).toBe(true);
    expect(segmentPrefix('/')).toBe(false);
  });
});
