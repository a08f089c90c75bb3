/**
 * LDS for sidecars.
 *
 * - `outbound_http_15001` on 127.0.0.1:15001: an HTTP proxy for the app; its routes come over RDS
 *   (`outbound_http`, see routes.ts).
 * - one `tcp|<port>|<host>` listener per visible TCP service port and host, on a stable loopback
 *   address of its own (`tcpServiceAddress`) and the service port: the app connects to that
 *   address as it would to a service VIP.
 * - `inbound_15006` on 0.0.0.0:15006: terminates mesh mTLS (client certificate required), picks
 *   the chain by the SNI the caller sent (`outbound_.<port>_.<subset>_.<host>`), and forwards to the
 *   app on 127.0.0.1:<targetPort> through the STATIC cluster `inbound|<targetPort>||`. There is
 *   no default chain: an SNI naming no local service port is refused.
 */
import { isHttp, upstreamAlpn } from './clusters.js';
import { httpConnectionManager, tcpProxyFilter, TLS_INSPECTOR_NAME, TLS_INSPECTOR_TYPE } from './filters.js';
import { inboundPolicyFilters } from './inbound-policy.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import { crossNetworkSni, globalHost, inboundClusterName, localHost } from './names.js';
import type { Resource } from './resources.js';
import { OUTBOUND_ROUTE_NAME } from './routes.js';
import { downstreamTlsTransportSocket } from './secrets.js';
import type { Protocol } from '../model/types.js';

/** Port of the sidecar's outbound HTTP proxy listener. */
export const OUTBOUND_HTTP_PORT = 15001;
/** Port of the sidecar's inbound (mTLS-terminating) listener. */
export const INBOUND_PORT = 15006;
export const OUTBOUND_HTTP_LISTENER = `outbound_http_${OUTBOUND_HTTP_PORT}`;
export const INBOUND_LISTENER = `inbound_${INBOUND_PORT}`;

/** One port of a service that selects the proxy's workload: what the inbound side serves. */
export interface InboundPort {
  readonly service: string;
  readonly namespace: string;
  readonly port: number;
  /** Where the app listens (the service's targetPort, or the workload's override). */
  readonly targetPort: number;
  readonly protocol: Protocol;
  /** Names of the needed subsets this workload belongs to (callers may send their SNIs). */
  readonly subsets: readonly string[];
}

const VIP_BASE = (127 << 24) | (64 << 16); // 127.64.0.0/10
const VIP_SIZE = 1 << 22;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function ipv4(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * Loopback addresses of TCP service hosts: each host hashes (FNV-1a) into 127.64.0.0/10, so its
 * address does not depend on which other services exist; the rare collision moves the host that
 * sorts later to the next free address.
 */
export function tcpServiceAddresses(hosts: Iterable<string>): Map<string, string> {
  const used = new Set<number>();
  const out = new Map<string, string>();
  for (const host of [...new Set(hosts)].sort()) {
    let off = fnv1a(host) % VIP_SIZE;
    while (used.has(off)) off = (off + 1) % VIP_SIZE;
    used.add(off);
    out.set(host, ipv4((VIP_BASE + off) >>> 0));
  }
  return out;
}

/** The HTTP proxy listener on 127.0.0.1:15001, routing by Host over RDS. */
export function outboundHttpListener(policyFilters: readonly Resource[] = []): Resource {
  return {
    name: OUTBOUND_HTTP_LISTENER,
    address: { socket_address: { address: '127.0.0.1', port_value: OUTBOUND_HTTP_PORT } },
    traffic_direction: 'OUTBOUND',
    // policyFilters: CORS / fault injection when TrafficPolicies use them (traffic-policy.ts outboundHttpFilters).
    filter_chains: [{ filters: [httpConnectionManager(OUTBOUND_HTTP_LISTENER, { rds: OUTBOUND_ROUTE_NAME }, policyFilters)] }],
  };
}

/** Name of the outbound listener of a TCP target. */
export function tcpListenerName(t: OutboundTarget): string {
  return `tcp|${t.port}|${t.host}`;
}

/**
 * One listener per TCP target without subset, on `<address of its host>:<port>`. A TCP port equal
 * to the inbound port (15006, bound on every address) cannot be bound and is skipped.
 */
export function outboundTcpListeners(targets: readonly OutboundTarget[]): Resource[] {
  const tcp = targets.filter((t) => t.subset === '' && !isHttp(t.protocol) && t.port !== INBOUND_PORT);
  const addresses = tcpServiceAddresses(tcp.map((t) => t.host));
  return tcp.map((t) => ({
    name: tcpListenerName(t),
    address: { socket_address: { address: addresses.get(t.host)!, port_value: t.port } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ filters: [tcpProxyFilter(t.clusterName, t.clusterName)] }],
  }));
}

/** SNIs a caller may send for an inbound port: mesh-wide and this cluster's `.global` host, with and without each subset. */
export function inboundServerNames(cluster: string, p: InboundPort): string[] {
  const hosts = [localHost(p.service, p.namespace), globalHost(p.service, p.namespace, cluster)];
  const names = new Set<string>();
  for (const subset of ['', ...p.subsets]) for (const h of hosts) names.add(crossNetworkSni(p.port, subset, h));
  return [...names].sort();
}

/** What an inbound filter chain depends on besides the view and cluster. */
function inboundPortKey(p: InboundPort): string {
  return `${p.namespace}/${p.service}|${p.port}|${p.targetPort}|${p.protocol}|${p.subsets.join(',')}`;
}

/**
 * The filter chain of an inbound port: one frozen object per cluster and port for every sidecar
 * serving it (whatever else differs between their groups), so its RBAC filter and TLS context are
 * judged and encoded once.
 */
function inboundChain(view: MeshView, cluster: string, p: InboundPort): Resource {
  return view.memo(`inbound-chain|${cluster}|${inboundPortKey(p)}`, () => Object.freeze(buildInboundChain(view, cluster, p)));
}

function buildInboundChain(view: MeshView, cluster: string, p: InboundPort): Resource {
  const target = inboundClusterName(p.targetPort);
  const stat = `inbound_${p.port}_${p.service}.${p.namespace}`;
  const policy = inboundPolicyFilters(view, cluster, p);
  const terminal = isHttp(p.protocol)
    ? httpConnectionManager(
        stat,
        {
          inline: {
            name: `inbound|${p.port}|${p.service}.${p.namespace}`,
            virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: target, timeout: { seconds: 0 } } }] }],
          },
        },
        policy.http,
      )
    : tcpProxyFilter(stat, target);
  // The server side offers h2 and http/1.1 on HTTP ports; callers pick by their port's protocol.
  const alpn = isHttp(p.protocol) ? ['h2', 'http/1.1'] : upstreamAlpn(p.protocol);
  return {
    name: `inbound|${p.port}|${p.service}.${p.namespace}`,
    filter_chain_match: { server_names: inboundServerNames(cluster, p), transport_protocol: 'tls' },
    // The same for every port with the same ALPN: frozen, checked and encoded once.
    transport_socket: view.memo(`inbound-tls|${alpn.join(',')}`, () => Object.freeze(downstreamTlsTransportSocket(alpn.length ? { alpn } : {}))),
    filters: [...policy.network, terminal],
  };
}

/** The inbound listener, or undefined when the workload serves no service port. */
export function inboundListener(view: MeshView, cluster: string, ports: readonly InboundPort[]): Resource | undefined {
  if (ports.length === 0) return undefined;
  // One object per cluster and port list: sidecars serving the same ports share it (and its verdict and bytes).
  return view.memo(`inbound-listener|${cluster}|${ports.map(inboundPortKey).join(' ')}`, () => ({
    name: INBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: INBOUND_PORT } },
    traffic_direction: 'INBOUND',
    listener_filters: [{ name: TLS_INSPECTOR_NAME, typed_config: { '@type': TLS_INSPECTOR_TYPE } }],
    filter_chains: ports.map((p) => inboundChain(view, cluster, p)),
  }));
}
