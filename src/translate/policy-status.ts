/**
 * What each TrafficPolicy and AccessPolicy does to the mesh, for `/debug/policies`: the service
 * instances it selects, the Envoy resources it shapes (virtual hosts and clusters for a
 * TrafficPolicy, inbound filter chains for an AccessPolicy), the connected proxies and cache groups
 * that receive them, or why it affects nothing (selector matched nothing, invalid reference, access
 * policy not enforced), plus TrafficPolicy conflicts and the rule that settled each.
 */
import type { AccessPolicy, TrafficPolicy } from '../model/policies.js';
import { policyKey } from '../model/policies.js';
import type { ResourceKind } from './resources.js';
import { isHttp } from './clusters.js';
import { VIRTUAL_INBOUND_LISTENER } from './listeners.js';
import type { MeshView } from './mesh-view.js';
import { meshOf, selectsService, selectsWorkload } from './policy-selectors.js';
import { sidecarPolicyScope } from './policy-scope.js';
import type { ProxyContext } from './proxy.js';
import { accessPolicyApplies, inboundAccess } from './rbac.js';
import { inboundPorts } from './sidecar.js';
import {
  CLUSTER_FIELDS,
  CONFLICT_RULE,
  ROUTE_FIELDS,
  applicableTrafficPolicies,
  destinationClusterName,
  routePolicyContext,
  trafficPolicyCandidates,
  trafficPolicyConflicts,
  type TrafficPolicyConflict,
} from './traffic-policy.js';

/** A connected proxy as the publisher knows it. */
export interface StatusNode {
  readonly nodeId: string;
  readonly proxy: ProxyContext;
  readonly keys: Readonly<Record<ResourceKind, string>>;
}

/** One policy's effect. */
export interface PolicyEffect {
  readonly kind: 'TrafficPolicy' | 'AccessPolicy';
  readonly policy: string;
  /** Selected service instances, `<cluster>/<ns>/<name>`. */
  readonly selects: readonly string[];
  /** Envoy resources it shapes: `rds <vhost>`, `cds <cluster>`, `lds virtualInbound <chain>`, with the clusters of proxies receiving them. */
  readonly resources: readonly string[];
  /** Connected proxies that receive those resources. */
  readonly proxies: readonly string[];
  /** Their cache groups. */
  readonly groups: readonly string[];
  /** Why it affects less than it names, or nothing. */
  readonly problems: readonly string[];
}

/** The whole report. */
export interface PoliciesReport {
  readonly snapshotVersion: string;
  readonly policies: readonly PolicyEffect[];
  readonly conflicts: readonly TrafficPolicyConflict[];
  readonly conflictRule: string;
  /** Per connected sidecar: how many services it is sent (scoped under enforced access policy) and the policies it is a source of. */
  readonly scopes: readonly { readonly node: string; readonly services: number | 'all'; readonly sourceOf: readonly string[] }[];
}

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort();
}

function trafficEffect(view: MeshView, tp: TrafficPolicy, nodes: readonly StatusNode[]): PolicyEffect {
  const key = policyKey(tp);
  const problems: string[] = [];
  const clusters = [...view.snapshot.clusters.keys()].sort();
  const candidates = trafficPolicyCandidates(view, tp);
  const selects: string[] = [];
  for (const gk of candidates) for (const c of clusters) if (view.snapshot.services.has(`${c}/${gk}`) && selectsService(tp.destinationSelector, view.snapshot.services.get(`${c}/${gk}`)!)) selects.push(`${c}/${gk}`);
  if (selects.length === 0) problems.push('destination selector matched no service');
  if (tp.sourceSelector.length && ![...view.snapshot.workloads.values()].some((w) => selectsWorkload(tp.sourceSelector, w))) problems.push('source selector matched no workload');
  const routeFields = ROUTE_FIELDS.filter((f) => tp[f] !== undefined);
  const clusterFields = CLUSTER_FIELDS.filter((f) => tp[f] !== undefined);
  const resources = new Set<string>();
  const byCluster = new Map<string, { vhosts: string[]; clusters: string[]; services: Set<string> }>();
  const candidateSet = new Set(candidates);
  for (const c of clusters) {
    const ctx = { cluster: c, sources: tp.sourceSelector.length ? [key] : [] };
    const targets = view.sidecarTargets(c).filter((t) => candidateSet.has(t.globalKey));
    const available = () => view.memo(`status-available|${c}`, () => routePolicyContext(view, { cluster: c, sources: [] }, view.sidecarTargets(c)).available);
    const hit = { vhosts: [] as string[], clusters: [] as string[], services: new Set<string>() };
    for (const t of targets) {
      if (!applicableTrafficPolicies(view, ctx, t).includes(tp)) continue;
      if (routeFields.length && t.subset === '' && isHttp(t.protocol)) {
        hit.services.add(t.globalKey);
        hit.vhosts.push(`${t.host}:${t.port}`);
        resources.add(`rds ${t.port} ${t.host}:${t.port} (sidecars in ${c})`);
        for (const d of tp.trafficShift?.destinations ?? []) {
          const name = destinationClusterName(view, c, d, t.port);
          if (typeof name !== 'string') problems.push(`trafficShift: ${name.problem}`);
          else if (!available().has(name)) problems.push(`trafficShift: cluster ${name} is not available to sidecars in ${c}; its share goes to the other destinations`);
        }
      }
      if (clusterFields.length) {
        hit.services.add(t.globalKey);
        hit.clusters.push(t.clusterName);
        resources.add(`cds ${t.clusterName} (sidecars in ${c})`);
      }
    }
    byCluster.set(c, hit);
  }
  const proxies: string[] = [];
  const groups: string[] = [];
  for (const n of nodes) {
    if (n.proxy.role !== 'sidecar') continue;
    if (tp.sourceSelector.length && !selectsWorkload(tp.sourceSelector, n.proxy.workload)) continue;
    const hit = byCluster.get(n.proxy.cluster.name);
    if (!hit || (hit.vhosts.length === 0 && hit.clusters.length === 0)) continue;
    const scoped = sidecarPolicyScope(view, n.proxy).services;
    if (scoped && ![...hit.services].some((gk) => scoped.has(gk))) continue;
    proxies.push(n.nodeId);
    if (hit.vhosts.length) groups.push(n.keys.routes);
    if (hit.clusters.length) groups.push(n.keys.clusters);
  }
  if (selects.length && resources.size === 0) problems.push('no sidecar sees a selected service on an HTTP port (route fields) or at all (cluster fields)');
  return { kind: 'TrafficPolicy', policy: key, selects, resources: sortedUnique(resources), proxies: sortedUnique(proxies), groups: sortedUnique(groups), problems: sortedUnique(problems) };
}

function accessEffect(view: MeshView, ap: AccessPolicy, nodes: readonly StatusNode[]): PolicyEffect {
  const key = policyKey(ap);
  const problems: string[] = [];
  const selects = [...view.snapshot.services.values()].filter((s) => selectsService(ap.destinationSelector, s)).map((s) => `${s.cluster}/${s.namespace}/${s.name}`).sort();
  if (selects.length === 0) problems.push('destination selector matched no service');
  const resources = new Set<string>();
  const proxies: string[] = [];
  const groups: string[] = [];
  const enforcedClusters = new Set(selects.map((s) => s.split('/')[0]!).filter((c) => meshOf(view, c).enforced));
  for (const c of new Set(selects.map((s) => s.split('/')[0]!))) if (!enforcedClusters.has(c)) problems.push(`not enforced in ${c}: its VirtualMesh does not have globalAccessPolicy ENABLED (all mesh traffic is allowed)`);
  for (const s of selects) {
    const [c, ns, name] = s.split('/') as [string, string, string];
    if (!enforcedClusters.has(c)) continue;
    const svc = view.snapshot.services.get(s)!;
    for (const p of svc.ports) {
      const port = { service: name, namespace: ns, port: p.port, targetPort: p.targetPort, protocol: p.protocol, subsets: [] };
      if (!accessPolicyApplies(ap, svc, port)) continue;
      const access = inboundAccess(view, c, port);
      const why = access.ignored.find((x) => x.policy === key);
      if (why) problems.push(`${s}:${p.port}: ${why.reason}`);
      else if (access.policies.has(key)) resources.add(`lds ${VIRTUAL_INBOUND_LISTENER} inbound|${p.port}|${name}.${ns} (workloads of ${s})`);
    }
  }
  for (const n of nodes) {
    if (n.proxy.role !== 'sidecar' || !n.proxy.services.some((s) => selects.includes(s) && enforcedClusters.has(n.proxy.cluster.name))) continue;
    if (!inboundPorts(view, n.proxy).some((p) => inboundAccess(view, n.proxy.cluster.name, p).policies.has(key))) continue;
    proxies.push(n.nodeId);
    groups.push(n.keys.listeners);
  }
  return { kind: 'AccessPolicy', policy: key, selects, resources: sortedUnique(resources), proxies: sortedUnique(proxies), groups: sortedUnique(groups), problems: sortedUnique(problems) };
}

/** The effect of every policy of the view's snapshot, given the proxies connected now. */
export function policiesReport(view: MeshView, nodes: readonly StatusNode[]): PoliciesReport {
  const policies = [
    ...view.snapshot.policies.trafficPolicies.map((tp) => trafficEffect(view, tp, nodes)),
    ...view.snapshot.policies.accessPolicies.map((ap) => accessEffect(view, ap, nodes)),
  ];
  const scopes = nodes
    .filter((n) => n.proxy.role === 'sidecar')
    .map((n) => {
      const s = sidecarPolicyScope(view, n.proxy);
      return { node: n.nodeId, services: s.services ? s.services.size : ('all' as const), sourceOf: s.sources };
    })
    .sort((a, b) => (a.node < b.node ? -1 : 1));
  return { snapshotVersion: view.snapshot.version, policies, conflicts: trafficPolicyConflicts(view), conflictRule: CONFLICT_RULE, scopes };
}

