/**
 * Hand-managed EndpointSlice addresses → model Workloads outside the mesh. A Service without a
 * selector gets its slices from whoever manages them (the API server for `default/kubernetes`, an
 * operator listing a database VM); an address they list that names no Pod has no sidecar and no
 * mesh certificate, so it becomes a `mesh: false` Workload that sidecars reach in plaintext. Pure.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Cluster, Health, Service, Workload } from '../../model/types.js';
import { endpointHealth } from './workload-mapping.js';

const HEALTH_RANK: Record<Health, number> = { HEALTHY: 0, UNKNOWN: 1, DRAINING: 2, UNHEALTHY: 3 };

/**
 * Name of the Workload standing for `address` among service `service`'s endpoints. `~` cannot
 * occur in a Pod name, so it never collides with a pod's workload; one per service and address,
 * so each service's port overrides stay its own.
 */
export function externalWorkloadName(service: string, address: string): string {
  return `${service}~${address}`;
}

/** Whether an endpoint is not a Pod (no targetRef, or one of another kind): nothing in the mesh runs behind it. */
export function isExternalEndpoint(ep: k8s.V1Endpoint): boolean {
  return ep.targetRef?.kind !== 'Pod';
}

/**
 * The addresses a slice lists that are not Pods. Only the first address of an endpoint counts:
 * Kubernetes documents that consumers must use only it (the others are not guaranteed reachable).
 */
export function externalAddresses(slice: k8s.V1EndpointSlice): string[] {
  const out: string[] = [];
  for (const ep of slice.endpoints ?? []) {
    const address = ep.addresses[0];
    if (address && isExternalEndpoint(ep) && !out.includes(address)) out.push(address);
  }
  return out;
}

/** Whether a Service's slices are managed by hand (no selector: the EndpointSlice controller leaves them alone). */
export function hasHandManagedSlices(svc: k8s.V1Service): boolean {
  return !svc.spec?.selector || Object.keys(svc.spec.selector).length === 0;
}

/**
 * The Workload outside the mesh for `address` in a selector-less service's slices (`slices`, sorted
 * by key), or undefined when no slice lists it any more. Health is its worst listing; its port is
 * the slice's port where that differs from the service's targetPort; its locality the cluster's.
 */
export function mapExternalWorkload(cluster: Cluster, service: Service, address: string, slices: readonly k8s.V1EndpointSlice[]): Workload | undefined {
  let health: Health | undefined;
  const ports: Record<string, number> = {};
  for (const slice of slices) {
    const listed = (slice.endpoints ?? []).filter((ep) => ep.addresses[0] === address && isExternalEndpoint(ep));
    if (listed.length === 0) continue;
    for (const ep of listed) {
      const h = endpointHealth(ep.conditions);
      if (health === undefined || HEALTH_RANK[h] > HEALTH_RANK[health]) health = h;
    }
    for (const sp of service.ports) {
      const slicePort = slice.ports?.find((p) => (p.name ?? '') === sp.name);
      // The first slice listing the address decides (slices are sorted by key).
      if (slicePort?.port !== undefined && slicePort.port !== null && slicePort.port !== sp.targetPort && ports[String(sp.port)] === undefined) {
        ports[String(sp.port)] = slicePort.port;
      }
    }
  }
  if (health === undefined) return undefined;
  return {
    name: externalWorkloadName(service.name, address),
    namespace: service.namespace,
    cluster: cluster.name,
    address,
    labels: {},
    // No mesh certificate: the account is never turned into an identity anyone trusts.
    serviceAccount: '',
    locality: cluster.locality,
    health,
    ...(Object.keys(ports).length > 0 ? { ports } : {}),
    memberOf: [service.name],
    mesh: false,
  };
}
