/**
 * The proxyless role: grpc-js-xds clients and servers (`node.metadata.role: proxyless`).
 *
 * They see the same mesh as a sidecar in their cluster, so their clusters, assignments and routes
 * are the sidecar's (same targets, locality priorities, TrafficPolicy routes, aggregate failover
 * clusters), rewritten into what gRPC accepts:
 *
 * - CDS: EDS and aggregate clusters only (no STATIC inbound clusters), `lb_policy` ROUND_ROBIN
 *   (or RING_HASH), mTLS through certificate-provider instances instead of SDS, with the sidecar
 *   cluster's accepted SPIFFE IDs as exact SAN matchers; no HTTP/2 protocol options (gRPC is h2).
 * - EDS: the sidecar's assignments for the same placement (every locality weighted, priorities
 *   contiguous from 0: gRPC NACKs anything else).
 * - RDS: the sidecar's outbound routes under their own name (`proxyless_outbound`), per-filter
 *   overrides kept only for filters gRPC runs.
 * - LDS: one `api_listener` per route domain, plus one server listener per port its services target
 *   (see proxyless-listeners.ts).
 */
import { isHttp } from './clusters.js';
import { meshOnlyAssignment, type ClusterLoadAssignment } from './endpoints.js';
import type { InboundPort } from './listeners.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import type { ProxyContext } from './proxy.js';
import { clientApiListener, portsByTarget, routeDomains, serverListener } from './proxyless-listeners.js';
import { acceptedSpiffeIds, proxylessUpstreamTls } from './proxyless-tls.js';
import { byName, type Resource } from './resources.js';
import { outboundRouteConfiguration } from './routes.js';
import { withFailoverRoutes } from './failover.js';
import { endpointScope, scopeKey, type ClusterScope, type EndpointScope, type ListenerScope, type ProxyScopes, type RoleTranslator, type RouteScope, type Scope } from './scopes.js';
import { inboundPorts, sidecarTranslator } from './sidecar.js';
import { outboundHttpFilters } from './traffic-policy.js';
import { policyContextOf, policyKeySuffix, scopedTargets, sidecarPolicyScope, type PolicyScope } from './policy-scope.js';

/** Name of the client route configuration every proxyless client listener loads. */
export const PROXYLESS_ROUTE_NAME = 'proxyless_outbound';

/** LDS scope of a proxyless node: the client side depends on cluster and namespace, the server side on its address and service ports. */
export interface ProxylessListenerScope extends ListenerScope {
  readonly namespace: string;
  /** The workload's address ('' when it serves no HTTP/gRPC port). */
  readonly address: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Type URL of Envoy's fault-injection HTTP filter (gRPC clients run it). */
const FAULT_FILTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

/** HTTP filter types gRPC runs on clients (others would make it NACK a per-route override or an HCM). */
const CLIENT_FILTER_TYPES = new Set([FAULT_FILTER_TYPE]);

/** The sidecar scope of a kind with this scope's cluster and policy facts (what a sidecar beside the node would get). */
function asSidecar<S extends Scope>(scope: S): S {
  return { ...scope, role: 'sidecar', key: '' };
}

function suffix(scope: Scope): string {
  return scope.policy ? policyKeySuffix(scope.policy, scope.kind) : '';
}

/** A sidecar cluster rewritten for gRPC, or undefined for kinds gRPC is not given (STATIC inbound). */
export function proxylessCluster(c: Resource): Resource | undefined {
  const { transport_socket, transport_socket_matches: _m, typed_extension_protocol_options: _p, lb_policy, ...rest } = c;
  const lb = lb_policy === 'RING_HASH' ? 'RING_HASH' : 'ROUND_ROBIN';
  if (isObj(c.cluster_type)) return { ...rest, lb_policy: lb };
  if (c.type !== 'EDS') return undefined;
  const ids = acceptedSpiffeIds(transport_socket);
  if (ids.length === 0) throw new Error(`cluster ${String(c.name)}: no accepted SPIFFE IDs to verify the server with; refusing plaintext for proxyless gRPC`);
  return { ...rest, lb_policy: lb, transport_socket: proxylessUpstreamTls(ids) };
}

function proxylessClusters(view: MeshView, scope: ClusterScope): readonly Resource[] {
  return view.memo(`proxyless-clusters|${scope.cluster}${suffix(scope)}`, () => {
    const out: Resource[] = [];
    for (const c of sidecarTranslator.build(view, asSidecar({ ...scope, inbound: [] })).values()) {
      const p = proxylessCluster(c);
      if (p) out.push(p);
    }
    return out;
  });
}

/** Drops per-filter overrides for filters gRPC clients do not run (e.g. CORS); gRPC NACKs unknown ones. */
function clientOverrides(v: unknown): Obj | undefined {
  if (!isObj(v)) return undefined;
  const kept = Object.entries(v).filter(([, cfg]) => isObj(cfg) && CLIENT_FILTER_TYPES.has(String(cfg['@type'])));
  return kept.length ? Object.fromEntries(kept) : undefined;
}

function withClientOverrides<T extends Obj>(o: T): T {
  const { typed_per_filter_config, ...rest } = o;
  const kept = clientOverrides(typed_per_filter_config);
  return (kept ? { ...rest, typed_per_filter_config: kept } : rest) as T;
}

/** The client route configuration of proxyless nodes in a cluster, namespace and policy scope (memoized on the view). */
export function clientRouteConfiguration(view: MeshView, cluster: string, namespace: string, policy?: PolicyScope): Resource {
  const scope: RouteScope = { kind: 'routes', role: 'sidecar', cluster, namespace, key: '', ...(policy ? { policy } : {}) };
  return view.memo(`proxyless-routes|${cluster}|${namespace}${suffix(scope)}`, () => {
    const targets = scopedTargets(scope, view.sidecarTargets(cluster));
    const rc = withFailoverRoutes(view, cluster, outboundRouteConfiguration(view, targets, namespace, policyContextOf(scope)));
    const vhs = Array.isArray(rc.virtual_hosts) ? (rc.virtual_hosts as Obj[]) : [];
    return {
      ...rc,
      name: PROXYLESS_ROUTE_NAME,
      virtual_hosts: vhs.map((vh) => ({
        ...withClientOverrides(vh),
        routes: (Array.isArray(vh.routes) ? (vh.routes as Obj[]) : []).map((r) => {
          const route = withClientOverrides(r);
          const action = route.route;
          if (!isObj(action) || !isObj(action.weighted_clusters)) return route;
          const wc = action.weighted_clusters;
          const clusters = (Array.isArray(wc.clusters) ? (wc.clusters as Obj[]) : []).map((x) => withClientOverrides(x));
          return { ...route, route: { ...action, weighted_clusters: { ...wc, clusters } } };
        }),
      })),
    };
  });
}

/** The HTTP filters sidecars run on outbound HTTP that gRPC clients run too (fault injection). */
function clientHttpFilters(view: MeshView): readonly Resource[] {
  return view.memo('proxyless-client-filters', () => outboundHttpFilters(view).filter((f) => isObj(f.typed_config) && CLIENT_FILTER_TYPES.has(String(f.typed_config['@type']))));
}

function clientListeners(view: MeshView, scope: ProxylessListenerScope): readonly Resource[] {
  const routesSuffix = scope.policy ? policyKeySuffix(scope.policy, 'routes') : '';
  return view.memo(`proxyless-client-listeners|${scope.cluster}|${scope.namespace}${routesSuffix}`, () => {
    const filters = clientHttpFilters(view);
    return routeDomains(clientRouteConfiguration(view, scope.cluster, scope.namespace, scope.policy)).map((d) => clientApiListener(d, PROXYLESS_ROUTE_NAME, filters));
  });
}

function isProxylessListenerScope(s: ListenerScope): s is ProxylessListenerScope {
  return typeof (s as Partial<ProxylessListenerScope>).namespace === 'string' && typeof (s as Partial<ProxylessListenerScope>).address === 'string';
}

function build(view: MeshView, scope: Scope): Map<string, Resource> {
  switch (scope.kind) {
    case 'clusters':
      return byName('clusters', proxylessClusters(view, scope));
    case 'endpoints': {
      // gRPC's xDS client has no transport socket matches: it would speak mTLS to an endpoint
      // outside the mesh, so it is not given any (as rebuildAssignments does for this role).
      const built = sidecarTranslator.build(view, asSidecar(scope));
      return new Map([...built].map(([name, cla]) => [name, view.memoOn(cla, 'mesh-only', () => meshOnlyAssignment(cla as unknown as ClusterLoadAssignment)) as unknown as Resource]));
    }
    case 'routes':
      return byName('routes', [clientRouteConfiguration(view, scope.cluster, scope.namespace, scope.policy)]);
    case 'listeners': {
      if (!isProxylessListenerScope(scope)) throw new Error(`proxyless listener scope ${scope.key} has no namespace/address`);
      const servers = [...portsByTarget(scope.inbound)].map(([port, ports]) => serverListener(view, scope.cluster, scope.address, port, ports));
      return byName('listeners', [...clientListeners(view, scope), ...servers]);
    }
  }
}

/** The workload's service ports gRPC can serve (HTTP family; TCP ports are not gRPC). */
function servedPorts(view: MeshView, proxy: ProxyContext): InboundPort[] {
  return inboundPorts(view, proxy).filter((p) => isHttp(p.protocol));
}

function scopes(view: MeshView, proxy: ProxyContext): ProxyScopes {
  const cluster = proxy.cluster.name;
  const namespace = proxy.workload.namespace;
  const inbound = servedPorts(view, proxy);
  const address = inbound.length > 0 ? proxy.workload.address : '';
  // The same policy facts as a sidecar of this workload: TrafficPolicies it is a source of, dependencies under enforced access policy.
  const policy = sidecarPolicyScope(view, proxy);
  const clusters: ClusterScope = { kind: 'clusters', role: 'proxyless', cluster, inbound: [], policy, key: scopeKey('clusters', 'proxyless', cluster, '') + policyKeySuffix(policy, 'clusters') };
  const listeners: ProxylessListenerScope = {
    kind: 'listeners',
    role: 'proxyless',
    cluster,
    inbound,
    namespace,
    address,
    policy,
    // Client listeners follow the route domains, so the routes' policy facts key them too.
    key: scopeKey('listeners', 'proxyless', cluster, { namespace, address, inbound }) + policyKeySuffix(policy, 'routes'),
  };
  const routes: RouteScope = { kind: 'routes', role: 'proxyless', cluster, namespace, policy, key: scopeKey('routes', 'proxyless', cluster, namespace) + policyKeySuffix(policy, 'routes') };
  const placement = endpointScope(proxy);
  const endpoints: EndpointScope = { ...placement, policy, key: placement.key + policyKeySuffix(policy, 'endpoints') };
  return { clusters, endpoints, listeners, routes };
}

/** The proxyless gRPC role. */
export const proxylessTranslator: RoleTranslator = {
  role: 'proxyless',
  scopes,
  build,
  targets: (view, scope) => sidecarTranslator.targets(view, asSidecar(scope)),
  rebuildClusters: (view, scope, targets: readonly OutboundTarget[]) => {
    const rebuilt = sidecarTranslator.rebuildClusters(view, asSidecar({ ...scope, inbound: [] }), targets);
    const out: Resource[] = [];
    for (const c of rebuilt.values()) {
      const p = proxylessCluster(c);
      if (p) out.push(p);
    }
    return byName('clusters', out);
  },
};
