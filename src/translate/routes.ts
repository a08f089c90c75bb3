/**
 * RDS: the sidecar's outbound route configuration, served to the HTTP listener on 15001. One
 * virtual host per visible HTTP/gRPC service port and host name, so an app can use the sidecar
 * as its HTTP proxy with any of the names Kubernetes users type:
 *
 * - `<svc>.<ns>.svc.cluster.local[:port]` → every visible cluster running the service;
 * - `<svc>.<ns>.svc.<cluster>.global[:port]` → that cluster only (its own virtual host);
 * - `<svc>.<ns>.svc[:port]`, `<svc>.<ns>[:port]`, and `<svc>[:port]` for the proxy's own namespace
 *   → the same as the `.cluster.local` name.
 *
 * Envoy rejects a route configuration in which two virtual hosts share a domain, so each domain is
 * given to exactly one virtual host: full names before short forms, names with a port before
 * port-less ones, and within a tier by host then port (a port-less short name goes to the
 * service's lowest HTTP port).
 */
import { isHttp } from './clusters.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import type { Resource } from './resources.js';
import { routePolicyContext, trafficPolicyRoutes, type PolicyContext, type RoutePolicyContext } from './traffic-policy.js';

/** Name of the outbound RouteConfiguration the 15001 listener loads over RDS. */
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
  if (t.hostCluster === undefined) {
    const short = [`${t.service}.${t.namespace}.svc`, `${t.service}.${t.namespace}`];
    if (t.namespace === proxyNamespace) short.push(t.service);
    for (const s of short) out.push({ domain: s + p, tier: 2 }, { domain: s, tier: 3 });
  }
  return out;
}

/**
 * The routes of a target's virtual host: everything to its cluster, with no route timeout so
 * long-lived gRPC streams are not cut (TrafficPolicy translation replaces these with its own).
 */
export function virtualHostRoutes(view: MeshView, t: OutboundTarget, policy?: RoutePolicyContext): Resource[] {
  return (policy && trafficPolicyRoutes(view, policy, t)) ?? [{ name: 'default', match: { prefix: '/' }, route: { cluster: t.clusterName, timeout: { seconds: 0 } } }];
}

/** Which outbound targets get a virtual host: HTTP-family ports, whole services (subsets are reached through routes). */
export function routedTargets(targets: readonly OutboundTarget[]): OutboundTarget[] {
  return targets.filter((t) => t.subset === '' && isHttp(t.protocol));
}

/** The outbound RouteConfiguration for a sidecar in `proxyNamespace` seeing `targets`. */
export function outboundRouteConfiguration(view: MeshView, targets: readonly OutboundTarget[], proxyNamespace: string, policy?: PolicyContext): Resource {
  const policyCtx = policy && routePolicyContext(view, policy, targets);
  const routed = routedTargets(targets).sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
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
  return {
    name: OUTBOUND_ROUTE_NAME,
    virtual_hosts: routed.map((t, i) => ({
      name: `${t.host}:${t.port}`,
      domains: domains[i]!.sort(),
      routes: virtualHostRoutes(view, t, policyCtx),
    })),
  };
}
