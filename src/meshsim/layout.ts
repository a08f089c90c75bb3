/**
 * Lays a mesh configuration out as a network simulation: every Workload becomes a pod (a network
 * namespace) on its cluster's network, east-west gateways also sit on the shared wan at their
 * `Cluster.spec.gateway` address, ingress gateways get a wan address too, and each sidecar pod
 * resolves service names from a hosts file that holds the addresses crossmesh's outbound
 * listeners match (translate/service-addresses.ts). Pure: configuration in, plan out.
 */
import type { MeshConfig } from '../config/mesh-config.js';
import type { NetworkSpec, PodSpec, SimulationSpec } from '../netsim/index.js';
import type { MeshView } from '../translate/mesh-view.js';
import { hostsEntries } from '../translate/service-addresses.js';
import { objectKey } from '../model/types.js';

/** What runs in a pod besides its namespace (`outside`: a `mesh: false` workload, its app alone, no capture, no Envoy). */
export type PodRole = 'sidecar' | 'gateway' | 'ingress' | 'outside';

/** A pod of the mesh simulation. */
export interface MeshPod {
  /** Simulation node name (`<cluster>-<workload>`). */
  readonly name: string;
  /** Envoy node id `<cluster>/<namespace>/<workload>`. */
  readonly nodeId: string;
  readonly cluster: string;
  readonly namespace: string;
  readonly workload: string;
  readonly role: PodRole;
  readonly address: string;
  readonly wanAddress?: string;
  /** Sidecar and outside pods: the app (`crossmesh demo-app`) it runs. */
  readonly app?: { readonly name: string; readonly version: string; readonly port: number; readonly calls: string };
  /** Ingress pods: the port it serves on. */
  readonly port?: number;
}

/** The simulation spec and the pods with their roles. */
export interface MeshLayout {
  readonly spec: SimulationSpec;
  readonly pods: readonly MeshPod[];
}

/** Which services an app calls on each request (`--calls` of `crossmesh demo-app`). */
export type CallsOf = (app: string, version: string) => string;

/** Bookinfo's call graph, as the seed's application has it: productpage → details, reviews; reviews v2/v3 → ratings. */
export const bookinfoCalls: CallsOf = (app, version) => (app === 'productpage' ? 'details,reviews' : app === 'reviews' && version !== 'v1' ? 'ratings' : '');

function subnet24(address: string): string {
  const o = address.split('.');
  return `${o[0]}.${o[1]}.${o[2]}.0/24`;
}

/** The simulation node name of a workload: DNS-label safe. */
export function podName(cluster: string, workload: string): string {
  return `${cluster}-${workload}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

/**
 * Lays out `config` (its topology: clusters, workloads, gateways) with hosts files from `view`.
 * Each network's subnet is the /24 of its workloads (all of them must share it), the wan the /24
 * of the east-west gateways' addresses; throws naming what does not fit.
 */
export function layoutMesh(config: MeshConfig, view: MeshView, calls: CallsOf = bookinfoCalls): MeshLayout {
  const clusters = new Map(config.clusters.map((c) => [c.name, c]));
  const gatewayOf = new Map<string, { type: 'EastWest' | 'Ingress'; port: number }>();
  for (const g of config.gateways) gatewayOf.set(`${g.cluster}/${g.namespace}/${g.workload}`, { type: g.type, port: g.port });
  const wanAddresses = config.clusters.flatMap((c) => (c.gateway ? [c.gateway.address] : []));
  if (wanAddresses.length === 0) throw new Error('no Cluster has spec.gateway: the simulation needs the east-west gateways\' wan addresses to lay out the wan');
  const wan = subnet24(wanAddresses[0]!);
  for (const a of wanAddresses) if (subnet24(a) !== wan) throw new Error(`east-west gateway address ${a} is not in the wan ${wan} of ${wanAddresses[0]}`);
  const used = new Set(wanAddresses);
  const nextWan = (() => {
    let n = 200;
    return (): string => {
      const base = wan.split('.').slice(0, 3).join('.');
      while (used.has(`${base}.${n}`)) n++;
      used.add(`${base}.${n}`);
      return `${base}.${n++}`;
    };
  })();

  const networks = new Map<string, NetworkSpec>();
  const pods: MeshPod[] = [];
  const podSpecs: PodSpec[] = [];
  for (const w of [...config.workloads].sort((a, b) => (objectKey(a) < objectKey(b) ? -1 : 1))) {
    const cluster = clusters.get(w.cluster);
    if (!cluster) throw new Error(`Workload ${objectKey(w)}: cluster ${w.cluster} is not defined`);
    const network = cluster.network;
    const sub = subnet24(w.address);
    const known = networks.get(network);
    if (!known) networks.set(network, { name: network, subnet: sub });
    else if (known.subnet !== sub) throw new Error(`Workload ${objectKey(w)}: address ${w.address} is not in network ${network}'s ${known.subnet}`);
    const gw = gatewayOf.get(objectKey(w));
    const name = podName(w.cluster, w.name);
    const base = { name, nodeId: objectKey(w), cluster: w.cluster, namespace: w.namespace, workload: w.name, address: w.address };
    if (gw?.type === 'EastWest') {
      if (!cluster.gateway) throw new Error(`Gateway of ${objectKey(w)}: cluster ${w.cluster} has no spec.gateway address`);
      pods.push({ ...base, role: 'gateway', wanAddress: cluster.gateway.address });
      podSpecs.push({ name, network, address: w.address, wanAddress: cluster.gateway.address });
      continue;
    }
    if (gw?.type === 'Ingress') {
      const wanAddress = nextWan();
      pods.push({ ...base, role: 'ingress', wanAddress, port: gw.port });
      podSpecs.push({ name, network, address: w.address, wanAddress });
      continue;
    }
    const appName = w.labels.app ?? w.name;
    if (w.mesh === false) {
      // Outside the mesh: a plain server on the workload's own address, as a VM or database would be.
      const svc = config.services.find((s) => s.cluster === w.cluster && s.namespace === w.namespace && Object.entries(s.selector).every(([k, v]) => w.labels[k] === v) && Object.keys(s.selector).length > 0);
      pods.push({ ...base, role: 'outside', app: { name: appName, version: w.labels.version ?? 'v1', port: svc?.ports[0]?.targetPort ?? 9080, calls: '' } });
      podSpecs.push({ name, network, address: w.address });
      continue;
    }
    const version = w.labels.version ?? 'v1';
    const svc = config.services.find((s) => s.cluster === w.cluster && s.namespace === w.namespace && Object.entries(s.selector).every(([k, v]) => w.labels[k] === v) && Object.keys(s.selector).length > 0);
    const port = svc?.ports[0]?.targetPort ?? 9080;
    const hosts: Record<string, string> = {};
    for (const e of hostsEntries(view, w.cluster, w.namespace)) for (const n of e.names) hosts[n] = e.address;
    pods.push({ ...base, role: 'sidecar', app: { name: appName, version, port, calls: calls(appName, version) } });
    podSpecs.push({ name, network, address: w.address, hosts });
  }
  return { spec: { networks: [...networks.values()], wan: { subnet: wan }, pods: podSpecs }, pods };
}
