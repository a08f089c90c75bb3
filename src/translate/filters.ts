/**
 * Envoy building blocks shared by the listener, cluster and gateway translators: type URLs, the
 * ADS config source, the HTTP connection manager, the router and tcp_proxy filters, and the
 * HTTP/2 upstream protocol options.
 */
import type { Resource } from './resources.js';

const T = 'type.googleapis.com/';
/** Type URL of the HTTP connection manager network filter. */
export const HCM_TYPE = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
/** Type URL of the tcp_proxy network filter. */
export const TCP_PROXY_TYPE = `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`;
/** Type URL of the router HTTP filter. */
export const ROUTER_TYPE = `${T}envoy.extensions.filters.http.router.v3.Router`;
/** Type URL of the TLS inspector listener filter. */
export const TLS_INSPECTOR_TYPE = `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`;
/** Type URL of the original destination listener filter (restores the address capture redirected from). */
export const ORIGINAL_DST_TYPE = `${T}envoy.extensions.filters.listener.original_dst.v3.OriginalDst`;
/** Type URL of the aggregate cluster's config. */
export const AGGREGATE_CLUSTER_TYPE = `${T}envoy.extensions.clusters.aggregate.v3.ClusterConfig`;
/** Type URL of upstream HTTP protocol options (HTTP/2 to the upstream). */
export const HTTP_PROTOCOL_OPTIONS_TYPE = `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`;

export const HCM_NAME = 'envoy.filters.network.http_connection_manager';
export const TCP_PROXY_NAME = 'envoy.filters.network.tcp_proxy';
export const ROUTER_NAME = 'envoy.filters.http.router';
export const TLS_INSPECTOR_NAME = 'envoy.filters.listener.tls_inspector';
export const ORIGINAL_DST_NAME = 'envoy.filters.listener.original_dst';

/** Resources are fetched over the same ADS stream (v3). */
export function adsConfigSource(): Resource {
  return { ads: {}, resource_api_version: 'V3' };
}

/** The router: always the last HTTP filter. */
export function routerFilter(): Resource {
  return { name: ROUTER_NAME, typed_config: { '@type': ROUTER_TYPE } };
}

/** tcp_proxy to one cluster: always the last network filter of its chain. */
export function tcpProxyFilter(statPrefix: string, cluster: string): Resource {
  return { name: TCP_PROXY_NAME, typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: statPrefix, cluster } };
}

/** Where an HCM gets its routes: by name over RDS, or inline. */
export type RouteSource = { readonly rds: string } | { readonly inline: Resource };

/**
 * An HTTP connection manager whose filter list is `policyFilters` (RBAC, fault, CORS: whatever
 * policies put before routing) followed by the router.
 */
export function httpConnectionManager(statPrefix: string, routes: RouteSource, policyFilters: readonly Resource[] = [], extra: Resource = {}): Resource {
  return {
    name: HCM_NAME,
    typed_config: {
      '@type': HCM_TYPE,
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      ...extra,
      ...('rds' in routes ? { rds: { route_config_name: routes.rds, config_source: adsConfigSource() } } : { route_config: routes.inline }),
      http_filters: [...policyFilters, routerFilter()],
    },
  };
}

/** `typed_extension_protocol_options` that make Envoy speak HTTP/2 to the upstream (gRPC, h2c, h2). */
export function http2ProtocolOptions(): Resource {
  return { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': HTTP2_OPTIONS };
}

// Shared by every HTTP/2 cluster: frozen, so it is checked and encoded once.
const HTTP2_OPTIONS: Resource = Object.freeze({
  '@type': HTTP_PROTOCOL_OPTIONS_TYPE,
  explicit_http_config: Object.freeze({ http2_protocol_options: Object.freeze({}) }),
});
