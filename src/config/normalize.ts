/**
 * Validated documents → model objects, with the defaults users rely on: namespace `default`,
 * trust domain = cluster name, network = cluster name, targetPort = port, protocol from the port
 * name prefix, health HEALTHY, SMH outlier-detection defaults, relative file paths resolved
 * against the declaring file.
 */
import { isAbsolute, resolve } from 'node:path';
import type {
  AccessPolicy,
  FailoverService,
  HttpMatcher,
  IdentitySelector,
  ServiceSelector,
  StringMatch,
  TrafficPolicy,
  VirtualMesh,
  WeightedDestination,
  WorkloadSelector,
} from '../model/policies.js';
import type { Cluster, Gateway, Locality, Protocol, Service, Workload } from '../model/types.js';
import type { ParsedDoc } from './schema.js';

const DEFAULT_NAMESPACE = 'default';
const EMPTY_LOCALITY: Locality = Object.freeze({ region: '', zone: '', subzone: '' });

/** Protocol implied by an Istio-style port name (`http`, `http2-web`, `grpc`, `tcp-db`); TCP otherwise. */
export function protocolFromPortName(name: string | undefined): Protocol {
  const prefix = (name ?? '').split('-')[0]!.toLowerCase();
  switch (prefix) {
    case 'http':
      return 'HTTP';
    case 'http2':
      return 'HTTP2';
    case 'grpc':
      return 'GRPC';
    default:
      return 'TCP';
  }
}

function loc(l: { region: string; zone?: string | undefined; subzone?: string | undefined } | undefined): Locality | undefined {
  return l ? Object.freeze({ region: l.region, zone: l.zone ?? '', subzone: l.subzone ?? '' }) : undefined;
}

function inDir(dir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(dir, p);
}

/** A Cluster document as a model Cluster. */
export function toCluster(d: ParsedDoc<'Cluster'>): Cluster {
  const spec = d.spec ?? {};
  const name = d.metadata.name;
  const k8s = spec.discovery?.kubernetes;
  return {
    name,
    network: spec.network ?? name,
    trustDomain: spec.trustDomain ?? name,
    locality: loc(spec.locality) ?? EMPTY_LOCALITY,
    ...(spec.gateway ? { gateway: { address: spec.gateway.address, port: spec.gateway.port ?? 15443 } } : {}),
    ...(spec.serviceCIDR ? { serviceCidr: spec.serviceCIDR } : {}),
    ...(k8s
      ? { discovery: { kubernetes: { ...(k8s.kubeconfig !== undefined ? { kubeconfig: k8s.kubeconfig } : {}), ...(k8s.context !== undefined ? { context: k8s.context } : {}) } } }
      : {}),
  };
}

/** A Service document as a model Service. */
export function toService(d: ParsedDoc<'Service'>): Service {
  return {
    name: d.metadata.name,
    namespace: d.metadata.namespace ?? DEFAULT_NAMESPACE,
    cluster: d.metadata.cluster,
    ports: d.spec.ports.map((p) => ({
      name: p.name ?? '',
      port: p.port,
      targetPort: p.targetPort ?? p.port,
      protocol: p.protocol ?? protocolFromPortName(p.name),
    })),
    selector: d.spec.selector ?? {},
    labels: d.metadata.labels ?? {},
    ...(d.spec.clusterIP === 'None' ? { headless: true } : d.spec.clusterIP ? { address: d.spec.clusterIP } : {}),
  };
}

/** A Workload document as a model Workload; `clusterLocality` fills in a missing locality. */
export function toWorkload(d: ParsedDoc<'Workload'>, clusterLocality: Locality | undefined): Workload {
  return {
    name: d.metadata.name,
    namespace: d.metadata.namespace ?? DEFAULT_NAMESPACE,
    cluster: d.metadata.cluster,
    address: d.spec.address,
    labels: { ...(d.metadata.labels ?? {}), ...(d.spec.labels ?? {}) },
    serviceAccount: d.spec.serviceAccount ?? 'default',
    locality: loc(d.spec.locality) ?? clusterLocality ?? EMPTY_LOCALITY,
    health: d.spec.health ?? 'HEALTHY',
    ...(d.spec.ports ? { ports: d.spec.ports } : {}),
    ...(d.spec.mesh === false ? { mesh: false as const } : {}),
  };
}

/** A Gateway document as a model Gateway. */
export function toGateway(d: ParsedDoc<'Gateway'>, dir: string): Gateway {
  const s = d.spec;
  const namespace = d.metadata.namespace ?? DEFAULT_NAMESPACE;
  return {
    name: d.metadata.name,
    namespace,
    cluster: d.metadata.cluster,
    type: s.type,
    workload: s.workload,
    port: s.port ?? (s.type === 'EastWest' ? 15443 : 8080),
    ...(s.type === 'Ingress' ? { hosts: s.hosts ?? ['*'] } : {}),
    ...(s.routes
      ? {
          routes: s.routes.map((r) => ({
            pathPrefix: r.pathPrefix,
            service: { name: r.service.name, namespace: r.service.namespace ?? namespace, port: r.service.port, ...(r.service.cluster ? { cluster: r.service.cluster } : {}) },
          })),
        }
      : {}),
    ...(s.tls ? { tls: { certFile: inDir(dir, s.tls.certFile), keyFile: inDir(dir, s.tls.keyFile) } } : {}),
  };
}

type RawRef = { name: string; namespace: string; clusterName?: string | undefined };

function ref(r: RawRef): { name: string; namespace: string; cluster?: string } {
  return { name: r.name, namespace: r.namespace, ...(r.clusterName ? { cluster: r.clusterName } : {}) };
}

type RawTargetSelector = NonNullable<ParsedDoc<'TrafficPolicy'>['spec']['destinationSelector']>[number];

function serviceSelector(s: RawTargetSelector): ServiceSelector {
  if (s.kubeServiceRefs) return { kind: 'refs', services: s.kubeServiceRefs.services.map(ref) };
  const m = s.kubeServiceMatcher ?? {};
  return { kind: 'matcher', labels: m.labels ?? {}, namespaces: m.namespaces ?? [], clusters: m.clusters ?? [] };
}

type RawWorkloadSelector = NonNullable<ParsedDoc<'TrafficPolicy'>['spec']['sourceSelector']>[number];

function workloadSelector(s: RawWorkloadSelector): WorkloadSelector {
  const m = s.kubeWorkloadMatcher;
  return {
    labels: { ...(s.labels ?? {}), ...(m?.labels ?? {}) },
    namespaces: [...(s.namespaces ?? []), ...(m?.namespaces ?? [])],
    clusters: [...(s.clusters ?? []), ...(m?.clusters ?? [])],
  };
}

function headerMap(h: Record<string, string> | { key: string; value: string }[] | undefined): Record<string, string> {
  if (!h) return {};
  if (Array.isArray(h)) return Object.fromEntries(h.map((e) => [e.key, e.value]));
  return h;
}

function stringMatch(m: { exact?: string | undefined; prefix?: string | undefined; regex?: string | undefined }): StringMatch {
  if (m.exact !== undefined) return { kind: 'exact', value: m.exact };
  if (m.prefix !== undefined) return { kind: 'prefix', value: m.prefix };
  return { kind: 'regex', value: m.regex ?? '' };
}

type RawMatcher = NonNullable<ParsedDoc<'TrafficPolicy'>['spec']['httpRequestMatchers']>[number];

function httpMatcher(m: RawMatcher): HttpMatcher {
  const path =
    m.prefix !== undefined ? { kind: 'prefix' as const, value: m.prefix } : m.exact !== undefined ? { kind: 'exact' as const, value: m.exact } : m.regex !== undefined ? { kind: 'regex' as const, value: m.regex } : undefined;
  return {
    ...(path ? { path } : {}),
    headers: (m.headers ?? []).map((h) => ({ name: h.name, ...(h.value !== undefined ? { value: h.value } : {}), regex: h.regex ?? false, invertMatch: h.invertMatch ?? false })),
    queryParameters: (m.queryParameters ?? []).map((q) => ({ name: q.name, ...(q.value !== undefined ? { value: q.value } : {}), regex: q.regex ?? false })),
    ...(m.method ? { method: m.method } : {}),
  };
}

type RawDestination = NonNullable<ParsedDoc<'TrafficPolicy'>['spec']['trafficShift']>['destinations'][number];

function destination(d: RawDestination, only: boolean): WeightedDestination {
  const weight = d.weight ?? (only ? 100 : 0);
  const fo = d.failoverServiceRef ?? d.failoverService;
  if (fo) return { kind: 'failoverService', name: fo.name, namespace: fo.namespace, subset: fo.subset ?? {}, weight };
  const k = d.kubeService!;
  return {
    kind: 'service',
    service: ref(k),
    subset: k.subset ?? {},
    ...(k.port !== undefined ? { port: k.port } : {}),
    weight,
  };
}

/** A TrafficPolicy document as a model TrafficPolicy. */
export function toTrafficPolicy(d: ParsedDoc<'TrafficPolicy'>): TrafficPolicy {
  const s = d.spec;
  const fault = s.faultInjection;
  const delayMs = fault?.fixedDelay ?? fault?.delay?.fixedDelay;
  const dests = s.trafficShift?.destinations;
  return {
    name: d.metadata.name,
    namespace: d.metadata.namespace ?? DEFAULT_NAMESPACE,
    sourceSelector: (s.sourceSelector ?? []).map(workloadSelector),
    destinationSelector: (s.destinationSelector ?? []).map(serviceSelector),
    httpRequestMatchers: (s.httpRequestMatchers ?? []).map(httpMatcher),
    ...(dests ? { trafficShift: { destinations: dests.map((x) => destination(x, dests.length === 1)) } } : {}),
    ...(fault
      ? { faultInjection: { ...(delayMs !== undefined ? { delayMs } : {}), ...(fault.abort ? { abort: { httpStatus: fault.abort.httpStatus } } : {}), percentage: fault.percentage ?? 100 } }
      : {}),
    ...(s.requestTimeout !== undefined ? { requestTimeoutMs: s.requestTimeout } : {}),
    ...(s.retries ? { retries: { attempts: s.retries.attempts, ...(s.retries.perTryTimeout !== undefined ? { perTryTimeoutMs: s.retries.perTryTimeout } : {}) } } : {}),
    ...(s.corsPolicy
      ? {
          corsPolicy: {
            allowOrigins: (s.corsPolicy.allowOrigins ?? []).map(stringMatch),
            allowMethods: s.corsPolicy.allowMethods ?? [],
            allowHeaders: s.corsPolicy.allowHeaders ?? [],
            exposeHeaders: s.corsPolicy.exposeHeaders ?? [],
            ...(s.corsPolicy.maxAge !== undefined ? { maxAgeMs: s.corsPolicy.maxAge } : {}),
            ...(s.corsPolicy.allowCredentials !== undefined ? { allowCredentials: s.corsPolicy.allowCredentials } : {}),
          },
        }
      : {}),
    ...(s.mirror ? { mirror: { service: ref(s.mirror.kubeService), percentage: s.mirror.percentage ?? 100, ...(s.mirror.port !== undefined ? { port: s.mirror.port } : {}) } } : {}),
    ...(s.headerManipulation
      ? {
          headerManipulation: {
            appendRequestHeaders: headerMap(s.headerManipulation.appendRequestHeaders),
            removeRequestHeaders: s.headerManipulation.removeRequestHeaders ?? [],
            appendResponseHeaders: headerMap(s.headerManipulation.appendResponseHeaders),
            removeResponseHeaders: s.headerManipulation.removeResponseHeaders ?? [],
          },
        }
      : {}),
    ...(s.outlierDetection
      ? {
          outlierDetection: {
            consecutiveErrors: s.outlierDetection.consecutiveErrors ?? 5,
            intervalMs: s.outlierDetection.interval ?? 10_000,
            baseEjectionTimeMs: s.outlierDetection.baseEjectionTime ?? 30_000,
            maxEjectionPercent: s.outlierDetection.maxEjectionPercent ?? 100,
          },
        }
      : {}),
    ...(s.connectionPool
      ? {
          connectionPool: {
            ...(s.connectionPool.maxConnections !== undefined ? { maxConnections: s.connectionPool.maxConnections } : {}),
            ...(s.connectionPool.maxPendingRequests !== undefined ? { maxPendingRequests: s.connectionPool.maxPendingRequests } : {}),
            ...(s.connectionPool.maxRequests !== undefined ? { maxRequests: s.connectionPool.maxRequests } : {}),
            ...(s.connectionPool.maxRetries !== undefined ? { maxRetries: s.connectionPool.maxRetries } : {}),
            // Envoy's defaults (20 %, 3), written out so the configuration says what is in force.
            ...(s.connectionPool.retryBudget ? { retryBudget: { budgetPercent: s.connectionPool.retryBudget.budgetPercent ?? 20, minRetryConcurrency: s.connectionPool.retryBudget.minRetryConcurrency ?? 3 } } : {}),
            ...(s.connectionPool.connectTimeout !== undefined ? { connectTimeoutMs: s.connectionPool.connectTimeout } : {}),
          },
        }
      : {}),
  };
}

type RawIdentitySelector = NonNullable<ParsedDoc<'AccessPolicy'>['spec']['sourceSelector']>[number];

function identitySelector(s: RawIdentitySelector): IdentitySelector {
  if (s.kubeServiceAccountRefs) return { kind: 'serviceAccounts', serviceAccounts: s.kubeServiceAccountRefs.serviceAccounts.map(ref) };
  return { kind: 'matcher', namespaces: s.kubeIdentityMatcher?.namespaces ?? [], clusters: s.kubeIdentityMatcher?.clusters ?? [] };
}

/** An AccessPolicy document as a model AccessPolicy. */
export function toAccessPolicy(d: ParsedDoc<'AccessPolicy'>): AccessPolicy {
  const s = d.spec;
  return {
    name: d.metadata.name,
    namespace: d.metadata.namespace ?? DEFAULT_NAMESPACE,
    sourceSelector: (s.sourceSelector ?? []).map(identitySelector),
    destinationSelector: (s.destinationSelector ?? []).map(serviceSelector),
    allowedPaths: s.allowedPaths ?? [],
    allowedMethods: s.allowedMethods ?? [],
    allowedPorts: s.allowedPorts ?? [],
  };
}

/** A VirtualMesh document as a model VirtualMesh. */
export function toVirtualMesh(d: ParsedDoc<'VirtualMesh'>, dir: string): VirtualMesh {
  const s = d.spec;
  const root = s.mtlsConfig?.shared.rootCertificateAuthority;
  return {
    name: d.metadata.name,
    namespace: d.metadata.namespace ?? DEFAULT_NAMESPACE,
    meshes: s.meshes.map((m) => ({ name: m.name, ...(m.namespace ? { namespace: m.namespace } : {}) })),
    mtls: {
      rootCertificateAuthority: root?.secret
        ? { kind: 'secret', name: root.secret.name, namespace: root.secret.namespace }
        : root?.files
          ? { kind: 'files', certFile: inDir(dir, root.files.certFile), keyFile: inDir(dir, root.files.keyFile) }
          : { kind: 'generated' },
      autoRestartPods: s.mtlsConfig?.autoRestartPods ?? false,
    },
    globalAccessPolicy: s.globalAccessPolicy ?? 'DISABLED',
    federation: { enabled: s.federation !== undefined },
    ca: {
      directory: s.ca?.directory !== undefined ? inDir(dir, s.ca.directory) : '.crossmesh/ca',
      leafTtlMs: s.ca?.leafTtl ?? 24 * 3_600_000,
      keyType: s.ca?.keyType ?? 'ECDSA_P256',
    },
  };
}

/** A FailoverService document as a model FailoverService. */
export function toFailoverService(d: ParsedDoc<'FailoverService'>): FailoverService {
  const s = d.spec;
  return {
    name: d.metadata.name,
    namespace: d.metadata.namespace ?? DEFAULT_NAMESPACE,
    hostname: s.hostname,
    port: { number: s.port.number, protocol: s.port.protocol },
    meshes: (s.meshes ?? []).map((m) => ({ name: m.name, ...(m.namespace ? { namespace: m.namespace } : {}) })),
    backingServices: s.backingServices.map((b) => ({ name: b.kubeService.name, namespace: b.kubeService.namespace, cluster: b.kubeService.clusterName })),
  };
}
