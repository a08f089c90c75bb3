/**
 * Scopes: for each kind of resource, exactly the facts about a proxy that its resources depend on,
 * plus a key naming them. Proxies with equal keys receive identical resources, so the publisher
 * computes and encodes them once per key (one cache group per key). Translators read only the
 * scope and the mesh, never the proxy, which keeps that promise checkable.
 */
import { createHash } from 'node:crypto';
import type { ProxyRole } from './bootstrap.js';
import type { ProxyPlacement } from './endpoints.js';
import type { InboundPort } from './listeners.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import type { PolicyScope } from './policy-scope.js';
import type { ProxyContext } from './proxy.js';
import type { Resource, ResourceKind } from './resources.js';

interface ScopeBase {
  /** `<kind>|<role>|<cluster>|...`: equal keys ⇒ identical resources for the same snapshot. */
  readonly key: string;
  readonly role: ProxyRole;
  /** The proxy's cluster. */
  readonly cluster: string;
  /** Sidecars: the TrafficPolicies it is a source of and, when access policy is enforced, its dependencies (policy-scope.ts). */
  readonly policy?: PolicyScope;
  /** Ingress gateways: the key of the Gateway object whose listeners and routes these are. */
  readonly gateway?: string;
}

/** EDS depends on where the proxy sits (assignments are prioritised for that placement). */
export interface EndpointScope extends ScopeBase {
  readonly kind: 'endpoints';
  readonly placement: ProxyPlacement;
}

/** CDS: outbound clusters depend on the proxy's cluster; inbound ones on the app's ports. */
export interface ClusterScope extends ScopeBase {
  readonly kind: 'clusters';
  /** Sidecars only: the app's ports, sorted, and whether each speaks HTTP/2. */
  readonly inbound: readonly { readonly targetPort: number; readonly http2: boolean }[];
}

/** LDS: outbound listeners depend on the cluster; the inbound one on the services the workload serves. */
export interface ListenerScope extends ScopeBase {
  readonly kind: 'listeners';
  /** Sidecars: the workload's service ports. */
  readonly inbound: readonly InboundPort[];
  /** Gateways: the port they listen on. */
  readonly port?: number;
}

/** RDS: the outbound routes depend on the cluster and the namespace (short host names). */
export interface RouteScope extends ScopeBase {
  readonly kind: 'routes';
  readonly namespace: string;
}

export type Scope = EndpointScope | ClusterScope | ListenerScope | RouteScope;

/** The scope of each kind for one proxy. */
export interface ProxyScopes {
  readonly clusters: ClusterScope;
  readonly endpoints: EndpointScope;
  readonly listeners: ListenerScope;
  readonly routes: RouteScope;
}

/** Short content hash for keys whose facts are too long to spell out. */
export function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** Builds a scope key; `detail` is spelled out when short, hashed when long. */
export function scopeKey(kind: ResourceKind, role: ProxyRole, cluster: string, detail: unknown): string {
  const text = typeof detail === 'string' ? detail : JSON.stringify(detail);
  return `${kind}|${role}|${cluster}|${text.length <= 48 ? text : digest(text)}`;
}

/** The placement scope shared by every role. */
export function endpointScope(proxy: ProxyContext): EndpointScope {
  const l = proxy.locality;
  const placement: ProxyPlacement = { cluster: proxy.cluster.name, network: proxy.network, locality: l };
  return {
    kind: 'endpoints',
    role: proxy.role,
    cluster: proxy.cluster.name,
    placement,
    key: scopeKey('endpoints', proxy.role, proxy.cluster.name, `${proxy.network}|${l.region}|${l.zone}|${l.subzone}`),
  };
}

/** How one role turns a proxy into scopes and scopes into resources. */
export interface RoleTranslator {
  readonly role: ProxyRole;
  /** The scope of each kind of resource for `proxy`. */
  scopes(view: MeshView, proxy: ProxyContext): ProxyScopes;
  /** Every resource of the scope's kind, by name (sorted). */
  build(view: MeshView, scope: Scope): Map<string, Resource>;
  /** The upstream targets behind the scope's EDS/CDS resources (for incremental rebuilds). */
  targets(view: MeshView, scope: EndpointScope | ClusterScope): readonly OutboundTarget[];
  /** Rebuilds the CDS resources of `targets` in a cluster scope (upstream identities changed). */
  rebuildClusters(view: MeshView, scope: ClusterScope, targets: readonly OutboundTarget[]): Map<string, Resource>;
}
