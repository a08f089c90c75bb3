/** Kubernetes Pod (+ its Node and the EndpointSlices that list it) → model Workload. Pure. */
import type * as k8s from '@kubernetes/client-node';
import type { Cluster, Health, Locality, Service, Workload } from '../../model/types.js';

export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const SUBZONE_LABEL = 'topology.istio.io/subzone';
const LEGACY_REGION_LABEL = 'failure-domain.beta.kubernetes.io/region';
const LEGACY_ZONE_LABEL = 'failure-domain.beta.kubernetes.io/zone';

/**
 * Locality of a node from its topology labels. A level falls back to the cluster default only while
 * every level above it did too, so a node in another region never inherits the default's zone.
 */
export function nodeLocality(node: k8s.V1Node | undefined, fallback: Locality): Locality {
  const labels = node?.metadata?.labels ?? {};
  const region = labels[REGION_LABEL] ?? labels[LEGACY_REGION_LABEL];
  const zone = labels[ZONE_LABEL] ?? labels[LEGACY_ZONE_LABEL];
  const subzone = labels[SUBZONE_LABEL];
  if (region === undefined && zone === undefined && subzone === undefined) return fallback;
  const r = region ?? fallback.region;
  const z = zone ?? (region === undefined ? fallback.zone : '');
  const s = subzone ?? (region === undefined && zone === undefined ? fallback.subzone : '');
  return { region: r, zone: z, subzone: s };
}

const HEALTH_RANK: Record<Health, number> = { HEALTHY: 0, UNKNOWN: 1, DRAINING: 2, UNHEALTHY: 3 };

/** Health of one EndpointSlice endpoint. Nil `ready`/`serving` mean true and nil `terminating` false, as the API documents. */
export function endpointHealth(conditions: k8s.V1EndpointConditions | undefined): Health {
  const ready = conditions?.ready ?? true;
  const terminating = conditions?.terminating ?? false;
  const serving = conditions?.serving ?? ready;
  if (terminating) return serving ? 'DRAINING' : 'UNHEALTHY';
  return ready ? 'HEALTHY' : 'UNHEALTHY';
}

/** Health of a pod listed in no EndpointSlice: from its Ready condition (UNKNOWN when it has none yet). */
export function podConditionHealth(pod: k8s.V1Pod): Health {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready) return 'UNKNOWN';
  if (ready.status !== 'True') return 'UNHEALTHY';
  // Ready but being deleted: it still serves, new connections should go elsewhere.
  return pod.metadata?.deletionTimestamp ? 'DRAINING' : 'HEALTHY';
}

/**
 * Every IP of a pod, `status.podIP` first: a dual-stack pod has one per family in `status.podIPs`
 * (whose first entry is `podIP`). Duplicates and empty entries are dropped.
 */
export function podAddresses(pod: k8s.V1Pod): string[] {
  const out: string[] = [];
  for (const ip of [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)]) {
    if (ip && !out.includes(ip)) out.push(ip);
  }
  return out;
}

/** True when the slice endpoint is this pod (by targetRef, or by address, of either family, for endpoints without one). */
export function endpointIsPod(ep: k8s.V1Endpoint, sliceNamespace: string, pod: k8s.V1Pod): boolean {
  const ref = ep.targetRef;
  if (ref) return ref.kind === 'Pod' && ref.name === pod.metadata?.name && (ref.namespace ?? sliceNamespace) === pod.metadata?.namespace;
  if (pod.spec?.hostNetwork) return false;
  return podAddresses(pod).some((ip) => ep.addresses.includes(ip));
}

/** A slice listing the pod, with the name of its service and the model Service (when that service is known). */
export interface PodSlice {
  readonly slice: k8s.V1EndpointSlice;
  readonly serviceName: string;
  readonly service: Service | undefined;
}

/**
 * Maps a Pod to a Workload; undefined when it has no IP yet or has finished (Succeeded/Failed pods
 * keep an IP the network may already have given to someone else).
 */
export function mapWorkload(cluster: Cluster, pod: k8s.V1Pod, node: k8s.V1Node | undefined, slices: readonly PodSlice[]): Workload | undefined {
  const [address, ...others] = podAddresses(pod);
  if (!address) return undefined;
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const namespace = pod.metadata?.namespace ?? 'default';

  let health: Health | undefined;
  const ports: Record<string, number> = {};
  const memberOf = new Set<string>();
  for (const { slice, serviceName, service } of slices) {
    const sliceNs = slice.metadata?.namespace ?? namespace;
    for (const ep of slice.endpoints ?? []) {
      if (!endpointIsPod(ep, sliceNs, pod)) continue;
      memberOf.add(serviceName);
      const h = endpointHealth(ep.conditions);
      // A pod in several services is as healthy as its worst listing (publishNotReadyAddresses
      // services report every endpoint ready, so the best listing would hide an unready pod).
      if (health === undefined || HEALTH_RANK[h] > HEALTH_RANK[health]) health = h;
    }
    // Where this pod's container port differs from the service-wide targetPort (named ports that
    // resolve differently per pod), EDS needs the per-workload port.
    for (const sp of service?.ports ?? []) {
      const slicePort = slice.ports?.find((p) => (p.name ?? '') === sp.name);
      if (slicePort?.port !== undefined && slicePort.port !== null && slicePort.port !== sp.targetPort) {
        ports[String(sp.port)] = slicePort.port;
      }
    }
  }

  return {
    name: pod.metadata?.name ?? '',
    namespace,
    cluster: cluster.name,
    address,
    // Dual-stack: the other family's address, so clients of either family reach the pod.
    ...(others.length > 0 ? { addresses: others } : {}),
    labels: { ...(pod.metadata?.labels ?? {}) },
    serviceAccount: pod.spec?.serviceAccountName || 'default',
    locality: nodeLocality(node, cluster.locality),
    health: health ?? podConditionHealth(pod),
    ...(Object.keys(ports).length > 0 ? { ports } : {}),
    ...(memberOf.size > 0 ? { memberOf: [...memberOf].sort() } : {}),
  };
}
