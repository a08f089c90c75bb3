/** Kubernetes Service (+ its EndpointSlices' ports) → model Service. Pure. */
import { isIP } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import type { Protocol, Service, ServicePort } from '../../model/types.js';
import { hasHandManagedSlices } from './external-endpoints.js';

/** Protocol of a service port: `appProtocol` first, then Istio-style port name prefixes, else TCP. */
export function portProtocol(port: { name?: string; appProtocol?: string }): Protocol {
  const app = port.appProtocol?.toLowerCase();
  if (app) {
    if (app === 'http' || app === 'kubernetes.io/ws') return 'HTTP';
    if (app === 'http2' || app === 'kubernetes.io/h2c') return 'HTTP2';
    if (app === 'grpc' || app === 'grpc-web') return 'GRPC';
    // An explicit appProtocol we do not speak (https, tls, mysql, …) is opaque TCP.
    return 'TCP';
  }
  const name = port.name?.toLowerCase() ?? '';
  const prefix = name.split('-')[0] ?? '';
  if (prefix === 'http') return 'HTTP';
  if (prefix === 'http2') return 'HTTP2';
  if (prefix === 'grpc') return 'GRPC';
  return 'TCP';
}

/**
 * The container port a named targetPort means for this service: the port number its EndpointSlices
 * carry under that name, by most endpoints (ties: the lowest number).
 */
export function resolveNamedTargetPort(portName: string, slices: readonly k8s.V1EndpointSlice[]): number | undefined {
  const votes = new Map<number, number>();
  for (const slice of slices) {
    const sp = slice.ports?.find((p) => (p.name ?? '') === portName);
    if (sp?.port === undefined || sp.port === null) continue;
    votes.set(sp.port, (votes.get(sp.port) ?? 0) + Math.max(1, slice.endpoints?.length ?? 0));
  }
  let best: number | undefined;
  let bestVotes = -1;
  for (const [port, n] of votes) {
    if (n > bestVotes || (n === bestVotes && best !== undefined && port < best)) {
      best = port;
      bestVotes = n;
    }
  }
  return best;
}

/** Why a Kubernetes Service yields no model Service, or undefined when it maps. */
export function unmappableReason(svc: k8s.V1Service): string | undefined {
  if (svc.spec?.type === 'ExternalName') return 'ExternalName service';
  // A headless service's cluster is ORIGINAL_DST with mesh mTLS (no per-endpoint TLS mode), and
  // hand-managed addresses are usually outside the mesh: they keep the plaintext passthrough.
  if (svc.spec?.clusterIP === 'None' && hasHandManagedSlices(svc)) return 'headless service without a selector (endpoints managed by hand, often outside the mesh)';
  return undefined;
}

/**
 * The container port a named targetPort means in the pods the service selects: the number of
 * their container port of that name, by most pods (ties: the lowest number).
 */
export function resolveNamedTargetPortFromPods(portName: string, pods: readonly k8s.V1Pod[]): number | undefined {
  const votes = new Map<number, number>();
  for (const pod of pods) {
    for (const c of pod.spec?.containers ?? []) {
      const cp = c.ports?.find((p) => p.name === portName && (p.protocol ?? 'TCP') === 'TCP');
      if (cp) votes.set(cp.containerPort, (votes.get(cp.containerPort) ?? 0) + 1);
    }
  }
  let best: number | undefined;
  for (const [port, n] of votes) if (best === undefined || n > votes.get(best)! || (n === votes.get(best)! && port < best)) best = port;
  return best;
}

/** A mapped service and the ports it had to leave out (named targetPorts nothing resolves). */
export interface MappedService {
  readonly service: Service;
  readonly unresolvedPorts: readonly string[];
}

/**
 * Maps a Service; undefined for ExternalName and selector-less headless services. Its workloads are
 * whatever its EndpointSlices list (`membership: listed`), not what its selector matches; the
 * addresses a selector-less service's slices list without a Pod are workloads outside the mesh
 * (external-endpoints.ts). UDP/SCTP ports are left out: the mesh proxies TCP only.
 * A named targetPort is resolved from the slices, then from the selected pods' container ports; a
 * port whose name resolves nowhere is left out (reported), never sent to the service port.
 */
export function mapService(cluster: string, svc: k8s.V1Service, slices: readonly k8s.V1EndpointSlice[], selectedPods: () => readonly k8s.V1Pod[] = () => []): MappedService | undefined {
  if (unmappableReason(svc) !== undefined) return undefined;
  const ports: ServicePort[] = [];
  const unresolvedPorts: string[] = [];
  for (const p of svc.spec?.ports ?? []) {
    if (p.protocol && p.protocol !== 'TCP') continue;
    const name = p.name ?? '';
    let targetPort: number | undefined;
    const tp = p.targetPort as unknown;
    if (typeof tp === 'number') targetPort = tp;
    else if (typeof tp === 'string' && /^\d+$/.test(tp)) targetPort = Number(tp);
    else if (typeof tp === 'string' && tp !== '') targetPort = resolveNamedTargetPort(name, slices) ?? resolveNamedTargetPortFromPods(tp, selectedPods());
    else targetPort = p.port;
    if (targetPort === undefined) {
      unresolvedPorts.push(`${p.port} (targetPort "${String(tp)}")`);
      continue;
    }
    ports.push({ name, port: p.port, targetPort, protocol: portProtocol({ name, ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }) });
  }
  const service: Service = {
    name: svc.metadata?.name ?? '',
    namespace: svc.metadata?.namespace ?? 'default',
    cluster,
    ports,
    selector: { ...(svc.spec?.selector ?? {}) },
    labels: { ...(svc.metadata?.labels ?? {}) },
    ...(svc.spec?.clusterIP && isIP(svc.spec.clusterIP) === 4 ? { address: svc.spec.clusterIP } : {}),
    // Headless ("None"): no virtual address; callers reach each pod by its own address.
    ...(svc.spec?.clusterIP === 'None' ? { headless: true } : {}),
    membership: 'listed',
  };
  return { service, unresolvedPorts };
}
