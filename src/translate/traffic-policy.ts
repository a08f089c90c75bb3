/**
 * TrafficPolicy → Envoy routes and cluster settings for sidecars.
 *
 * Selection. A policy applies to an outbound host seen from a proxy when its destination selector
 * picks the service instance the host stands for (a `.global` host: the service in that cluster;
 * the mesh-wide `.cluster.local` name: the service in the proxy's own cluster, like Service Mesh
 * Hub's VirtualService in that cluster) and its source selector is empty or picks the proxy's
 * workload.
 *
 * Routes. Policies on one host are grouped by their `httpRequestMatchers` (the same set of
 * matchers = one group). Each matcher of a group becomes a route; routes are ordered most specific
 * first (exact path, regex path, prefix path by length, no path; then more header/query/method
 * conditions first; then policy key and matcher position), and the policies without matchers form
 * the final catch-all route. A group with matchers inherits from the catch-all group every field
 * it does not set itself.
 *
 * Conflicts. Within one group (route fields) or across every policy on a target (cluster fields:
 * outlier detection, connection pool), two policies setting the same field conflict: the policy
 * whose key (`<namespace>/<name>`) sorts first wins, and the conflict is reported by
 * `trafficPolicyConflicts` (shown on `/debug/policies`).
 */
import type { CorsPolicy, FaultInjection, HeaderManipulation, HttpMatcher, Mirror, ConnectionPool, OutlierDetection, RetryPolicy, TrafficPolicy, WeightedDestination } from '../model/policies.js';
import { policyKey } from '../model/policies.js';
import type { Workload } from '../model/types.js';
import { isHttp } from './clusters.js';
import { sidecarFailovers } from './failover.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import { globalHost, localHost, outboundClusterName } from './names.js';
import { instanceFor, selectorPicksService, selectsService, selectsWorkload } from './policy-selectors.js';
import type { Resource } from './resources.js';
import { subsetName } from './subsets.js';

const T = 'type.googleapis.com/';
export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';
export const FAULT_FILTER_TYPE = `${T}envoy.extensions.filters.http.fault.v3.HTTPFault`;
export const CORS_FILTER_NAME = 'envoy.filters.http.cors';
export const CORS_FILTER_TYPE = `${T}envoy.extensions.filters.http.cors.v3.Cors`;
export const CORS_POLICY_TYPE = `${T}envoy.extensions.filters.http.cors.v3.CorsPolicy`;

/** Envoy's retry conditions for a `retries` policy (Istio's default `retryOn`). */
export const RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';

/**
 * A retry picks a host the request has not tried yet (Istio's predicate): without it, the retry
 * of a request a failing host answered may land on that host again.
 */
export const PREVIOUS_HOSTS_PREDICATE: Readonly<Resource> = Object.freeze({
  name: 'envoy.retry_host_predicates.previous_hosts',
  typed_config: Object.freeze({ '@type': `${T}envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate` }),
});

/** How many times a retry re-picks a host the predicate refused (Istio's 5). */
export const HOST_SELECTION_RETRY_MAX_ATTEMPTS = 5;

/** What TrafficPolicy translation needs to know about a proxy (part of its CDS and RDS scope). */
export interface PolicyContext {
  /** The proxy's cluster. */
  readonly cluster: string;
  /** Keys of the TrafficPolicies with a source selector that picks the proxy's workload, sorted. */
  readonly sources: readonly string[];
}

/** A PolicyContext plus the cluster names the proxy has in CDS (a route may only name those). */
export interface RoutePolicyContext extends PolicyContext {
  readonly available: ReadonlySet<string>;
}

type RouteField = 'trafficShift' | 'faultInjection' | 'requestTimeoutMs' | 'retries' | 'corsPolicy' | 'mirror' | 'headerManipulation';
type ClusterField = 'outlierDetection' | 'connectionPool';
export const ROUTE_FIELDS: readonly RouteField[] = ['trafficShift', 'faultInjection', 'requestTimeoutMs', 'retries', 'corsPolicy', 'mirror', 'headerManipulation'];
export const CLUSTER_FIELDS: readonly ClusterField[] = ['outlierDetection', 'connectionPool'];

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- selection ----

interface TrafficIndex {
  /** Policies that may select a global service (`<ns>/<name>`), in key order. */
  readonly byService: ReadonlyMap<string, readonly TrafficPolicy[]>;
  /** Policies with an empty destination selector (every service). */
  readonly everywhere: readonly TrafficPolicy[];
}

function trafficIndex(view: MeshView): TrafficIndex {
  return view.memo('tp-index', () => {
    const byService = new Map<string, TrafficPolicy[]>();
    const everywhere: TrafficPolicy[] = [];
    const add = (gk: string, tp: TrafficPolicy) => {
      let l = byService.get(gk);
      if (!l) byService.set(gk, (l = []));
      if (l[l.length - 1] !== tp) l.push(tp);
    };
    const globals = [...view.snapshot.globalServices.values()];
    for (const tp of view.snapshot.policies.trafficPolicies) {
      if (tp.destinationSelector.length === 0) {
        everywhere.push(tp);
        continue;
      }
      const keys = new Set<string>();
      for (const s of tp.destinationSelector) {
        if (s.kind === 'refs') for (const r of s.services) keys.add(`${r.namespace}/${r.name}`);
        else {
          // Any cluster: the mesh-wide name may stand for a cluster that does not run the service.
          const anyCluster = { ...s, clusters: [] };
          for (const gs of globals) {
            if (s.namespaces.length && !s.namespaces.includes(gs.namespace)) continue;
            if (gs.services.some((k) => { const svc = view.snapshot.services.get(k); return svc !== undefined && selectorPicksService(anyCluster, svc); })) keys.add(`${gs.namespace}/${gs.name}`);
          }
        }
      }
      for (const k of [...keys].sort()) add(k, tp);
    }
    return { byService, everywhere };
  });
}

/** Keys of the TrafficPolicies whose (non-empty) source selector picks `workload`, sorted. */
export function trafficPolicySources(view: MeshView, workload: Pick<Workload, 'labels' | 'namespace' | 'cluster'>): string[] {
  const labels = Object.keys(workload.labels).sort().map((k) => `${k}=${workload.labels[k]}`).join(',');
  return view.memo(`tp-sources|${workload.cluster}|${workload.namespace}|${labels}`, () =>
    view.snapshot.policies.trafficPolicies.filter((tp) => tp.sourceSelector.length > 0 && selectsWorkload(tp.sourceSelector, workload)).map(policyKey),
  );
}

function sourceApplies(tp: TrafficPolicy, ctx: PolicyContext): boolean {
  return tp.sourceSelector.length === 0 || ctx.sources.includes(policyKey(tp));
}

const NO_POLICIES: readonly TrafficPolicy[] = Object.freeze([]);

/** The TrafficPolicies applying to a target seen from a proxy, in key order. */
export function applicableTrafficPolicies(view: MeshView, ctx: PolicyContext, t: Pick<OutboundTarget, 'globalKey' | 'hostCluster' | 'host'>): readonly TrafficPolicy[] {
  const idx = trafficIndex(view);
  // Most services have no policy at all: answer without building a memo key.
  if (idx.everywhere.length === 0 && !idx.byService.has(t.globalKey)) return NO_POLICIES;
  return view.memo(`tp-applicable|${ctx.cluster}|${ctx.sources.join(',')}|${t.host}`, () => {
    const candidates = [...(idx.byService.get(t.globalKey) ?? []), ...idx.everywhere];
    if (candidates.length === 0) return [];
    const inst = instanceFor(view, t.globalKey, t.hostCluster ?? ctx.cluster);
    if (!inst) return [];
    return candidates.filter((tp) => sourceApplies(tp, ctx) && selectsService(tp.destinationSelector, inst)).sort((a, b) => compareText(policyKey(a), policyKey(b)));
  });
}

/** Whether a policy selects some instance of a global service in `clusters` (for status and scoping). */
export function trafficPolicySelects(view: MeshView, tp: TrafficPolicy, globalKey: string, clusters: readonly string[]): boolean {
  for (const c of clusters) {
    const inst = instanceFor(view, globalKey, c);
    if (inst && selectsService(tp.destinationSelector, inst)) return true;
  }
  return false;
}

// ---- merging ----

/** One field two policies set for the same source and destination. */
export interface FieldConflict {
  readonly field: string;
  readonly winner: string;
  readonly losers: readonly string[];
}

type Settings = Partial<Pick<TrafficPolicy, RouteField | ClusterField>>;

/** First policy (in key order) setting each field wins; the others setting it are reported. */
export function mergePolicies(policies: readonly TrafficPolicy[], fields: readonly (RouteField | ClusterField)[]): { settings: Settings; conflicts: FieldConflict[] } {
  const settings: Record<string, unknown> = {};
  const conflicts: FieldConflict[] = [];
  for (const f of fields) {
    const setters = policies.filter((p) => p[f] !== undefined);
    if (setters.length === 0) continue;
    settings[f] = setters[0]![f];
    if (setters.length > 1) conflicts.push(fieldVerdict(f, setters));
  }
  return { settings: settings as Settings, conflicts };
}

/** The verdict on one field among the policies setting it (in key order): the first wins, by `CONFLICT_RULE`. */
function fieldVerdict(field: string, setters: readonly TrafficPolicy[]): FieldConflict {
  return { field, winner: policyKey(setters[0]!), losers: setters.slice(1).map(policyKey) };
}

/** Every field set among `policies` with its verdict (`losers` empty when one policy sets it), as `mergePolicies` applies them. */
function fieldVerdicts(policies: readonly TrafficPolicy[], fields: readonly (RouteField | ClusterField)[]): FieldConflict[] {
  const out: FieldConflict[] = [];
  for (const f of fields) {
    const setters = policies.filter((p) => p[f] !== undefined);
    if (setters.length) out.push(fieldVerdict(f, setters));
  }
  return out;
}

function matcherSignature(ms: readonly HttpMatcher[]): string {
  return JSON.stringify(ms.map((m) => JSON.stringify(m)).sort());
}

// ---- Envoy shapes ----

/** Milliseconds as a protobuf Duration. */
export function duration(ms: number): Resource {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos ? { seconds, nanos } : { seconds };
}

/** A percentage (0..100, fractions allowed) as a FractionalPercent. */
export function fractionalPercent(p: number): Resource {
  return Number.isInteger(p) ? { numerator: p, denominator: 'HUNDRED' } : { numerator: Math.round(p * 10_000), denominator: 'MILLION' };
}

/**
 * Whether a policy prefix matches on a path segment boundary with Envoy's `path_separated_prefix`
 * (`/api` matches `/api`, `/api/x`, `/api?q`, not `/apix`). Envoy requires such a prefix not to end
 * in `/` nor contain `?` or `#` (`^[^?#]+[^?#/]$`): a prefix ending in `/` (`/`, `/api/`) already
 * ends on a boundary and stays a plain `prefix`, as does one with `?` or `#`.
 */
export function segmentPrefix(prefix: string): boolean {
  return /^[^?#]+[^?#/]$/.test(prefix);
}

/** A model request matcher as an Envoy RouteMatch. */
export function routeMatch(m: HttpMatcher): Resource {
  const out: Resource = {};
  if (!m.path) out.prefix = '/';
  else if (m.path.kind === 'prefix') out[segmentPrefix(m.path.value) ? 'path_separated_prefix' : 'prefix'] = m.path.value;
  else if (m.path.kind === 'exact') out.path = m.path.value;
  else out.safe_regex = { regex: m.path.value };
  const headers: Resource[] = m.headers.map((h) => ({
    name: h.name,
    ...(h.value === undefined ? { present_match: true } : { string_match: h.regex ? { safe_regex: { regex: h.value } } : { exact: h.value } }),
    ...(h.invertMatch ? { invert_match: true } : {}),
  }));
  if (m.method) headers.push({ name: ':method', string_match: { exact: m.method } });
  if (headers.length) out.headers = headers;
  if (m.queryParameters.length) {
    out.query_parameters = m.queryParameters.map((q) => ({
      name: q.name,
      ...(q.value === undefined ? { present_match: true } : { string_match: q.regex ? { safe_regex: { regex: q.value } } : { exact: q.value } }),
    }));
  }
  return out;
}

/** Specificity of a matcher: higher sorts first. */
function specificity(m: HttpMatcher | undefined): number[] {
  if (!m) return [0, 0, 0];
  const rank = m.path ? { exact: 3, regex: 2, prefix: 1 }[m.path.kind] : 0;
  return [rank, m.path?.kind === 'prefix' ? m.path.value.length : 0, m.headers.length + m.queryParameters.length + (m.method ? 1 : 0)];
}

function compareSpecificity(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return b[i]! - a[i]!;
  return 0;
}

function faultConfig(f: FaultInjection): Resource {
  const percentage = fractionalPercent(f.percentage);
  return {
    '@type': FAULT_FILTER_TYPE,
    ...(f.delayMs !== undefined ? { delay: { fixed_delay: duration(f.delayMs), percentage } } : {}),
    ...(f.abort ? { abort: { http_status: f.abort.httpStatus, percentage } } : {}),
  };
}

function corsConfig(c: CorsPolicy): Resource {
  return {
    '@type': CORS_POLICY_TYPE,
    allow_origin_string_match: c.allowOrigins.map((o) => (o.kind === 'regex' ? { safe_regex: { regex: o.value } } : { [o.kind]: o.value })),
    ...(c.allowMethods.length ? { allow_methods: c.allowMethods.join(',') } : {}),
    ...(c.allowHeaders.length ? { allow_headers: c.allowHeaders.join(',') } : {}),
    ...(c.exposeHeaders.length ? { expose_headers: c.exposeHeaders.join(',') } : {}),
    ...(c.maxAgeMs !== undefined ? { max_age: String(Math.floor(c.maxAgeMs / 1000)) } : {}),
    ...(c.allowCredentials !== undefined ? { allow_credentials: { value: c.allowCredentials } } : {}),
  };
}

/**
 * `reset` beside Istio's conditions when a per-try timeout is set: Envoy retries an attempt it
 * abandoned at its per-try timeout only under `reset`, `5xx` or `gateway-error`, so with Istio's
 * list alone the first slow attempt ends the request with a 504 (measured on Envoy 1.40).
 */
export const RETRY_ON_WITH_PER_TRY_TIMEOUT = `${RETRY_ON},reset`;

/**
 * Concurrent retries a cluster allows when a policy retries on it (Istio's default, 2^32-1):
 * Envoy's own default of 3 turns the fourth concurrent retry into the caller's 503.
 */
export const DEFAULT_MAX_RETRIES = 4_294_967_295;

function retryPolicy(r: RetryPolicy): Resource {
  return {
    retry_on: r.perTryTimeoutMs !== undefined ? RETRY_ON_WITH_PER_TRY_TIMEOUT : RETRY_ON,
    num_retries: { value: r.attempts },
    retriable_status_codes: [503],
    retry_host_predicate: [PREVIOUS_HOSTS_PREDICATE],
    host_selection_retry_max_attempts: HOST_SELECTION_RETRY_MAX_ATTEMPTS,
    ...(r.perTryTimeoutMs !== undefined ? { per_try_timeout: duration(r.perTryTimeoutMs) } : {}),
  };
}

function headerOptions(h: Readonly<Record<string, string>>): Resource[] {
  return Object.keys(h).sort().map((key) => ({ header: { key, value: h[key]! }, append_action: 'APPEND_IF_EXISTS_OR_ADD' }));
}

function headerFields(h: HeaderManipulation): Resource {
  return {
    ...(Object.keys(h.appendRequestHeaders).length ? { request_headers_to_add: headerOptions(h.appendRequestHeaders) } : {}),
    ...(h.removeRequestHeaders.length ? { request_headers_to_remove: [...h.removeRequestHeaders] } : {}),
    ...(Object.keys(h.appendResponseHeaders).length ? { response_headers_to_add: headerOptions(h.appendResponseHeaders) } : {}),
    ...(h.removeResponseHeaders.length ? { response_headers_to_remove: [...h.removeResponseHeaders] } : {}),
  };
}

// ---- destinations ----

/** A port of a global service to send to: `wanted` if it has it, else its only HTTP port. */
function servicePort(view: MeshView, globalKey: string, wanted: number | undefined, fallback: number): number | undefined {
  const gs = view.snapshot.globalServices.get(globalKey);
  if (!gs) return undefined;
  const ports = new Map<number, boolean>();
  for (const k of gs.services) for (const p of view.snapshot.services.get(k)?.ports ?? []) ports.set(p.port, isHttp(p.protocol));
  if (wanted !== undefined) return ports.has(wanted) ? wanted : undefined;
  if (ports.has(fallback)) return fallback;
  const http = [...ports].filter(([, h]) => h).map(([p]) => p);
  return http.length === 1 ? http[0] : undefined;
}

/**
 * The Envoy cluster a service reference resolves to for a proxy in `cluster`: the mesh-wide name
 * for a service without cluster or in the proxy's own cluster (as SMH's VirtualService named
 * `<svc>.<ns>.svc.cluster.local` there), else that cluster's `.global` host.
 */
export function serviceClusterName(view: MeshView, proxyCluster: string, ref: { name: string; namespace: string; cluster?: string }, subset: Readonly<Record<string, string>>, port: number | undefined, fallbackPort: number): string | { problem: string } {
  const gk = `${ref.namespace}/${ref.name}`;
  if (!view.snapshot.globalServices.has(gk)) return { problem: `service ${gk} does not exist` };
  const p = servicePort(view, gk, port, fallbackPort);
  if (p === undefined) return { problem: port !== undefined ? `service ${gk} has no port ${port}` : `service ${gk} has no port ${fallbackPort} and not exactly one HTTP port` };
  const host = ref.cluster === undefined || ref.cluster === proxyCluster ? localHost(ref.name, ref.namespace) : globalHost(ref.name, ref.namespace, ref.cluster);
  return outboundClusterName(p, subsetName(subset), host);
}

/** The cluster a weighted destination resolves to (before checking the proxy has it). */
export function destinationClusterName(view: MeshView, proxyCluster: string, d: WeightedDestination, fallbackPort: number): string | { problem: string } {
  if (d.kind === 'service') return serviceClusterName(view, proxyCluster, d.service, d.subset, d.port, fallbackPort);
  const fs = view.snapshot.policies.failoverServices.find((f) => f.name === d.name && f.namespace === d.namespace);
  if (!fs) return { problem: `FailoverService ${d.namespace}/${d.name} does not exist` };
  return outboundClusterName(fs.port.number, '', fs.hostname);
}

function mirrorClusterName(view: MeshView, proxyCluster: string, m: Mirror, fallbackPort: number): string | { problem: string } {
  return serviceClusterName(view, proxyCluster, m.service, {}, m.port, fallbackPort);
}

// ---- routes ----

interface RouteGroup {
  readonly policies: readonly TrafficPolicy[];
  readonly matchers: readonly HttpMatcher[];
  readonly settings: Settings;
}

function groupsOf(policies: readonly TrafficPolicy[]): { catchAll?: RouteGroup; specific: RouteGroup[] } {
  const bySig = new Map<string, TrafficPolicy[]>();
  for (const p of policies) {
    if (!ROUTE_FIELDS.some((f) => p[f] !== undefined)) continue;
    const sig = matcherSignature(p.httpRequestMatchers);
    let l = bySig.get(sig);
    if (!l) bySig.set(sig, (l = []));
    l.push(p);
  }
  let catchAll: RouteGroup | undefined;
  const specific: RouteGroup[] = [];
  for (const ps of bySig.values()) {
    const g = { policies: ps, matchers: ps[0]!.httpRequestMatchers, settings: mergePolicies(ps, ROUTE_FIELDS).settings };
    if (g.matchers.length === 0) catchAll = g;
    else specific.push(g);
  }
  return { ...(catchAll ? { catchAll } : {}), specific };
}

function routeFor(view: MeshView, ctx: RoutePolicyContext, t: OutboundTarget, name: string, match: Resource, s: Settings): Resource {
  const action: Resource = {};
  let dests: [string, number][] = [];
  if (s.trafficShift) {
    const weights = new Map<string, number>();
    for (const d of s.trafficShift.destinations) {
      const c = destinationClusterName(view, ctx.cluster, d, t.port);
      if (typeof c !== 'string' || !ctx.available.has(c) || d.weight === 0) continue;
      weights.set(c, (weights.get(c) ?? 0) + d.weight);
    }
    dests = [...weights];
  }
  if (dests.length > 1) action.weighted_clusters = { clusters: dests.map(([c, w]) => ({ name: c, weight: { value: w } })) };
  else action.cluster = dests[0]?.[0] ?? t.clusterName;
  action.timeout = s.requestTimeoutMs !== undefined ? duration(s.requestTimeoutMs) : { seconds: 0 };
  if (s.retries) action.retry_policy = retryPolicy(s.retries);
  if (s.mirror) {
    const m = mirrorClusterName(view, ctx.cluster, s.mirror, t.port);
    if (typeof m === 'string' && ctx.available.has(m)) action.request_mirror_policies = [{ cluster: m, runtime_fraction: { default_value: fractionalPercent(s.mirror.percentage) } }];
  }
  const perFilter: Resource = {};
  if (s.corsPolicy) perFilter[CORS_FILTER_NAME] = corsConfig(s.corsPolicy);
  if (s.faultInjection) perFilter[FAULT_FILTER_NAME] = faultConfig(s.faultInjection);
  return {
    name,
    match,
    route: action,
    ...(s.headerManipulation ? headerFields(s.headerManipulation) : {}),
    ...(Object.keys(perFilter).length ? { typed_per_filter_config: perFilter } : {}),
  };
}

/**
 * The routes of a target's virtual host under the TrafficPolicies applying to it from this proxy,
 * or undefined when none sets a route field (the caller keeps its default route).
 */
export function trafficPolicyRoutes(view: MeshView, ctx: RoutePolicyContext, t: OutboundTarget): Resource[] | undefined {
  const policies = applicableTrafficPolicies(view, ctx, t);
  if (policies.length === 0) return undefined;
  const { catchAll, specific } = groupsOf(policies);
  if (!catchAll && specific.length === 0) return undefined;
  const base = catchAll?.settings ?? {};
  const entries: { spec: number[]; key: string; index: number; route: Resource }[] = [];
  for (const g of specific) {
    const merged: Settings = { ...base, ...g.settings };
    const name = g.policies.map(policyKey).join(',');
    g.matchers.forEach((m, index) => entries.push({ spec: specificity(m), key: name, index, route: routeFor(view, ctx, t, `${name}#${index}`, routeMatch(m), merged) }));
  }
  entries.sort((a, b) => compareSpecificity(a.spec, b.spec) || compareText(a.key, b.key) || a.index - b.index);
  const last = catchAll
    ? routeFor(view, ctx, t, catchAll.policies.map(policyKey).join(','), { prefix: '/' }, catchAll.settings)
    : { name: 'default', match: { prefix: '/' }, route: { cluster: t.clusterName, timeout: { seconds: 0 } } };
  return [...entries.map((e) => e.route), last];
}

/** One group of a host's route policies (the same request matchers), as the translator merged it. */
export interface RouteGroupExplanation {
  /** The group's request matchers as Envoy RouteMatches ([] = the catch-all group, every request). */
  readonly matches: readonly Resource[];
  /** Its policies, in key order. */
  readonly policies: readonly string[];
  /** Every route field set in the group: the policy whose value is used and the ones it overrides. */
  readonly fields: readonly FieldConflict[];
  /** Fields a matcher group takes from the catch-all group because none of its own policies sets them. */
  readonly inherited: readonly string[];
}

/** What the TrafficPolicies applying to a host from a proxy do to it, field by field. */
export interface TrafficPolicyExplanation {
  /** Applying policies, in key order (the order the conflict rule reads them in). */
  readonly policies: readonly string[];
  /** Route groups: matcher groups first (routes ordered most specific first), the catch-all last. */
  readonly routeGroups: readonly RouteGroupExplanation[];
  /** Cluster fields (outlier detection, connection pool) set on the host's clusters, with their verdicts. */
  readonly clusterFields: readonly FieldConflict[];
}

/**
 * The TrafficPolicies applying to `t` from a proxy (`applicableTrafficPolicies`), grouped and
 * merged as `trafficPolicyRoutes` and `withClusterPolicies` do, with each field's winner.
 */
export function explainTrafficPolicies(view: MeshView, ctx: PolicyContext, t: OutboundTarget): TrafficPolicyExplanation {
  const policies = applicableTrafficPolicies(view, ctx, t);
  const { catchAll, specific } = groupsOf(policies);
  const base = catchAll ? new Set(Object.keys(catchAll.settings)) : new Set<string>();
  const group = (g: RouteGroup): RouteGroupExplanation => {
    const fields = fieldVerdicts(g.policies, ROUTE_FIELDS);
    const own = new Set(fields.map((f) => f.field));
    const inherited = g === catchAll ? [] : ROUTE_FIELDS.filter((f) => base.has(f) && !own.has(f));
    return { matches: g.matchers.map(routeMatch), policies: g.policies.map(policyKey), fields, inherited };
  };
  return {
    policies: policies.map(policyKey),
    routeGroups: [...specific.map(group), ...(catchAll ? [group(catchAll)] : [])],
    clusterFields: fieldVerdicts(policies, CLUSTER_FIELDS),
  };
}

/** Cluster names the routes of `t` may send to from this proxy (shift and mirror destinations), had or not. */
function routeDestinationCandidates(view: MeshView, ctx: PolicyContext, t: OutboundTarget): readonly string[] {
  return view.memoOn(t, `tp-dests|${ctx.cluster}|${ctx.sources.join(',')}`, () => {
    const out = new Set<string>();
    for (const tp of applicableTrafficPolicies(view, ctx, t)) {
      for (const d of tp.trafficShift?.destinations ?? []) {
        const c = destinationClusterName(view, ctx.cluster, d, t.port);
        if (typeof c === 'string') out.add(c);
      }
      if (tp.mirror) {
        const m = mirrorClusterName(view, ctx.cluster, tp.mirror, t.port);
        if (typeof m === 'string') out.add(m);
      }
    }
    return [...out].sort();
  });
}

/**
 * `trafficPolicyRoutes`, one frozen array for every proxy that gets the same routes: they depend
 * only on the target, the proxy's cluster and policy sources, and which of the candidate
 * destinations the proxy has, so route configurations of proxies with different dependencies
 * share (and the guard and encoder judge and encode once) each policy virtual host.
 */
export function sharedTrafficPolicyRoutes(view: MeshView, ctx: RoutePolicyContext, t: OutboundTarget): readonly Resource[] | undefined {
  let have = '';
  for (const c of routeDestinationCandidates(view, ctx, t)) have += ctx.available.has(c) ? '1' : '0';
  return view.memoOn(t, `tp-routes|${ctx.cluster}|${ctx.sources.join(',')}|${have}`, () => {
    const routes = trafficPolicyRoutes(view, ctx, t);
    return routes && Object.freeze(routes);
  });
}

/**
 * The context a route configuration is built in: the proxy's policy facts and the clusters it has
 * (its targets, plus the sound FailoverService aggregates failover.ts gives sidecars of its cluster).
 */
export function routePolicyContext(view: MeshView, ctx: PolicyContext, targets: readonly OutboundTarget[]): RoutePolicyContext {
  const aggregates = sidecarFailovers(view, ctx.cluster).filter((p) => p.problem === undefined).map((p) => p.clusterName);
  return { cluster: ctx.cluster, sources: ctx.sources, available: new Set([...targets.map((t) => t.clusterName), ...aggregates]) };
}

/**
 * HTTP filters the outbound HTTP connection manager needs before its router: CORS and fault
 * injection, when some TrafficPolicy of the mesh uses them (without per-route config they do nothing).
 */
export function outboundHttpFilters(view: MeshView): Resource[] {
  return view.memo('tp-hcm-filters', () => {
    const tps = view.snapshot.policies.trafficPolicies;
    const out: Resource[] = [];
    if (tps.some((p) => p.corsPolicy)) out.push({ name: CORS_FILTER_NAME, typed_config: { '@type': CORS_FILTER_TYPE } });
    if (tps.some((p) => p.faultInjection)) out.push({ name: FAULT_FILTER_NAME, typed_config: { '@type': FAULT_FILTER_TYPE } });
    return out;
  });
}

// ---- clusters ----

function outlierDetection(o: OutlierDetection): Resource {
  return {
    consecutive_5xx: { value: o.consecutiveErrors },
    interval: duration(o.intervalMs),
    base_ejection_time: duration(o.baseEjectionTimeMs),
    max_ejection_percent: { value: o.maxEjectionPercent },
    // As Istio does for consecutive5xxErrors: only consecutive errors eject, not success rate.
    enforcing_success_rate: { value: 0 },
  };
}

function circuitBreakers(c: ConnectionPool, retries: boolean): Resource | undefined {
  const th: Resource = {};
  if (retries) th.max_retries = { value: DEFAULT_MAX_RETRIES };
  if (c.maxConnections !== undefined) th.max_connections = { value: c.maxConnections };
  if (c.maxPendingRequests !== undefined) th.max_pending_requests = { value: c.maxPendingRequests };
  if (c.maxRequests !== undefined) th.max_requests = { value: c.maxRequests };
  if (c.maxRetries !== undefined) th.max_retries = { value: c.maxRetries };
  // Envoy then ignores max_retries: the budget bounds concurrent retries by a share of the requests.
  if (c.retryBudget) th.retry_budget = { budget_percent: { value: c.retryBudget.budgetPercent }, min_retry_concurrency: { value: c.retryBudget.minRetryConcurrency } };
  return Object.keys(th).length ? { thresholds: [{ priority: 'DEFAULT', ...th }] } : undefined;
}

/**
 * An outbound cluster with the outlier detection and circuit breakers of the TrafficPolicies
 * applying to its target from this proxy (subset clusters take their host's policies), and no
 * limit on concurrent retries when one of them retries (unless `connectionPool` sets one). The
 * input object is returned unchanged when no policy sets a cluster field or retries.
 */
export function withClusterPolicies(view: MeshView, ctx: PolicyContext, t: OutboundTarget, cluster: Resource): Resource {
  const policies = applicableTrafficPolicies(view, ctx, t);
  if (policies.length === 0) return cluster;
  const { settings } = mergePolicies(policies, CLUSTER_FIELDS);
  const retries = policies.some((p) => p.retries !== undefined);
  if (!settings.outlierDetection && !settings.connectionPool && !retries) return cluster;
  const out: Resource = { ...cluster };
  if (settings.outlierDetection) out.outlier_detection = outlierDetection(settings.outlierDetection);
  const cb = circuitBreakers(settings.connectionPool ?? {}, retries);
  if (cb) out.circuit_breakers = cb;
  if (settings.connectionPool?.connectTimeoutMs !== undefined) out.connect_timeout = duration(settings.connectionPool.connectTimeoutMs);
  return out;
}

// ---- what a policy names (scoping) ----

/** Global services (`<ns>/<name>`) a policy sends traffic to: shift and mirror destinations, failover backing services. */
export function trafficPolicyTargets(view: MeshView, tp: TrafficPolicy): string[] {
  const out = new Set<string>();
  for (const d of tp.trafficShift?.destinations ?? []) {
    if (d.kind === 'service') out.add(`${d.service.namespace}/${d.service.name}`);
    else {
      const fs = view.snapshot.policies.failoverServices.find((f) => f.name === d.name && f.namespace === d.namespace);
      for (const b of fs?.backingServices ?? []) out.add(`${b.namespace}/${b.name}`);
    }
  }
  if (tp.mirror) out.add(`${tp.mirror.service.namespace}/${tp.mirror.service.name}`);
  return [...out].sort();
}

/** Global services a policy may select (candidates; exact selection depends on the cluster). */
export function trafficPolicyCandidates(view: MeshView, tp: TrafficPolicy): string[] {
  const idx = trafficIndex(view);
  if (tp.destinationSelector.length === 0) return [...view.snapshot.globalServices.keys()].sort();
  const out: string[] = [];
  for (const [gk, list] of idx.byService) if (list.includes(tp)) out.push(gk);
  return out.sort();
}

/** TrafficPolicies that may select a global service (candidates, in key order). */
export function trafficPoliciesOn(view: MeshView, globalKey: string): readonly TrafficPolicy[] {
  const idx = trafficIndex(view);
  const list = idx.byService.get(globalKey) ?? [];
  return idx.everywhere.length ? [...list, ...idx.everywhere].sort((a, b) => compareText(policyKey(a), policyKey(b))) : list;
}

// ---- conflicts ----

/** A conflict between TrafficPolicies on one destination, as `/debug/policies` shows it. */
export interface TrafficPolicyConflict extends FieldConflict {
  /** Global service key and the clusters whose instance both select. */
  readonly destination: string;
  readonly clusters: readonly string[];
  /** Route fields only: the request matchers the policies share (`[]` = every request). */
  readonly matchers?: string;
  readonly rule: string;
}

export const CONFLICT_RULE = 'the policy whose <namespace>/<name> sorts first wins the field';

/** Whether two source selectors can pick the same workload of the mesh. */
function sourcesOverlap(view: MeshView, a: TrafficPolicy, b: TrafficPolicy): boolean {
  if (a.sourceSelector.length === 0 || b.sourceSelector.length === 0) return true;
  for (const w of view.snapshot.workloads.values()) if (selectsWorkload(a.sourceSelector, w) && selectsWorkload(b.sourceSelector, w)) return true;
  return false;
}

/**
 * Every field two TrafficPolicies both set for the same destination instance and overlapping
 * sources (route fields: with the same request matchers), with the winner by `CONFLICT_RULE`.
 */
export function trafficPolicyConflicts(view: MeshView): TrafficPolicyConflict[] {
  return view.memo('tp-conflicts', () => {
    const idx = trafficIndex(view);
    const out: TrafficPolicyConflict[] = [];
    const clusters = [...view.snapshot.clusters.keys()].sort();
    const gks = new Set([...idx.byService.keys(), ...(idx.everywhere.length ? view.snapshot.globalServices.keys() : [])]);
    for (const gk of [...gks].sort()) {
      const candidates = [...(idx.byService.get(gk) ?? []), ...idx.everywhere].sort((a, b) => compareText(policyKey(a), policyKey(b)));
      if (candidates.length < 2) continue;
      for (const c of clusters) {
        const inst = instanceFor(view, gk, c);
        if (!inst) continue;
        const here = candidates.filter((tp) => selectsService(tp.destinationSelector, inst));
        for (let i = 0; i < here.length; i++) {
          for (let j = i + 1; j < here.length; j++) {
            const a = here[i]!;
            const b = here[j]!;
            const fields: string[] = CLUSTER_FIELDS.filter((f) => a[f] !== undefined && b[f] !== undefined);
            const sameMatchers = matcherSignature(a.httpRequestMatchers) === matcherSignature(b.httpRequestMatchers);
            if (sameMatchers) fields.push(...ROUTE_FIELDS.filter((f) => a[f] !== undefined && b[f] !== undefined));
            if (fields.length === 0 || !sourcesOverlap(view, a, b)) continue;
            for (const f of fields) {
              const route = (ROUTE_FIELDS as readonly string[]).includes(f);
              const existing = out.find((x) => x.destination === gk && x.field === f && x.winner === policyKey(a) && x.losers[0] === policyKey(b));
              if (existing) (existing.clusters as string[]).push(c);
              else out.push({ destination: gk, clusters: [c], field: f, winner: policyKey(a), losers: [policyKey(b)], ...(route ? { matchers: matcherSignature(a.httpRequestMatchers) } : {}), rule: CONFLICT_RULE });
            }
          }
        }
      }
    }
    return out;
  });
}
