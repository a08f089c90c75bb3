/**
 * The immutable view of the whole federated mesh at one moment, plus the derived indexes later
 * stages need (endpoints per service, global services). Built and advanced only by ModelStore.
 */
import type { MeshPolicies } from './policies.js';
import type { Cluster, Gateway, Health, Locality, ObjectKey, Service, Workload } from './types.js';

/** One backend of one service: a selected workload with everything EDS and TLS need. */
export interface Endpoint {
  /** `<cluster>/<namespace>/<name>` of the workload. */
  readonly workload: ObjectKey;
  readonly name: string;
  readonly namespace: string;
  readonly cluster: string;
  /** Network of the workload's cluster ('' when the cluster is unknown). */
  readonly network: string;
  readonly address: string;
  /** The workload's other addresses (dual-stack), after `address` in order of preference. */
  readonly additionalAddresses?: readonly string[];
  /** Service port number (as a string key) → port the workload listens on. */
  readonly targetPorts: Readonly<Record<string, number>>;
  readonly health: Health;
  /** The workload's locality, or its cluster's default when it declares none. */
  readonly locality: Locality;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  /** SPIFFE ID the workload's certificate carries. */
  readonly identity: string;
  /** `false`: the workload is outside the mesh (Workload.mesh), reached in plaintext; its `identity` means nothing. */
  readonly mesh?: false;
}

/** The same service name and namespace in one or more clusters: one name, `<svc>.<ns>.svc.cluster.local`. */
export interface GlobalService {
  readonly name: string;
  readonly namespace: string;
  /** Keys of the per-cluster services, sorted. */
  readonly services: readonly ObjectKey[];
  /** Clusters that run it, sorted. */
  readonly clusters: readonly string[];
}

/** A cluster whose source lost contact; its last-known objects keep serving. */
export interface StaleCluster {
  readonly reason: string;
  /** Epoch milliseconds when it became stale (not part of the content version). */
  readonly since: number;
}

/** What comes from configuration rather than discovery: replaced as a whole on reload. */
export interface MeshDeclarations {
  readonly clusters: readonly Cluster[];
  readonly gateways: readonly Gateway[];
  readonly policies: MeshPolicies;
}

/**
 * One immutable model of the mesh. Maps share structure with the previous snapshot; never mutate
 * anything reachable from here. Map iteration order is unspecified: sort when order matters.
 */
export interface MeshSnapshot {
  /** Content version: 16 hex digits, equal for equal content regardless of history. */
  readonly version: string;
  /** Counts snapshots produced by this store (1 = the first); for logs, not content. */
  readonly generation: number;
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly staleClusters: ReadonlyMap<string, StaleCluster>;
  readonly services: ReadonlyMap<ObjectKey, Service>;
  readonly workloads: ReadonlyMap<ObjectKey, Workload>;
  readonly gateways: ReadonlyMap<ObjectKey, Gateway>;
  readonly policies: MeshPolicies;
  /** Per service key: its endpoints, sorted by workload key (empty array when none are selected). */
  readonly endpoints: ReadonlyMap<ObjectKey, readonly Endpoint[]>;
  /** Per workload key: keys of the services that select it, sorted. Absent: selected by none. */
  readonly workloadServices: ReadonlyMap<ObjectKey, readonly ObjectKey[]>;
  /** Per `<namespace>/<name>`: the service across clusters. */
  readonly globalServices: ReadonlyMap<string, GlobalService>;
}

/** Key of a global service: `<namespace>/<name>`. */
export function globalServiceKey(s: { namespace: string; name: string }): string {
  return `${s.namespace}/${s.name}`;
}

/** The port an endpoint listens on for a service port (the service's targetPort unless overridden). */
export function endpointPort(ep: Endpoint, servicePort: number): number | undefined {
  return ep.targetPorts[String(servicePort)];
}

/** Whether `labels` contains every entry of a non-empty `selector` (an empty selector selects nothing). */
export function selectorMatches(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  let any = false;
  for (const k in selector) {
    any = true;
    if (labels[k] !== selector[k]) return false;
  }
  return any;
}

/** Whether `labels` contains every entry of `subset` (an empty subset matches everything). */
export function subsetMatches(subset: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const k in subset) if (labels[k] !== subset[k]) return false;
  return true;
}
