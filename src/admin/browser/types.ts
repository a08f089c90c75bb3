/**
 * Shapes of the JSON the dashboard reads. Types only (no code), so both the server, which
 * produces `/debug/topology`, and the browser script, which draws it, are checked against one
 * definition.
 */

/** A cluster of the mesh as the topology view draws it. */
export interface TopologyCluster {
  readonly name: string;
  readonly network: string;
  readonly trustDomain: string;
  readonly region: string;
  readonly zone: string;
  /** Where other networks reach this cluster's east-west gateway; null when it declares none. */
  readonly gateway: { readonly address: string; readonly port: number } | null;
  /** Why its discovery source is stale (last-known objects keep serving); null when fresh. */
  readonly stale: string | null;
}

/** A gateway and the Envoy (node) that runs it. */
export interface TopologyGateway {
  /** `<cluster>/<namespace>/<name>` of the Gateway object. */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly cluster: string;
  readonly type: 'EastWest' | 'Ingress';
  /** Node id of its Envoy: the key of the workload that runs it. */
  readonly node: string;
  /** The running workload's address ('' when the workload is missing). */
  readonly address: string;
  readonly port: number;
  readonly identity: string;
  /** East-west: `<svc>.<ns>:<port>` (plus ` subset <name>`) this gateway forwards to its cluster. */
  readonly exported: readonly string[];
  /** Ingress: `<prefix> → <service key or svc.ns>:<port>`. */
  readonly routes: readonly string[];
}

/** One workload (a proxy's node) behind a service. */
export interface TopologyWorkload {
  /** `<cluster>/<namespace>/<name>`, Envoy's node.id. */
  readonly node: string;
  readonly name: string;
  readonly address: string;
  readonly identity: string;
  readonly health: string;
  /** The `version` label, when it has one (subsets are usually versions). */
  readonly version: string;
}

/** The workloads of one service in one locality. */
export interface TopologyLocality {
  readonly region: string;
  readonly zone: string;
  readonly workloads: readonly TopologyWorkload[];
}

/** A service in one cluster, its workloads grouped by locality. */
export interface TopologyService {
  /** `<cluster>/<namespace>/<name>`. */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly cluster: string;
  readonly ports: readonly number[];
  readonly localities: readonly TopologyLocality[];
}

/** One weighted destination of a traffic shift. */
export interface TopologyShiftTarget {
  /** Service key (`<cluster>/<ns>/<name>`), or `failover:<ns>/<name>` for a FailoverService. */
  readonly target: string;
  /** `version=v3`-style subset labels, '' for all workloads. */
  readonly subset: string;
  readonly weight: number;
}

/** The policy relations the view draws. */
export type TopologyEdge =
  | {
      readonly kind: 'traffic-shift';
      readonly policy: string;
      /** Services whose callers are shifted (the policy's destination selector). */
      readonly from: readonly string[];
      /** Which callers: `every workload` or the source selector in words. */
      readonly sources: string;
      readonly targets: readonly TopologyShiftTarget[];
    }
  | {
      readonly kind: 'access';
      readonly policy: string;
      /** Allowed identities: SPIFFE IDs, or `spiffe://<td>/ns/<ns>/*`-style prefixes. */
      readonly identities: readonly string[];
      /** Services whose workloads carry an allowed identity (where the arrows start). */
      readonly from: readonly string[];
      /** Service keys the identities may call. */
      readonly to: readonly string[];
    }
  | {
      readonly kind: 'failover';
      readonly policy: string;
      readonly hostname: string;
      readonly port: number;
      /** Backing service keys in priority order (first healthy one takes the traffic). */
      readonly order: readonly string[];
    };

/** `/debug/topology`: the mesh as the dashboard's topology view draws it. */
export interface Topology {
  readonly snapshotVersion: string;
  readonly clusters: readonly TopologyCluster[];
  readonly gateways: readonly TopologyGateway[];
  readonly services: readonly TopologyService[];
  readonly edges: readonly TopologyEdge[];
  /** Whether workloads without an allow are denied (a VirtualMesh with globalAccessPolicy ENABLED). */
  readonly accessEnforced: boolean;
}

// ---- the other endpoints, as far as the page reads them (every field may be missing: the page
// must survive an older or newer server) ----

/** A NACK: the version a proxy rejected and Envoy's error. */
export interface NackView {
  readonly version?: string;
  readonly error?: string;
  readonly at?: string;
}

/** One xDS type of one stream (`/debug/proxies`). */
export interface TypeView {
  readonly lastSentVersion?: string;
  readonly ackedVersion?: string;
  readonly resources?: number;
  readonly lastNack?: NackView | null;
}

/** One stream (`/debug/proxies`). */
export interface ProxyView {
  readonly nodeId?: string;
  readonly role?: string;
  readonly identity?: string | null;
  readonly resolverError?: string | null;
  readonly blocked?: boolean;
  readonly peer?: string;
  readonly userAgent?: string;
  readonly mode?: string;
  readonly service?: string;
  readonly connectedAt?: string;
  readonly types?: Readonly<Record<string, TypeView | undefined>>;
}

export interface RefusalView {
  readonly at?: string;
  readonly nodeId?: string;
  readonly role?: string;
  readonly peer?: string;
  readonly code?: string | number;
  readonly reason?: string;
}

export interface ProxiesView {
  readonly proxies?: readonly ProxyView[];
  readonly refused?: readonly RefusalView[];
}

export interface KubernetesSourceView {
  readonly cluster?: string;
  readonly connected?: boolean;
  readonly stale?: boolean;
  readonly lastError?: string;
  readonly error?: string;
  readonly lastSyncAt?: string;
  readonly server?: string;
  readonly context?: string;
  readonly counts?: { readonly services?: number; readonly pods?: number; readonly endpointSlices?: number };
}

export interface DiscoveryView {
  readonly staticClusters?: readonly string[];
  readonly kubernetes?: readonly KubernetesSourceView[];
}

export interface ConfigView {
  readonly paths?: readonly string[];
  readonly lastGood?: { readonly version?: string; readonly loadedAt?: string; readonly files?: readonly string[] } | null;
  readonly lastAttempt?: { readonly at?: string; readonly ok?: boolean; readonly errors?: readonly string[]; readonly warnings?: readonly string[] } | null;
  readonly reloads?: { readonly applied?: number; readonly unchanged?: number; readonly invalid?: number };
}

export interface RejectedView {
  readonly kind?: string;
  readonly name?: string;
  readonly errors?: readonly string[];
}

export interface TranslationView {
  readonly snapshotVersion?: string;
  readonly groups?: readonly { readonly key?: string; readonly nodes?: readonly string[]; readonly rejected?: readonly RejectedView[] }[];
  readonly unresolved?: readonly { readonly node?: string; readonly error?: string }[];
}

export interface PolicyEffectView {
  readonly kind?: string;
  readonly policy?: string;
  readonly selects?: readonly string[];
  readonly resources?: readonly string[];
  readonly proxies?: readonly string[];
  readonly groups?: readonly string[];
  readonly problems?: readonly string[];
}

export interface PoliciesView {
  readonly policies?: readonly PolicyEffectView[];
  readonly conflicts?: readonly { readonly destination?: string; readonly field?: string; readonly winner?: string; readonly losers?: readonly string[]; readonly clusters?: readonly string[]; readonly matchers?: string }[];
  readonly conflictRule?: string;
}

export interface CertsView {
  readonly issued?: readonly { readonly identity?: string; readonly cluster?: string; readonly serial?: string; readonly notAfter?: string; readonly rotateAt?: string; readonly keyAlgorithm?: string }[];
  readonly trustBundle?: readonly { readonly id?: string; readonly subject?: string; readonly notAfter?: string; readonly status?: string }[];
  readonly intermediates?: readonly { readonly id?: string; readonly cluster?: string; readonly trustDomain?: string; readonly notAfter?: string }[];
  readonly xdsServer?: { readonly dnsNames?: readonly string[]; readonly ipAddresses?: readonly string[]; readonly serial?: string; readonly notAfter?: string } | null;
  readonly tokenKeys?: readonly { readonly kid?: string; readonly status?: string; readonly retireAt?: string }[];
}

/** `/readyz` read as data. */
export interface ReadyView {
  readonly ok: boolean;
  readonly code: number;
  readonly text: string;
}
