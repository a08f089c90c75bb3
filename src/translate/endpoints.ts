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

interface Group {
  rank: number;
  locality: Locality;
  lbEndpoints: LbEndpoint[];
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
 * A factory sharing one deeply frozen LbEndpoint per distinct (address, port, health, weight): the
 * assignments of one target for every placement hold the same endpoint objects, and frozen
 * objects are validated and encoded once however many assignments contain them.
 */
export function sharedLbEndpoints(): LbEndpointFactory {
  const memo = new Map<string, LbEndpoint>();
  return (address, port, health, weight) => {
    const key = `${address}|${port}|${health}|${weight}`;
    let e = memo.get(key);
    if (!e) memo.set(key, (e = deepFreeze(lbEndpoint(address, port, health, weight))));
    return e;
  };
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) deepFreeze(v);
  return Object.freeze(o);
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
  const groups = new Map<string, Group>();
  const groupFor = (rank: number, locality: Locality): Group => {
    const key = `${rank}\u0000${localityKey(locality)}`;
    let g = groups.get(key);
    if (!g) {
      g = { rank, locality, lbEndpoints: [] };
      groups.set(key, g);
    }
    return g;
  };

  // Remote-network endpoints are folded per (rank, locality, cluster) into gateway endpoints
  // whose weight is the number of serving endpoints behind them.
  const remote = new Map<string, { rank: number; locality: Locality; cluster: string; serving: number }>();

  for (const ep of endpoints) {
    const rank = closenessRank(proxy, ep);
    if (ep.network === proxy.network) {
      groupFor(rank, ep.locality).lbEndpoints.push(makeLbEndpoint(ep.address, ep.port, ep.health, 1));
      continue;
    }
    const key = `${rank}\u0000${localityKey(ep.locality)}\u0000${ep.cluster}`;
    let r = remote.get(key);
    if (!r) {
      r = { rank, locality: ep.locality, cluster: ep.cluster, serving: 0 };
      remote.set(key, r);
    }
    if (isServing(ep.health)) r.serving += 1;
  }

  for (const r of remote.values()) {
    const gws = gateways.get(r.cluster);
    if (!gws || gws.length === 0) continue;
    // A gateway fronting only unhealthy or draining endpoints must not attract traffic.
    const health: Health = r.serving > 0 ? 'HEALTHY' : 'UNHEALTHY';
    for (const gw of gws) {
      groupFor(r.rank, r.locality).lbEndpoints.push(makeLbEndpoint(gw.address, gw.port, health, r.serving));
    }
  }

  const ordered = [...groups.values()].sort(
    (a, b) => a.rank - b.rank || compareText(localityKey(a.locality), localityKey(b.locality)),
  );
  // Envoy and gRPC reject gaps in priorities, so distinct ranks map onto 0, 1, 2, ...
  const priorityOfRank = new Map<number, number>();
  for (const g of ordered) if (!priorityOfRank.has(g.rank)) priorityOfRank.set(g.rank, priorityOfRank.size);

  return {
    cluster_name: clusterName,
    endpoints: ordered.map((g) => {
      g.lbEndpoints.sort((a, b) => {
        const x = a.endpoint.address.socket_address;
        const y = b.endpoint.address.socket_address;
        return compareText(x.address, y.address) || x.port_value - y.port_value;
      });
      const weight = g.lbEndpoints.reduce(
        (sum, e) => sum + (isServing(e.health_status) ? e.load_balancing_weight.value : 0),
        0,
      );
      return {
        locality: { region: g.locality.region, zone: g.locality.zone, sub_zone: g.locality.subzone },
        lb_endpoints: g.lbEndpoints,
        load_balancing_weight: { value: Math.max(1, weight) },
        priority: priorityOfRank.get(g.rank)!,
      };
    }),
  };
}
