/**
 * Envoy bootstrap files for mesh proxies: node identity and locality, ADS over gRPC (HTTP/2) to
 * crossmesh, and an admin listener on loopback or a unix socket. The xDS server is reached over
 * TCP or a unix socket (`unix:<path>`, which crosses network namespaces: a pod's Envoy reaches a
 * crossmesh outside its namespace through a shared file). The xDS connection carries HTTP/2 pings
 * (and TCP keepalive when it is TCP) so a half-open connection is noticed within seconds, not
 * when the kernel gives up. With `xdsClientCertDir` the xDS connection authenticates with the
 * workload's own certificate (file-based SDS the in-pod `crossmesh agent` keeps fresh) instead of
 * a bearer token, which Envoy cannot refresh. Produced in proto3 JSON form so it prints as the YAML users read and
 * still parses as `envoy.config.bootstrap.v3.Bootstrap`.
 */
import type { Locality } from '../model/types.js';

export type ProxyRole = 'sidecar' | 'gateway' | 'ingress' | 'proxyless';

/** Which ADS protocol the proxy speaks: state of the world (`GRPC`) or incremental (`DELTA_GRPC`). */
export type AdsApi = 'sotw' | 'delta';

export interface BootstrapOptions {
  /** `<cluster>/<namespace>/<name>`. */
  readonly nodeId: string;
  readonly role: ProxyRole;
  readonly locality?: Locality;
  /** `host:port` or `unix:<absolute path>` of crossmesh's xDS server. */
  readonly xdsAddress: string;
  /** Admin listener: `host:port` or `unix:<absolute path>`; wins over `adminPort`. */
  readonly adminAddress?: string;
  /** Admin port on 127.0.0.1 (default 15000) when `adminAddress` is not given. */
  readonly adminPort?: number;
  /** ADS flavour (default sotw). */
  readonly adsApi?: AdsApi;
  /** When set, the xDS connection uses TLS and trusts this CA bundle file (the mesh root). */
  readonly xdsCaFile?: string;
  /** SNI / name the xDS server's certificate is checked against (default: the xDS host; required for a unix address). */
  readonly xdsServerName?: string;
  /** Sent as gRPC metadata on the xDS stream (e.g. `authorization: Bearer ...`). */
  readonly initialMetadata?: Readonly<Record<string, string>>;
  /**
   * Durable credentials: the xDS connection presents the workload's own certificate as its TLS
   * client certificate, read through file-based SDS from this directory, where `crossmesh agent
   * --envoy-sds` keeps `xds-client-cert.json` current. Needs TLS (`xdsCaFile`).
   */
  readonly xdsClientCertDir?: string;
}

/** Name of the file-based SDS secret the xDS cluster presents as its client certificate. */
export const XDS_CLIENT_CERT_SECRET = 'xds_client_cert';
/** The SDS file (a DiscoveryResponse holding that secret) `crossmesh agent --envoy-sds` writes into its `--out` directory. */
export const XDS_CLIENT_CERT_SDS_FILE = 'xds-client-cert.json';

/** The `sds_config` of the xDS client certificate: the agent's SDS file, reloaded whenever a file is moved into its directory (the agent renames every write into place). */
export function xdsClientCertSdsConfig(dir: string): Record<string, unknown> {
  const d = dir.replace(/\/+$/, '') || '/';
  if (!d.startsWith('/')) throw new Error(`xDS client certificate directory "${dir}" must be absolute (Envoy resolves it, not this process)`);
  return {
    resource_api_version: 'V3',
    path_config_source: { path: `${d === '/' ? '' : d}/${XDS_CLIENT_CERT_SDS_FILE}`, watched_directory: { path: d } },
  };
}

/** A parsed listen/connect address: TCP host and port, or a unix socket path. */
export type Address = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

/** HTTP/2 ping on the xDS connection: sent after 10 s without frames, the connection closed 5 s later without an answer. */
export const XDS_HTTP2_KEEPALIVE = { interval: '10s', timeout: '5s' } as const;
/**
 * How soon Envoy tries the xDS stream again after it failed: its default (0.5 s doubling up to
 * 30 s, each wait drawn at random below the cap) leaves a control plane that was away for ten
 * seconds or more without some of its Envoys for up to 30 s more after it is back (the chaos
 * benchmark measured 23-26 s between a restarted crossmesh being ready and the last of 23 Envoys
 * reconnecting). A 5 s cap brings every Envoy back within 5 s of the restart, and the full jitter
 * still spreads a fleet's reconnections over those 5 s.
 */
export const XDS_RECONNECT_BACKOFF = { base_interval: '0.5s', max_interval: '5s' } as const;
/** TCP keepalive on a TCP xDS connection: first probe after 10 s idle, then every 5 s, dead after 3 unanswered. */
export const XDS_TCP_KEEPALIVE = { keepalive_time: 10, keepalive_interval: 5, keepalive_probes: 3 } as const;

/** Longest unix socket path the kernel accepts (sun_path is 108 bytes with the terminating NUL). */
const MAX_UNIX_PATH_BYTES = 107;

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

/** Checks a unix socket path (absolute, no NUL, short enough for sun_path) and returns it, or throws naming it. */
export function checkUnixSocketPath(path: string): string {
  if (!path.startsWith('/')) throw new Error(`unix socket path "${path}" must be absolute`);
  if (path.includes('\0')) throw new Error('unix socket path must not contain a NUL byte');
  if (Buffer.byteLength(path) > MAX_UNIX_PATH_BYTES) throw new Error(`unix socket path "${path}" is ${Buffer.byteLength(path)} bytes; the limit is ${MAX_UNIX_PATH_BYTES}`);
  return path;
}

/** Parses `host:port` or `unix:<absolute path>`, or throws saying which forms are accepted. */
export function parseAddress(address: string): Address {
  if (address.startsWith('unix:')) {
    const path = address.slice('unix:'.length);
    if (path === '') throw new Error(`address "${address}" must be host:port or unix:<absolute path>`);
    return { kind: 'unix', path: checkUnixSocketPath(path) };
  }
  try {
    return { kind: 'tcp', ...parseHostPort(address) };
  } catch {
    throw new Error(`address "${address}" must be host:port or unix:<absolute path>`);
  }
}

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

/** An Envoy `config.core.v3.Address` for a parsed address. */
function envoyAddress(a: Address): Record<string, unknown> {
  return a.kind === 'unix' ? { pipe: { path: a.path } } : { socket_address: { address: a.host, port_value: a.port } };
}

/** Builds the bootstrap for an Envoy proxy (sidecar, east-west gateway or ingress gateway). */
export function buildEnvoyBootstrap(o: BootstrapOptions): Record<string, unknown> {
  const { cluster } = parseNodeId(o.nodeId);
  const xds = parseAddress(o.xdsAddress);
  const admin: Address = o.adminAddress !== undefined ? parseAddress(o.adminAddress) : { kind: 'tcp', host: '127.0.0.1', port: o.adminPort ?? 15000 };
  const grpcService: Record<string, unknown> = { envoy_grpc: { cluster_name: 'xds-grpc', retry_policy: { retry_back_off: { ...XDS_RECONNECT_BACKOFF } } } };
  if (o.initialMetadata && Object.keys(o.initialMetadata).length) {
    grpcService.initial_metadata = Object.entries(o.initialMetadata).map(([key, value]) => ({ key, value }));
  }
  const xdsCluster: Record<string, unknown> = {
    name: 'xds-grpc',
    // A pipe has no name to resolve; STRICT_DNS only for a TCP host name.
    type: xds.kind === 'unix' || isIp(xds.host) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: '1s',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: { connection_keepalive: { ...XDS_HTTP2_KEEPALIVE } } },
      },
    },
    load_assignment: {
      cluster_name: 'xds-grpc',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: envoyAddress(xds) } }] }],
    },
  };
  // TCP keepalive socket options would fail on a unix socket; there the HTTP/2 ping alone watches the peer.
  if (xds.kind === 'tcp') xdsCluster.upstream_connection_options = { tcp_keepalive: { ...XDS_TCP_KEEPALIVE } };
  if (o.xdsClientCertDir !== undefined && !o.xdsCaFile) throw new Error('a client certificate on the xDS connection needs TLS (xdsCaFile): it cannot be presented over plaintext');
  if (o.xdsCaFile) {
    if (xds.kind === 'unix' && o.xdsServerName === undefined) throw new Error(`a TLS xDS connection over ${o.xdsAddress} needs the server name to check (xdsServerName)`);
    xdsCluster.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: o.xdsServerName ?? (xds.kind === 'tcp' ? xds.host : ''),
        common_tls_context: {
          alpn_protocols: ['h2'],
          validation_context: { trusted_ca: { filename: o.xdsCaFile } },
          ...(o.xdsClientCertDir !== undefined ? { tls_certificate_sds_secret_configs: [{ name: XDS_CLIENT_CERT_SECRET, sds_config: xdsClientCertSdsConfig(o.xdsClientCertDir) }] } : {}),
        },
      },
    };
  }
  const node: Record<string, unknown> = { id: o.nodeId, cluster, metadata: { role: o.role } };
  if (o.locality) node.locality = { region: o.locality.region, zone: o.locality.zone, sub_zone: o.locality.subzone };
  return {
    node,
    admin: { address: envoyAddress(admin) },
    dynamic_resources: {
      ads_config: {
        api_type: o.adsApi === 'delta' ? 'DELTA_GRPC' : 'GRPC',
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
