/**
 * The sidecar role: outbound clusters/assignments for every service port the proxy's cluster sees,
 * the capture listener with one HTTP listener per service port and one TCP listener per TCP
 * service address, a route configuration per HTTP port, and the inbound mTLS listener and
 * clusters for the services its workload serves.
 */
import { globalServiceKey, subsetMatches } from '../model/snapshot.js';
import { inboundCluster, isHttp2, noEndpointsIdentity, outboundCluster } from './clusters.js';
import { originalDestinationCluster } from './headless.js';
import { captureClusters, httpListenerPorts, reservedPort, inboundListener, outboundHttpListener, outboundTcpListeners, virtualOutboundListener, type InboundPort } from './listeners.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import type { ProxyContext } from './proxy.js';
import { byName, type Resource } from './resources.js';
import { sharedPart } from './shared-part.js';
import { outboundRouteConfiguration } from './routes.js';
import { failoverAggregates, failoverHttpPlans, sidecarUpstreamTargets, withFailoverOutliers, withFailoverRoutes } from './failover.js';
import { policyContextOf, policyKeySuffix, scopedTargets, sidecarPolicyScope } from './policy-scope.js';
import { applicableTrafficPolicies, outboundHttpFilters, withClusterPolicies } from './traffic-policy.js';
import { endpointScope, scopeKey, type ClusterScope, type EndpointScope, type ListenerScope, type ProxyScopes, type RoleTranslator, type RouteScope, type Scope } from './scopes.js';

/** The workload's service ports (sorted by namespace, service, port), with the needed subsets it belongs to. */
export function inboundPorts(view: MeshView, proxy: ProxyContext): InboundPort[] {
  const out: InboundPort[] = [];
  for (const sk of proxy.services) {
    const svc = view.snapshot.services.get(sk);
    if (!svc) continue;
    const needs = view.subsetsOf(globalServiceKey(svc));
    for (const p of svc.ports) {
      const subsets = new Set<string>();
      for (const n of needs) {
        if (n.cluster !== undefined && n.cluster !== proxy.cluster.name) continue;
        if (n.port !== undefined && n.port !== p.port) continue;
        if (subsetMatches(n.labels, proxy.workload.labels)) subsets.add(n.name);
      }
      out.push({
        service: svc.name,
        namespace: svc.namespace,
        port: p.port,
        targetPort: proxy.workload.ports?.[String(p.port)] ?? p.targetPort,
        protocol: p.protocol,
        subsets: [...subsets].sort(),
      });
    }
  }
  return out.sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.service < b.service ? -1 : a.service > b.service ? 1 : a.port - b.port));
}

/**
 * The app ports behind the inbound clusters. Two services may send to the same target port; if
 * they disagree on HTTP/2 the port is treated as HTTP/2 (gRPC cannot fall back to HTTP/1).
 */
function inboundClusterPorts(ports: readonly InboundPort[]): { targetPort: number; http2: boolean }[] {
  const m = new Map<number, boolean>();
  for (const p of ports) m.set(p.targetPort, (m.get(p.targetPort) ?? false) || isHttp2(p.protocol));
  return [...m.entries()].sort(([a], [b]) => a - b).map(([targetPort, http2]) => ({ targetPort, http2 }));
}

/** A sidecar's outbound cluster for a target, trusting the identities behind it (or none when it has no endpoints). */
export function outboundClusterFor(view: MeshView, t: OutboundTarget): Resource {
  // Depends only on the target and the snapshot: every cluster whose sidecars hold this target
  // object (clusters that see the same clusters share one target list) shares the cluster object,
  // and with it its guard verdict and encoding (kept in its memo slot).
  return view.memoOn(t, 'outbound-cluster', () => {
    const ids = view.targetIdentities(t);
    if (ids.length === 0) {
      const td = view.snapshot.clusters.get(t.clusters[0] ?? '')?.trustDomain ?? t.clusters[0] ?? 'cluster.local';
      ids.push(noEndpointsIdentity(t, td));
    }
    return sharedPart(outboundCluster(t, ids, view.hasPlaintextEndpoints(t)));
  });
}

/** A sidecar's cluster for a target: the outbound cluster, sent to the original destination for a headless service. */
function sidecarClusterFor(view: MeshView, t: OutboundTarget): Resource {
  if (!t.headless) return outboundClusterFor(view, t);
  return view.memoOn(t, 'headless-cluster', () => sharedPart(originalDestinationCluster(outboundClusterFor(view, t))));
}

/** What a sidecar loads over EDS: its targets but the headless ones (their clusters are ORIGINAL_DST). */
function edsTargets(targets: readonly OutboundTarget[]): OutboundTarget[] {
  return targets.filter((t) => !t.headless);
}

/** A target's outbound cluster with the TrafficPolicy settings (outlier detection, circuit breakers) applying from this scope. */
function policyCluster(view: MeshView, scope: Scope, t: OutboundTarget): Resource {
  const base = sidecarClusterFor(view, t);
  const ctx = policyContextOf(scope);
  // The shared cluster object itself when no policy applies; otherwise memoized per cluster, policy sources and target.
  if (applicableTrafficPolicies(view, ctx, t).length === 0) return base;
  return view.memoOn(t, `policy-cluster|${scope.cluster}|${scope.policy?.sourcesKey ?? ''}`, () => withClusterPolicies(view, ctx, t, base));
}

/** Outbound clusters of a cluster's sidecars with one policy scope, memoized on the view (shared by every CDS group with that scope). */
function outboundClusters(view: MeshView, scope: ClusterScope): readonly Resource[] {
  const cluster = scope.cluster;
  return view.memo(`sidecar-outbound-clusters|${cluster}${scope.policy ? policyKeySuffix(scope.policy, 'clusters') : ''}`, () => [
    ...withFailoverOutliers(view, cluster, scopedTargets(scope, sidecarUpstreamTargets(view, cluster)).map((t) => policyCluster(view, scope, t))),
    ...failoverAggregates(view, cluster),
    ...view.memo('capture-clusters', () => captureClusters().map((c) => Object.freeze(c))),
  ]);
}

/** HTTP ports with an outbound listener and route configuration: the services' and the FailoverServices' (ascending). */
function httpPorts(view: MeshView, cluster: string, targets: readonly OutboundTarget[]): number[] {
  return view.memoOn(targets, `http-ports|${cluster}`, () => {
    const ports = new Set(httpListenerPorts(targets));
    for (const p of failoverHttpPlans(view, cluster)) ports.add(p.service.port.number);
    return [...ports].filter((p) => !reservedPort(p)).sort((a, b) => a - b);
  });
}

function build(view: MeshView, scope: Scope): Map<string, Resource> {
  const targets = scopedTargets(scope, view.sidecarTargets(scope.cluster));
  switch (scope.kind) {
    case 'clusters':
      return byName('clusters', [...outboundClusters(view, scope), ...scope.inbound.map((p) => inboundCluster(p.targetPort, p.http2))]);
    case 'endpoints':
      return byName('endpoints', edsTargets(scopedTargets(scope, sidecarUpstreamTargets(view, scope.cluster))).map((t) => view.assignment(t, scope.placement) as unknown as Resource));
    case 'routes': {
      const policy = policyContextOf(scope);
      return byName('routes', httpPorts(view, scope.cluster, targets).map((port) => withFailoverRoutes(view, scope.cluster, outboundRouteConfiguration(view, targets, scope.namespace, policy, port), port)));
    }
    case 'listeners': {
      const inbound = inboundListener(view, scope.cluster, scope.inbound);
      // The outbound listeners depend only on the snapshot, the cluster (service addresses) and the
      // target list: one object each for every group.
      const outbound = view.memoOn(targets, `sidecar-outbound-listeners|${scope.cluster}`, () => {
        const filters = outboundHttpFilters(view);
        return [
          view.memo('sidecar-virtual-outbound', () => virtualOutboundListener()),
          ...httpPorts(view, scope.cluster, targets).map((port) => view.memo(`sidecar-http-listener|${port}`, () => outboundHttpListener(port, filters))),
          ...outboundTcpListeners(view, scope.cluster, targets),
        ];
      });
      return byName('listeners', [...outbound, ...(inbound ? [inbound] : [])]);
    }
  }
}

function scopes(view: MeshView, proxy: ProxyContext): ProxyScopes {
  const cluster = proxy.cluster.name;
  const inbound = inboundPorts(view, proxy);
  const clusterPorts = inboundClusterPorts(inbound);
  // Policy facts (TrafficPolicy sources, dependencies under enforced access policy) extend every key.
  const policy = sidecarPolicyScope(view, proxy);
  const clusters: ClusterScope = {
    kind: 'clusters',
    role: 'sidecar',
    cluster,
    inbound: clusterPorts,
    policy,
    key: scopeKey('clusters', 'sidecar', cluster, clusterPorts.map((p) => `${p.targetPort}${p.http2 ? 'h2' : ''}`).join(',')) + policyKeySuffix(policy, 'clusters'),
  };
  const listeners: ListenerScope = {
    kind: 'listeners',
    role: 'sidecar',
    cluster,
    inbound,
    policy,
    key: scopeKey('listeners', 'sidecar', cluster, inbound) + policyKeySuffix(policy, 'listeners'),
  };
  const routes: RouteScope = { kind: 'routes', role: 'sidecar', cluster, namespace: proxy.workload.namespace, policy, key: scopeKey('routes', 'sidecar', cluster, proxy.workload.namespace) + policyKeySuffix(policy, 'routes') };
  const placement = endpointScope(proxy);
  const endpoints: EndpointScope = { ...placement, policy, key: placement.key + policyKeySuffix(policy, 'endpoints') };
  return { clusters, endpoints, listeners, routes };
}

/** The sidecar role. */
export const sidecarTranslator: RoleTranslator = {
  role: 'sidecar',
  scopes,
  build,
  targets: (view, scope) => {
    const targets = scopedTargets(scope, sidecarUpstreamTargets(view, scope.cluster));
    return scope.kind === 'endpoints' ? edsTargets(targets) : targets;
  },
  rebuildClusters: (view, scope, targets) => byName('clusters', withFailoverOutliers(view, scope.cluster, targets.map((t) => withClusterPolicies(view, policyContextOf(scope), t, sidecarClusterFor(view, t))))),
};
