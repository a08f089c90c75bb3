/**
 * Builds ClusterLoadAssignments for one proxy: endpoints grouped by locality, each locality given a
 * priority by how close it is to the proxy, and endpoints in other networks replaced by that
 * network's east-west gateway. Pure: the same inputs always give the same object.
 */
import type { Health, Locality } from '../model/types.js';
import { sharedPart } from './shared-part.js';

/** Where the proxy that will receive the assignment runs. */
export interface ProxyPlacement {
  readonly cluster: string;
  readonly network: string;
  readonly locality: Locality;
}

/** One backend of a service, as the translator needs it. */
export interface EndpointInput {
  readonly address: string;
  /** The workload's other addresses (dual-stack), sent as Envoy's `additional_addresses` on the same port. */
  readonly additionalAddresses?: readonly string[];
  readonly port: number;
  readonly health: Health;
  readonly locality: Locality;
  readonly cluster: string;
  readonly network: string;
  /** `false`: outside the mesh (no sidecar), reached in plaintext (PLAINTEXT_MATCH) and only from its own network. */
  readonly mesh?: false;
}

/**
 * Endpoint metadata a cluster's `transport_socket_matches` reads: the entry matching it reaches the
 * endpoint in plaintext (translate/clusters.ts), every other endpoint gets the cluster's mesh mTLS.
 * Only endpoints outside the mesh carry it, so mesh endpoints and their clusters stay as they are.
 */
export const TRANSPORT_SOCKET_MATCH_KEY = 'envoy.transport_socket_match';
/** `{ tlsMode: "disabled" }` as a google.protobuf.Struct message: the encoder takes messages, not proto3 JSON, and protobufjs names the well-known Value fields in camelCase. */
export const PLAINTEXT_MATCH: StructMessage = Object.freeze({ fields: Object.freeze({ tlsMode: Object.freeze({ stringValue: 'disabled' }) }) });

/** A google.protobuf.Struct of string values, in message form. */
export interface StructMessage {
  readonly fields: Readonly<Record<string, { readonly stringValue: string }>>;
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
  policy: { overprovisioning_factor: { value: number } };
}

/**
 * Overprovisioning of a service's own assignment (percent; Envoy's and Istio's default, stated so
 * the behaviour does not hang on a default): a priority keeps all the traffic while at least
 * 1/1.4 = 71.4 % of its hosts are healthy, below that it keeps healthy % x 1.4 and the rest spills
 * to the next priority (one of two local hosts down: 70 % stays, 30 % goes to the gateway). The
 * spill protects the hosts that are left from the load of the failed ones.
 */
export const LOCALITY_OVERPROVISIONING = 140;

/**
 * Overprovisioning of a one-cluster (`.global`) host's assignment, the children of FailoverService
 * aggregates: a priority keeps all the traffic while any of its hosts is healthy (0.1 % of 1,000),
 * so the aggregate's declared order is strict: the first backing service with a healthy host takes
 * everything, the next one takes over only when none is left, and comes back whole.
 */
export const STRICT_ORDER_OVERPROVISIONING = 100_000;

export interface LocalityLbEndpoints {
  locality: { region: string; zone: string; sub_zone: string };
  lb_endpoints: LbEndpoint[];
  load_balancing_weight: { value: number };
  priority: number;
}

/** A socket address as Envoy's `core.v3.Address`. */
interface SocketAddress {
  socket_address: { address: string; port_value: number };
}

export interface LbEndpoint {
  endpoint: { address: SocketAddress; additional_addresses?: { address: SocketAddress }[] };
  health_status: Health;
  load_balancing_weight: { value: number };
  /** Set only on endpoints outside the mesh: `{ filter_metadata: { [TRANSPORT_SOCKET_MATCH_KEY]: PLAINTEXT_MATCH } }`. */
  metadata?: { filter_metadata: Record<string, StructMessage> };
}

/** How close endpoints sit to the proxy: the reason behind their priority. */
export interface Closeness {
  /** The widest locality level they share with the proxy ('elsewhere': not even the region). */
  readonly level: 'zone' | 'region' | 'elsewhere';
  /** Whether they run in the proxy's own cluster (first within a level). */
  readonly sameCluster: boolean;
}

/** How close a location is to the proxy (what its priority is ranked by). */
export function closeness(proxy: ProxyPlacement, where: { readonly locality: Locality; readonly cluster: string }): Closeness {
  const sameRegion = where.locality.region === proxy.locality.region;
  const sameZone = sameRegion && where.locality.zone === proxy.locality.zone;
  return { level: sameZone ? 'zone' : sameRegion ? 'region' : 'elsewhere', sameCluster: where.cluster === proxy.cluster };
}

const LEVEL_TIER: Readonly<Record<Closeness['level'], number>> = { zone: 0, region: 1, elsewhere: 2 };

/**
 * Closeness rank of an endpoint's location to the proxy; lower is closer.
 * Tiers: same zone, same region, elsewhere; within a tier the proxy's own cluster comes first.
 */
function closenessRank(proxy: ProxyPlacement, where: { locality: Locality; cluster: string }): number {
  const c = closeness(proxy, where);
  return LEVEL_TIER[c.level] * 2 + (c.sameCluster ? 0 : 1);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Counts as serving for weighting purposes: Envoy sends traffic to HEALTHY and UNKNOWN hosts. */
function isServing(h: Health): boolean {
  return h === 'HEALTHY' || h === 'UNKNOWN';
}

function lbEndpoint(address: string, port: number, health: Health, weight: number, additional?: readonly string[], plaintext = false): LbEndpoint {
  return {
    endpoint: {
      address: { socket_address: { address, port_value: port } },
      // Dual-stack: Envoy tries these too (happy eyeballs), so a client of either IP family gets through.
      ...(additional?.length ? { additional_addresses: additional.map((a) => ({ address: { socket_address: { address: a, port_value: port } } })) } : {}),
    },
    health_status: health,
    load_balancing_weight: { value: Math.max(1, weight) },
    ...(plaintext ? { metadata: { filter_metadata: { [TRANSPORT_SOCKET_MATCH_KEY]: PLAINTEXT_MATCH } } } : {}),
  };
}

/** True when `e` carries exactly `additional` as its additional addresses. */
function sameAdditional(e: LbEndpoint, additional: readonly string[] | undefined): boolean {
  const have = e.endpoint.additional_addresses;
  if ((have?.length ?? 0) !== (additional?.length ?? 0)) return false;
  return (have ?? []).every((a, i) => a.address.socket_address.address === additional![i]);
}

/** Makes (or returns a shared) LbEndpoint; the same inputs must give equal content. */
type LbEndpointFactory = (address: string, port: number, health: Health, weight: number, additional?: readonly string[], plaintext?: boolean) => LbEndpoint;

/**
 * A factory sharing one frozen LbEndpoint per distinct (address, port, health, weight), numbered
 * in `ids` as it is made: the assignments of one target for every placement hold the same
 * endpoint objects, and frozen objects are validated and encoded once however many assignments
 * contain them.
 */
function sharedLbEndpoints(ids: Map<LbEndpoint, number>): LbEndpointFactory {
  // By address (a string the model already holds, so no key is built), then a short list.
  const memo = new Map<string, LbEndpoint[]>();
  return (address, port, health, weight, additional, plaintext = false) => {
    let list = memo.get(address);
    if (!list) memo.set(address, (list = []));
    for (const e of list) {
      if (
        e.endpoint.address.socket_address.port_value === port &&
        e.health_status === health &&
        e.load_balancing_weight.value === Math.max(1, weight) &&
        (e.metadata !== undefined) === plaintext &&
        sameAdditional(e, additional)
      ) {
        return e;
      }
    }
    // Frozen marks the shared unit the encoder and the guard cache; its parts are never
    // touched again (nothing else holds them), so they are not frozen one by one.
    const e = lbEndpoint(address, port, health, weight, additional, plaintext);
    e.load_balancing_weight = weightMessage(e.load_balancing_weight.value);
    list.push(sharedPart(e));
    ids.set(e, ids.size);
    return e;
  };
}

/** One endpoint of a place, with its position in the input (ties in address and port keep input order). */
interface Entry {
  readonly lb: LbEndpoint;
  readonly seq: number;
}

/** Where endpoints sit, as ranking reads it: endpoints that share a cluster, network and locality always rank alike. */
interface PlaceKey {
  readonly cluster: string;
  readonly network: string;
  readonly locality: Locality;
  readonly localityKey: string;
}

/** The endpoints of one target in one place. */
interface Place {
  /** The place's endpoints as reached directly (same network), sorted by address, port, input order. */
  readonly direct: readonly Entry[];
  /** How many of them serve (weight of the gateway standing for them in another network). */
  readonly serving: number;
  /**
   * When sharing: the locality groups of this place alone by priority, reached directly or
   * through its cluster's gateway, shared by every target with the same endpoints in the same
   * place (a service's mesh-wide and per-cluster hosts) or as many behind the same gateway.
   */
  readonly directGroups?: LocalityLbEndpoints[];
  readonly gatewayGroups?: LocalityLbEndpoints[];
}

/** One locality group of a layout: a priority and the places (by index, reached directly or through a gateway) it holds. */
interface LayoutGroup {
  /** Index of this group among every group of the shape's layouts (a target keeps its built groups by it). */
  readonly id: number;
  readonly priority: number;
  readonly places: readonly { readonly index: number; readonly remote: boolean }[];
}

/** How an assignment of a shape is laid out for one placement: its locality groups in order. */
interface Layout {
  /** Index among the shape's distinct layouts (a target keeps its built assignments by it). */
  readonly id: number;
  readonly groups: readonly LayoutGroup[];
}

/**
 * The ordered places of a target's endpoints. Targets whose endpoints sit in the same places, in
 * the same order, share one shape, so the ranking, grouping and ordering for a placement (the
 * layout) is computed once per shape and placement, not once per target.
 */
interface Shape {
  readonly places: readonly PlaceKey[];
  /** Layouts by placement (cluster, network, region, zone). */
  readonly byPlacement: Map<string, Layout>;
  /** Layouts by their groups: equal layouts are one object (and so one assignment per target). */
  readonly layouts: Map<string, Layout>;
  /** Layout group ids by priority and places. */
  readonly groupIds: Map<string, number>;
}

/**
 * What the assignments of every target prepared for one set of gateways (one mesh view) share:
 * shapes (and so layouts), one frozen locality message per locality, one LbEndpoint per distinct
 * endpoint, and the locality groups of single places.
 */
export interface EndpointSharing {
  readonly shapes: Map<string, Shape>;
  readonly localities: Map<string, LocalityLbEndpoints['locality']>;
  /** Locality groups of one place alone by priority, per place content (locality and endpoints, or locality, cluster and count behind its gateway). */
  readonly placeGroups: Map<string, LocalityLbEndpoints[]>;
  readonly makeLbEndpoint: LbEndpointFactory;
  /** A small number per shared LbEndpoint, to name a place's content briefly. */
  readonly endpointIds: Map<LbEndpoint, number>;
}

/** A sharing registry for one mesh view (its gateways never change). */
export function endpointSharing(): EndpointSharing {
  const endpointIds = new Map<LbEndpoint, number>();
  return { shapes: new Map(), localities: new Map(), placeGroups: new Map(), makeLbEndpoint: sharedLbEndpoints(endpointIds), endpointIds };
}

function placeGroups(sharing: EndpointSharing, key: string): LocalityLbEndpoints[] {
  let g = sharing.placeGroups.get(key);
  if (!g) sharing.placeGroups.set(key, (g = []));
  return g;
}

/**
 * A target's endpoints grouped once by place, to build its assignment for many placements: each
 * placement only picks a layout of the shape, and what was built for a layout (or one of its
 * locality groups) is reused when shared (frozen, so it is validated and encoded once).
 */
export interface PreparedEndpoints {
  readonly shape: Shape;
  readonly places: readonly Place[];
  /** One locality message per place (frozen and shared by every target when sharing). */
  readonly localities: readonly LocalityLbEndpoints['locality'][];
  readonly inputs: number;
  readonly makeLbEndpoint: LbEndpointFactory;
  /** Built locality groups by layout group id and assignments by layout id; absent = do not share. */
  readonly groups?: LocalityLbEndpoints[];
  readonly assignments?: ClusterLoadAssignment[];
}

const WEIGHTS: { value: number }[] = [];

/** A frozen `{value: n}`, one per small weight (endpoint counts), so each is checked and encoded once. */
function weightMessage(n: number): { value: number } {
  if (n >= 4096) return sharedPart({ value: n });
  return (WEIGHTS[n] ??= sharedPart({ value: n }));
}

function compareEntries(a: Entry, b: Entry): number {
  const x = a.lb.endpoint.address.socket_address;
  const y = b.lb.endpoint.address.socket_address;
  return compareText(x.address, y.address) || x.port_value - y.port_value || a.seq - b.seq;
}

/** Sorts in place; a place holds a handful of endpoints, which an insertion sort orders without the work array `Array#sort` allocates. */
function sortEntries(a: Entry[]): Entry[] {
  if (a.length > 16) return a.sort(compareEntries);
  for (let i = 1; i < a.length; i++) {
    const x = a[i]!;
    let j = i - 1;
    while (j >= 0 && compareEntries(a[j]!, x) > 0) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = x;
  }
  return a;
}

/** Groups `endpoints` by place; with `sharing`, shapes, locality messages and built groups are shared and frozen. */
export function prepareEndpoints(endpoints: readonly EndpointInput[], sharing?: EndpointSharing): PreparedEndpoints {
  const make = sharing?.makeLbEndpoint ?? lbEndpoint;
  // A target's endpoints sit in a handful of places: a scan over those found so far compares the
  // fields themselves and builds no key per endpoint (a map takes over past a few dozen places).
  const found: { key: PlaceKey; direct: Entry[]; serving: number }[] = [];
  let byKey: Map<string, (typeof found)[number]> | undefined;
  for (let seq = 0; seq < endpoints.length; seq++) {
    const ep = endpoints[seq]!;
    const l = ep.locality;
    let p: (typeof found)[number] | undefined;
    if (byKey) p = byKey.get(`${ep.cluster}\u0000${ep.network}\u0000${l.region}\u0000${l.zone}\u0000${l.subzone}`);
    else {
      for (let i = 0; i < found.length; i++) {
        const k = found[i]!.key;
        if (k.cluster === ep.cluster && k.network === ep.network && k.locality.region === l.region && k.locality.zone === l.zone && k.locality.subzone === l.subzone) {
          p = found[i];
          break;
        }
      }
    }
    if (!p) {
      const localityKey = `${l.region}\u0000${l.zone}\u0000${l.subzone}`;
      found.push((p = { key: { cluster: ep.cluster, network: ep.network, locality: l, localityKey }, direct: [], serving: 0 }));
      if (byKey) byKey.set(`${ep.cluster}\u0000${ep.network}\u0000${localityKey}`, p);
      else if (found.length > 32) byKey = new Map(found.map((f) => [`${f.key.cluster}\u0000${f.key.network}\u0000${f.key.localityKey}`, f]));
    }
    p.direct.push({ lb: make(ep.address, ep.port, ep.health, 1, ep.additionalAddresses, ep.mesh === false), seq });
    // A gateway stands only for mesh endpoints: it routes by the SNI of mesh mTLS, which a
    // plaintext connection to an endpoint outside the mesh does not have.
    if (isServing(ep.health) && ep.mesh !== false) p.serving += 1;
  }
  let signature = '';
  for (const p of found) signature += `${p.key.cluster}\u0000${p.key.network}\u0000${p.key.localityKey}\u0001`;
  let shape = sharing?.shapes.get(signature);
  if (!shape) {
    shape = { places: found.map((p) => p.key), byPlacement: new Map(), layouts: new Map(), groupIds: new Map() };
    sharing?.shapes.set(signature, shape);
  }
  const places: Place[] = [];
  const localities: LocalityLbEndpoints['locality'][] = [];
  for (const p of found) {
    const direct = sortEntries(p.direct);
    if (sharing) {
      let directKey = `d${p.key.localityKey}\u0001`;
      for (const e of direct) directKey += `${sharing.endpointIds.get(e.lb)!},`;
      const gatewayKey = `g${p.key.localityKey}\u0001${p.key.cluster}\u0001${p.serving}`;
      places.push({ direct, serving: p.serving, directGroups: placeGroups(sharing, directKey), gatewayGroups: placeGroups(sharing, gatewayKey) });
    } else places.push({ direct, serving: p.serving });
    localities.push(localityMessage(p.key, sharing));
  }
  if (!sharing) return { shape, places, localities, inputs: endpoints.length, makeLbEndpoint: make };
  return { shape, places, localities, inputs: endpoints.length, makeLbEndpoint: make, groups: [], assignments: [] };
}

function localityMessage(key: PlaceKey, sharing: EndpointSharing | undefined): LocalityLbEndpoints['locality'] {
  const l = key.locality;
  if (!sharing) return { region: l.region, zone: l.zone, sub_zone: l.subzone };
  let m = sharing.localities.get(key.localityKey);
  if (!m) sharing.localities.set(key.localityKey, (m = sharedPart({ region: l.region, zone: l.zone, sub_zone: l.subzone })));
  return m;
}

/**
 * The layout of a shape for a placement: places ranked by closeness (unreachable ones left out),
 * places of one locality at one rank merged, groups ordered by rank then locality, and ranks
 * mapped onto contiguous priorities from 0 (Envoy and gRPC reject gaps).
 */
function layoutOf(shape: Shape, proxy: ProxyPlacement, gateways: ReadonlyMap<string, readonly NetworkGateway[]>, memo: boolean): Layout {
  const placementKey = memo ? `${proxy.cluster}\u0000${proxy.network}\u0000${proxy.locality.region}\u0000${proxy.locality.zone}` : '';
  if (memo) {
    const hit = shape.byPlacement.get(placementKey);
    if (hit) return hit;
  }
  const byLocality = new Map<string, { rank: number; localityKey: string; places: { index: number; remote: boolean }[] }>();
  shape.places.forEach((place, index) => {
    const remote = place.network !== proxy.network;
    // An endpoint in another network is reached through its own cluster's gateway; without one it is unreachable.
    if (remote && !gateways.get(place.cluster)?.length) return;
    const rank = closenessRank(proxy, place);
    const key = `${rank}\u0000${place.localityKey}`;
    let g = byLocality.get(key);
    if (!g) byLocality.set(key, (g = { rank, localityKey: place.localityKey, places: [] }));
    g.places.push({ index, remote });
  });
  const ordered = [...byLocality.values()].sort((a, b) => a.rank - b.rank || compareText(a.localityKey, b.localityKey));
  const groups: LayoutGroup[] = [];
  let layoutKey = '';
  let priority = -1;
  let lastRank = -1;
  for (const g of ordered) {
    if (g.rank !== lastRank) {
      priority++;
      lastRank = g.rank;
    }
    let groupKey = `${priority}|`;
    for (const { index, remote } of g.places) groupKey += remote ? `${index}g,` : `${index},`;
    let id = shape.groupIds.get(groupKey);
    if (id === undefined) shape.groupIds.set(groupKey, (id = shape.groupIds.size));
    groups.push({ id, priority, places: g.places });
    layoutKey += `${id};`;
  }
  let layout = shape.layouts.get(layoutKey);
  if (!layout) {
    layout = { id: shape.layouts.size, groups };
    if (memo) shape.layouts.set(layoutKey, layout);
  }
  if (memo) shape.byPlacement.set(placementKey, layout);
  return layout;
}

/** One place of a locality group as `explainLayout` reports it: where its endpoints are and how the proxy reaches them. */
export interface LayoutPlace {
  readonly cluster: string;
  readonly network: string;
  readonly locality: Locality;
  /** In another network than the proxy: reached through the east-west gateway of `cluster`. */
  readonly viaGateway: boolean;
  readonly closeness: Closeness;
  /** Endpoints there, and how many of them serve (HEALTHY or UNKNOWN; a gateway's weight). */
  readonly endpoints: number;
  readonly serving: number;
}

/** The layout an assignment is built from, with its reasons: locality groups in the assignment's order, and places left out. */
export interface LayoutExplanation {
  /** One entry per `LocalityLbEndpoints` of the assignment, in the same order. */
  readonly groups: readonly { readonly priority: number; readonly places: readonly LayoutPlace[] }[];
  /** Places in another network whose cluster has no east-west gateway: not in the assignment at all. */
  readonly unreachable: readonly LayoutPlace[];
}

/**
 * Why `assignmentFor(prepared, proxy, gateways)` has the priorities it has: the same layout it is
 * built from (places ranked by `closeness`, merged per locality, priorities contiguous), per place.
 */
export function explainLayout(prepared: PreparedEndpoints, proxy: ProxyPlacement, gateways: ReadonlyMap<string, readonly NetworkGateway[]>): LayoutExplanation {
  const place = (index: number, viaGateway: boolean): LayoutPlace => {
    const key = prepared.shape.places[index]!;
    const p = prepared.places[index]!;
    return { cluster: key.cluster, network: key.network, locality: key.locality, viaGateway, closeness: closeness(proxy, key), endpoints: p.direct.length, serving: p.serving };
  };
  const layout = layoutOf(prepared.shape, proxy, gateways, prepared.assignments !== undefined);
  const used = new Set<number>();
  const groups = layout.groups.map((g) => ({
    priority: g.priority,
    places: g.places.map(({ index, remote }) => {
      used.add(index);
      return place(index, remote);
    }),
  }));
  const unreachable = prepared.shape.places.map((_, i) => i).filter((i) => !used.has(i)).map((i) => place(i, true));
  return { groups, unreachable };
}

/** The endpoints of one locality group: direct ones, then one gateway endpoint per remote cluster, sorted. */
function groupEndpoints(prepared: PreparedEndpoints, g: LayoutGroup, gateways: ReadonlyMap<string, readonly NetworkGateway[]>): LbEndpoint[] {
  // One place reached directly (the common case): its endpoints, already sorted.
  if (g.places.length === 1 && !g.places[0]!.remote) return prepared.places[g.places[0]!.index]!.direct.map((e) => e.lb);
  const entries: Entry[] = [];
  // Remote-network endpoints are folded per cluster into gateway endpoints whose weight is the
  // number of serving endpoints behind them.
  const remote = new Map<string, number>();
  for (const { index, remote: viaGateway } of g.places) {
    const place = prepared.places[index]!;
    if (!viaGateway) {
      for (const e of place.direct) entries.push(e);
    } else {
      const cluster = prepared.shape.places[index]!.cluster;
      remote.set(cluster, (remote.get(cluster) ?? 0) + place.serving);
    }
  }
  let seq = prepared.inputs;
  for (const [cluster, serving] of remote) {
    // A gateway fronting only unhealthy or draining endpoints must not attract traffic.
    const health: Health = serving > 0 ? 'HEALTHY' : 'UNHEALTHY';
    for (const gw of gateways.get(cluster)!) entries.push({ lb: prepared.makeLbEndpoint(gw.address, gw.port, health, serving), seq: seq++ });
  }
  return entries.sort(compareEntries).map((e) => e.lb);
}

function localityGroup(prepared: PreparedEndpoints, g: LayoutGroup, gateways: ReadonlyMap<string, readonly NetworkGateway[]>): LocalityLbEndpoints {
  const shared = prepared.groups;
  const hit = shared?.[g.id];
  if (hit) return hit;
  // A group of one place is the same content for every target with that place's endpoints (or as
  // many behind the same gateway): one object across targets.
  let byPriority: LocalityLbEndpoints[] | undefined;
  if (shared && g.places.length === 1) {
    const only = g.places[0]!;
    const place = prepared.places[only.index]!;
    byPriority = only.remote ? place.gatewayGroups! : place.directGroups!;
    const same = byPriority[g.priority];
    if (same) return (shared[g.id] = same);
  }
  const lbEndpoints = groupEndpoints(prepared, g, gateways);
  let weight = 0;
  for (const e of lbEndpoints) if (isServing(e.health_status)) weight += e.load_balancing_weight.value;
  const locality = prepared.localities[g.places[0]!.index]!;
  if (!shared) return { locality, lb_endpoints: lbEndpoints, load_balancing_weight: { value: Math.max(1, weight) }, priority: g.priority };
  // Endpoints, locality and weight are frozen shared objects already.
  const l = sharedPart({ locality, lb_endpoints: Object.freeze(lbEndpoints) as LbEndpoint[], load_balancing_weight: weightMessage(Math.max(1, weight)), priority: g.priority });
  shared[g.id] = l;
  if (byPriority) byPriority[g.priority] = l;
  return l;
}

/**
 * The assignment without the endpoints outside the mesh: what an east-west gateway may forward to
 * (mesh mTLS passes through it by SNI, which such an endpoint cannot take). `cla` itself when it has
 * none; emptied locality groups stay, so priorities remain contiguous as Envoy expects.
 */
export function meshOnlyAssignment(cla: ClusterLoadAssignment): ClusterLoadAssignment {
  if (!cla.endpoints.some((g) => g.lb_endpoints.some((e) => e.metadata !== undefined))) return cla;
  return { ...cla, endpoints: cla.endpoints.map((g) => ({ ...g, lb_endpoints: g.lb_endpoints.filter((e) => e.metadata === undefined) })) };
}

/**
 * The assignment named `clusterName` of prepared endpoints for `proxy` (see `buildClusterLoadAssignment`).
 * Pure: the same inputs always give equal content; with sharing, the same object for placements
 * that lay the target out alike.
 */
export function assignmentFor(
  clusterName: string,
  prepared: PreparedEndpoints,
  proxy: ProxyPlacement,
  gateways: ReadonlyMap<string, readonly NetworkGateway[]>,
  overprovisioningFactor: number = LOCALITY_OVERPROVISIONING,
): ClusterLoadAssignment {
  const shared = prepared.assignments;
  const layout = layoutOf(prepared.shape, proxy, gateways, shared !== undefined);
  const hit = shared?.[layout.id];
  if (hit) return hit;
  const endpoints: LocalityLbEndpoints[] = [];
  for (const g of layout.groups) endpoints.push(localityGroup(prepared, g, gateways));
  const policy = { overprovisioning_factor: { value: overprovisioningFactor } };
  if (!shared) return { cluster_name: clusterName, endpoints, policy };
  const cla = sharedPart({ cluster_name: clusterName, endpoints: Object.freeze(endpoints) as LocalityLbEndpoints[], policy });
  shared[layout.id] = cla;
  return cla;
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
  overprovisioningFactor: number = LOCALITY_OVERPROVISIONING,
): ClusterLoadAssignment {
  return assignmentFor(clusterName, prepareEndpoints(endpoints), proxy, gateways, overprovisioningFactor);
}
