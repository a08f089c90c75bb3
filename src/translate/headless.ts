/**
 * Headless services (Kubernetes `clusterIP: None`): per-workload reachability, as Istio gives it.
 *
 * A headless service has no virtual address: cluster DNS answers its name with the workloads' own
 * addresses (and `<pod>.<svc>.<ns>.svc.cluster.local` with one pod's, for StatefulSets), and the
 * app connects to the one it chose, e.g. a database client to its primary. A load-balanced
 * cluster would send that connection to any workload; so for a sidecar the service's mesh-wide
 * host is an ORIGINAL_DST cluster instead (the connection goes to the address the app connected
 * to, still over mesh mTLS with the same SNI and SPIFFE checks), reached through:
 *
 * - HTTP ports: the port's route configuration, whose virtual host for the service also takes
 *   every name under it (`*.<svc>.<ns>.svc.cluster.local`, the per-pod names);
 * - TCP ports: one `<workload address>_<port>` listener per workload of the service in the
 *   proxy's network (a TCP connection carries no name, only the address).
 *
 * Only workloads in the proxy's own network can be reached this way (another network's addresses
 * are not routable; its `.global` host still load-balances through the east-west gateway).
 */
import type { Endpoint } from '../model/snapshot.js';
import { tcpProxyFilter } from './filters.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import type { Resource } from './resources.js';

/** The EDS parts of an outbound cluster that an ORIGINAL_DST cluster must not have. */
const EDS_ONLY = new Set(['type', 'eds_cluster_config', 'lb_policy', 'common_lb_config']);

/** A sidecar's cluster for a headless target: `base` (TLS, protocol options) sent to the original destination. */
export function originalDestinationCluster(base: Resource): Resource {
  const out: Resource = { type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' };
  for (const [k, v] of Object.entries(base)) if (!EDS_ONLY.has(k)) out[k] = v;
  return out;
}

/** The extra virtual-host domains of a headless target: every name under its host, with and without the port. */
export function headlessDomains(t: OutboundTarget): string[] {
  return t.headless ? [`*.${t.host}`, `*.${t.host}:${t.port}`] : [];
}

/** A headless target's endpoints an app in `cluster` can connect to directly: those in its network, by address. */
export function reachableEndpoints(view: MeshView, cluster: string, t: OutboundTarget): Endpoint[] {
  const network = view.snapshot.clusters.get(cluster)?.network;
  const byAddress = new Map<string, Endpoint>();
  for (const e of view.targetEndpoints(t)) {
    if (e.network !== network) continue;
    // Two workloads on one address (host-network pods) are one destination; the first by key names it.
    const held = byAddress.get(e.address);
    if (!held || e.workload < held.workload) byAddress.set(e.address, e);
  }
  return [...byAddress.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/**
 * `<address>_<port>` listeners for the TCP headless targets: one per workload address in the
 * proxy's network, to the target's ORIGINAL_DST cluster. Names in `claimed` (other listeners)
 * are left alone; the names used are added to it.
 */
export function headlessTcpListeners(view: MeshView, cluster: string, targets: readonly OutboundTarget[], claimed: Set<string>): Resource[] {
  const out: Resource[] = [];
  for (const t of targets) {
    for (const e of reachableEndpoints(view, cluster, t)) {
      const name = `${e.address}_${t.port}`;
      if (claimed.has(name)) continue;
      claimed.add(name);
      out.push({
        name,
        address: { socket_address: { address: e.address, port_value: t.port } },
        bind_to_port: { value: false },
        traffic_direction: 'OUTBOUND',
        filter_chains: [{ filters: [tcpProxyFilter(t.clusterName, t.clusterName)] }],
      });
    }
  }
  return out;
}
