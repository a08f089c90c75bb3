/**
 * The names Envoy users already recognise (Istio's conventions), in one place so that every
 * translator, the gateway's SNI matching and the tests agree on them.
 */

/** `<svc>.<ns>.svc.cluster.local`: the mesh-wide name, spanning every cluster that runs the service. */
export function localHost(service: string, namespace: string): string {
  return `${service}.${namespace}.svc.cluster.local`;
}

/** `<svc>.<ns>.svc.<cluster>.global`: the service as run by one cluster only. */
export function globalHost(service: string, namespace: string, cluster: string): string {
  return `${service}.${namespace}.svc.${cluster}.global`;
}

/** `outbound|<port>|<subset>|<host>` (empty subset: all endpoints). */
export function outboundClusterName(port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`;
}

/** `inbound|<port>||`: the local app behind a sidecar's inbound listener. */
export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

/** `outbound_.<port>_.<subset>_.<host>` (Istio's format: no subset gives `_._.`), the SNI of a cross-network hop. */
export function crossNetworkSni(port: number, subset: string, host: string): string {
  return `outbound_.${port}_.${subset}_.${host}`;
}

/** The parts of an `outbound|port|subset|host` name, or undefined if it is not one. */
export function parseOutboundClusterName(name: string): { port: number; subset: string; host: string } | undefined {
  const m = /^outbound\|(\d+)\|([^|]*)\|(.+)$/.exec(name);
  if (!m) return undefined;
  return { port: Number(m[1]), subset: m[2]!, host: m[3]! };
}
