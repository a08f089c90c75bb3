/**
 * The ingress gateway role (`node.metadata.role: ingress`): the edge of the mesh, built from the
 * `Gateway` object (type Ingress) that names the proxy's workload.
 *
 * - LDS: one HTTP listener `ingress_<port>` on 0.0.0.0:<port>, routes over RDS; with `tls` set it
 *   terminates TLS with the SDS secret `ingress-tls~<ns>~<name>` over ADS (the control plane reads
 *   the Gateway's certificate and key files and serves them to this gateway's identity only, so
 *   the paths need not exist where Envoy runs), and asks for no client certificate (callers are
 *   outside the mesh).
 * - RDS: `ingress_<port>` with one virtual host for the gateway, domains = its hosts with and
 *   without `:<port>`; one route per path prefix (longest first, so `/api/v2` wins over `/api`)
 *   to `outbound|<port>||<svc>.<ns>.svc.cluster.local`, or to the `.global` host of the route's
 *   cluster when it names one. A route to a service or port the gateway's cluster does not see is
 *   left out (the config stage warns about it).
 * - CDS/EDS: the clusters those routes use, exactly as a sidecar in the gateway's cluster has them:
 *   mesh mTLS presenting the gateway's own identity (SDS `default`), secure naming, locality
 *   priorities from the gateway's placement.
 */
import type { Gateway, IngressRoute } from '../model/types.js';
import { objectKey } from '../model/types.js';
import { httpConnectionManager } from './filters.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import { globalHost, localHost, outboundClusterName } from './names.js';
import type { ProxyContext } from './proxy.js';
import { byName, type Resource } from './resources.js';
import { endpointScope, scopeKey, type ProxyScopes, type RoleTranslator, type Scope } from './scopes.js';
import { DOWNSTREAM_TLS_CONTEXT_TYPE_URL, ingressTlsSecretName, sdsSecretConfig, TLS_TRANSPORT_SOCKET } from './secrets.js';
import { outboundClusterFor } from './sidecar.js';

/** Name of an ingress gateway's listener and of the route configuration it loads. */
export function ingressName(port: number): string {
  return `ingress_${port}`;
}

/** The mesh cluster an ingress route sends to: the mesh-wide host, or one cluster's `.global` host. */
export function ingressRouteCluster(r: IngressRoute): string {
  const s = r.service;
  return outboundClusterName(s.port, '', s.cluster === undefined ? localHost(s.name, s.namespace) : globalHost(s.name, s.namespace, s.cluster));
}

function gatewayOf(view: MeshView, scope: Scope): Gateway {
  const g = scope.gateway === undefined ? undefined : view.snapshot.gateways.get(scope.gateway);
  if (!g || g.type !== 'Ingress') throw new Error(`ingress scope ${scope.key}: no Ingress Gateway "${scope.gateway ?? ''}" in the mesh`);
  return g;
}

/** Routes the gateway can serve, longest prefix first (declared order among equals; a repeated prefix keeps its first route). */
function servedRoutes(view: MeshView, g: Gateway): { route: IngressRoute; target: OutboundTarget }[] {
  const targets = new Map(view.sidecarTargets(g.cluster).map((t) => [t.clusterName, t]));
  const seen = new Set<string>();
  const out: { route: IngressRoute; target: OutboundTarget; index: number }[] = [];
  (g.routes ?? []).forEach((route, index) => {
    const target = targets.get(ingressRouteCluster(route));
    if (!target || seen.has(route.pathPrefix)) return;
    seen.add(route.pathPrefix);
    out.push({ route, target, index });
  });
  return out.sort((a, b) => b.route.pathPrefix.length - a.route.pathPrefix.length || a.index - b.index);
}

/** The upstream targets of an ingress gateway (each once, sorted by cluster name). */
export function ingressTargets(view: MeshView, g: Gateway): readonly OutboundTarget[] {
  return view.memo(`ingress-targets|${objectKey(g)}`, () => {
    const m = new Map(servedRoutes(view, g).map(({ target }) => [target.clusterName, target]));
    return [...m.values()].sort((a, b) => (a.clusterName < b.clusterName ? -1 : a.clusterName > b.clusterName ? 1 : 0));
  });
}

/** The gateway's domains: each host, and each host with `:<port>` (`*` alone already matches every Host). */
export function ingressDomains(g: Gateway): string[] {
  const out = new Set<string>();
  for (const h of g.hosts?.length ? g.hosts : ['*']) {
    out.add(h);
    if (h !== '*') out.add(`${h}:${g.port}`);
  }
  return [...out].sort();
}

/**
 * The route match of a `pathPrefix`, on a path segment boundary as a user reads it: `/api` matches
 * `/api`, `/api/` and `/api/v1` but not `/apix` (Envoy's `path_separated_prefix`, which must not end
 * in `/`); `/` and prefixes ending in `/` are plain prefixes, already on a boundary.
 */
export function ingressPathMatch(pathPrefix: string): Resource {
  return pathPrefix.endsWith('/') ? { prefix: pathPrefix } : { path_separated_prefix: pathPrefix };
}

/**
 * Which client addresses the edge treats as internal (trusting their `x-envoy-*` headers and
 * marking them `x-envoy-internal`): only the gateway's own loopback. Stated explicitly because
 * Envoy's default changed across versions (all RFC 1918 addresses, then none), and callers of an
 * ingress come from outside the mesh even when their address is private.
 */
export const INGRESS_INTERNAL_ADDRESSES: Resource = {
  unix_sockets: false,
  cidr_ranges: [
    { address_prefix: '127.0.0.1', prefix_len: { value: 32 } },
    { address_prefix: '::1', prefix_len: { value: 128 } },
  ],
};

/** The ingress RouteConfiguration: one virtual host for the gateway, routes by path prefix. */
export function ingressRouteConfiguration(view: MeshView, g: Gateway): Resource {
  return {
    name: ingressName(g.port),
    virtual_hosts: [
      {
        name: `${g.namespace}/${g.name}`,
        domains: ingressDomains(g),
        routes: servedRoutes(view, g).map(({ route, target }) => ({
          name: route.pathPrefix,
          match: ingressPathMatch(route.pathPrefix),
          // No route timeout: gRPC streams and long polls pass through the edge too.
          route: { cluster: target.clusterName, timeout: { seconds: 0 } },
        })),
      },
    ],
  };
}

/**
 * A DownstreamTlsContext presenting the Gateway's certificate, fetched over ADS as the secret
 * `ingress-tls~<ns>~<name>`: the files are read by the control plane, which may run on another
 * machine than this Envoy, so their paths are never handed to Envoy.
 */
export function ingressTlsTransportSocket(g: Pick<Gateway, 'namespace' | 'name'>): Resource {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: {
      '@type': DOWNSTREAM_TLS_CONTEXT_TYPE_URL,
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
        tls_certificate_sds_secret_configs: [sdsSecretConfig(ingressTlsSecretName(g.namespace, g.name))],
        alpn_protocols: ['h2', 'http/1.1'],
      },
    },
  };
}

/** The gateway's HTTP listener on 0.0.0.0:<port>, terminating TLS when the Gateway has `tls`. */
export function ingressListener(g: Gateway): Resource {
  const name = ingressName(g.port);
  const hcm = httpConnectionManager(name, { rds: name });
  // An edge proxy: the client address comes from the connection (not a forwarded header), no
  // client is internal but the gateway itself, and paths are normalized before prefix matching so
  // `/a/../productpage` cannot dodge a route.
  const edge = {
    ...hcm,
    typed_config: { ...(hcm.typed_config as Resource), use_remote_address: { value: true }, internal_address_config: INGRESS_INTERNAL_ADDRESSES, normalize_path: { value: true }, merge_slashes: true },
  };
  return {
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: g.port } },
    traffic_direction: 'INBOUND',
    filter_chains: [{ ...(g.tls ? { transport_socket: ingressTlsTransportSocket(g) } : {}), filters: [edge] }],
  };
}

function build(view: MeshView, scope: Scope): Map<string, Resource> {
  const g = gatewayOf(view, scope);
  switch (scope.kind) {
    case 'clusters':
      return byName('clusters', ingressTargets(view, g).map((t) => outboundClusterFor(view, t)));
    case 'endpoints':
      return byName('endpoints', ingressTargets(view, g).map((t) => view.assignment(t, scope.placement) as unknown as Resource));
    case 'routes':
      return byName('routes', [ingressRouteConfiguration(view, g)]);
    case 'listeners':
      return byName('listeners', [ingressListener(g)]);
  }
}

function scopes(_view: MeshView, proxy: ProxyContext): ProxyScopes {
  const g = proxy.gateway;
  if (!g || g.type !== 'Ingress') throw new Error(`node ${proxy.nodeId}: role "ingress" needs an Ingress Gateway naming its workload`);
  const cluster = proxy.cluster.name;
  const gateway = objectKey(g);
  const eds = endpointScope(proxy);
  const l = proxy.locality;
  return {
    clusters: { kind: 'clusters', role: 'ingress', cluster, gateway, inbound: [], key: scopeKey('clusters', 'ingress', cluster, gateway) },
    endpoints: { ...eds, gateway, key: scopeKey('endpoints', 'ingress', cluster, `${gateway}|${proxy.network}|${l.region}|${l.zone}|${l.subzone}`) },
    listeners: { kind: 'listeners', role: 'ingress', cluster, gateway, inbound: [], port: g.port, key: scopeKey('listeners', 'ingress', cluster, gateway) },
    routes: { kind: 'routes', role: 'ingress', cluster, gateway, namespace: g.namespace, key: scopeKey('routes', 'ingress', cluster, gateway) },
  };
}

/** The ingress gateway role. */
export const ingressTranslator: RoleTranslator = {
  role: 'ingress',
  scopes,
  build,
  targets: (view, scope) => ingressTargets(view, gatewayOf(view, scope)),
  rebuildClusters: (view, _scope, targets) => byName('clusters', targets.map((t) => outboundClusterFor(view, t))),
};
