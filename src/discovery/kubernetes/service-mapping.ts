/** Kubernetes Service (+ its EndpointSlices' ports) → model Service. Pure. */
import { isIP } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import type { Protocol, Service, ServicePort } from '../../model/types.js';

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
  if (!svc.spec?.selector || Object.keys(svc.spec.selector).length === 0) return 'no selector (endpoints managed outside Kubernetes)';
  return undefined;
}

/**
 * Maps a Service; undefined for kinds the model cannot express (ExternalName, selector-less).
 * UDP/SCTP ports are left out: the mesh proxies TCP only.
 */
export function mapService(cluster: string, svc: k8s.V1Service, slices: readonly k8s.V1EndpointSlice[]): Service | undefined {
  if (unmappableReason(svc) !== undefined) return undefined;
  const ports: ServicePort[] = [];
  for (const p of svc.spec?.ports ?? []) {
    if (p.protocol && p.protocol !== 'TCP') continue;
    const name = p.name ?? '';
    let targetPort: number;
    const tp = p.targetPort as unknown;
    if (typeof tp === 'number') targetPort = tp;
    else if (typeof tp === 'string' && /^\d+$/.test(tp)) targetPort = Number(tp);
    else if (typeof tp === 'string' && tp !== '') targetPort = resolveNamedTargetPort(name, slices) ?? p.port;
    else targetPort = p.port;
    ports.push({ name, port: p.port, targetPort, protocol: portProtocol({ name, ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }) });
  }
  return {
    name: svc.metadata?.name ?? '',
    namespace: svc.metadata?.namespace ?? 'default',
    cluster,
    ports,
    selector: { ...(svc.spec?.selector ?? {}) },
    labels: { ...(svc.metadata?.labels ?? {}) },
    // Headless services ("None") have no virtual address: captured calls to them are not intercepted by address.
    ...(svc.spec?.clusterIP && isIP(svc.spec.clusterIP) === 4 ? { address: svc.spec.clusterIP } : {}),
  };
}
