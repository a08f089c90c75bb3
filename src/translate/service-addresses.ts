/**
 * Virtual addresses of services, as seen by the sidecars of one cluster: what an app's DNS lookup
 * returns and what transparent capture hands to the outbound listeners (`<address>_<port>` TCP
 * listeners match on it; HTTP is routed by Host, see routes.ts).
 *
 * - A service's address in its cluster is its own (`Service.address`: the Kubernetes ClusterIP or
 *   a topology file's `spec.clusterIP`); a service without one gets an address hashed into its
 *   cluster's `serviceCidr` (default 10.96.0.0/16), probing past addresses already taken, in
 *   service-key order, so the same configuration always gives the same addresses.
 * - The mesh-wide host `<svc>.<ns>.svc.cluster.local` resolves, in cluster C, to the service's
 *   address in C when C runs it (what plain Kubernetes DNS answers there), else to its address in
 *   the first cluster (by name) that runs it.
 * - A one-cluster host `<svc>.<ns>.svc.<cluster>.global`, and a FailoverService hostname, gets an
 *   address of its own in 240.240.0.0/16 (Service Mesh Hub gave `.global` ServiceEntries addresses
 *   in 240.0.0.0/4): a cluster's ClusterIPs cannot stand for it, since the mesh-wide host already
 *   uses them.
 */
import type { MeshView } from './mesh-view.js';
import { reachableEndpoints } from './headless.js';
import { sidecarFailovers } from './failover.js';

/** Default range of assigned service addresses (Kubernetes' default service range is 10.96.0.0/12). */
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';
/** Range of the addresses of `.global` hosts. */
export const GLOBAL_HOST_CIDR = '240.240.0.0/16';

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function toNumber(ip: string): number {
  return ip.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}

function toIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Assigns every key an address in `cidr` (network and broadcast addresses excluded), skipping `taken`; keys in sorted order. */
function hashInto(cidr: string, keys: readonly string[], taken: Set<string>): Map<string, string> {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const network = toNumber(base!) & ~(size - 1);
  const usable = size - 2;
  const out = new Map<string, string>();
  for (const key of [...keys].sort()) {
    let off = fnv1a(key) % usable;
    // A full range would loop forever; it is left without an address instead.
    for (let tries = 0; tries < usable; tries++, off = (off + 1) % usable) {
      const ip = toIp((network + 1 + off) >>> 0);
      if (taken.has(ip)) continue;
      taken.add(ip);
      out.set(key, ip);
      break;
    }
  }
  return out;
}

/** Every service's address in `cluster`, by `<namespace>/<name>` (memoized on the view's target data). */
export function clusterServiceAddresses(view: MeshView, cluster: string): ReadonlyMap<string, string> {
  return view.memoTargets(`service-addresses|${cluster}`, () => {
    const own = new Map<string, string>();
    const unassigned: string[] = [];
    const prefix = `${cluster}/`;
    for (const [key, svc] of view.snapshot.services) {
      if (!key.startsWith(prefix)) continue;
      const nsName = `${svc.namespace}/${svc.name}`;
      // A headless service has no virtual address: its name resolves to its workloads' (hostsEntries).
      if (svc.headless) continue;
      if (svc.address) own.set(nsName, svc.address);
      else unassigned.push(nsName);
    }
    const cidr = view.snapshot.clusters.get(cluster)?.serviceCidr ?? DEFAULT_SERVICE_CIDR;
    for (const [k, ip] of hashInto(cidr, unassigned, new Set(own.values()))) own.set(k, ip);
    return own;
  });
}

/** Host name → virtual address for the hosts sidecars in `cluster` can call (mesh-wide and `.global`). */
export function hostAddresses(view: MeshView, cluster: string): ReadonlyMap<string, string> {
  return view.memoTargets(`host-addresses|${cluster}`, () => {
    const out = new Map<string, string>();
    const globals: string[] = [];
    for (const t of view.sidecarTargets(cluster)) {
      if (t.subset !== '' || out.has(t.host)) continue;
      if (t.hostCluster !== undefined) {
        globals.push(t.host);
        continue;
      }
      const nsName = `${t.namespace}/${t.service}`;
      const home = t.clusters.includes(cluster) ? [cluster] : t.clusters;
      for (const c of home) {
        const ip = clusterServiceAddresses(view, c).get(nsName);
        if (ip) {
          out.set(t.host, ip);
          break;
        }
      }
    }
    // FailoverService hostnames (e.g. reviews-failover.default.global) are names apps call too.
    for (const p of sidecarFailovers(view, cluster)) if (p.problem === undefined && !out.has(p.service.hostname)) globals.push(p.service.hostname);
    for (const [host, ip] of hashInto(GLOBAL_HOST_CIDR, [...new Set(globals)], new Set())) out.set(host, ip);
    return out;
  });
}

/** One line of a hosts file: an address and the names that resolve to it. */
export interface HostsEntry {
  readonly address: string;
  readonly names: readonly string[];
}

/**
 * The names an app in `cluster`/`namespace` may resolve, as hosts-file entries (what the
 * simulation writes to `/etc/netns/<pod>/hosts`; cluster DNS gives the same answers): each host
 * with the short forms Kubernetes search domains allow (`<svc>.<ns>.svc`, `<svc>.<ns>`, and
 * `<svc>` in the app's own namespace).
 */
export function hostsEntries(view: MeshView, cluster: string, namespace: string): HostsEntry[] {
  const addresses = hostAddresses(view, cluster);
  const byAddress = new Map<string, string[]>();
  const seenService = new Set<string>();
  for (const t of view.sidecarTargets(cluster)) {
    if (t.subset !== '') continue;
    const ip = addresses.get(t.host);
    if (!ip) continue;
    let names = byAddress.get(ip);
    if (!names) byAddress.set(ip, (names = []));
    if (!names.includes(t.host)) names.push(t.host);
    if (t.hostCluster === undefined && !seenService.has(t.globalKey)) {
      seenService.add(t.globalKey);
      names.push(`${t.service}.${t.namespace}.svc`, `${t.service}.${t.namespace}`);
      if (t.namespace === namespace) names.push(t.service);
    }
  }
  for (const p of sidecarFailovers(view, cluster)) {
    const ip = addresses.get(p.service.hostname);
    if (ip && !byAddress.has(ip)) byAddress.set(ip, [p.service.hostname]);
  }
  // Headless services, as cluster DNS answers them: each workload's own name under the service
  // (`<pod>.<svc>.<ns>.svc.cluster.local`) to its address, and the service's names to one of the
  // addresses (a hosts file holds one per name; DNS would return them all).
  for (const t of view.sidecarTargets(cluster)) {
    if (!t.headless || seenService.has(t.globalKey)) continue;
    const endpoints = reachableEndpoints(view, cluster, t);
    if (endpoints.length === 0) continue;
    seenService.add(t.globalKey);
    const add = (ip: string, ...names: string[]): void => {
      let list = byAddress.get(ip);
      if (!list) byAddress.set(ip, (list = []));
      for (const n of names) if (!list.includes(n)) list.push(n);
    };
    add(endpoints[0]!.address, t.host, `${t.service}.${t.namespace}.svc`, `${t.service}.${t.namespace}`, ...(t.namespace === namespace ? [t.service] : []));
    for (const e of endpoints) add(e.address, `${e.name}.${t.host}`);
  }
  return [...byAddress].map(([address, names]) => ({ address, names })).sort((a, b) => (a.names[0]! < b.names[0]! ? -1 : 1));
}

/** The hosts file text for an app in `cluster`/`namespace`. */
export function hostsFile(view: MeshView, cluster: string, namespace: string): string {
  return hostsEntries(view, cluster, namespace)
    .map((e) => `${e.address} ${e.names.join(' ')}\n`)
    .join('');
}
