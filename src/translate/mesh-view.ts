/**
 * A snapshot as translators read it: which clusters a cluster sees, which upstream clusters
 * ("targets") a sidecar or gateway gets, the endpoints and identities behind each target, and
 * each target's ClusterLoadAssignment for a placement. Derived data is memoized on the view, so
 * every proxy translated from one snapshot shares it; a view never changes after creation except
 * for filling its memos (same inputs, same answers).
 */
import { globalServiceKey, endpointPort, subsetMatches, type Endpoint, type MeshSnapshot } from '../model/snapshot.js';
import type { Protocol } from '../model/types.js';
import { LOCALITY_OVERPROVISIONING, STRICT_ORDER_OVERPROVISIONING, assignmentFor, endpointSharing, explainLayout, meshOnlyAssignment, prepareEndpoints, type ClusterLoadAssignment, type LayoutExplanation, type NetworkGateway, type PreparedEndpoints, type ProxyPlacement } from './endpoints.js';
import { crossNetworkSni, globalHost, localHost, outboundClusterName } from './names.js';
import { subsetsFromPolicies, type SubsetNeed } from './subsets.js';

/** One upstream cluster a proxy may be given: a service port (and subset) under one host name. */
export interface OutboundTarget {
  /** `outbound|<port>|<subset>|<host>`. */
  readonly clusterName: string;
  /** `<svc>.<ns>.svc.cluster.local` or `<svc>.<ns>.svc.<cluster>.global`. */
  readonly host: string;
  /** Set for `.global` hosts: the one cluster the host stands for. */
  readonly hostCluster?: string;
  readonly service: string;
  readonly namespace: string;
  /** `<namespace>/<name>` of the global service. */
  readonly globalKey: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** Subset name ('' = all endpoints) and its labels. */
  readonly subset: string;
  readonly subsetLabels: Readonly<Record<string, string>>;
  /** Clusters whose endpoints back this target, sorted. */
  readonly clusters: readonly string[];
  /** SNI sent upstream: `outbound_.<port>_.<subset or _>_.<host>`. */
  readonly sni: string;
  /**
   * Set on the mesh-wide host (no subset) of a service that is headless in every cluster running it:
   * a sidecar sends a connection to the workload address the app connected to (translate/headless.ts).
   */
  readonly headless?: true;
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Options a view is built with. */
export interface MeshViewOptions {
  /** Subsets policies need (default: `subsetsFromPolicies(snapshot.policies)`). */
  readonly subsets?: readonly SubsetNeed[];
  /**
   * A view of an earlier snapshot whose services, clusters, gateways and policies are unchanged
   * (only endpoints differ): its target lists are reused instead of recomputed.
   */
  readonly reuseTargetsOf?: MeshView;
}

/** Memoized, read-only access to one snapshot for translators. */
export class MeshView {
  readonly snapshot: MeshSnapshot;
  readonly subsets: readonly SubsetNeed[];
  private readonly visible = new Map<string, readonly string[]>();
  private readonly sidecarTargetMemo: Map<string, readonly OutboundTarget[]>;
  private readonly gatewayTargetMemo: Map<string, readonly OutboundTarget[]>;
  private gatewayMemo: ReadonlyMap<string, readonly NetworkGateway[]> | undefined;
  private subsetsByService: Map<string, SubsetNeed[]> | undefined;
  private sortedGlobals: string[] | undefined;
  private readonly memos = new Map<string, unknown>();
  private readonly targetMemos: Map<string, unknown>;
  /** Endpoint objects, locality messages and assignment layouts shared by every assignment built from this view. */
  private readonly endpointSharing = endpointSharing();
  /** Per target object: its endpoints, and once an assignment is asked for, the endpoints prepared for building them. */
  private readonly targetData = new WeakMap<OutboundTarget, TargetData>();
  /** Results derived from one object (a target), per kind: shared by every caller that holds the same object. */
  private readonly objectMemos = new WeakMap<object, Map<string, unknown>>();

  constructor(snapshot: MeshSnapshot, options: MeshViewOptions = {}) {
    this.snapshot = snapshot;
    const reuse = options.reuseTargetsOf;
    this.subsets = options.subsets ?? reuse?.subsets ?? subsetsFromPolicies(snapshot.policies);
    this.sidecarTargetMemo = new Map(reuse?.sidecarTargetMemo);
    this.gatewayTargetMemo = new Map(reuse?.gatewayTargetMemo);
    this.targetMemos = new Map(reuse?.targetMemos);
    if (reuse) {
      for (const [k, v] of reuse.visible) this.visible.set(k, v);
      this.sortedGlobals = reuse.sortedGlobals;
    }
  }

  /** Computes `compute()` once per key for this view (derived data shared by every proxy translated from it). */
  memo<T>(key: string, compute: () => T): T {
    if (this.memos.has(key)) return this.memos.get(key) as T;
    const v = compute();
    this.memos.set(key, v);
    return v;
  }

  /**
   * Like `memo`, keyed by an object's identity and a kind: for data derived from a shared object
   * (e.g. a target's outbound cluster, the same for every cluster whose sidecars see that target).
   */
  memoOn<T>(obj: object, kind: string, compute: () => T): T {
    let m = this.objectMemos.get(obj);
    if (!m) this.objectMemos.set(obj, (m = new Map()));
    if (m.has(kind)) return m.get(kind) as T;
    const v = compute();
    m.set(kind, v);
    return v;
  }

  /**
   * Like `memo`, for data derived only from target lists (services, clusters, gateways, policies):
   * a view built with `reuseTargetsOf` keeps it, so an endpoint change does not recompute it.
   */
  memoTargets<T>(key: string, compute: () => T): T {
    if (this.targetMemos.has(key)) return this.targetMemos.get(key) as T;
    const v = compute();
    this.targetMemos.set(key, v);
    return v;
  }

  /**
   * Clusters whose services a proxy in `cluster` sees: itself plus every member of a VirtualMesh it
   * belongs to (that exists in the mesh). A cluster in no VirtualMesh sees only itself.
   */
  visibleClusters(cluster: string): readonly string[] {
    let v = this.visible.get(cluster);
    if (v) return v;
    const set = new Set<string>([cluster]);
    for (const vm of this.snapshot.policies.virtualMeshes) {
      if (!vm.meshes.some((m) => m.name === cluster)) continue;
      for (const m of vm.meshes) if (this.snapshot.clusters.has(m.name)) set.add(m.name);
    }
    v = [...set].sort();
    this.visible.set(cluster, v);
    return v;
  }

  /** East-west gateway addresses per cluster (from `Cluster.gateway`), for cross-network endpoints. */
  gatewaysByCluster(): ReadonlyMap<string, readonly NetworkGateway[]> {
    if (this.gatewayMemo) return this.gatewayMemo;
    const m = new Map<string, NetworkGateway[]>();
    for (const c of this.snapshot.clusters.values()) if (c.gateway) m.set(c.name, [{ address: c.gateway.address, port: c.gateway.port }]);
    this.gatewayMemo = m;
    return m;
  }

  /** Subsets needed for a global service (`<ns>/<name>`). */
  subsetsOf(globalKey: string): readonly SubsetNeed[] {
    if (!this.subsetsByService) {
      this.subsetsByService = new Map();
      for (const n of this.subsets) {
        const k = globalServiceKey(n.service);
        let l = this.subsetsByService.get(k);
        if (!l) this.subsetsByService.set(k, (l = []));
        l.push(n);
      }
    }
    return this.subsetsByService.get(globalKey) ?? [];
  }

  private globalKeys(): string[] {
    this.sortedGlobals ??= [...this.snapshot.globalServices.keys()].sort();
    return this.sortedGlobals;
  }

  /**
   * Upstream clusters of a sidecar in `cluster`: for every port of every service it sees, the
   * mesh-wide host (endpoints of every visible cluster running it), one `.global` host per visible
   * cluster running it, and the subsets policies need. Sorted by cluster name.
   */
  sidecarTargets(cluster: string): readonly OutboundTarget[] {
    const memo = this.sidecarTargetMemo.get(cluster);
    if (memo) return memo;
    // The list depends only on which clusters are visible: clusters that see the same set share one
    // list (and so the objects built from it).
    const visibleKey = `visible|${this.visibleClusters(cluster).join(',')}`;
    const shared = this.sidecarTargetMemo.get(visibleKey);
    if (shared) {
      this.sidecarTargetMemo.set(cluster, shared);
      return shared;
    }
    const visible = new Set(this.visibleClusters(cluster));
    const out: OutboundTarget[] = [];
    for (const gk of this.globalKeys()) {
      const gs = this.snapshot.globalServices.get(gk)!;
      const members = gs.clusters.filter((c) => visible.has(c));
      if (members.length === 0) continue;
      // port → protocol per cluster running it (members sorted, so the first protocol is deterministic)
      const ports = new Map<number, Map<string, Protocol>>();
      for (const c of members) {
        const svc = this.snapshot.services.get(`${c}/${gs.namespace}/${gs.name}`);
        for (const p of svc?.ports ?? []) {
          let byCluster = ports.get(p.port);
          if (!byCluster) ports.set(p.port, (byCluster = new Map()));
          byCluster.set(c, p.protocol);
        }
      }
      const needs = this.subsetsOf(gk);
      for (const port of [...ports.keys()].sort((a, b) => a - b)) {
        const byCluster = ports.get(port)!;
        const clusters = [...byCluster.keys()];
        const local = localHost(gs.name, gs.namespace);
        const headless = clusters.every((c) => this.snapshot.services.get(`${c}/${gs.namespace}/${gs.name}`)?.headless === true);
        out.push(target(gs.name, gs.namespace, gk, port, byCluster.get(clusters[0]!)!, local, undefined, '', NO_LABELS, clusters, headless));
        for (const c of clusters) {
          out.push(target(gs.name, gs.namespace, gk, port, byCluster.get(c)!, globalHost(gs.name, gs.namespace, c), c, '', NO_LABELS, [c]));
        }
        for (const n of needs) {
          if (n.port !== undefined && n.port !== port) continue;
          if (n.cluster === undefined) {
            out.push(target(gs.name, gs.namespace, gk, port, byCluster.get(clusters[0]!)!, local, undefined, n.name, n.labels, clusters));
          } else if (byCluster.has(n.cluster)) {
            const c = n.cluster;
            out.push(target(gs.name, gs.namespace, gk, port, byCluster.get(c)!, globalHost(gs.name, gs.namespace, c), c, n.name, n.labels, [c]));
          }
        }
      }
    }
    const result = dedupeSorted(out);
    this.sidecarTargetMemo.set(cluster, result);
    this.sidecarTargetMemo.set(visibleKey, result);
    return result;
  }

  /**
   * What the east-west gateway of `cluster` forwards to: every service port of that cluster (and the
   * subsets policies need for it), under the mesh-wide name, backed by that cluster's endpoints only.
   * Nothing when no other cluster can see this one (it is in no VirtualMesh with another cluster).
   */
  gatewayTargets(cluster: string): readonly OutboundTarget[] {
    const memo = this.gatewayTargetMemo.get(cluster);
    if (memo) return memo;
    const out: OutboundTarget[] = [];
    if (this.visibleClusters(cluster).length > 1) {
      for (const gk of this.globalKeys()) {
        const gs = this.snapshot.globalServices.get(gk)!;
        if (!gs.clusters.includes(cluster)) continue;
        const svc = this.snapshot.services.get(`${cluster}/${gs.namespace}/${gs.name}`);
        const local = localHost(gs.name, gs.namespace);
        const needs = this.subsetsOf(gk);
        for (const p of [...(svc?.ports ?? [])].sort((a, b) => a.port - b.port)) {
          out.push(target(gs.name, gs.namespace, gk, p.port, p.protocol, local, undefined, '', NO_LABELS, [cluster]));
          for (const n of needs) {
            if (n.port !== undefined && n.port !== p.port) continue;
            if (n.cluster !== undefined && n.cluster !== cluster) continue;
            out.push(target(gs.name, gs.namespace, gk, p.port, p.protocol, local, undefined, n.name, n.labels, [cluster]));
          }
        }
      }
    }
    const result = dedupeSorted(out);
    this.gatewayTargetMemo.set(cluster, result);
    return result;
  }

  /** The endpoints behind a target: its clusters' endpoints of the service, filtered by the subset. */
  targetEndpoints(t: OutboundTarget): Endpoint[] {
    return [...this.dataOf(t).endpoints];
  }

  /** A target's endpoints, computed once per target object. */
  private dataOf(t: OutboundTarget): TargetData {
    let d = this.targetData.get(t);
    if (!d) this.targetData.set(t, (d = { endpoints: this.collectEndpoints(t), prepared: undefined }));
    return d;
  }

  private collectEndpoints(t: OutboundTarget): Endpoint[] {
    const out: Endpoint[] = [];
    for (const c of t.clusters) {
      for (const ep of this.snapshot.endpoints.get(`${c}/${t.namespace}/${t.service}`) ?? []) {
        if (subsetMatches(t.subsetLabels, ep.labels) && endpointPort(ep, t.port) !== undefined) out.push(ep);
      }
    }
    return out;
  }

  /** SPIFFE IDs of the mesh workloads behind a target, sorted and unique (what upstream TLS accepts). */
  targetIdentities(t: OutboundTarget): string[] {
    const ids = new Set<string>();
    for (const e of this.dataOf(t).endpoints) if (e.mesh !== false) ids.add(e.identity);
    return [...ids].sort();
  }

  /** Whether some endpoint behind a target is outside the mesh (its cluster then needs a plaintext transport socket match). */
  hasPlaintextEndpoints(t: OutboundTarget): boolean {
    return this.dataOf(t).endpoints.some((e) => e.mesh === false);
  }

  /**
   * The target's ClusterLoadAssignment as seen from `placement` (locality priorities, gateways for
   * other networks). Placements that lay the target's endpoints out alike (e.g. every zone of a
   * cluster, for a service that only runs elsewhere) get the same object, so it is built and guarded once.
   */
  assignment(t: OutboundTarget, placement: ProxyPlacement): ClusterLoadAssignment {
    const factor = t.hostCluster === undefined ? LOCALITY_OVERPROVISIONING : STRICT_ORDER_OVERPROVISIONING;
    return assignmentFor(t.clusterName, this.preparedOf(t), placement, this.gatewaysByCluster(), factor);
  }

  /**
   * `assignment(t, placement)` without endpoints outside the mesh, for proxies that cannot reach
   * them in plaintext: east-west gateways (they pass mesh mTLS through by SNI) and proxyless gRPC
   * clients (their xDS client has no transport socket matches, so it would speak mTLS to them).
   */
  meshEndpointsAssignment(t: OutboundTarget, placement: ProxyPlacement): ClusterLoadAssignment {
    const cla = this.assignment(t, placement);
    return this.memoOn(cla, 'mesh-only', () => meshOnlyAssignment(cla));
  }

  /** Why `assignment(t, placement)` has its priorities: the layout it is built from, place by place. */
  assignmentLayout(t: OutboundTarget, placement: ProxyPlacement): LayoutExplanation {
    return explainLayout(this.preparedOf(t), placement, this.gatewaysByCluster());
  }

  private preparedOf(t: OutboundTarget): PreparedEndpoints {
    const d = this.dataOf(t);
    d.prepared ??= prepareEndpoints(
      d.endpoints.map((ep) => ({
        address: ep.address,
        ...(ep.additionalAddresses ? { additionalAddresses: ep.additionalAddresses } : {}),
        // Peers connect to the app's port; the pod's capture rules hand the connection to its sidecar.
        port: endpointPort(ep, t.port)!,
        health: ep.health,
        locality: ep.locality,
        cluster: ep.cluster,
        network: ep.network,
        ...(ep.mesh === false ? { mesh: false as const } : {}),
      })),
      this.endpointSharing,
    );
    return d.prepared;
  }
}

/** A target's endpoints, and the same prepared for building its assignments (once one is asked for). */
interface TargetData {
  readonly endpoints: readonly Endpoint[];
  prepared: PreparedEndpoints | undefined;
}

function target(
  service: string,
  namespace: string,
  globalKey: string,
  port: number,
  protocol: Protocol,
  host: string,
  hostCluster: string | undefined,
  subset: string,
  subsetLabels: Readonly<Record<string, string>>,
  clusters: readonly string[],
  headless = false,
): OutboundTarget {
  return {
    clusterName: outboundClusterName(port, subset, host),
    host,
    ...(hostCluster !== undefined ? { hostCluster } : {}),
    service,
    namespace,
    globalKey,
    port,
    protocol,
    subset,
    subsetLabels,
    clusters,
    sni: crossNetworkSni(port, subset, host),
    ...(headless ? { headless: true as const } : {}),
  };
}

/** Sorts by cluster name; two needs mapping to the same name (same labels) keep the first. */
function dedupeSorted(list: OutboundTarget[]): OutboundTarget[] {
  const seen = new Map<string, OutboundTarget>();
  for (const t of list) if (!seen.has(t.clusterName)) seen.set(t.clusterName, t);
  return [...seen.values()].sort((a, b) => compareText(a.clusterName, b.clusterName));
}
