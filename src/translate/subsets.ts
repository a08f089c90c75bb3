/**
 * Subsets: label selections of a service's workloads that policies route to (a TrafficPolicy
 * shifting traffic to `reviews` with `version: v3`). Each needed subset becomes its own cluster
 * `outbound|<port>|<subset>|<host>` on sidecars, its own SNI, and its own gateway filter chain.
 */
import type { MeshPolicies } from '../model/policies.js';

/** A subset some policy sends traffic to. */
export interface SubsetNeed {
  readonly service: { readonly name: string; readonly namespace: string };
  /** Absent: the mesh-wide host (every cluster running the service); present: that cluster's `.global` host. */
  readonly cluster?: string;
  /** Absent: every port of the service. */
  readonly port?: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Name used in cluster names and SNIs, from `subsetName(labels)`. */
  readonly name: string;
}

/**
 * The subset's name: its labels sorted by key as `key-value`, joined by `_`, with characters that
 * cannot appear in a cluster name or an SNI (`|`, `/`, ...) replaced by `-`. `{version: v3}` → `version-v3`.
 */
export function subsetName(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}-${labels[k]}`.replace(/[^A-Za-z0-9.-]/g, '-'))
    .join('_');
}

function needKey(n: SubsetNeed): string {
  return `${n.service.namespace}/${n.service.name}|${n.cluster ?? ''}|${n.port ?? ''}|${n.name}`;
}

/**
 * Subsets the policies need: every TrafficPolicy trafficShift destination with a non-empty subset.
 * Sorted and de-duplicated. (Policy translation extends this list as it grows: mirrors, failover subsets.)
 */
export function subsetsFromPolicies(policies: MeshPolicies): SubsetNeed[] {
  const out = new Map<string, SubsetNeed>();
  for (const tp of policies.trafficPolicies) {
    for (const d of tp.trafficShift?.destinations ?? []) {
      if (d.kind !== 'service' || Object.keys(d.subset).length === 0) continue;
      const need: SubsetNeed = {
        service: { name: d.service.name, namespace: d.service.namespace },
        ...(d.service.cluster !== undefined ? { cluster: d.service.cluster } : {}),
        ...(d.port !== undefined ? { port: d.port } : {}),
        labels: d.subset,
        name: subsetName(d.subset),
      };
      out.set(needKey(need), need);
      // A proxy in the destination's own cluster routes to the subset under the mesh-wide name (as
      // Service Mesh Hub's VirtualService there did); see traffic-policy.ts `serviceClusterName`.
      if (need.cluster !== undefined) {
        const { cluster: _c, ...local } = need;
        out.set(needKey(local), local);
      }
    }
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, n]) => n);
}
