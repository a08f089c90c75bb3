/**
 * RDS: the sidecar's outbound route configurations, one per HTTP service port (named by the port,
 * served to the `0.0.0.0_<port>` listener capture hands that port's connections to). One virtual
 * host per visible HTTP/gRPC service and host name on that port, so an app reaches it with any of
 * the names Kubernetes users type:
 *
 * - `<svc>.<ns>.svc.cluster.local[:port]` → every visible cluster running the service;
 * - `<svc>.<ns>.svc.<cluster>.global[:port]` → that cluster only (its own virtual host);
 * - `<svc>.<ns>.svc[:port]`, `<svc>.<ns>[:port]`, and `<svc>[:port]` for the proxy's own namespace
 *   → the same as the `.cluster.local` name.
 *
 * Envoy rejects a route configuration in which two virtual hosts share a domain, so each domain is
 * given to exactly one virtual host: full names before short forms, names with a port before
 * port-less ones, and within a tier by host then port. Proxyless gRPC clients get the same virtual
 * hosts in one configuration for every port (`outbound_http`; a port-less name then goes to the
 * service's lowest HTTP port).
 */
import { isHttp } from './clusters.js';
import { headlessDomains } from './headless.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import type { Resource } from './resources.js';
import { applicableTrafficPolicies, routePolicyContext, sharedTrafficPolicyRoutes, trafficPolicyRoutes, type PolicyContext, type RoutePolicyContext } from './traffic-policy.js';

/** Name of the all-ports outbound RouteConfiguration proxyless clients are built from. */
export const OUTBOUND_ROUTE_NAME = 'outbound_http';

/** A domain candidate with its claim tier (lower claims first). */
interface Candidate {
  readonly domain: string;
  readonly tier: number;
}

function domainCandidates(t: OutboundTarget, proxyNamespace: string): Candidate[] {
  const p = `:${t.port}`;
  const out: Candidate[] = [
    { domain: t.host + p, tier: 0 },
    { domain: t.host, tier: 1 },
  ];
  // A headless service's per-pod names (`<pod>.<host>`) reach the pod they name (headless.ts).
  for (const d of headlessDomains(t)) out.push({ domain: d, tier: d.endsWith(p) ? 0 : 1 });
  if (t.hostCluster === undefined) {
    const short = [`${t.service}.${t.namespace}.svc`, `${t.service}.${t.namespace}`];
    if (t.namespace === proxyNamespace) short.push(t.service);
    for (const s of short) out.push({ domain: s + p, tier: 2 }, { domain: s, tier: 3 });
  }
  return out;
}

/**
 * The targets an app in `proxyNamespace` reaches by calling `host` (with or without `:port`), as
 * virtual host domains resolve names (full names first, then the short forms, each by host and
 * port): one per port, whole services only (subset ''), sorted by port.
 */
export function targetsNamed(targets: readonly OutboundTarget[], proxyNamespace: string, host: string): OutboundTarget[] {
  const byPort = new Map<number, { t: OutboundTarget; tier: number }>();
  const sorted = targets.filter((t) => t.subset === '').sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
  for (const t of sorted) {
    for (const c of domainCandidates(t, proxyNamespace)) {
      if (c.domain !== host && c.domain !== `${host}:${t.port}`) continue;
      const held = byPort.get(t.port);
      if (!held || c.tier < held.tier) byPort.set(t.port, { t, tier: c.tier });
    }
  }
  return [...byPort.values()].map((x) => x.t).sort((a, b) => a.port - b.port);
}

/** The default route of a target: everything to its cluster, no route timeout (frozen, one per target per view). */
function defaultRoutes(view: MeshView, t: OutboundTarget): Resource[] {
  return view.memoOn(t, 'default-routes', () => Object.freeze([Object.freeze({ name: 'default', match: { prefix: '/' }, route: { cluster: t.clusterName, timeout: { seconds: 0 } } })]) as unknown as Resource[]);
}

/**
 * The routes of a target's virtual host: everything to its cluster, with no route timeout so
 * long-lived gRPC streams are not cut (TrafficPolicy translation replaces these with its own).
 */
export function virtualHostRoutes(view: MeshView, t: OutboundTarget, policy?: RoutePolicyContext): Resource[] {
  return (policy && trafficPolicyRoutes(view, policy, t)) ?? defaultRoutes(view, t);
}

/** Which outbound targets get a virtual host: HTTP-family ports, whole services (subsets are reached through routes). */
export function routedTargets(targets: readonly OutboundTarget[]): OutboundTarget[] {
  return targets.filter((t) => t.subset === '' && isHttp(t.protocol));
}

/** The routed targets (sorted by host, port) and the domains each one owns, for one namespace. */
interface DomainPlan {
  readonly routed: readonly OutboundTarget[];
  readonly domains: readonly (readonly string[])[];
  /** Per routed target, its virtual host with the default routes (built on first use). */
  readonly defaultHosts: (Resource | undefined)[];
  /** The configuration when every virtual host has its default routes (built on first use). */
  defaultConfig?: Resource;
}

function domainPlan(targets: readonly OutboundTarget[], proxyNamespace: string, port: number | undefined): DomainPlan {
  const routed = routedTargets(targets).filter((t) => port === undefined || t.port === port).sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
  const claims: { target: number; domain: string; tier: number }[] = [];
  routed.forEach((t, i) => {
    for (const c of domainCandidates(t, proxyNamespace)) claims.push({ target: i, ...c });
  });
  // Stable sort: tier first, then the routed order (host, port) the claims were pushed in.
  claims.sort((a, b) => a.tier - b.tier || a.target - b.target);
  const owner = new Map<string, number>();
  for (const c of claims) if (!owner.has(c.domain)) owner.set(c.domain, c.target);
  const domains: string[][] = routed.map(() => []);
  for (const [d, i] of owner) domains[i]!.push(d);
  for (const d of domains) d.sort();
  return { routed, domains, defaultHosts: new Array<Resource | undefined>(routed.length) };
}

/**
 * A virtual host with a target's default routes depends only on the target and its domains, so
 * it is one frozen object for every route configuration that has it (the namespaces'
 * configurations differ in a few short domains; clusters that see the same services have the
 * same ones): validated and encoded once.
 */
function defaultVirtualHost(view: MeshView, t: OutboundTarget, domains: readonly string[]): Resource {
  // Frozen marks the shared unit the encoder and the guard cache; nothing else holds its parts.
  return view.memoOn(t, `vhost|${domains.join(' ')}`, () => Object.freeze({ name: `${t.host}:${t.port}`, domains: Object.freeze([...domains]), routes: defaultRoutes(view, t) }));
}

/**
 * A virtual host with TrafficPolicy routes: one frozen object per shared routes array and domain
 * list, so the route configurations of the many proxies that see a policy's target alike share it.
 * When a route retries, Envoy tells the upstream which attempt it is (`x-envoy-attempt-count`, as
 * Istio does), so an app can see and log its retries.
 */
function policyVirtualHost(view: MeshView, t: OutboundTarget, domains: readonly string[], routes: readonly Resource[]): Resource {
  const retries = routes.some((r) => (r.route as Resource | undefined)?.retry_policy !== undefined);
  return view.memoOn(routes, `vhost|${domains.join(' ')}`, () =>
    Object.freeze({ name: `${t.host}:${t.port}`, domains: Object.freeze([...domains]), routes, ...(retries ? { include_request_attempt_count: true } : {}) }),
  );
}

/**
 * The outbound RouteConfiguration for a sidecar in `proxyNamespace` seeing `targets`: of one HTTP
 * port (named by it), or of every port (`outbound_http`) when `port` is undefined.
 */
export function outboundRouteConfiguration(view: MeshView, targets: readonly OutboundTarget[], proxyNamespace: string, policy?: PolicyContext, port?: number): Resource {
  const name = port === undefined ? OUTBOUND_ROUTE_NAME : String(port);
  const plan = view.memoOn(targets, `domains|${proxyNamespace}|${name}`, () => domainPlan(targets, proxyNamespace, port));
  const { routed, domains } = plan;
  let policyCtx: RoutePolicyContext | undefined;
  let allDefault = true;
  const virtualHosts = routed.map((t, i) => {
    // Most targets have no TrafficPolicy: their virtual host is the plan's shared one.
    if (policy && applicableTrafficPolicies(view, policy, t).length > 0) {
      policyCtx ??= routePolicyContext(view, policy, targets);
      const routes = sharedTrafficPolicyRoutes(view, policyCtx, t);
      if (routes) {
        allDefault = false;
        return policyVirtualHost(view, t, domains[i]!, routes);
      }
    }
    return (plan.defaultHosts[i] ??= defaultVirtualHost(view, t, domains[i]!));
  });
  // With default routes only, the configuration depends on the plan alone (the same namespace in
  // clusters that see the same services): one object, judged and encoded once.
  if (allDefault) return (plan.defaultConfig ??= { name, virtual_hosts: virtualHosts });
  return { name, virtual_hosts: virtualHosts };
}
