/**
 * LDS for sidecars fed by transparent capture (`crossmesh capture`: iptables sends the app's
 * outbound TCP to 15001 and every inbound TCP connection to 15006, as Istio's init container does).
 * The app does not know its sidecar: it calls `reviews.default.svc.cluster.local:9080`, which
 * resolves to the service's virtual address (service-addresses.ts).
 *
 * - `virtualOutbound` on 0.0.0.0:15001 with `use_original_dst`: Envoy hands each redirected
 *   connection to the listener of its original destination; what matches none is passed through
 *   to where it was going (`PassthroughCluster`), except connections addressed to 15001 itself,
 *   which would loop (`BlackHoleCluster`).
 * - `0.0.0.0_<port>` (not bound) per HTTP service port: routes by Host over RDS `<port>`.
 * - `<address>_<port>` (not bound) per TCP service port and host: tcp_proxy to its cluster. An
 *   exact address beats the wildcard, so a TCP service on an HTTP port still gets its own. A
 *   headless service's TCP port gets one per workload address instead (headless.ts).
 * - `virtualInbound` on 0.0.0.0:15006: restores the original destination, terminates mesh mTLS
 *   (client certificate required), picks the chain by the SNI the caller sent
 *   (`outbound_.<port>_.<subset>_.<host>`), and forwards to the app on 127.0.0.1:<targetPort>
 *   through the STATIC cluster `inbound|<targetPort>||`. There is no default chain: plaintext, or
 *   an SNI naming no local service port, is refused.
 */
import { CONNECT_TIMEOUT, isHttp, upstreamAlpn } from './clusters.js';
import { httpConnectionManager, tcpProxyFilter, ORIGINAL_DST_NAME, ORIGINAL_DST_TYPE, TLS_INSPECTOR_NAME, TLS_INSPECTOR_TYPE } from './filters.js';
import { inboundPolicyFilters } from './inbound-policy.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import { crossNetworkSni, globalHost, inboundClusterName, localHost } from './names.js';
import type { Resource } from './resources.js';
import { routedTargets } from './routes.js';
import { downstreamTlsTransportSocket } from './secrets.js';
import { headlessTcpListeners } from './headless.js';
import { hostAddresses } from './service-addresses.js';
import type { Protocol } from '../model/types.js';

/** Port capture redirects the app's outbound connections to. */
export const OUTBOUND_PORT = 15001;
/** Port capture redirects inbound connections to (the mTLS-terminating listener). */
export const INBOUND_PORT = 15006;
export const VIRTUAL_OUTBOUND_LISTENER = 'virtualOutbound';
export const VIRTUAL_INBOUND_LISTENER = 'virtualInbound';
/** ORIGINAL_DST cluster: a captured connection to an address outside the mesh goes where it was addressed. */
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
/** A cluster with no endpoints: connections sent to it are closed. */
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';

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

/** Ports no service listener may take: the sidecar's own. */
export function reservedPort(port: number): boolean {
  return port === OUTBOUND_PORT || port === INBOUND_PORT;
}

/** The capture listener on 0.0.0.0:15001 (the same object for every sidecar). */
export function virtualOutboundListener(): Resource {
  return {
    name: VIRTUAL_OUTBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: OUTBOUND_PORT } },
    use_original_dst: { value: true },
    traffic_direction: 'OUTBOUND',
    filter_chains: [
      { name: `${VIRTUAL_OUTBOUND_LISTENER}-blackhole`, filter_chain_match: { destination_port: { value: OUTBOUND_PORT } }, filters: [tcpProxyFilter(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)] },
    ],
    default_filter_chain: { name: `${VIRTUAL_OUTBOUND_LISTENER}-passthrough`, filters: [tcpProxyFilter(PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER)] },
  };
}

/** The clusters the capture listener sends unmatched connections to. */
export function captureClusters(): Resource[] {
  return [
    { name: BLACKHOLE_CLUSTER, type: 'STATIC', connect_timeout: CONNECT_TIMEOUT },
    { name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: CONNECT_TIMEOUT },
  ];
}

/** Name of the RDS route configuration of an HTTP service port (Istio's: the port number). */
export function portRouteName(port: number): string {
  return String(port);
}

/** The HTTP ports of a target list that get an outbound listener, ascending. */
export function httpListenerPorts(targets: readonly OutboundTarget[]): number[] {
  return [...new Set(routedTargets(targets).map((t) => t.port))].filter((p) => !reservedPort(p)).sort((a, b) => a - b);
}

/** `0.0.0.0_<port>`: the outbound HTTP listener of one service port, routing by Host over RDS `<port>`. */
export function outboundHttpListener(port: number, policyFilters: readonly Resource[] = []): Resource {
  const name = `0.0.0.0_${port}`;
  return {
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    bind_to_port: { value: false },
    traffic_direction: 'OUTBOUND',
    // policyFilters: CORS / fault injection when TrafficPolicies use them (traffic-policy.ts outboundHttpFilters).
    filter_chains: [{ filters: [httpConnectionManager(`outbound_${name}`, { rds: portRouteName(port) }, policyFilters)] }],
  };
}

/**
 * One `<address>_<port>` listener per TCP target without subset whose host has an address in this
 * cluster. Two hosts with one address and port (clusters' ClusterIPs may overlap) cannot both be
 * matched: hosts the proxy's own cluster runs claim first, then by host name; the others are left
 * without a listener.
 */
export function outboundTcpListeners(view: MeshView, cluster: string, targets: readonly OutboundTarget[]): Resource[] {
  const addresses = hostAddresses(view, cluster);
  const headless = targets.filter((t) => t.headless === true && !isHttp(t.protocol) && !reservedPort(t.port));
  const tcp = targets
    .filter((t) => t.subset === '' && !isHttp(t.protocol) && !reservedPort(t.port) && addresses.has(t.host))
    .map((t) => ({ t, local: t.clusters.includes(cluster) && t.hostCluster === undefined ? 0 : 1 }))
    .sort((a, b) => a.local - b.local || (a.t.host < b.t.host ? -1 : a.t.host > b.t.host ? 1 : a.t.port - b.t.port));
  const claimed = new Set<string>();
  const out: Resource[] = [];
  for (const { t } of tcp) {
    const address = addresses.get(t.host)!;
    const name = `${address}_${t.port}`;
    if (claimed.has(name)) continue;
    claimed.add(name);
    out.push({
      name,
      address: { socket_address: { address, port_value: t.port } },
      bind_to_port: { value: false },
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [tcpProxyFilter(t.clusterName, t.clusterName)] }],
    });
  }
  // Headless services have no virtual address: their workloads' own addresses get the listeners.
  out.push(...headlessTcpListeners(view, cluster, headless, claimed));
  return out.sort((a, b) => (String(a.name) < String(b.name) ? -1 : 1));
}

const INBOUND_XFCC: Resource = Object.freeze({ forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: Object.freeze({ uri: true }) });

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
        // The app learns who called it, as Istio's sidecars tell it: the caller's SPIFFE ID in
        // x-forwarded-client-cert (whatever the caller sent in that header is replaced).
        INBOUND_XFCC,
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
    name: VIRTUAL_INBOUND_LISTENER,
    address: { socket_address: { address: '0.0.0.0', port_value: INBOUND_PORT } },
    traffic_direction: 'INBOUND',
    listener_filters: [
      { name: ORIGINAL_DST_NAME, typed_config: { '@type': ORIGINAL_DST_TYPE } },
      { name: TLS_INSPECTOR_NAME, typed_config: { '@type': TLS_INSPECTOR_TYPE } },
    ],
    filter_chains: ports.map((p) => inboundChain(view, cluster, p)),
  }));
}
