/**
 * Builds ClusterLoadAssignments for one proxy: endpoints grouped by locality, each locality given a
 * priority by how close it is to the proxy, and endpoints in other networks replaced by that
 * network's east-west gateway. Pure: the same inputs always give the same object.
 */
import type { Health, Locality } from '../model/types.js';

/** Where the proxy that will receive the assignment runs. */
export interface ProxyPlacement {
  readonly cluster: string;
  readonly network: string;
  readonly locality: Locality;
}

/** One backend of a service, as the translator needs it. */
export interface EndpointInput {
  readonly address: string;
  readonly port: number;
  readonly health: Health;
  readonly locality: Locality;
  readonly cluster: string;
  readonly network: string;
}

/** An east-west gateway through which another network's endpoints of its own cluster are reached. */
export interface NetworkGateway {
  readonly address: string;
  readonly port: number;
}

/** The keepCase JSON shape of `envoy.config.endpoint.v3.ClusterLoadAssignment` that this module emits. */
export interface ClusterLoadAssignment {
  cluster_name: string;
  endpoints: LocalityLbEndpoints[];
}

export interface LocalityLbEndpoints {
  locality: { region: string; zone: string; sub_zone: string };
  lb_endpoints: LbEndpoint[];
  load_balancing_weight: { value: number };
  priority: number;
}

export interface LbEndpoint {
  endpoint: { address: { socket_address: { address: string; port_value: number } } };
  health_status: Health;
  load_balancing_weight: { value: number };
}

/**
 * Closeness rank of an endpoint's location to the proxy; lower is closer.
 * Tiers: same zone, same region, elsewhere; within a tier the proxy's own cluster comes first.
 */
export function closenessRank(proxy: ProxyPlacement, where: { locality: Locality; cluster: string }): number {
  const sameRegion = where.locality.region === proxy.locality.region;
  const sameZone = sameRegion && where.locality.zone === proxy.locality.zone;
  const tier = sameZone ? 0 : sameRegion ? 1 : 2;
  return tier * 2 + (where.cluster === proxy.cluster ? 0 : 1);
}

function localityKey(l: Locality): string {
  return `${l.region}\u0000${l.zone}\u0000${l.subzone}`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Counts as serving for weighting purposes: Envoy sends traffic to HEALTHY and UNKNOWN hosts. */
function isServing(h: Health): boolean {
  return h === 'HEALTHY' || h === 'UNKNOWN';
}

function lbEndpoint(address: string, port: number, health: Health, weight: number): LbEndpoint {
  return {
    endpoint: { address: { socket_address: { address, port_value: port } } },
    health_status: health,
    load_balancing_weight: { value: Math.max(1, weight) },
  };
}

/** Makes (or returns a shared) LbEndpoint; the same inputs must give equal content. */
export type LbEndpointFactory = (address: string, port: number, health: Health, weight: number) => LbEndpoint;

/**
 * A factory sharing one frozen LbEndpoint per distinct (address, port, health, weight): the
 * assignments of one target for every placement hold the same endpoint objects, and frozen
 * objects are validated and encoded once however many assignments contain them.
 */
export function sharedLbEndpoints(): LbEndpointFactory {
  const memo = new Map<string, LbEndpoint>();
  return (address, port, health, weight) => {
    const key = `${address}|${port}|${health}|${weight}`;
    let e = memo.get(key);
    if (!e) {
      // Frozen marks the shared unit the encoder and the guard cache; its parts are never
      // touched again (nothing else holds them), so they are not frozen one by one.
      e = lbEndpoint(address, port, health, weight);
      e.load_balancing_weight = weightMessage(e.load_balancing_weight.value);
      memo.set(key, Object.freeze(e));
    }
    return e;
  };
}

/** One endpoint of a place, with its position in the input (ties in address and port keep input order). */
interface Entry {
  readonly lb: LbEndpoint;
  readonly seq: number;
}

/** Endpoints that share a cluster, network and locality: they always rank alike and land in one group. */
interface Place {
  /** Order of first appearance in the input. */
  readonly order: number;
  readonly cluster: string;
  readonly network: string;
  readonly locality: Locality;
  readonly localityKey: string;
  /** The locality message of the place, frozen and shared by its groups when sharing. */
  readonly localityMessage: LocalityLbEndpoints['locality'];
  /** The place's endpoints as reached directly (same network), sorted by address, port, input order. */
  readonly direct: readonly Entry[];
  /** How many of them serve (weight of the gateway standing for them in another network). */
  readonly serving: number;
}

/**
 * A target's endpoints grouped once by place, to build its assignment for many placements: each
 * placement only ranks the places, and locality groups already built for the same places,
 * priority and network side are reused (frozen, so they are validated and encoded once).
 */
export interface PreparedEndpoints {
  readonly places: readonly Place[];
  readonly inputs: number;
  readonly makeLbEndpoint: LbEndpointFactory;
  /** Locality groups by `<priority>|<place order><g if through a gateway>,...`; absent = do not share. */
  readonly groups?: Map<string, LocalityLbEndpoints>;
}

const WEIGHTS: { value: number }[] = [];

/** A frozen `{value: n}`, one per small weight (endpoint counts), so each is checked and encoded once. */
function weightMessage(n: number): { value: number } {
  if (n >= 4096) return Object.freeze({ value: n });
  return (WEIGHTS[n] ??= Object.freeze({ value: n }));
}

function compareEntries(a: Entry, b: Entry): number {
  const x = a.lb.endpoint.address.socket_address;
  const y = b.lb.endpoint.address.socket_address;
  return compareText(x.address, y.address) || x.port_value - y.port_value || a.seq - b.seq;
}

/** Groups `endpoints` by place; `share` makes the locality groups built from it shared and frozen. */
export function prepareEndpoints(endpoints: readonly EndpointInput[], makeLbEndpoint: LbEndpointFactory = lbEndpoint, share = false): PreparedEndpoints {
  const byKey = new Map<string, { order: number; ep: EndpointInput; localityKey: string; direct: Entry[]; serving: number }>();
  endpoints.forEach((ep, seq) => {
    const lk = localityKey(ep.locality);
    const key = `${ep.cluster}\u0000${ep.network}\u0000${lk}`;
    let p = byKey.get(key);
    if (!p) byKey.set(key, (p = { order: byKey.size, ep, localityKey: lk, direct: [], serving: 0 }));
    p.direct.push({ lb: makeLbEndpoint(ep.address, ep.port, ep.health, 1), seq });
    if (isServing(ep.health)) p.serving += 1;
  });
  const places: Place[] = [...byKey.values()].map((p) => {
    const l = p.ep.locality;
    const localityMessage = { region: l.region, zone: l.zone, sub_zone: l.subzone };
    return {
      order: p.order,
      cluster: p.ep.cluster,
      network: p.ep.network,
      locality: p.ep.locality,
      localityKey: p.localityKey,
      localityMessage: share ? Object.freeze(localityMessage) : localityMessage,
      direct: p.direct.sort(compareEntries),
      serving: p.serving,
    };
  });
  return { places, inputs: endpoints.length, makeLbEndpoint, ...(share ? { groups: new Map() } : {}) };
}

interface Group {
  readonly rank: number;
  readonly localityKey: string;
  readonly locality: LocalityLbEndpoints['locality'];
  readonly places: { readonly place: Place; readonly remote: boolean }[];
}

/** The endpoints of one locality group: direct ones, then one gateway endpoint per remote cluster, sorted. */
function groupEndpoints(prepared: PreparedEndpoints, g: Group, gateways: ReadonlyMap<string, readonly NetworkGateway[]>): LbEndpoint[] {
  const entries: Entry[] = [];
  // Remote-network endpoints are folded per cluster into gateway endpoints whose weight is the
  // number of serving endpoints behind them.
  const remote = new Map<string, number>();
  let directPlaces = 0;
  for (const { place, remote: viaGateway } of g.places) {
    if (!viaGateway) {
      directPlaces++;
      for (const e of place.direct) entries.push(e);
    } else remote.set(place.cluster, (remote.get(place.cluster) ?? 0) + place.serving);
  }
  if (directPlaces === 1 && remote.size === 0) return entries.map((e) => e.lb);
  let seq = prepared.inputs;
  for (const [cluster, serving] of remote) {
    // A gateway fronting only unhealthy or draining endpoints must not attract traffic.
    const health: Health = serving > 0 ? 'HEALTHY' : 'UNHEALTHY';
    for (const gw of gateways.get(cluster)!) entries.push({ lb: prepared.makeLbEndpoint(gw.address, gw.port, health, serving), seq: seq++ });
  }
  return entries.sort(compareEntries).map((e) => e.lb);
}

function localityGroup(prepared: PreparedEndpoints, g: Group, priority: number, gateways: ReadonlyMap<string, readonly NetworkGateway[]>): LocalityLbEndpoints {
  let key: string | undefined;
  if (prepared.groups) {
    key = `${priority}|`;
    for (const { place, remote } of g.places) key += remote ? `${place.order}g,` : `${place.order},`;
    const hit = prepared.groups.get(key);
    if (hit) return hit;
  }
  const lbEndpoints = groupEndpoints(prepared, g, gateways);
  let weight = 0;
  for (const e of lbEndpoints) if (isServing(e.health_status)) weight += e.load_balancing_weight.value;
  const shared = key !== undefined;
  const l: LocalityLbEndpoints = {
    locality: shared ? g.locality : { ...g.locality },
    lb_endpoints: lbEndpoints,
    load_balancing_weight: shared ? weightMessage(Math.max(1, weight)) : { value: Math.max(1, weight) },
    priority,
  };
  if (key === undefined) return l;
  // Endpoints, locality and weight are frozen shared objects already.
  Object.freeze(l.lb_endpoints);
  Object.freeze(l);
  prepared.groups!.set(key, l);
  return l;
}

/**
 * The assignment named `clusterName` of prepared endpoints for `proxy` (see `buildClusterLoadAssignment`).
 * Pure: the same inputs always give equal content.
 */
export function assignmentFor(clusterName: string, prepared: PreparedEndpoints, proxy: ProxyPlacement, gateways: ReadonlyMap<string, readonly NetworkGateway[]>): ClusterLoadAssignment {
  const groups = new Map<string, Group>();
  for (const place of prepared.places) {
    const remote = place.network !== proxy.network;
    // An endpoint in another network is reached through its own cluster's gateway; without one it is unreachable.
    if (remote && !gateways.get(place.cluster)?.length) continue;
    const rank = closenessRank(proxy, place);
    const key = `${rank}\u0000${place.localityKey}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { rank, localityKey: place.localityKey, locality: place.localityMessage, places: [] }));
    g.places.push({ place, remote });
  }
  const ordered = [...groups.values()].sort((a, b) => a.rank - b.rank || compareText(a.localityKey, b.localityKey));
  // Envoy and gRPC reject gaps in priorities, so distinct ranks map onto 0, 1, 2, ...
  const endpoints: LocalityLbEndpoints[] = [];
  let priority = -1;
  let lastRank = -1;
  for (const g of ordered) {
    if (g.rank !== lastRank) {
      priority++;
      lastRank = g.rank;
    }
    endpoints.push(localityGroup(prepared, g, priority, gateways));
  }
  return { cluster_name: clusterName, endpoints };
}

/**
 * Builds the assignment named `clusterName` for `proxy`.
 * `gateways` maps a cluster name to its east-west gateway addresses. A gateway forwards only to its
 * own cluster's endpoints, so an endpoint in another network is reached through the gateway of the
 * endpoint's cluster; one whose cluster has no gateway is unreachable and left out.
 * An empty endpoint list yields an assignment with no endpoints (never a missing one).
 */
export function buildClusterLoadAssignment(
  clusterName: string,
  endpoints: readonly EndpointInput[],
  proxy: ProxyPlacement,
  gateways: ReadonlyMap<string, readonly NetworkGateway[]>,
  makeLbEndpoint: LbEndpointFactory = lbEndpoint,
): ClusterLoadAssignment {
  return assignmentFor(clusterName, prepareEndpoints(endpoints, makeLbEndpoint), proxy, gateways);
}
