/**
 * The xDS resource types crossmesh serves: their `type.googleapis.com/...` URLs, message names,
 * and the order in which ADS pushes them (secrets first, then CDS, EDS, LDS, RDS).
 */

/** Type URL of `envoy.config.cluster.v3.Cluster` (CDS). */
export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
/** Type URL of `envoy.config.endpoint.v3.ClusterLoadAssignment` (EDS). */
export const ENDPOINT_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
/** Type URL of `envoy.config.listener.v3.Listener` (LDS). */
export const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
/** Type URL of `envoy.config.route.v3.RouteConfiguration` (RDS). */
export const ROUTE_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
/** Type URL of `envoy.extensions.transport_sockets.tls.v3.Secret` (SDS). */
export const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

export type TypeUrl = typeof CLUSTER_TYPE | typeof ENDPOINT_TYPE | typeof LISTENER_TYPE | typeof ROUTE_TYPE | typeof SECRET_TYPE;

/** Push order under ADS: a resource is sent before anything that references it. */
export const ADS_ORDER: readonly TypeUrl[] = [SECRET_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE];

/** Short names used in logs, metrics labels and the admin API. */
export const TYPE_SHORT_NAME: Readonly<Record<TypeUrl, string>> = {
  [CLUSTER_TYPE]: 'cds',
  [ENDPOINT_TYPE]: 'eds',
  [LISTENER_TYPE]: 'lds',
  [ROUTE_TYPE]: 'rds',
  [SECRET_TYPE]: 'sds',
};

/** Whether a type is "state of the world complete": a SotW response carries the full set and absence deletes (LDS, CDS). */
export function isFullStateType(typeUrl: TypeUrl): boolean {
  return typeUrl === CLUSTER_TYPE || typeUrl === LISTENER_TYPE;
}

/**
 * The served type equal to `typeUrl` as the module's own constant, or undefined. Streams key their
 * per-type state by it: a constant compares by identity, a string just read off the wire by content.
 */
export function knownType(typeUrl: string): TypeUrl | undefined {
  for (const t of ADS_ORDER) if (t === typeUrl) return t;
  return undefined;
}

/** The protobuf message name behind a type URL, e.g. `envoy.config.cluster.v3.Cluster`. */
export function messageNameOf(typeUrl: TypeUrl): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** What a proxy says about itself in the first request of a stream (`envoy.config.core.v3.Node`). */
export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  /** `node.metadata` as plain JSON (google.protobuf.Struct decoded). */
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly locality: { readonly region: string; readonly zone: string; readonly sub_zone: string };
  readonly userAgentName: string;
  readonly userAgentVersion: string;
}

/** The role a node declares in `node.metadata.role` (DESIGN: sidecar is the default). */
export function nodeRole(node: NodeInfo): string {
  const role = node.metadata.role;
  return typeof role === 'string' && role !== '' ? role : 'sidecar';
}
