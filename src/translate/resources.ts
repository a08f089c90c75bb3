/**
 * The four kinds of per-proxy Envoy resources translate produces, as plain keepCase objects keyed
 * by resource name, and the protobuf message each kind is.
 */

/** CDS, EDS, LDS, RDS in the order references flow (a route names a cluster, a listener names a route). */
export type ResourceKind = 'clusters' | 'endpoints' | 'listeners' | 'routes';

/** Kinds in dependency order: what a later kind references is built (and guarded) first. */
export const RESOURCE_KINDS: readonly ResourceKind[] = ['clusters', 'endpoints', 'routes', 'listeners'];

/** A resource in the keepCase protobuf JSON shape (nested Any as `{'@type': ..., ...fields}`). */
export type Resource = Record<string, unknown>;

/** name → resource, sorted by name. */
export type ResourceMap = ReadonlyMap<string, Resource>;

/** Everything one proxy receives (secrets excepted: SDS is served per identity by the CA stage). */
export interface ProxyResources {
  readonly clusters: ResourceMap;
  readonly endpoints: ResourceMap;
  readonly listeners: ResourceMap;
  readonly routes: ResourceMap;
}

/** Fully-qualified protobuf message of each kind. */
export const MESSAGE_OF_KIND: Readonly<Record<ResourceKind, string>> = {
  clusters: 'envoy.config.cluster.v3.Cluster',
  endpoints: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  listeners: 'envoy.config.listener.v3.Listener',
  routes: 'envoy.config.route.v3.RouteConfiguration',
};

/** Short kind names used in metrics labels and status output (match the xDS stage's). */
export const SHORT_KIND: Readonly<Record<ResourceKind, string>> = { clusters: 'cds', endpoints: 'eds', listeners: 'lds', routes: 'rds' };

/** The name a resource carries inside itself (`cluster_name` for assignments). */
export function resourceName(kind: ResourceKind, r: Resource): unknown {
  return kind === 'endpoints' ? r.cluster_name : r.name;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A Map of resources keyed by their own names, sorted by name (deterministic iteration and output). */
export function byName(kind: ResourceKind, resources: Iterable<Resource>): Map<string, Resource> {
  const list = [...resources].map((r) => [String(resourceName(kind, r)), r] as [string, Resource]);
  // Translators mostly hand resources over in name order already (target lists are sorted).
  let sorted = true;
  for (let i = 1; i < list.length && sorted; i++) sorted = compareText(list[i - 1]![0], list[i]![0]) < 0;
  if (!sorted) list.sort(([a], [b]) => compareText(a, b));
  return new Map(list);
}

/** Sorts a map's entries by key into a new Map. */
export function sortedMap<V>(m: ReadonlyMap<string, V>): Map<string, V> {
  return new Map([...m.entries()].sort(([a], [b]) => compareText(a, b)));
}

/** An empty set of resources. */
export function emptyResources(): ProxyResources {
  return { clusters: new Map(), endpoints: new Map(), listeners: new Map(), routes: new Map() };
}
