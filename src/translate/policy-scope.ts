/**
 * The policy part of a sidecar's scope: which TrafficPolicies its workload is a source of, and,
 * when its VirtualMesh enforces access policy (`globalAccessPolicy: ENABLED`), which services it
 * depends on. A sidecar in an enforcing mesh is sent only the services its identity may reach
 * (some AccessPolicy allows it on some instance in a cluster it sees) plus the services its
 * TrafficPolicies send to (shift and mirror destinations, the backing services of a
 * FailoverService), so its configuration grows with its dependencies, not with the mesh. Both
 * facts are part of the CDS/EDS/LDS/RDS scope keys, so proxies with different dependencies never
 * share a group.
 */
import type { AccessPolicy } from '../model/policies.js';
import { policyKey } from '../model/policies.js';
import { sidecarFailovers } from './failover.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import { meshOf, selectorPicksService, selectsIdentity, selectsService, type IdentityInstance } from './policy-selectors.js';
import type { ProxyContext } from './proxy.js';
import { digest, type Scope } from './scopes.js';
import { trafficPoliciesOn, trafficPolicySelects, trafficPolicySources, trafficPolicyTargets, type PolicyContext } from './traffic-policy.js';

/** Policy facts of one proxy that its resources depend on. */
export interface PolicyScope {
  /** TrafficPolicies with a source selector picking the proxy's workload (keys, sorted). */
  readonly sources: readonly string[];
  /** Global services (`<ns>/<name>`) the proxy is sent; absent = every service it sees. */
  readonly services?: ReadonlySet<string>;
  /** '' when `sources` is empty; else a short digest of it. */
  readonly sourcesKey: string;
  /** '' when unscoped; else a short digest of `services`. */
  readonly servicesKey: string;
}

const UNSCOPED: PolicyScope = Object.freeze({ sources: [], sourcesKey: '', servicesKey: '' });

/** AccessPolicies that may select each global service (candidates), and those selecting every service. */
function accessIndex(view: MeshView): { byService: ReadonlyMap<string, readonly AccessPolicy[]>; byPolicy: ReadonlyMap<AccessPolicy, readonly string[]>; everywhere: readonly AccessPolicy[] } {
  return view.memo('ap-index', () => {
    const byService = new Map<string, AccessPolicy[]>();
    const byPolicy = new Map<AccessPolicy, string[]>();
    const everywhere: AccessPolicy[] = [];
    const globals = [...view.snapshot.globalServices.values()];
    for (const ap of view.snapshot.policies.accessPolicies) {
      if (ap.destinationSelector.length === 0) {
        everywhere.push(ap);
        continue;
      }
      const keys = new Set<string>();
      for (const s of ap.destinationSelector) {
        if (s.kind === 'refs') for (const r of s.services) keys.add(`${r.namespace}/${r.name}`);
        else {
          for (const gs of globals) {
            if (s.namespaces.length && !s.namespaces.includes(gs.namespace)) continue;
            if (gs.services.some((k) => { const svc = view.snapshot.services.get(k); return svc !== undefined && selectorPicksService(s, svc); })) keys.add(`${gs.namespace}/${gs.name}`);
          }
        }
      }
      for (const k of keys) {
        let l = byService.get(k);
        if (!l) byService.set(k, (l = []));
        l.push(ap);
      }
      byPolicy.set(ap, [...keys]);
    }
    return { byService, byPolicy, everywhere };
  });
}

/** Global services an AccessPolicy may select (candidates; every service for an empty selector). */
export function accessPolicyCandidates(view: MeshView, ap: AccessPolicy): string[] {
  const idx = accessIndex(view);
  if (ap.destinationSelector.length === 0) return [...view.snapshot.globalServices.keys()].sort();
  return [...idx.byService].filter(([, aps]) => aps.includes(ap)).map(([gk]) => gk).sort();
}

/** Global services an identity may call in clusters `visible`: some AccessPolicy allows it on some instance there. */
export function reachableServices(view: MeshView, identity: IdentityInstance, visible: readonly string[]): Set<string> {
  const idx = accessIndex(view);
  const out = new Set<string>();
  const visibleSet = new Set(visible);
  const consider = (gk: string, ap: AccessPolicy) => {
    if (out.has(gk)) return;
    const gs = view.snapshot.globalServices.get(gk);
    if (!gs) return;
    for (const k of gs.services) {
      const svc = view.snapshot.services.get(k);
      if (svc && visibleSet.has(svc.cluster) && selectsService(ap.destinationSelector, svc)) {
        out.add(gk);
        return;
      }
    }
  };
  const allowed = new Set(view.snapshot.policies.accessPolicies.filter((ap) => selectsIdentity(ap.sourceSelector, identity)));
  if (idx.everywhere.some((ap) => allowed.has(ap))) for (const gk of view.snapshot.globalServices.keys()) for (const ap of idx.everywhere) if (allowed.has(ap)) consider(gk, ap);
  // From the allowed policies' candidates (the result is a set: the order it is found in does not matter).
  for (const ap of allowed) for (const gk of idx.byPolicy.get(ap) ?? []) consider(gk, ap);
  return out;
}

/**
 * The policy scope of a sidecar. Unscoped (every visible service) unless its cluster's VirtualMesh
 * enforces access policy; then the services its identity may reach, closed over what the
 * TrafficPolicies applying to it send traffic to.
 */
export function sidecarPolicyScope(view: MeshView, proxy: ProxyContext): PolicyScope {
  const w = proxy.workload;
  const sources = trafficPolicySources(view, w);
  const sourcesKey = sources.length ? digest(sources) : '';
  const mesh = meshOf(view, proxy.cluster.name);
  if (!mesh.enforced) return sources.length ? { ...UNSCOPED, sources, sourcesKey } : UNSCOPED;
  return view.memo(`policy-scope|${proxy.cluster.name}|${w.namespace}|${w.serviceAccount}|${sourcesKey}`, () => {
    const visible = mesh.clusters;
    const services = reachableServices(view, { cluster: proxy.cluster.name, namespace: w.namespace, serviceAccount: w.serviceAccount }, visible);
    // Every FailoverService offered here is sent (failover.ts); its aggregate needs all its children.
    for (const plan of sidecarFailovers(view, proxy.cluster.name)) for (const b of plan.service.backingServices) services.add(`${b.namespace}/${b.name}`);
    const sourceSet = new Set(sources);
    // Close over traffic-policy destinations (a shifted-to service may carry policies of its own).
    const queue = [...services];
    while (queue.length) {
      const gk = queue.pop()!;
      for (const tp of trafficPoliciesOn(view, gk)) {
        if (tp.sourceSelector.length && !sourceSet.has(policyKey(tp))) continue;
        if (!trafficPolicySelects(view, tp, gk, visible)) continue;
        for (const dep of trafficPolicyTargets(view, tp)) {
          if (services.has(dep) || !view.snapshot.globalServices.has(dep)) continue;
          services.add(dep);
          queue.push(dep);
        }
      }
    }
    const sorted = [...services].sort();
    return { sources, services: new Set(sorted), sourcesKey, servicesKey: `deps:${sorted.length}:${digest(sorted)}` };
  });
}

/** The targets of a scope: all of `targets`, or only those of its dependencies when it is scoped. */
export function scopedTargets(scope: Pick<Scope, 'policy'>, targets: readonly OutboundTarget[]): readonly OutboundTarget[] {
  const services = scope.policy?.services;
  if (!services) return targets;
  // Indexed once per target list (lists are memoized per view), so a scoped group costs its dependencies, not the mesh.
  let byService = TARGETS_BY_SERVICE.get(targets);
  if (!byService) {
    byService = new Map();
    for (const t of targets) {
      let l = byService.get(t.globalKey);
      if (!l) byService.set(t.globalKey, (l = []));
      l.push(t);
    }
    TARGETS_BY_SERVICE.set(targets, byService);
  }
  const out: OutboundTarget[] = [];
  for (const gk of services) out.push(...(byService.get(gk) ?? []));
  return out.sort((a, b) => (a.clusterName < b.clusterName ? -1 : a.clusterName > b.clusterName ? 1 : 0));
}

const TARGETS_BY_SERVICE = new WeakMap<readonly OutboundTarget[], Map<string, OutboundTarget[]>>();

/** The TrafficPolicy facts of a scope. */
export function policyContextOf(scope: Pick<Scope, 'cluster' | 'policy'>): PolicyContext {
  return { cluster: scope.cluster, sources: scope.policy?.sources ?? [] };
}

/** The key suffix a scope kind takes from the policy scope ('' when it adds nothing). */
export function policyKeySuffix(policy: PolicyScope, kind: 'clusters' | 'endpoints' | 'listeners' | 'routes'): string {
  const parts = kind === 'clusters' || kind === 'routes' ? [policy.sourcesKey, policy.servicesKey] : [policy.servicesKey];
  const text = parts.filter((p) => p !== '').join('|');
  return text === '' ? '' : `|${text}`;
}
