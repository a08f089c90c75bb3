/**
 * Which cache groups a TrafficPolicy/AccessPolicy change can touch, so the publisher recomputes
 * only those. A change is "policy-only" when nothing but TrafficPolicies and AccessPolicies
 * changed; then a group is recomputed only if its resources depend on a service a changed policy
 * selected or sent traffic to (before or after the change). Anything that could reach every proxy
 * — a different set of subsets (new clusters and inbound SNIs everywhere), a different set of
 * HTTP filters on the outbound listener, a VirtualMesh or FailoverService change — falls back to
 * recomputing every group. Groups whose scope key changes (dependencies, policy sources) are new
 * groups and are computed when their nodes re-resolve.
 */
import { noKeyChanges, type ChangeSet } from '../model/changeset.js';
import type { AccessPolicy, TrafficPolicy } from '../model/policies.js';
import { policyKey } from '../model/policies.js';
import type { MeshView } from './mesh-view.js';
import { accessPolicyCandidates, scopedTargets } from './policy-scope.js';
import type { Scope } from './scopes.js';
import { outboundHttpFilters, trafficPolicyCandidates, trafficPolicyTargets } from './traffic-policy.js';

function changedKeys(c: { added: readonly string[]; changed: readonly string[]; removed: readonly string[] }): string[] {
  return [...c.added, ...c.changed, ...c.removed];
}

/**
 * A predicate telling whether a group's scope is touched by a policy-only change, or undefined
 * when every group must be recomputed.
 */
export function policyChangeFilter(previous: MeshView, next: MeshView, changes: ChangeSet): ((scope: Scope) => boolean) | undefined {
  const p = changes.policies;
  const structural =
    !noKeyChanges(changes.clusters) || !noKeyChanges(changes.services) || !noKeyChanges(changes.gateways) || changes.globalServices.length > 0 ||
    !noKeyChanges(p.virtualMeshes) || !noKeyChanges(p.failoverServices) ||
    changes.endpoints.length > 0 || !noKeyChanges(changes.workloads);
  if (structural || (noKeyChanges(p.trafficPolicies) && noKeyChanges(p.accessPolicies))) return undefined;
  if (JSON.stringify(previous.subsets) !== JSON.stringify(next.subsets)) return undefined;
  if (JSON.stringify(outboundHttpFilters(previous)) !== JSON.stringify(outboundHttpFilters(next))) return undefined;

  const routed = new Set<string>();
  const tpKeys = new Set(changedKeys(p.trafficPolicies));
  for (const view of [previous, next]) {
    for (const tp of view.snapshot.policies.trafficPolicies as readonly TrafficPolicy[]) {
      if (!tpKeys.has(policyKey(tp))) continue;
      for (const gk of trafficPolicyCandidates(view, tp)) routed.add(gk);
      for (const gk of trafficPolicyTargets(view, tp)) routed.add(gk);
    }
  }
  const guarded = new Set<string>();
  const apKeys = new Set(changedKeys(p.accessPolicies));
  for (const view of [previous, next]) {
    for (const ap of view.snapshot.policies.accessPolicies as readonly AccessPolicy[]) {
      if (apKeys.has(policyKey(ap))) for (const gk of accessPolicyCandidates(view, ap)) guarded.add(gk);
    }
  }
  return (scope) => {
    if (scope.role !== 'sidecar' && scope.role !== 'gateway') return true;
    if (scope.role === 'gateway' || scope.kind === 'endpoints') return false;
    if (scope.kind === 'listeners') return scope.inbound.some((port) => guarded.has(`${port.namespace}/${port.service}`));
    if (routed.size === 0) return false;
    return scopedTargets(scope, next.sidecarTargets(scope.cluster)).some((t) => routed.has(t.globalKey));
  };
}
