/**
 * FailoverService → Envoy aggregate cluster. A FailoverService gives one name
 * (`outbound|<port>||<hostname>`) to an ordered list of backing services; Envoy's aggregate cluster
 * linearizes its children's priorities in that order, so the first child with healthy endpoints
 * takes all the traffic and the next one only what the first cannot serve.
 *
 * Choices (see docs/translation.md, "FailoverService"):
 * - every backing service `{name, namespace, clusterName}` becomes its one-cluster host,
 *   `outbound|<port>||<name>.<namespace>.svc.<clusterName>.global`. The seed's Istio output used
 *   `.cluster.local` for the local backing service because Istio's local name meant "this cluster
 *   only"; crossmesh's `.cluster.local` spans every cluster, which would mix later backing services
 *   into the first child and defeat the declared order.
 * - a FailoverService is offered to sidecars of every cluster that sees one of its `meshes`
 *   (every cluster when none is listed), the same visibility a service in those clusters has.
 * - each child is in the proxy's CDS: a backing service the proxy does not otherwise see (not
 *   running in that cluster, or the cluster is not visible) gets a child cluster of its own, with
 *   endpoints only if its cluster is visible; otherwise an empty assignment, so the aggregate
 *   skips it and the federation boundary is never crossed.
 * - children get outlier detection so failover happens on errors, not only on absence: what the
 *   TrafficPolicies applying to that cluster set (traffic-policy.ts), otherwise SMH's default
 *   (5 consecutive 5xx, 10 s interval, 30 s ejection, 100 %).
 * - an aggregate that names itself or another aggregate (nesting; a cycle is nesting that comes
 *   back) is still emitted, so the guard rejects it with its reason (not pushed; shown in status
 *   and the rejection metric), but gets no virtual host, so it cannot take the route
 *   configuration down with it. Envoy would accept a nested aggregate but balance nothing
 *   through it: it linearizes only its children's own hosts, and an aggregate has none.
 */
import { globalServiceKey } from '../model/snapshot.js';
import type { FailoverService, OutlierDetection } from '../model/policies.js';
import { CONNECT_TIMEOUT, isHttp } from './clusters.js';
import { AGGREGATE_CLUSTER_TYPE } from './filters.js';
import type { MeshView, OutboundTarget } from './mesh-view.js';
import { crossNetworkSni, globalHost, outboundClusterName } from './names.js';
import type { Resource } from './resources.js';

/** Envoy's name of the aggregate cluster extension. */
export const AGGREGATE_CLUSTER_NAME = 'envoy.clusters.aggregate';
const CLUSTER_PROVIDED_TYPE = 'type.googleapis.com/envoy.extensions.load_balancing_policies.cluster_provided.v3.ClusterProvided';
const ROUND_ROBIN_TYPE = 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin';

/** Outlier detection of failover children when no TrafficPolicy sets one (Service Mesh Hub's defaults). */
export const DEFAULT_FAILOVER_OUTLIER: OutlierDetection = Object.freeze({
  consecutiveErrors: 5,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 100,
});

/** One FailoverService as a sidecar in some cluster receives it. */
export interface FailoverPlan {
  readonly service: FailoverService;
  /** `outbound|<port>||<hostname>`: the aggregate cluster. */
  readonly clusterName: string;
  /** Child cluster names in declared order (duplicates dropped). */
  readonly children: readonly string[];
  /** Why the aggregate must not be routed to (the guard rejects it), or undefined when it is sound. */
  readonly problem?: string;
}

/** `outbound|<port>||<hostname>` of a FailoverService. */
export function failoverClusterName(fs: FailoverService): string {
  return outboundClusterName(fs.port.number, '', fs.hostname);
}

/** The child cluster names of a FailoverService, in declared order, each named once. */
export function failoverChildNames(fs: FailoverService): string[] {
  const names = fs.backingServices.map((b) => outboundClusterName(fs.port.number, '', globalHost(b.name, b.namespace, b.cluster)));
  return [...new Set(names)];
}

/** Whether sidecars in `cluster` are offered `fs`: it sees one of its meshes (every cluster when none is listed). */
function offeredTo(view: MeshView, cluster: string, fs: FailoverService): boolean {
  if (fs.meshes.length === 0) return true;
  const visible = view.visibleClusters(cluster);
  return fs.meshes.some((m) => visible.includes(m.name));
}

/**
 * FailoverServices offered to sidecars in `cluster`, sorted by aggregate name. Two with the same
 * hostname and port would be one Envoy cluster: the first by namespace/name keeps it.
 */
export function sidecarFailovers(view: MeshView, cluster: string): readonly FailoverPlan[] {
  return view.memo(`failover-plans|${cluster}`, () => {
    const serviceClusters = new Set(view.sidecarTargets(cluster).map((t) => t.clusterName));
    const byName = new Map<string, FailoverService>();
    for (const fs of view.snapshot.policies.failoverServices) {
      if (!offeredTo(view, cluster, fs)) continue;
      const name = failoverClusterName(fs);
      if (!byName.has(name)) byName.set(name, fs);
    }
    const plans: FailoverPlan[] = [];
    for (const [name, fs] of [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const children = failoverChildNames(fs);
      // A name shared with a service cluster would replace that service's cluster (and every route
      // to it): the service keeps its name and the FailoverService is left out (see failoverConfigProblems).
      if (serviceClusters.has(name)) continue;
      const problem = children.includes(name)
        ? `FailoverService ${fs.namespace}/${fs.name}: aggregate cluster "${name}" would contain itself`
        : nestedProblem(fs, children, byName);
      plans.push({ service: fs, clusterName: name, children, ...(problem ? { problem } : {}) });
    }
    return plans;
  });
}

function nestedProblem(fs: FailoverService, children: readonly string[], aggregates: ReadonlyMap<string, FailoverService>): string | undefined {
  const nested = children.find((c) => aggregates.has(c));
  if (nested === undefined) return undefined;
  const other = aggregates.get(nested)!;
  return `FailoverService ${fs.namespace}/${fs.name}: child "${nested}" is the aggregate of FailoverService ${other.namespace}/${other.name}; aggregates cannot be nested`;
}

/**
 * Children the sidecar does not otherwise have (the backing service does not run that port in that
 * cluster, or the cluster is not visible): EDS targets of their own, with endpoints only from a
 * visible cluster. Children that are other aggregates are not targets (the guard rejects the nesting).
 */
export function failoverExtraTargets(view: MeshView, cluster: string): readonly OutboundTarget[] {
  return view.memo(`failover-extra-targets|${cluster}`, () => {
    const known = new Set(view.sidecarTargets(cluster).map((t) => t.clusterName));
    const plans = sidecarFailovers(view, cluster);
    for (const p of plans) known.add(p.clusterName);
    const visible = new Set(view.visibleClusters(cluster));
    const out = new Map<string, OutboundTarget>();
    for (const p of plans) {
      const fs = p.service;
      for (const b of fs.backingServices) {
        const host = globalHost(b.name, b.namespace, b.cluster);
        const name = outboundClusterName(fs.port.number, '', host);
        if (known.has(name) || out.has(name)) continue;
        const reachable = visible.has(b.cluster) && view.snapshot.clusters.has(b.cluster);
        out.set(name, {
          clusterName: name,
          host,
          hostCluster: b.cluster,
          service: b.name,
          namespace: b.namespace,
          globalKey: globalServiceKey(b),
          port: fs.port.number,
          protocol: fs.port.protocol,
          subset: '',
          subsetLabels: {},
          clusters: reachable ? [b.cluster] : [],
          sni: crossNetworkSni(fs.port.number, '', host),
        });
      }
    }
    return [...out.values()].sort((a, b) => (a.clusterName < b.clusterName ? -1 : a.clusterName > b.clusterName ? 1 : 0));
  });
}

/** Every upstream target of a sidecar in `cluster`: what it sees plus failover children it would not otherwise have. */
export function sidecarUpstreamTargets(view: MeshView, cluster: string): readonly OutboundTarget[] {
  return view.memo(`sidecar-upstream-targets|${cluster}`, () => {
    const extra = failoverExtraTargets(view, cluster);
    return extra.length === 0 ? view.sidecarTargets(cluster) : [...view.sidecarTargets(cluster), ...extra];
  });
}

function duration(ms: number): Resource {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  return nanos === 0 ? { seconds } : { seconds, nanos };
}

/** Envoy's `outlier_detection` for these settings: consecutive errors (5xx and connect failures) eject; success rate does not. */
export function outlierDetection(od: OutlierDetection): Resource {
  return {
    consecutive_5xx: { value: od.consecutiveErrors },
    interval: duration(od.intervalMs),
    base_ejection_time: duration(od.baseEjectionTimeMs),
    max_ejection_percent: { value: od.maxEjectionPercent },
    // As TrafficPolicy translation (and Istio) does: only consecutive errors eject.
    enforcing_success_rate: { value: 0 },
  };
}

/**
 * Adds the default outlier detection to the failover children among `clusters` that have none
 * (new objects; the inputs may be shared). A child whose TrafficPolicy set outlier detection
 * (`withClusterPolicies`, which knows which policies apply to this proxy) keeps it.
 */
export function withFailoverOutliers(view: MeshView, cluster: string, clusters: readonly Resource[]): Resource[] {
  const plans = sidecarFailovers(view, cluster);
  if (plans.length === 0) return [...clusters];
  const children = new Set(plans.flatMap((p) => p.children));
  const fallback = outlierDetection(DEFAULT_FAILOVER_OUTLIER);
  return clusters.map((c) => (children.has(String(c.name)) && c.outlier_detection === undefined ? { ...c, outlier_detection: fallback } : c));
}

/** The aggregate cluster of a plan: `CLUSTER_PROVIDED`, children in declared order. */
export function aggregateCluster(plan: FailoverPlan): Resource {
  return {
    name: plan.clusterName,
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: 'CLUSTER_PROVIDED',
    // Supersedes lb_policy where supported. Envoy takes the first policy it knows (cluster_provided,
    // what an aggregate needs); gRPC clients know no cluster_provided and take round_robin, which
    // they ignore for an aggregate anyway (each child balances with its own policy).
    load_balancing_policy: {
      policies: [
        { typed_extension_config: { name: 'envoy.load_balancing_policies.cluster_provided', typed_config: { '@type': CLUSTER_PROVIDED_TYPE } } },
        { typed_extension_config: { name: 'envoy.load_balancing_policies.round_robin', typed_config: { '@type': ROUND_ROBIN_TYPE } } },
      ],
    },
    cluster_type: { name: AGGREGATE_CLUSTER_NAME, typed_config: { '@type': AGGREGATE_CLUSTER_TYPE, clusters: [...plan.children] } },
  };
}

/** The aggregate clusters of the FailoverServices offered to sidecars in `cluster`. */
export function failoverAggregates(view: MeshView, cluster: string): Resource[] {
  return sidecarFailovers(view, cluster).map(aggregateCluster);
}

/**
 * The route configuration with one virtual host per sound, HTTP-family FailoverService:
 * domains `<hostname>:<port>` and `<hostname>` (those no service virtual host already claims),
 * everything to the aggregate with no route timeout.
 */
export function withFailoverRoutes(view: MeshView, cluster: string, rc: Resource, port?: number): Resource {
  const plans = failoverHttpPlans(view, cluster).filter((p) => port === undefined || p.service.port.number === port);
  if (plans.length === 0) return rc;
  const vhosts = (rc.virtual_hosts as Resource[] | undefined) ?? [];
  const claimed = new Set(vhosts.flatMap((vh) => vh.domains as string[]));
  const names = new Set(vhosts.map((vh) => String(vh.name)));
  const added: Resource[] = [];
  for (const p of plans) {
    const fs = p.service;
    const name = `${fs.hostname}:${fs.port.number}`;
    const domains = [`${fs.hostname}:${fs.port.number}`, fs.hostname].filter((d) => !claimed.has(d)).sort();
    if (domains.length === 0 || names.has(name)) continue;
    for (const d of domains) claimed.add(d);
    names.add(name);
    added.push({ name, domains, routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: p.clusterName, timeout: { seconds: 0 } } }] });
  }
  return { ...rc, virtual_hosts: [...vhosts, ...added] };
}

/** The sound HTTP FailoverServices offered to sidecars in `cluster` (each gets a virtual host on its port). */
export function failoverHttpPlans(view: MeshView, cluster: string): readonly FailoverPlan[] {
  return sidecarFailovers(view, cluster).filter((p) => p.problem === undefined && isHttp(p.service.port.protocol));
}

/** A problem of one FailoverService that makes its aggregate unusable, wherever it is offered. */
export interface FailoverProblem {
  readonly namespace: string;
  readonly name: string;
  readonly message: string;
}

/**
 * Problems visible from the FailoverServices alone (for the config stage to report as errors):
 * an aggregate that contains itself, one whose child is another FailoverService's aggregate
 * (nesting, or a cycle when the chain comes back), and two FailoverServices with one hostname and
 * port (the later one by namespace/name loses).
 */
export function failoverConfigProblems(services: readonly FailoverService[]): FailoverProblem[] {
  const owner = new Map<string, FailoverService>();
  const out: FailoverProblem[] = [];
  for (const fs of services) {
    const name = failoverClusterName(fs);
    const first = owner.get(name);
    if (first) out.push({ namespace: fs.namespace, name: fs.name, message: `hostname ${fs.hostname} port ${fs.port.number} is already FailoverService ${first.namespace}/${first.name}` });
    else owner.set(name, fs);
  }
  for (const [name, fs] of owner) {
    const children = failoverChildNames(fs);
    if (children.includes(name)) {
      out.push({ namespace: fs.namespace, name: fs.name, message: `aggregate cluster "${name}" would contain itself (a backing service's host is the FailoverService's hostname)` });
      continue;
    }
    const nested = children.find((c) => owner.has(c));
    if (nested === undefined) continue;
    const path = [name];
    let cur: string | undefined = nested;
    while (cur !== undefined && !path.includes(cur)) {
      path.push(cur);
      cur = failoverChildNames(owner.get(cur)!).find((c) => owner.has(c));
    }
    const other = owner.get(nested)!;
    out.push({
      namespace: fs.namespace,
      name: fs.name,
      message: cur === name ? `aggregate clusters form a cycle: ${[...path, name].join(' -> ')}` : `child "${nested}" is the aggregate of FailoverService ${other.namespace}/${other.name}; aggregates cannot be nested`,
    });
  }
  return out;
}
