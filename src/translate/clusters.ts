/**
 * CDS: the clusters a proxy connects to. Outbound clusters are EDS over ADS with locality-weighted
 * round robin and mesh mTLS (SNI naming the target, the target's SPIFFE IDs as the only accepted
 * server identities); inbound clusters are STATIC, pointing at the app on 127.0.0.1; gateway
 * clusters are plain TCP (the gateway passes the client's TLS through untouched).
 */
import type { Protocol } from '../model/types.js';
import { adsConfigSource, http2ProtocolOptions } from './filters.js';
import { PLAINTEXT_MATCH } from './endpoints.js';
import type { OutboundTarget } from './mesh-view.js';
import { inboundClusterName } from './names.js';
import type { Resource } from './resources.js';
import { upstreamTlsTransportSocket } from './secrets.js';

/** Connect timeout of every cluster (Istio's default). Frozen, like the other parts every cluster shares: checked and encoded once. */
export const CONNECT_TIMEOUT: Readonly<{ seconds: number }> = Object.freeze({ seconds: 10 });

const EDS_CLUSTER_CONFIG: Resource = Object.freeze({ eds_config: Object.freeze(adsConfigSource()) });
const LOCALITY_WEIGHTED_LB: Resource = Object.freeze({ locality_weighted_lb_config: Object.freeze({}) });

/** Whether a protocol runs over HTTP/2 upstream. */
export function isHttp2(p: Protocol): boolean {
  return p === 'GRPC' || p === 'HTTP2';
}

/** Whether a protocol is routed by the HTTP connection manager (vs. tcp_proxy). */
export function isHttp(p: Protocol): boolean {
  return p !== 'TCP';
}

/** ALPN a sidecar offers upstream, so the server side's HTTP codec matches the port's protocol. */
export function upstreamAlpn(p: Protocol): readonly string[] {
  return isHttp2(p) ? ['h2'] : p === 'HTTP' ? ['http/1.1'] : [];
}

/**
 * Identity accepted for a target with no endpoints: a service account name Kubernetes cannot
 * create (underscores are not allowed), so nothing is trusted until real endpoints appear.
 */
export function noEndpointsIdentity(t: OutboundTarget, trustDomain: string): string {
  return `spiffe://${trustDomain}/ns/${t.namespace}/sa/_no-endpoints_`;
}

function edsBase(name: string): Resource {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: EDS_CLUSTER_CONFIG,
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: 'ROUND_ROBIN',
    common_lb_config: LOCALITY_WEIGHTED_LB,
  };
}

/**
 * The plaintext entry of a cluster's `transport_socket_matches`: endpoints outside the mesh carry
 * PLAINTEXT_MATCH in their metadata (translate/endpoints.ts) and are reached without TLS
 * origination (an app's own TLS passes through); every other endpoint falls to the cluster's mesh mTLS.
 */
const PLAINTEXT_SOCKET_MATCH: Resource = Object.freeze({
  name: 'plaintext',
  match: PLAINTEXT_MATCH,
  transport_socket: Object.freeze({ name: 'envoy.transport_sockets.raw_buffer', typed_config: Object.freeze({ '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' }) }),
});

/**
 * A sidecar's outbound cluster for a target, verifying the server against `identities`; with
 * `plaintextEndpoints` (some endpoint is outside the mesh) those endpoints are reached in plaintext.
 */
export function outboundCluster(t: OutboundTarget, identities: readonly string[], plaintextEndpoints = false): Resource {
  const alpn = upstreamAlpn(t.protocol);
  return {
    ...edsBase(t.clusterName),
    ...(isHttp2(t.protocol) ? { typed_extension_protocol_options: http2ProtocolOptions() } : {}),
    transport_socket: upstreamTlsTransportSocket({ sni: t.sni, expectedSpiffeIds: identities, ...(alpn.length ? { alpn } : {}) }),
    // Only clusters with such endpoints carry the match, so every other cluster stays as it was.
    ...(plaintextEndpoints ? { transport_socket_matches: [PLAINTEXT_SOCKET_MATCH] } : {}),
  };
}

/** An east-west gateway's cluster for a target: EDS, no TLS origination (bytes pass through). */
export function gatewayCluster(t: OutboundTarget): Resource {
  return edsBase(t.clusterName);
}

/** The local app on 127.0.0.1:`targetPort`, HTTP/2 when the port speaks it. */
export function inboundCluster(targetPort: number, http2: boolean): Resource {
  const name = inboundClusterName(targetPort);
  return {
    name,
    type: 'STATIC',
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: targetPort } } } }] }],
    },
    ...(http2 ? { typed_extension_protocol_options: http2ProtocolOptions() } : {}),
  };
}
