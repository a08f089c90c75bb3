/**
 * Policy kinds of the mesh in their normalized form: the Service Mesh Hub v1alpha2 shapes
 * (VirtualMesh, TrafficPolicy, AccessPolicy, FailoverService) after validation, with defaults
 * applied, durations in milliseconds and one-of fields turned into tagged unions.
 * The config stage produces these; translators read them.
 */
import type { Protocol } from './types.js';

/** A service named by name/namespace and, optionally, cluster (absent = that name in every cluster). */
export interface ServiceRef {
  readonly name: string;
  readonly namespace: string;
  readonly cluster?: string;
}

/** Selects destination services (SMH `TrafficTargetSelector`). */
export type ServiceSelector =
  /** `kubeServiceMatcher`: services whose labels include `labels`, in any of `namespaces`/`clusters` (empty = any). */
  | { readonly kind: 'matcher'; readonly labels: Readonly<Record<string, string>>; readonly namespaces: readonly string[]; readonly clusters: readonly string[] }
  /** `kubeServiceRefs`: exactly these services. */
  | { readonly kind: 'refs'; readonly services: readonly ServiceRef[] };

/** Selects source workloads (SMH `WorkloadSelector`); empty lists/maps match anything. */
export interface WorkloadSelector {
  readonly labels: Readonly<Record<string, string>>;
  readonly namespaces: readonly string[];
  readonly clusters: readonly string[];
}

/** A service account, as a SPIFFE identity is built from it (cluster absent = any cluster). */
export interface ServiceAccountRef {
  readonly name: string;
  readonly namespace: string;
  readonly cluster?: string;
}

/** Selects source identities (SMH `IdentitySelector`). */
export type IdentitySelector =
  /** `kubeIdentityMatcher`: every service account in these namespaces/clusters (empty = any). */
  | { readonly kind: 'matcher'; readonly namespaces: readonly string[]; readonly clusters: readonly string[] }
  /** `kubeServiceAccountRefs`: exactly these service accounts. */
  | { readonly kind: 'serviceAccounts'; readonly serviceAccounts: readonly ServiceAccountRef[] };

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'CONNECT' | 'OPTIONS' | 'TRACE' | 'PATCH';

export const HTTP_METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

export interface HeaderMatcher {
  readonly name: string;
  /** Absent: the header only has to be present. */
  readonly value?: string;
  readonly regex: boolean;
  readonly invertMatch: boolean;
}

export interface QueryParameterMatcher {
  readonly name: string;
  readonly value?: string;
  readonly regex: boolean;
}

export type PathMatch = { readonly kind: 'prefix' | 'exact' | 'regex'; readonly value: string };

/** One request matcher; all its conditions must hold. */
export interface HttpMatcher {
  readonly path?: PathMatch;
  readonly headers: readonly HeaderMatcher[];
  readonly queryParameters: readonly QueryParameterMatcher[];
  readonly method?: HttpMethod;
}

/** One weighted traffic-shift target. */
export type WeightedDestination =
  | {
      readonly kind: 'service';
      readonly service: ServiceRef;
      /** Label subset of the destination's workloads (empty = all). */
      readonly subset: Readonly<Record<string, string>>;
      readonly port?: number;
      /** Percent 0..100; the destinations of one policy sum to 100. */
      readonly weight: number;
    }
  | {
      readonly kind: 'failoverService';
      readonly name: string;
      readonly namespace: string;
      readonly subset: Readonly<Record<string, string>>;
      readonly weight: number;
    };

export interface FaultInjection {
  readonly delayMs?: number;
  readonly abort?: { readonly httpStatus: number };
  /** Percent of requests faulted, 0..100 (default 100). */
  readonly percentage: number;
}

export interface RetryPolicy {
  readonly attempts: number;
  readonly perTryTimeoutMs?: number;
}

export type StringMatch = { readonly kind: 'exact' | 'prefix' | 'regex'; readonly value: string };

export interface CorsPolicy {
  readonly allowOrigins: readonly StringMatch[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly maxAgeMs?: number;
  readonly allowCredentials?: boolean;
}

export interface Mirror {
  readonly service: ServiceRef;
  /** Percent of traffic mirrored, 0..100 (default 100). */
  readonly percentage: number;
  readonly port?: number;
}

export interface HeaderManipulation {
  readonly appendRequestHeaders: Readonly<Record<string, string>>;
  readonly removeRequestHeaders: readonly string[];
  readonly appendResponseHeaders: Readonly<Record<string, string>>;
  readonly removeResponseHeaders: readonly string[];
}

/** Defaults as SMH documents them: 5 errors, 10 s interval, 30 s ejection, 100 % max ejection. */
export interface OutlierDetection {
  readonly consecutiveErrors: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionPercent: number;
}

/** Circuit-breaker limits (crossmesh extension; SMH left these to Istio's DestinationRule). */
export interface ConnectionPool {
  readonly maxConnections?: number;
  readonly maxPendingRequests?: number;
  readonly maxRequests?: number;
  readonly maxRetries?: number;
  /** Concurrent retries as a share of the active and pending requests (Envoy's retry budget; replaces maxRetries). */
  readonly retryBudget?: { readonly budgetPercent: number; readonly minRetryConcurrency: number };
  readonly connectTimeoutMs?: number;
}

/** Identifies a policy object: `<namespace>/<name>`. */
export type PolicyKey = string;

/** Builds the `<namespace>/<name>` key of a policy. */
export function policyKey(p: { namespace: string; name: string }): PolicyKey {
  return `${p.namespace}/${p.name}`;
}

export interface TrafficPolicy {
  readonly name: string;
  readonly namespace: string;
  /** Empty: applies to every source workload. */
  readonly sourceSelector: readonly WorkloadSelector[];
  /** Empty: applies to every destination service. */
  readonly destinationSelector: readonly ServiceSelector[];
  /** Empty: every request; otherwise any one matcher must match. */
  readonly httpRequestMatchers: readonly HttpMatcher[];
  readonly trafficShift?: { readonly destinations: readonly WeightedDestination[] };
  readonly faultInjection?: FaultInjection;
  readonly requestTimeoutMs?: number;
  readonly retries?: RetryPolicy;
  readonly corsPolicy?: CorsPolicy;
  readonly mirror?: Mirror;
  readonly headerManipulation?: HeaderManipulation;
  readonly outlierDetection?: OutlierDetection;
  readonly connectionPool?: ConnectionPool;
}

export interface AccessPolicy {
  readonly name: string;
  readonly namespace: string;
  /** Empty: any authenticated identity. */
  readonly sourceSelector: readonly IdentitySelector[];
  /** Empty: every service. */
  readonly destinationSelector: readonly ServiceSelector[];
  /** Empty lists: no restriction on that dimension. */
  readonly allowedPaths: readonly string[];
  readonly allowedMethods: readonly HttpMethod[];
  readonly allowedPorts: readonly number[];
}

export type RootCertificateAuthority =
  /** Created once by crossmesh and persisted in `ca.directory`. */
  | { readonly kind: 'generated' }
  /** A Kubernetes secret reference (SMH shape); crossmesh reads `ca.crt`/`tls.key` data from it. */
  | { readonly kind: 'secret'; readonly name: string; readonly namespace: string }
  /** PEM files (crossmesh extension); paths resolved against the config file's directory. */
  | { readonly kind: 'files'; readonly certFile: string; readonly keyFile: string };

export type KeyType = 'ECDSA_P256' | 'RSA_2048';

/** crossmesh's CA settings for a virtual mesh (extension under `spec.ca`). */
export interface CaSettings {
  /** Where a generated root (and intermediates) is persisted; default `.crossmesh/ca` (relative to the working directory). */
  readonly directory: string;
  /** Lifetime of workload leaf certificates; default 24 h. */
  readonly leafTtlMs: number;
  readonly keyType: KeyType;
}

export interface VirtualMesh {
  readonly name: string;
  readonly namespace: string;
  /** Member clusters (`meshes[].name` names a crossmesh Cluster). */
  readonly meshes: readonly { readonly name: string; readonly namespace?: string }[];
  readonly mtls: {
    readonly rootCertificateAuthority: RootCertificateAuthority;
    readonly autoRestartPods: boolean;
  };
  /** ENABLED: deny every request an AccessPolicy does not allow. */
  readonly globalAccessPolicy: 'ENABLED' | 'DISABLED';
  readonly federation: { readonly enabled: boolean };
  readonly ca: CaSettings;
}

export interface FailoverService {
  readonly name: string;
  readonly namespace: string;
  /** The DNS name clients use, e.g. `reviews-failover.default.global`. */
  readonly hostname: string;
  readonly port: { readonly number: number; readonly protocol: Protocol };
  readonly meshes: readonly { readonly name: string; readonly namespace?: string }[];
  /** In priority order: the first healthy one takes the traffic. Each names a cluster. */
  readonly backingServices: readonly (ServiceRef & { readonly cluster: string })[];
}

/** Every policy in force, each list sorted by key. */
export interface MeshPolicies {
  readonly virtualMeshes: readonly VirtualMesh[];
  readonly trafficPolicies: readonly TrafficPolicy[];
  readonly accessPolicies: readonly AccessPolicy[];
  readonly failoverServices: readonly FailoverService[];
}

/** No policies at all. */
export const EMPTY_POLICIES: MeshPolicies = Object.freeze({
  virtualMeshes: [],
  trafficPolicies: [],
  accessPolicies: [],
  failoverServices: [],
});
