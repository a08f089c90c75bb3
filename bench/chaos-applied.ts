/**
 * What configuration each Envoy applied across a control-plane restart, by Envoy's own counters:
 * the clusters and listeners it added, changed or removed, and the hash of the last accepted
 * CDS/LDS/RDS/EDS version. crossmesh's versions are content hashes, so a restart that serves the
 * same configuration moves none of them. SDS is left out on purpose: the CA keeps workload leaves
 * in memory only, so a restarted crossmesh issues new ones (test/envoy/restart.test.ts says so).
 */
import type { RunningPod } from '../src/meshsim/index.js';

const APPLIED =
  '^(cluster_manager\\.cluster_(added|modified|removed)|listener_manager\\.listener_(added|modified|removed|in_place_updated)|cluster_manager\\.cds\\.version|listener_manager\\.lds\\.version|http\\..*\\.rds\\..*\\.version|cluster\\..*\\.version)$';

/** Per pod name, the counters and version hashes that move only when new content is applied. */
export type Applied = Map<string, Map<string, number>>;

/** Reads the counters of every pod's Envoy. */
export async function readApplied(pods: Iterable<RunningPod>): Promise<Applied> {
  return new Map(await Promise.all([...pods].map(async (p) => [p.pod.name, await p.envoy.admin.stats(APPLIED)] as const)));
}

/** What moved between two readings, as `pod: stat before → after`. */
export function appliedChanges(before: Applied, after: Applied): string[] {
  const out: string[] = [];
  for (const [pod, a] of after) {
    const b = before.get(pod) ?? new Map<string, number>();
    for (const k of new Set([...a.keys(), ...b.keys()])) if (a.get(k) !== b.get(k)) out.push(`${pod}: ${k} ${b.get(k)} → ${a.get(k)}`);
  }
  return out;
}
