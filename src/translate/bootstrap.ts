/**
 * Envoy bootstrap files for mesh proxies: node identity and locality, ADS over gRPC (HTTP/2) to
 * crossmesh, and a loopback-only admin port. Produced in proto3 JSON form so it prints as the YAML
 * users read and still parses as `envoy.config.bootstrap.v3.Bootstrap`.
 */
import type { Locality } from '../model/types.js';

export type ProxyRole = 'sidecar' | 'gateway' | 'ingress' | 'proxyless';

export interface BootstrapOptions {
  /** `<cluster>/<namespace>/<name>`. */
  readonly nodeId: string;
  readonly role: ProxyRole;
  readonly locality?: Locality;
  /** `host:port` of crossmesh's xDS server. */
  readonly xdsAddress: string;
  readonly adminPort?: number;
  /** When set, the xDS connection uses TLS and trusts this CA bundle file (the mesh root). */
  readonly xdsCaFile?: string;
  /** SNI / name the xDS server's certificate is checked against. */
  readonly xdsServerName?: string;
  /** Sent as gRPC metadata on the xDS stream (e.g. `authorization: Bearer ...`). */
  readonly initialMetadata?: Readonly<Record<string, string>>;
}

const NODE_ID = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-zA-Z0-9]([-.a-zA-Z0-9]*[a-zA-Z0-9])?)$/;

/** Splits a node id into its parts, or throws an error saying what a node id looks like. */
export function parseNodeId(nodeId: string): { cluster: string; namespace: string; name: string } {
  const m = NODE_ID.exec(nodeId);
  if (!m) throw new Error(`node id "${nodeId}" must be <cluster>/<namespace>/<name> (lowercase DNS labels)`);
  return { cluster: m[1]!, namespace: m[3]!, name: m[5]! };
}

/** Splits `host:port` (IPv6 in brackets), or throws naming the bad value. */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new Error(`address "${address}" must be host:port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

/** Builds the bootstrap for an Envoy proxy (sidecar, east-west gateway or ingress gateway). */
export function buildEnvoyBootstrap(o: BootstrapOptions): Record<string, unknown> {
  const { cluster } = parseNodeId(o.nodeId);
  const xds = parseHostPort(o.xdsAddress);
  const grpcService: Record<string, unknown> = { envoy_grpc: { cluster_name: 'xds-grpc' } };
  if (o.initialMetadata && Object.keys(o.initialMetadata).length) {
    grpcService.initial_metadata = Object.entries(o.initialMetadata).map(([key, value]) => ({ key, value }));
  }
  const xdsCluster: Record<string, unknown> = {
    name: 'xds-grpc',
    type: isIp(xds.host) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: '1s',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    load_assignment: {
      cluster_name: 'xds-grpc',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: xds.host, port_value: xds.port } } } }] }],
    },
  };
  if (o.xdsCaFile) {
    xdsCluster.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: o.xdsServerName ?? xds.host,
        common_tls_context: {
          alpn_protocols: ['h2'],
          validation_context: { trusted_ca: { filename: o.xdsCaFile } },
        },
      },
    };
  }
  const node: Record<string, unknown> = { id: o.nodeId, cluster, metadata: { role: o.role } };
  if (o.locality) node.locality = { region: o.locality.region, zone: o.locality.zone, sub_zone: o.locality.subzone };
  return {
    node,
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: o.adminPort ?? 15000 } } },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [grpcService],
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: { clusters: [xdsCluster] },
  };
}
