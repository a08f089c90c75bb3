/**
 * `crossmesh explain`: why one proxy is served what it is served, in the terms of the model. The
 * facts come from the resources the translator builds for that proxy (after the guard, as the
 * publisher would push them) and the reasons from the translate stage's own decisions: the layout
 * its assignments are built from (endpoints.ts), the TrafficPolicy grouping and conflict rule
 * (traffic-policy.ts), the FailoverService plans (failover.ts) and the RBAC policies of the
 * destination's inbound listener (rbac.ts). Nothing here decides anything on its own, so the
 * explanation cannot drift from what Envoy receives. Pure: snapshot and node in, Explanation out.
 */
import { policyKey } from '../model/policies.js';
import { endpointPort } from '../model/snapshot.js';
import { objectKey, type Locality } from '../model/types.js';
import type { ProxyRole } from './bootstrap.js';
import type { ClusterLoadAssignment, Closeness, LayoutPlace, ProxyPlacement } from './endpoints.js';
import { AGGREGATE_CLUSTER_NAME, sidecarFailovers } from './failover.js';
import { TCP_PROXY_NAME } from './filters.js';
import { translatorFor } from './index.js';
import { VIRTUAL_INBOUND_LISTENER } from './listeners.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import { meshOf } from './policy-selectors.js';
import { policyContextOf } from './policy-scope.js';
import { resolveProxy, type ProxyContext } from './proxy.js';
import { inboundAccess, rbacPolicyAdmits } from './rbac.js';
import type { ProxyResources, Resource } from './resources.js';
import { targetsNamed } from './routes.js';
import { guardResources } from './semantics.js';
import { inboundPorts } from './sidecar.js';
import { CONFLICT_RULE, destinationClusterName, explainTrafficPolicies, type RouteGroupExplanation } from './traffic-policy.js';

/** What to explain beyond the proxy itself. */
export interface ExplainOptions {
  /** The proxy's role; default: the role of the Gateway its workload runs, else sidecar. */
  readonly role?: ProxyRole;
  /** A destination, `host` or `host:port` as the app would call it: adds the access check. */
  readonly to?: string;
}

/** Where a locality group's endpoints are and why they have its priority. */
export interface PlaceExplanation {
  readonly cluster: string;
  readonly network: string;
  readonly locality: Locality;
  readonly closeness: Closeness;
  /** Set when the endpoints are in another network: the east-west gateway (`address:port`) standing for them. */
  readonly gateway?: string;
  readonly endpoints: number;
  readonly serving: number;
  /** The closeness in plain words ("same zone, this cluster"), or why the place is unreachable. */
  readonly reason: string;
}

/** One priority of an assignment. */
export interface PriorityExplanation {
  readonly priority: number;
  readonly localities: readonly {
    readonly locality: Locality;
    readonly weight: number;
    /** The endpoints Envoy gets, as served (a gateway endpoint stands for every serving endpoint behind it: its weight). */
    readonly endpoints: readonly { readonly address: string; readonly port: number; readonly health: string; readonly weight: number; readonly plaintext?: true }[];
    readonly places: readonly PlaceExplanation[];
  }[];
}

/** One ClusterLoadAssignment the proxy is served, with its reasons. */
export interface AssignmentExplanation {
  readonly cluster: string;
  readonly host: string;
  readonly port: number;
  readonly subset: string;
  readonly overprovisioningFactor: number;
  readonly priorities: readonly PriorityExplanation[];
  /** Endpoints left out: in another network whose cluster declares no east-west gateway. */
  readonly unreachable: readonly PlaceExplanation[];
}

/** Where one virtual host or TCP listener sends traffic. */
export interface ReachableExplanation {
  /** `host:port` (the virtual host's name) or the TCP listener's name. */
  readonly name: string;
  readonly protocol: 'http' | 'tcp';
  /** The names an app may call it by (HTTP) or the server names it matches (gateways). */
  readonly domains: readonly string[];
  readonly routes: readonly {
    /** The route's name: `default`, or the TrafficPolicies (`<ns>/<name>`, comma-joined) that made it. */
    readonly name: string;
    readonly match: Resource;
    readonly destinations: readonly { readonly cluster: string; readonly weight?: number }[];
  }[];
}

/** A FailoverService aggregate the proxy is served. */
export interface FailoverExplanation {
  readonly failoverService: string;
  readonly hostname: string;
  readonly port: number;
  readonly cluster: string;
  /** Children in the order Envoy tries them, each with where its first priority is. */
  readonly children: readonly { readonly cluster: string; readonly firstPriority?: string }[];
  readonly problem?: string;
}

/** The TrafficPolicies on one host seen from the proxy. */
export interface HostPolicyExplanation {
  readonly host: string;
  readonly port: number;
  readonly policies: readonly string[];
  readonly routeGroups: readonly (RouteGroupExplanation & {
    /** Where the group's routes send traffic, as served. */
    readonly destinations: readonly { readonly cluster: string; readonly weight?: number }[];
    /** Shift destinations of the winning policy that are not in the route, and why. */
    readonly leftOut: readonly { readonly destination: string; readonly reason: string }[];
  })[];
  readonly clusterFields: readonly { readonly field: string; readonly winner: string; readonly losers: readonly string[] }[];
}

/** The access decision for one destination instance and port. */
export interface AccessDecision {
  readonly cluster: string;
  readonly service: string;
  readonly port: number;
  readonly targetPort: number;
  readonly decision: 'ALLOW' | 'DENY';
  /** The AccessPolicy that allows it (first by key when several do). */
  readonly policy?: string;
  /** Every AccessPolicy on that port allowing this caller. */
  readonly allowedBy: readonly string[];
  /** Limits of the allowing policy (paths, methods); empty = everything. */
  readonly conditions: readonly string[];
  readonly reason: string;
  /** AccessPolicies on that port that do not admit this caller (what it would need), and ones that grant nothing there. */
  readonly otherPolicies: readonly string[];
  readonly ignored: readonly { readonly policy: string; readonly reason: string }[];
}

/** `--to`: may this proxy's identity call the destination? */
export interface AccessExplanation {
  readonly to: string;
  readonly host: string;
  readonly port: number;
  readonly caller: string;
  /** ALLOW / DENY when every instance agrees, SOME when they differ, NONE when no instance is reachable. */
  readonly verdict: 'ALLOW' | 'DENY' | 'SOME' | 'NONE';
  /** Whether the proxy is served a cluster for this host (under enforced access policy, only for what it may call). */
  readonly inConfiguration: boolean;
  readonly destinations: readonly AccessDecision[];
}

/** Everything `crossmesh explain` says about one proxy. */
export interface Explanation {
  readonly node: string;
  readonly snapshotVersion: string;
  readonly proxy: {
    readonly role: ProxyRole;
    readonly roleReason: string;
    readonly cluster: string;
    readonly namespace: string;
    readonly workload: string;
    readonly address: string;
    readonly network: string;
    readonly locality: Locality;
    readonly identity: string;
    /** Services whose selector picks the workload (`<cluster>/<ns>/<name>`). */
    readonly services: readonly string[];
    readonly gateway?: string;
  };
  readonly mesh: {
    readonly virtualMesh?: string;
    readonly visibleClusters: readonly string[];
    readonly accessPolicyEnforced: boolean;
    /** Global services (`<ns>/<name>`) the proxy is sent under enforced access policy; absent = every visible service. */
    readonly dependencies?: readonly string[];
  };
  readonly reachable: readonly ReachableExplanation[];
  readonly failover: readonly FailoverExplanation[];
  readonly endpoints: readonly AssignmentExplanation[];
  readonly trafficPolicies: readonly HostPolicyExplanation[];
  readonly conflictRule: string;
  /** Resources the guard refuses (not pushed; the proxy keeps its last good version, if any). */
  readonly rejected: readonly { readonly kind: string; readonly name: string; readonly errors: readonly string[] }[];
  readonly access?: AccessExplanation;
}

type Obj = Record<string, any>;

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Up to `max` candidates close to `input` (containing it, or a few edits away), closest first. */
export function closeMatches(input: string, candidates: Iterable<string>, max = 5): string[] {
  const lower = input.toLowerCase();
  const scored: { c: string; d: number }[] = [];
  for (const c of new Set(candidates)) {
    const l = c.toLowerCase();
    const d = l.includes(lower) || (lower.includes(l) && l.length > 2) ? 0 : levenshtein(lower, l);
    if (d <= Math.max(2, Math.floor(input.length / 3))) scored.push({ c, d });
  }
  return scored.sort((a, b) => a.d - b.d || compareText(a.c, b.c)).slice(0, max).map((s) => s.c);
}

function didYouMean(matches: readonly string[]): string {
  return matches.length ? `; close matches: ${matches.join(', ')}` : '';
}

/** A locality as `region/zone[/subzone]`. */
export function localityText(l: Locality): string {
  return [l.region, l.zone, l.subzone].filter((x) => x !== '').join('/') || '(no locality)';
}

/** Closeness in words: the reason behind a place's priority. */
function closenessText(c: Closeness): string {
  const where = c.level === 'zone' ? 'same zone' : c.level === 'region' ? 'same region, another zone' : 'another region';
  return `${where}, ${c.sameCluster ? 'this cluster' : 'another cluster'}`;
}

function placeOf(view: MeshView, p: LayoutPlace): PlaceExplanation {
  const gw = p.viaGateway ? view.gatewaysByCluster().get(p.cluster)?.map((g) => `${g.address}:${g.port}`).join(', ') : undefined;
  const reason = p.viaGateway && !gw ? `other network ${p.network} and cluster ${p.cluster} declares no east-west gateway (spec.gateway): unreachable` : closenessText(p.closeness);
  return { cluster: p.cluster, network: p.network, locality: p.locality, closeness: p.closeness, ...(gw ? { gateway: gw } : {}), endpoints: p.endpoints, serving: p.serving, reason };
}

/** An assignment as served, annotated with the layout it was built from; throws if the two disagree (they are built from the same layout). */
function assignmentExplanation(view: MeshView, t: OutboundTarget, cla: ClusterLoadAssignment, placement: ProxyPlacement): AssignmentExplanation {
  const layout = view.assignmentLayout(t, placement);
  if (layout.groups.length !== cla.endpoints.length || layout.groups.some((g, i) => g.priority !== cla.endpoints[i]!.priority)) {
    throw new Error(`explain: the layout of ${t.clusterName} does not match its served assignment`);
  }
  const byPriority = new Map<number, PriorityExplanation['localities'][number][]>();
  cla.endpoints.forEach((l, i) => {
    let list = byPriority.get(l.priority);
    if (!list) byPriority.set(l.priority, (list = []));
    list.push({
      locality: { region: l.locality.region, zone: l.locality.zone, subzone: l.locality.sub_zone },
      weight: l.load_balancing_weight.value,
      endpoints: l.lb_endpoints.map((e) => ({
        address: e.endpoint.address.socket_address.address,
        ...(e.endpoint.additional_addresses ? { additionalAddresses: e.endpoint.additional_addresses.map((a) => a.address.socket_address.address) } : {}),
        port: e.endpoint.address.socket_address.port_value,
        health: e.health_status,
        weight: e.load_balancing_weight.value,
        // Outside the mesh: reached through the cluster's plaintext transport socket match, not mesh mTLS.
        ...(e.metadata !== undefined ? { plaintext: true as const } : {}),
      })),
      places: layout.groups[i]!.places.map((p) => placeOf(view, p)),
    });
  });
  return {
    cluster: t.clusterName,
    host: t.host,
    port: t.port,
    subset: t.subset,
    overprovisioningFactor: cla.policy.overprovisioning_factor.value,
    priorities: [...byPriority].sort(([a], [b]) => a - b).map(([priority, localities]) => ({ priority, localities })),
    unreachable: layout.unreachable.map((p) => placeOf(view, p)),
  };
}

function destinationsOf(action: Obj | undefined): { cluster: string; weight?: number }[] {
  if (!action) return [];
  if (typeof action.cluster === 'string') return [{ cluster: action.cluster }];
  return ((action.weighted_clusters?.clusters ?? []) as Obj[]).map((c) => ({ cluster: String(c.name), weight: Number(c.weight?.value) }));
}

function reachableOf(resources: ProxyResources): ReachableExplanation[] {
  const out: ReachableExplanation[] = [];
  for (const rc of resources.routes.values() as Iterable<Obj>) {
    for (const vh of (rc.virtual_hosts ?? []) as Obj[]) {
      out.push({
        name: String(vh.name),
        protocol: 'http',
        domains: [...(vh.domains as string[])],
        routes: ((vh.routes ?? []) as Obj[]).map((r) => ({ name: String(r.name ?? ''), match: r.match as Resource, destinations: destinationsOf(r.route) })),
      });
    }
  }
  for (const [name, l] of resources.listeners as Map<string, Obj>) {
    // virtualInbound leads to the local app, not to the mesh.
    if (name === VIRTUAL_INBOUND_LISTENER) continue;
    for (const chain of (l.filter_chains ?? []) as Obj[]) {
      const tcp = ((chain.filters ?? []) as Obj[]).find((f) => f.name === TCP_PROXY_NAME);
      const cluster = tcp?.typed_config?.cluster;
      if (typeof cluster !== 'string' || cluster === 'PassthroughCluster' || cluster === 'BlackHoleCluster') continue;
      out.push({ name, protocol: 'tcp', domains: [...((chain.filter_chain_match?.server_names as string[] | undefined) ?? [])], routes: [{ name: 'tcp_proxy', match: {}, destinations: [{ cluster }] }] });
    }
  }
  // A gateway listener holds one chain per exported service: its entries are told apart by server names.
  return out.sort((a, b) => compareText(a.name, b.name) || compareText(a.domains.join(','), b.domains.join(',')));
}

function firstPriority(a: AssignmentExplanation | undefined): string | undefined {
  const p = a?.priorities[0];
  if (!p) return a ? 'no endpoints' : undefined;
  const places = p.localities.flatMap((l) => l.places);
  return places.map((x) => (x.gateway ? `${x.cluster} via gateway ${x.gateway}` : `${x.endpoints} endpoint${x.endpoints === 1 ? '' : 's'} in ${x.cluster}`)).join(', ');
}

function shiftDestinationText(d: Obj): string {
  if (d.kind === 'failoverService') return `FailoverService ${d.namespace}/${d.name}`;
  const subset = Object.keys(d.subset ?? {}).sort().map((k) => `${k}=${d.subset[k]}`).join(',');
  return `${d.service.namespace}/${d.service.name}${d.service.cluster ? ` in ${d.service.cluster}` : ''}${subset ? ` {${subset}}` : ''}`;
}

function hostPolicies(view: MeshView, proxy: ProxyContext, ctx: ReturnType<typeof policyContextOf>, t: OutboundTarget, vhost: ReachableExplanation | undefined, cds: ReadonlyMap<string, unknown>): HostPolicyExplanation | undefined {
  const e = explainTrafficPolicies(view, ctx, t);
  if (e.policies.length === 0) return undefined;
  const tps = new Map(view.snapshot.policies.trafficPolicies.map((tp) => [policyKey(tp), tp]));
  const routeGroups = e.routeGroups.map((g) => {
    const name = g.policies.join(',');
    // Routes are named after their group's policies (`#<n>` per matcher): what the group sends where, as served.
    const routes = (vhost?.routes ?? []).filter((r) => r.name === name || r.name.startsWith(`${name}#`));
    const destinations = routes.flatMap((r) => r.destinations).filter((d, i, all) => all.findIndex((x) => x.cluster === d.cluster) === i);
    const shift = g.fields.find((f) => f.field === 'trafficShift');
    const leftOut: { destination: string; reason: string }[] = [];
    for (const d of shift ? (tps.get(shift.winner)?.trafficShift?.destinations ?? []) : []) {
      const c = destinationClusterName(view, proxy.cluster.name, d, t.port);
      if (typeof c !== 'string') leftOut.push({ destination: shiftDestinationText(d), reason: c.problem });
      else if (d.weight === 0) leftOut.push({ destination: shiftDestinationText(d), reason: 'weight 0' });
      // A route names only clusters the proxy has (traffic-policy.ts, routeFor): the rest is left out.
      else if (!cds.has(c)) leftOut.push({ destination: shiftDestinationText(d), reason: `${c} is not in this proxy's configuration; its share goes to the other destinations` });
    }
    return { ...g, destinations, leftOut };
  });
  return { host: t.host, port: t.port, policies: e.policies, routeGroups, clusterFields: e.clusterFields };
}

/** The role a workload's Envoy plays: that of the Gateway naming it, else sidecar. */
function inferRole(view: MeshView, nodeId: string): { role: ProxyRole; reason: string } {
  for (const g of view.snapshot.gateways.values()) {
    if (objectKey({ cluster: g.cluster, namespace: g.namespace, name: g.workload }) !== nodeId) continue;
    return { role: g.type === 'EastWest' ? 'gateway' : 'ingress', reason: `its workload runs ${g.type} Gateway ${g.namespace}/${g.name}` };
  }
  return { role: 'sidecar', reason: 'no Gateway names its workload' };
}

/** Access of the proxy's identity to one destination instance and port, from the RBAC policies its inbound listener carries. */
function accessTo(view: MeshView, caller: string, cluster: string, service: { name: string; namespace: string }, port: number): AccessDecision[] {
  const snap = view.snapshot;
  const svc = snap.services.get(`${cluster}/${service.namespace}/${service.name}`);
  const sp = svc?.ports.find((p) => p.port === port);
  if (!svc || !sp) return [];
  // The inbound port as the serving workloads' sidecars have it (a workload may listen on another target port).
  const ports = new Map<number, Parameters<typeof inboundAccess>[2]>();
  for (const ep of snap.endpoints.get(`${cluster}/${service.namespace}/${service.name}`) ?? []) {
    if (endpointPort(ep, port) === undefined) continue;
    const p = resolveProxy(snap, ep.workload, 'sidecar');
    if (p instanceof Error) continue;
    const ip = inboundPorts(view, p).find((x) => x.service === service.name && x.namespace === service.namespace && x.port === port);
    if (ip && !ports.has(ip.targetPort)) ports.set(ip.targetPort, ip);
  }
  if (ports.size === 0) ports.set(sp.targetPort, { service: service.name, namespace: service.namespace, port, targetPort: sp.targetPort, protocol: sp.protocol, subsets: [] });
  const mesh = meshOf(view, cluster);
  const aps = new Map(snap.policies.accessPolicies.map((ap) => [policyKey(ap), ap]));
  return [...ports.values()].sort((a, b) => a.targetPort - b.targetPort).map((ip) => {
    const access = inboundAccess(view, cluster, ip);
    const base = { cluster, service: `${service.namespace}/${service.name}`, port, targetPort: ip.targetPort, ignored: access.ignored };
    if (!access.enforced) {
      return { ...base, decision: 'ALLOW' as const, allowedBy: [], conditions: [], otherPolicies: [], reason: `access policy is not enforced in ${cluster} (${mesh.name ? `VirtualMesh ${mesh.name} does not have globalAccessPolicy ENABLED` : 'it is in no VirtualMesh'}): no RBAC filter, any caller with a mesh certificate gets in` };
    }
    const allowedBy = [...access.policies].filter(([, pol]) => rbacPolicyAdmits(pol, caller)).map(([k]) => k);
    const otherPolicies = [...access.policies.keys()].filter((k) => !allowedBy.includes(k));
    if (allowedBy.length === 0) {
      const others = otherPolicies.length ? `; AccessPolicies on this port admit other callers only: ${otherPolicies.join(', ')}` : '; no AccessPolicy selects this port';
      return { ...base, decision: 'DENY' as const, allowedBy, conditions: [], otherPolicies, reason: `globalAccessPolicy ENABLED (VirtualMesh ${mesh.name}) and no AccessPolicy allows ${caller}${others}` };
    }
    const winner = allowedBy[0]!;
    const ap = aps.get(winner);
    const conditions = [...(ap?.allowedPaths.length ? [`paths ${ap.allowedPaths.join(', ')}`] : []), ...(ap?.allowedMethods.length ? [`methods ${ap.allowedMethods.join(', ')}`] : [])];
    return { ...base, decision: 'ALLOW' as const, policy: winner, allowedBy, conditions, otherPolicies, reason: `AccessPolicy ${winner} allows ${caller}${conditions.length ? ` (only ${conditions.join('; ')})` : ''}` };
  });
}

function parseTo(to: string): { host: string; port?: number } {
  const m = /^(.*):(\d+)$/.exec(to);
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: to };
}

function accessExplanation(view: MeshView, proxy: ProxyContext, to: string, cds: ReadonlyMap<string, unknown>): AccessExplanation | Error {
  const cluster = proxy.cluster.name;
  const { host, port } = parseTo(to);
  // Every host the proxy's cluster sees, whether or not this proxy is sent it (scoping hides what it may not call).
  const targets = view.sidecarTargets(cluster);
  const named = targetsNamed(targets, proxy.workload.namespace, host).filter((t) => port === undefined || t.port === port);
  const failovers = sidecarFailovers(view, cluster).filter((p) => p.service.hostname === host && (port === undefined || p.service.port.number === port));
  const found = named.length + failovers.length;
  if (found === 0) {
    // Short names too: a misspelt `reviews` is a few edits from `reviews`, not from its full name.
    const names = targets
      .filter((t) => t.subset === '')
      .flatMap((t) => [t.host, `${t.host}:${t.port}`, ...(t.hostCluster === undefined ? [`${t.service}.${t.namespace}`, ...(t.namespace === proxy.workload.namespace ? [t.service] : [])] : [])]);
    names.push(...sidecarFailovers(view, cluster).map((p) => p.service.hostname));
    return new Error(`--to ${to}: no service${port !== undefined ? ` port ${port}` : ''} named "${host}" is visible from ${cluster}${didYouMean(closeMatches(host, names))}`);
  }
  if (found > 1) {
    const ports = [...named.map((t) => t.port), ...failovers.map((p) => p.service.port.number)].sort((a, b) => a - b);
    return new Error(`--to ${to}: "${host}" has ports ${ports.join(', ')}: name one as ${host}:<port>`);
  }
  const caller = proxy.identity;
  if (named.length) {
    const t = named[0]!;
    const destinations = t.clusters.flatMap((c) => accessTo(view, caller, c, { name: t.service, namespace: t.namespace }, t.port));
    return { to, host: t.host, port: t.port, caller, verdict: verdictOf(destinations), inConfiguration: cds.has(t.clusterName), destinations };
  }
  const plan = failovers[0]!;
  const visible = new Set(view.visibleClusters(cluster));
  const fs = plan.service;
  const destinations = fs.backingServices.filter((b) => visible.has(b.cluster)).flatMap((b) => accessTo(view, caller, b.cluster, b, fs.port.number));
  return { to, host: fs.hostname, port: fs.port.number, caller, verdict: verdictOf(destinations), inConfiguration: cds.has(plan.clusterName), destinations };
}

function verdictOf(ds: readonly AccessDecision[]): AccessExplanation['verdict'] {
  if (ds.length === 0) return 'NONE';
  if (ds.every((d) => d.decision === 'ALLOW')) return 'ALLOW';
  if (ds.every((d) => d.decision === 'DENY')) return 'DENY';
  return 'SOME';
}

/** Every workload key of the mesh close to `nodeId`, for the error naming an unknown node. */
function unknownNode(view: MeshView, nodeId: string): Error {
  const keys = [...view.snapshot.workloads.keys()];
  const matches = closeMatches(nodeId, keys);
  // A bare workload name is a common slip: offer the workloads of that name.
  const byName = keys.filter((k) => k.endsWith(`/${nodeId}`)).sort();
  return new Error(`unknown node "${nodeId}": no workload with that id (node ids are <cluster>/<namespace>/<name>)${didYouMean([...new Set([...byName, ...matches])].slice(0, 5))}`);
}

/**
 * Explains what `nodeId` is served and why, from the view's snapshot; an Error names an unknown
 * node or destination (with close matches) or a role the workload cannot play.
 */
export function explainProxy(view: MeshView, nodeId: string, options: ExplainOptions = {}): Explanation | Error {
  const snap = view.snapshot;
  if (!snap.workloads.has(nodeId)) return unknownNode(view, nodeId);
  const inferred = inferRole(view, nodeId);
  const role = options.role ?? inferred.role;
  const roleReason = options.role ? 'given' : inferred.reason;
  const proxy = resolveProxy(snap, nodeId, role);
  if (proxy instanceof Error) return proxy;
  const translator = translatorFor(role);
  if (translator instanceof Error) return translator;
  const scopes = translator.scopes(view, proxy);
  const built: ProxyResources = {
    clusters: translator.build(view, scopes.clusters),
    endpoints: translator.build(view, scopes.endpoints),
    listeners: translator.build(view, scopes.listeners),
    routes: translator.build(view, scopes.routes),
  };
  // What the publisher would push: the guard's accepted set (a rejected resource is not served).
  const guarded = guardResources(built);
  const served = guarded.accepted;

  const targets = translator.targets(view, scopes.endpoints);
  const byCluster = new Map(targets.map((t) => [t.clusterName, t]));
  const endpoints: AssignmentExplanation[] = [];
  for (const [name, cla] of served.endpoints) {
    const t = byCluster.get(name);
    if (t) endpoints.push(assignmentExplanation(view, t, cla as unknown as ClusterLoadAssignment, scopes.endpoints.placement));
  }
  const endpointsByCluster = new Map(endpoints.map((e) => [e.cluster, e]));

  const reachable = reachableOf(served);
  const plans = role === 'sidecar' || role === 'proxyless' ? sidecarFailovers(view, proxy.cluster.name) : [];
  const failover: FailoverExplanation[] = [];
  for (const [name, c] of served.clusters as Map<string, Obj>) {
    if (c.cluster_type?.name !== AGGREGATE_CLUSTER_NAME) continue;
    const plan = plans.find((p) => p.clusterName === name);
    const children = ((c.cluster_type.typed_config?.clusters ?? []) as string[]).map((child) => {
      const fp = firstPriority(endpointsByCluster.get(child));
      return { cluster: child, ...(fp !== undefined ? { firstPriority: fp } : {}) };
    });
    failover.push({
      failoverService: plan ? `${plan.service.namespace}/${plan.service.name}` : '',
      hostname: plan?.service.hostname ?? name,
      port: plan?.service.port.number ?? 0,
      cluster: name,
      children,
      ...(plan?.problem ? { problem: plan.problem } : {}),
    });
  }

  const trafficPolicies: HostPolicyExplanation[] = [];
  if (role === 'sidecar' || role === 'proxyless') {
    const ctx = policyContextOf(scopes.routes);
    const vhosts = new Map(reachable.filter((r) => r.protocol === 'http').map((r) => [r.name, r]));
    for (const t of targets) {
      if (t.subset !== '' || !served.clusters.has(t.clusterName)) continue;
      const hp = hostPolicies(view, proxy, ctx, t, vhosts.get(`${t.host}:${t.port}`), served.clusters);
      if (hp) trafficPolicies.push(hp);
    }
  }

  const mesh = meshOf(view, proxy.cluster.name);
  const deps = scopes.clusters.policy?.services;
  let access: AccessExplanation | undefined;
  if (options.to !== undefined) {
    const a = accessExplanation(view, proxy, options.to, served.clusters);
    if (a instanceof Error) return a;
    access = a;
  }
  return {
    node: nodeId,
    snapshotVersion: snap.version,
    proxy: {
      role,
      roleReason,
      cluster: proxy.cluster.name,
      namespace: proxy.workload.namespace,
      workload: proxy.workload.name,
      address: proxy.workload.address,
      network: proxy.network,
      locality: proxy.locality,
      identity: proxy.identity,
      services: [...proxy.services],
      ...(proxy.gateway ? { gateway: `${proxy.gateway.type} ${proxy.gateway.namespace}/${proxy.gateway.name}` } : {}),
    },
    mesh: {
      ...(mesh.name ? { virtualMesh: mesh.name } : {}),
      visibleClusters: mesh.clusters,
      accessPolicyEnforced: mesh.enforced,
      ...(deps ? { dependencies: [...deps].sort() } : {}),
    },
    reachable,
    failover,
    endpoints,
    trafficPolicies,
    conflictRule: CONFLICT_RULE,
    rejected: guarded.rejected.map((r) => ({ kind: r.kind, name: r.name, errors: [...r.errors] })),
    ...(access ? { access } : {}),
  };
}
