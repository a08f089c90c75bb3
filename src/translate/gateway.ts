/**
 * The east-west gateway's listener: SNI passthrough. TLS is not terminated here: the gateway
 * reads the SNI (tls_inspector), picks the filter chain whose server_names match, and proxies
 * the still-encrypted bytes to the local cluster, so mTLS stays end to end between sidecars.
 * An SNI that matches no chain is refused because there is no default filter chain.
 */
import { crossNetworkSni, globalHost, localHost, outboundClusterName } from './names.js';

/** Port east-west gateways listen on (Istio's convention). */
export const EAST_WEST_PORT = 15443;

/** One service port (and optional subset) that this gateway's cluster exposes to other networks. */
export interface ExportedService {
  readonly name: string;
  readonly namespace: string;
  readonly port: number;
  /** Subset name, or '' for all endpoints. */
  readonly subset: string;
}

const TLS_INSPECTOR = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** The cluster a gateway forwards an exported service to: the service's local endpoints only. */
export function gatewayTargetCluster(e: ExportedService): string {
  return outboundClusterName(e.port, e.subset, localHost(e.name, e.namespace));
}

/**
 * Builds the gateway listener for `cluster` (the gateway's own cluster name).
 * Each exported service/port/subset gets one filter chain matching both SNIs a client may send:
 * the mesh-wide host and this cluster's `.global` host.
 */
export function buildEastWestListener(cluster: string, port: number, exported: readonly ExportedService[]): Record<string, unknown> {
  const chains = new Map<string, Record<string, unknown>>();
  for (const e of exported) {
    const target = gatewayTargetCluster(e);
    if (chains.has(target)) continue; // duplicates would make Envoy reject the listener
    const serverNames = [
      crossNetworkSni(e.port, e.subset, localHost(e.name, e.namespace)),
      crossNetworkSni(e.port, e.subset, globalHost(e.name, e.namespace, cluster)),
    ];
    chains.set(target, {
      name: target,
      filter_chain_match: { server_names: serverNames },
      filters: [
        {
          name: 'envoy.filters.network.tcp_proxy',
          typed_config: { '@type': TCP_PROXY, stat_prefix: target, cluster: target },
        },
      ],
    });
  }
  const sorted = [...chains.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, c]) => c);
  return {
    name: `gateway_${port}`,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR } }],
    filter_chains: sorted,
  };
}
