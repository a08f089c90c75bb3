/**
 * The mesh as crossmesh understands it: clusters, services, workloads, gateways, identities.
 * Every source (config files, Kubernetes) produces these; every later stage reads them.
 * Objects are treated as immutable once they enter a MeshSnapshot.
 */

/** Application protocol of a service port; decides HTTP/2 upstreams and HTTP vs TCP filters. */
export type Protocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'TCP';

/** Where a workload runs; empty strings mean "unknown" at that level. */
export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

/** A member cluster of the federated mesh. */
export interface Cluster {
  readonly name: string;
  /** Endpoints in another network are reached through that network's east-west gateway. */
  readonly network: string;
  /** SPIFFE trust domain of workloads in this cluster (default: the cluster name). */
  readonly trustDomain: string;
  /** Default locality of workloads that do not declare one. */
  readonly locality: Locality;
  /** Address other networks use to reach this cluster's east-west gateway. */
  readonly gateway?: { readonly address: string; readonly port: number };
  /**
   * Range (IPv4 CIDR) the virtual addresses of this cluster's services are assigned from when a
   * service has none of its own (Kubernetes' --service-cluster-ip-range); default 10.96.0.0/16.
   */
  readonly serviceCidr?: string;
  /** Present when the cluster's services and workloads come from a Kubernetes API server. */
  readonly discovery?: { readonly kubernetes?: { readonly kubeconfig?: string; readonly context?: string } };
}

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  readonly targetPort: number;
  readonly protocol: Protocol;
}

/** A service as defined in one cluster; the same name/namespace in several clusters is one global service. */
export interface Service {
  readonly name: string;
  readonly namespace: string;
  readonly cluster: string;
  readonly ports: readonly ServicePort[];
  /** Workloads in the same cluster and namespace whose labels include all of these back the service. */
  readonly selector: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  /**
   * The service's virtual address in its cluster (Kubernetes' ClusterIP), which captured traffic
   * is addressed to. Unset: assigned from the cluster's `serviceCidr` (translate/service-addresses.ts).
   */
  readonly address?: string;
  /**
   * No virtual address (Kubernetes `clusterIP: None`): callers resolve the name to the workloads'
   * own addresses and connect to one of them, so each workload is reachable by itself; sidecars
   * forward such a connection to the address it was made to (translate/headless.ts).
   */
  readonly headless?: boolean;
  /**
   * How the service's workloads are found: `selector` (default) by its label selector, `listed` by
   * the workloads that name it in `memberOf` (Kubernetes: whatever its EndpointSlices list, as
   * Istio does, so a selectorless service with hand-managed slices has endpoints and a ready pod
   * that no slice lists has none).
   */
  readonly membership?: 'selector' | 'listed';
}

/** Health as Envoy sees it (EDS `health_status`). */
export type Health = 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'UNKNOWN';

/** One instance (pod, VM, process) with an address and an identity. */
export interface Workload {
  readonly name: string;
  readonly namespace: string;
  readonly cluster: string;
  readonly address: string;
  /**
   * The workload's other addresses, in order of preference after `address` (Kubernetes dual-stack:
   * `status.podIPs` beyond the first, so the other IP family). Envoy may connect to any of them.
   */
  readonly addresses?: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  readonly locality: Locality;
  readonly health: Health;
  /**
   * Per service port target overrides, keyed by service port number, for workloads whose
   * container listens elsewhere than the service's targetPort (Kubernetes EndpointSlices carry this).
   */
  readonly ports?: Readonly<Record<string, number>>;
  /** Names of the `listed` services (same cluster and namespace) this workload backs (Kubernetes: the EndpointSlices listing it). */
  readonly memberOf?: readonly string[];
  /**
   * `false`: not a mesh workload (no sidecar, no mesh certificate), e.g. an address a hand-managed
   * EndpointSlice lists (a database VM, the API server). Sidecars reach it in plaintext (an app's
   * own TLS passes through), never across networks; it is never a proxy. Absent: a mesh workload.
   */
  readonly mesh?: false;
}

export type GatewayType = 'EastWest' | 'Ingress';

/** An ingress route: requests for `hosts` with this path prefix go to a mesh service port. */
export interface IngressRoute {
  readonly pathPrefix: string;
  readonly service: { readonly name: string; readonly namespace: string; readonly port: number; readonly cluster?: string };
}

export interface Gateway {
  readonly name: string;
  readonly namespace: string;
  readonly cluster: string;
  readonly type: GatewayType;
  /** Name of the Workload (same cluster and namespace) that runs this gateway's Envoy. */
  readonly workload: string;
  readonly port: number;
  /** Ingress only: the virtual hosts this gateway serves. */
  readonly hosts?: readonly string[];
  readonly routes?: readonly IngressRoute[];
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

/** `<cluster>/<namespace>/<name>`: the key of services, workloads and gateways, and Envoy's node.id. */
export type ObjectKey = string;

/** Builds the `<cluster>/<namespace>/<name>` key. */
export function objectKey(o: { cluster: string; namespace: string; name: string }): ObjectKey {
  return `${o.cluster}/${o.namespace}/${o.name}`;
}

/** SPIFFE ID of a service account in a trust domain. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * A change reported by a discovery source. Sources never build snapshots themselves; the model
 * store applies these events and computes the change set.
 */
export type TopologyEvent =
  | { readonly kind: 'upsertService'; readonly service: Service }
  | { readonly kind: 'deleteService'; readonly key: ObjectKey }
  | { readonly kind: 'upsertWorkload'; readonly workload: Workload }
  | { readonly kind: 'deleteWorkload'; readonly key: ObjectKey }
  /** A full (re)list of one cluster's discovered objects: anything of that cluster not listed is gone. */
  | { readonly kind: 'replaceCluster'; readonly cluster: string; readonly services: readonly Service[]; readonly workloads: readonly Workload[] }
  /** The source lost (or regained) contact; its last-known objects keep serving, marked stale. */
  | { readonly kind: 'clusterStale'; readonly cluster: string; readonly stale: boolean; readonly reason?: string };
