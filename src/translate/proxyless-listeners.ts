/**
 * LDS for proxyless gRPC (grpc-js-xds).
 *
 * - Client side: grpc-js-xds asks for the Listener named exactly as its target
 *   (`xds:///reviews.default.svc.cluster.local:9080` → `reviews.default.svc.cluster.local:9080`).
 *   Every domain of the client route configuration is such a name, so each gets an `api_listener`
 *   whose HTTP connection manager loads that route configuration over RDS (router last). Names a
 *   client may ask before they exist are answered as soon as they appear.
 * - Server side: an XdsServer bound to `<ip>:<port>` asks for
 *   `grpc/server?xds.resource.listening_address=<ip>:<port>` and requires the listener's address to
 *   equal the bound one. One listener per port the workload's services target, on the workload's
 *   address: one filter chain (`transport_protocol: raw_buffer`, the only value gRPC matches) with
 *   exactly one filter, an HTTP connection manager whose inline routes are `non_forwarding_action`
 *   (a server route configuration is never shared with clients: a client fails on that action), the
 *   access-policy HTTP filters before the router, and mTLS requiring a client certificate.
 */
import { httpConnectionManager } from './filters.js';
import { inboundPolicyFilters } from './inbound-policy.js';
import type { InboundPort } from './listeners.js';
import type { MeshView } from './mesh-view.js';
import { proxylessDownstreamTls } from './proxyless-tls.js';
import type { Resource } from './resources.js';

/** The name grpc-js-xds servers request, with `%s` = the bound `<ip>:<port>` (the bootstrap's template). */
export const SERVER_LISTENER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';

/** `<ip>:<port>` as gRPC formats a bound address (IPv6 in brackets). */
export function listeningAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Name of the server listener for a bound address. */
export function serverListenerName(ip: string, port: number): string {
  return SERVER_LISTENER_TEMPLATE.replace('%s', listeningAddress(ip, port));
}

/** Every domain of a route configuration (each a target name a client may use), sorted and unique. */
export function routeDomains(routeConfig: Resource): string[] {
  const out = new Set<string>();
  for (const vh of Array.isArray(routeConfig.virtual_hosts) ? (routeConfig.virtual_hosts as Resource[]) : []) {
    for (const d of Array.isArray(vh.domains) ? vh.domains : []) if (typeof d === 'string' && !d.includes('*')) out.add(d);
  }
  return [...out].sort();
}

/** One client listener: `api_listener` with an HCM that loads `routeConfigName` over ADS, `httpFilters` then the router. */
export function clientApiListener(name: string, routeConfigName: string, httpFilters: readonly Resource[]): Resource {
  const hcm = httpConnectionManager(name, { rds: routeConfigName }, httpFilters);
  return { name, api_listener: { api_listener: hcm.typed_config } };
}

/**
 * The server listener of one bound port, serving `ports` (service ports of the workload that
 * target it, sorted; at least one). gRPC runs one HTTP filter stack per listener: the access
 * policy of the first service port applies when several services share a target port.
 */
export function serverListener(view: MeshView, cluster: string, address: string, targetPort: number, ports: readonly InboundPort[]): Resource {
  const first = ports[0];
  if (!first) throw new Error(`proxyless server listener ${listeningAddress(address, targetPort)}: no service port targets it`);
  const policy = inboundPolicyFilters(view, cluster, first);
  if (policy.network.length > 0) {
    // gRPC servers accept exactly one network filter (the HCM); refusing beats serving without the policy.
    throw new Error(`proxyless server ${listeningAddress(address, targetPort)} (${first.service}.${first.namespace}:${first.port}): access policy produced network filters, which gRPC servers cannot run`);
  }
  const stat = `proxyless_inbound_${targetPort}`;
  const hcm = httpConnectionManager(
    stat,
    {
      inline: {
        name: `proxyless_inbound|${targetPort}`,
        virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ name: 'default', match: { prefix: '' }, non_forwarding_action: {} }] }],
      },
    },
    policy.http,
  );
  return {
    name: serverListenerName(address, targetPort),
    address: { socket_address: { address, port_value: targetPort } },
    traffic_direction: 'INBOUND',
    filter_chains: [
      {
        name: `inbound|${targetPort}`,
        filter_chain_match: { transport_protocol: 'raw_buffer' },
        transport_socket: proxylessDownstreamTls(),
        filters: [hcm],
      },
    ],
  };
}

/** Groups service ports by the port the app listens on (sorted by port). */
export function portsByTarget(ports: readonly InboundPort[]): Map<number, InboundPort[]> {
  const m = new Map<number, InboundPort[]>();
  for (const p of ports) {
    let l = m.get(p.targetPort);
    if (!l) m.set(p.targetPort, (l = []));
    l.push(p);
  }
  return new Map([...m.entries()].sort(([a], [b]) => a - b));
}
