/**
 * Feeds the snapshot cache from the model: resolves each connecting node to its proxy in the mesh,
 * puts it in one cache group per resource kind (proxies whose resources would be identical share a
 * group, hence one computation and one encoding), computes a group when its first node arrives,
 * and on every model change recomputes only what the change touches:
 *
 * - endpoints only (scaling, health, a workload moving): the ClusterLoadAssignments of the affected
 *   services in every EDS group, and, only if the identities behind a service changed, that
 *   service's clusters in every CDS group (their SAN matchers); a headless service's endpoints are
 *   in listeners too, so a change of them is treated like the next case;
 * - services, clusters, gateways or policies: every group is recomputed from the new snapshot
 *   (unchanged resources keep their version, so proxies get only what differs).
 *
 * Every computed resource passes the guard (protoc-gen-validate rules + Envoy's semantic rules)
 * before it reaches the cache; a rejected one is not published and the group keeps the previous
 * version of that name. Rejections are counted, logged and shown by `status()`.
 */
import { Counter } from 'prom-client';
import { log } from '../log.js';
import { noKeyChanges, type ChangeSet } from '../model/changeset.js';
import type { MeshSnapshot } from '../model/snapshot.js';
import type { ModelStore } from '../model/store.js';
import type { ProxyRole } from '../translate/bootstrap.js';
import { MeshView, rebuildAssignments, translatorFor } from '../translate/index.js';
import { parseRole, resolveProxy, type ProxyContext } from '../translate/proxy.js';
import { RESOURCE_KINDS, SHORT_KIND, emptyResources, sortedMap, type ProxyResources, type Resource, type ResourceKind, type ResourceMap } from '../translate/resources.js';
import type { RoleTranslator, Scope } from '../translate/scopes.js';
import { guardResources, type Rejection } from '../translate/semantics.js';
import { policyChangeFilter } from '../translate/policy-change.js';
import { policiesReport, type PoliciesReport } from '../translate/policy-status.js';
import { explainProxy, type ExplainOptions, type Explanation } from '../translate/explain.js';
import type { SubsetNeed } from '../translate/subsets.js';
import type { GroupAssignment, SnapshotCache, StreamIdentity } from './cache.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, type NodeInfo, type TypeUrl } from './types.js';

const TYPE_OF_KIND: Readonly<Record<ResourceKind, TypeUrl>> = {
  clusters: CLUSTER_TYPE,
  endpoints: ENDPOINT_TYPE,
  listeners: LISTENER_TYPE,
  routes: ROUTE_TYPE,
};

const computationsTotal = new Counter({
  name: 'crossmesh_translate_computations_total',
  help: 'Resource group computations by kind (cds, eds, lds, rds) and mode (full: the whole group; incremental: only changed services).',
  labelNames: ['kind', 'mode'] as const,
});
const sharedTotal = new Counter({
  name: 'crossmesh_translate_shared_total',
  help: 'Times a proxy was given an already computed resource group instead of a new computation, by kind.',
  labelNames: ['kind'] as const,
});
const guardRejectionsTotal = new Counter({
  name: 'crossmesh_guard_rejections_total',
  help: 'Resources the guard refused to publish (they break a protoc-gen-validate or Envoy semantic rule), by type.',
  labelNames: ['type'] as const,
});

export interface MeshPublisherOptions {
  /**
   * SDS group of a proxy: the CA wiring publishes its `default`/`ROOTCA` secrets there.
   * Default `sds|<spiffe id>` (one group per identity).
   */
  readonly secretGroup?: (proxy: ProxyContext, identity: StreamIdentity | undefined) => string;
  /** Subsets policies need (default: from TrafficPolicy traffic shifts; see translate/subsets.ts). */
  readonly subsets?: (snapshot: MeshSnapshot) => readonly SubsetNeed[];
  /**
   * Make-before-break for policy changes: resolves true once every proxy served from these
   * groups has answered (ACK or NACK) the latest `typeUrl` response it was sent, false when
   * `timeoutMs` passed first (the xDS servers' `whenAnswered`). When given, a TrafficPolicy or
   * AccessPolicy change pushes the listeners (where servers enforce access) first and the rest
   * (the clusters and routes through which clients reach servers) once those are applied, so a
   * newly allowed client never connects before its server allows it. Without it, one push.
   */
  readonly whenApplied?: (groups: ReadonlySet<string>, typeUrl: TypeUrl, timeoutMs: number) => Promise<boolean>;
  /** The longest the rest of a policy change waits for the listeners to be applied (default 3 s). */
  readonly applyTimeoutMs?: number;
}

/** One computed resource group: the resources of one kind shared by every node with the same scope key. */
interface GroupState {
  readonly key: string;
  readonly kind: ResourceKind;
  readonly role: ProxyRole;
  readonly translator: RoleTranslator;
  scope: Scope;
  readonly members: Set<string>;
  /** What the cache holds for this group (the guard's last accepted set); owned by the group, patched in place. */
  published: Map<string, Resource>;
  /** Rejections of the resources currently failing the guard, by name. */
  rejected: Map<string, Rejection>;
  computations: number;
}

interface NodeState {
  readonly proxy: ProxyContext;
  readonly keys: Readonly<Record<ResourceKind, string>>;
}

/** A group as the admin server shows it. */
export interface GroupStatus {
  readonly key: string;
  readonly kind: ResourceKind;
  readonly role: ProxyRole;
  /** Node ids resolved into this group (including ones whose stream has since closed, until `prune`). */
  readonly nodes: readonly string[];
  readonly resources: number;
  /** Resources the guard refuses now (the previous good version, if any, is what is served). */
  readonly rejected: readonly Rejection[];
  readonly computations: number;
}

/** Work done vs. work shared, for benchmarks and the status page. */
export interface PublisherStats {
  /** Full group computations per kind. */
  readonly computations: Readonly<Record<ResourceKind, number>>;
  /** Resolutions that reused an existing group, per kind. */
  readonly shared: Readonly<Record<ResourceKind, number>>;
  /** ClusterLoadAssignments rebuilt by endpoint-only changes. */
  readonly assignmentsRebuilt: number;
  /** Clusters rebuilt because the identities behind a service changed. */
  readonly clustersRebuilt: number;
  /** Groups currently held, per kind. */
  readonly groups: Readonly<Record<ResourceKind, number>>;
}

export interface PublisherStatus {
  /** Version of the model snapshot the groups were computed from. */
  readonly snapshotVersion: string;
  /** Groups a policy change computed but holds back until the proxies applied its listeners (make-before-break). */
  readonly held: number;
  readonly groups: readonly GroupStatus[];
  /** Nodes the resolver refused, with the reason (unknown workload, bad role, ...). */
  readonly unresolved: readonly { readonly node: string; readonly error: string }[];
  readonly stats: PublisherStats;
}

function resourceCounts(entries: readonly (readonly [ResourceKind, number])[]): Record<ResourceKind, number> {
  return Object.fromEntries(entries) as Record<ResourceKind, number>;
}

function zero(): Record<ResourceKind, number> {
  return { clusters: 0, endpoints: 0, listeners: 0, routes: 0 };
}

/** `<cluster>/<ns>/<name>` → `<ns>/<name>`. */
function globalKeyOfService(serviceKey: string): string {
  return serviceKey.slice(serviceKey.indexOf('/') + 1);
}

/**
 * Whether an endpoint change touches a headless service: its workloads' addresses are in sidecar
 * listeners (translate/headless.ts), so it is recomputed like a service change, not EDS alone.
 */
function headlessEndpoints(snapshot: MeshSnapshot, c: ChangeSet): boolean {
  return c.endpoints.some((sk) => snapshot.services.get(sk)?.headless === true);
}

function structural(c: ChangeSet): boolean {
  return (
    !noKeyChanges(c.clusters) ||
    !noKeyChanges(c.services) ||
    !noKeyChanges(c.gateways) ||
    c.globalServices.length > 0 ||
    !noKeyChanges(c.policies.virtualMeshes) ||
    !noKeyChanges(c.policies.trafficPolicies) ||
    !noKeyChanges(c.policies.accessPolicies) ||
    !noKeyChanges(c.policies.failoverServices)
  );
}

/** The facts behind a service's upstream identities: which identity serves where, with which labels (subsets). */
function identitySignature(view: MeshView, globalKey: string): string {
  const gs = view.snapshot.globalServices.get(globalKey);
  if (!gs) return '';
  const facts = new Set<string>();
  for (const sk of gs.services) {
    for (const ep of view.snapshot.endpoints.get(sk) ?? []) {
      const labels = Object.keys(ep.labels).sort().map((k) => `${k}=${ep.labels[k]}`).join(',');
      // An endpoint outside the mesh adds a plaintext transport socket match to the cluster, not an identity.
      facts.add(`${ep.cluster}\u0000${ep.mesh === false ? '(plaintext)' : ep.identity}\u0000${labels}`);
    }
  }
  return [...facts].sort().join('\n');
}

/** Publishes the model's translation into a snapshot cache, per group, incrementally. */
export class MeshPublisher {
  private view: MeshView;
  private readonly groups = new Map<string, GroupState>();
  private readonly nodes = new Map<string, NodeState>();
  private readonly unresolved = new Map<string, string>();
  private readonly counts = { computations: zero(), shared: zero(), assignmentsRebuilt: 0, clustersRebuilt: 0 };
  private readonly unsubscribe: () => void;
  private closed = false;
  /** While set (to the policy change's step number), computed non-listener groups are held back from the cache (make-before-break). */
  private holding = 0;
  private steps = 0;
  /** Groups whose latest computation (`published`) is not in the cache yet, with the step that held them. */
  private readonly held = new Map<GroupState, number>();

  private constructor(
    store: ModelStore,
    private readonly cache: SnapshotCache,
    private readonly options: MeshPublisherOptions,
  ) {
    this.view = this.newView(store.current);
    this.unsubscribe = store.subscribe((snap, changes) => this.onModelChange(snap, changes));
    cache.setResolver((node, identity) => this.resolve(node, identity));
  }

  /** Installs the group resolver on `cache` and follows `store`; groups are computed as nodes connect. */
  static attach(store: ModelStore, cache: SnapshotCache, options: MeshPublisherOptions = {}): MeshPublisher {
    return new MeshPublisher(store, cache, options);
  }

  /** Stops following the model; connected nodes are refused from now on (the control plane is going away). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.held.clear();
    this.unsubscribe();
    this.cache.setResolver(() => new Error('the mesh publisher is closed (control plane shutting down)'));
  }

  /** Counters of computations done and shared. */
  stats(): PublisherStats {
    const groups = zero();
    for (const g of this.groups.values()) groups[g.kind]++;
    return { computations: { ...this.counts.computations }, shared: { ...this.counts.shared }, assignmentsRebuilt: this.counts.assignmentsRebuilt, clustersRebuilt: this.counts.clustersRebuilt, groups };
  }

  /** Every group with its nodes, resource count and current guard rejections; and the refused nodes. */
  status(): PublisherStatus {
    const groups = [...this.groups.values()]
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((g) => ({
        key: g.key,
        kind: g.kind,
        role: g.role,
        nodes: [...g.members].sort(),
        resources: g.published.size,
        rejected: [...g.rejected.values()],
        computations: g.computations,
      }));
    const unresolved = [...this.unresolved].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([node, error]) => ({ node, error }));
    return { snapshotVersion: this.view.snapshot.version, held: this.held.size, groups, unresolved, stats: this.stats() };
  }

  /** For one node: its group per kind and the guard rejections affecting it, or its resolver error. */
  proxyStatus(nodeId: string): { readonly groups: Readonly<Record<ResourceKind, string>>; readonly rejected: readonly Rejection[]; readonly resources: Readonly<Record<ResourceKind, number>> } | { readonly error: string } | undefined {
    const n = this.nodes.get(nodeId);
    if (n) return { groups: n.keys, rejected: RESOURCE_KINDS.flatMap((k) => [...(this.groups.get(n.keys[k])?.rejected.values() ?? [])]), resources: resourceCounts(RESOURCE_KINDS.map((k) => [k, this.groups.get(n.keys[k])?.published.size ?? 0])) };
    const error = this.unresolved.get(nodeId);
    return error === undefined ? undefined : { error };
  }

  /** Explains what a node is served and why, from the current snapshot (the same view the groups are computed from). */
  explain(nodeId: string, options: ExplainOptions = {}): Explanation | Error {
    return explainProxy(this.view, nodeId, options);
  }

  /** What every TrafficPolicy/AccessPolicy affects (proxies, groups, resources) or why nothing, conflicts, per-node scopes: `/debug/policies`. */
  policies(): PoliciesReport {
    return policiesReport(this.view, [...this.nodes].map(([nodeId, n]) => ({ nodeId, proxy: n.proxy, keys: n.keys })));
  }

  /** The resources a node is served now (its groups' published sets), or undefined if it is not resolved. */
  resourcesOf(nodeId: string): ProxyResources | undefined {
    const n = this.nodes.get(nodeId);
    if (!n) return undefined;
    const out = emptyResources() as Record<ResourceKind, ResourceMap>;
    for (const k of RESOURCE_KINDS) out[k] = this.groups.get(n.keys[k])?.published ?? new Map();
    return out;
  }

  /**
   * Forgets nodes that are no longer connected (pass the node ids of live streams, e.g. from
   * `XdsServer.proxies()`) and drops groups left without nodes. The cache does not report
   * disconnections, so without this a group lives until its last node moves to another group.
   */
  prune(liveNodeIds: Iterable<string>): void {
    const live = new Set(liveNodeIds);
    for (const id of [...this.nodes.keys()]) if (!live.has(id)) this.forgetNode(id);
    for (const id of [...this.unresolved.keys()]) if (!live.has(id)) this.unresolved.delete(id);
    this.dropEmptyGroups();
  }

  // ---- resolution ----

  private newView(snapshot: MeshSnapshot, reuse?: MeshView): MeshView {
    const subsets = this.options.subsets?.(snapshot);
    return new MeshView(snapshot, { ...(subsets ? { subsets } : {}), ...(reuse ? { reuseTargetsOf: reuse } : {}) });
  }

  private refuse(nodeId: string, err: Error): Error {
    this.unresolved.set(nodeId, err.message);
    this.forgetNode(nodeId);
    return err;
  }

  private resolve(node: NodeInfo, identity: StreamIdentity | undefined): GroupAssignment | Error {
    const role = parseRole(node.metadata.role);
    if (role instanceof Error) return this.refuse(node.id, new Error(`node ${node.id}: ${role.message}`));
    const translator = translatorFor(role);
    if (translator instanceof Error) return this.refuse(node.id, new Error(`node ${node.id}: ${translator.message}`));
    const proxy = resolveProxy(this.view.snapshot, node.id, role);
    if (proxy instanceof Error) return this.refuse(node.id, proxy);
    let keys: Record<ResourceKind, string>;
    try {
      const scopes = translator.scopes(this.view, proxy);
      keys = { clusters: scopes.clusters.key, endpoints: scopes.endpoints.key, listeners: scopes.listeners.key, routes: scopes.routes.key };
      const before = this.nodes.get(node.id);
      if (before) for (const k of RESOURCE_KINDS) if (before.keys[k] !== keys[k]) this.groups.get(before.keys[k])?.members.delete(node.id);
      this.nodes.set(node.id, { proxy, keys });
      this.unresolved.delete(node.id);
      // Dependency order, so the guard of each kind sees the groups it references.
      for (const k of RESOURCE_KINDS) this.ensureGroup(scopes[k], translator, node.id, keys);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      log.error({ err, node: node.id }, 'translation failed');
      return this.refuse(node.id, new Error(`node ${node.id}: translation failed: ${err.message}`));
    }
    const sds = this.options.secretGroup?.(proxy, identity) ?? `sds|${proxy.identity}`;
    return {
      group: keys.clusters,
      byType: { [CLUSTER_TYPE]: keys.clusters, [ENDPOINT_TYPE]: keys.endpoints, [LISTENER_TYPE]: keys.listeners, [ROUTE_TYPE]: keys.routes, [SECRET_TYPE]: sds },
    };
  }

  private ensureGroup(scope: Scope, translator: RoleTranslator, nodeId: string, peers: Readonly<Record<ResourceKind, string>>): void {
    const existing = this.groups.get(scope.key);
    if (existing) {
      if (!existing.members.has(nodeId)) {
        existing.members.add(nodeId);
        this.counts.shared[scope.kind]++;
        sharedTotal.inc({ kind: SHORT_KIND[scope.kind] });
      }
      return;
    }
    const g: GroupState = { key: scope.key, kind: scope.kind, role: scope.role, translator, scope, members: new Set([nodeId]), published: new Map(), rejected: new Map(), computations: 0 };
    this.groups.set(g.key, g);
    this.computeGroup(g, peers);
  }

  private forgetNode(nodeId: string): void {
    const n = this.nodes.get(nodeId);
    if (!n) return;
    for (const k of RESOURCE_KINDS) this.groups.get(n.keys[k])?.members.delete(nodeId);
    this.nodes.delete(nodeId);
  }

  private dropEmptyGroups(): void {
    for (const [key, g] of this.groups) {
      if (g.members.size > 0) continue;
      this.groups.delete(key);
      this.cache.deleteGroup(key);
    }
  }

  // ---- computing and publishing ----

  /** Peers of a group: the groups of one of its nodes (what its references point into). */
  private peersOf(g: GroupState): Readonly<Record<ResourceKind, string>> | undefined {
    for (const id of g.members) {
      const n = this.nodes.get(id);
      if (n) return n.keys;
    }
    return undefined;
  }

  /** Candidate resources of one kind, with the peers' published sets as the reference universe. */
  private guard(g: GroupState, candidate: ResourceMap, peers: Readonly<Record<ResourceKind, string>> | undefined): { accepted: ResourceMap; rejected: readonly Rejection[] } {
    const cand = emptyResources() as Record<ResourceKind, ResourceMap>;
    for (const k of RESOURCE_KINDS) cand[k] = k === g.kind ? candidate : (peers ? this.groups.get(peers[k])?.published : undefined) ?? new Map();
    const previous = emptyResources() as Record<ResourceKind, ResourceMap>;
    previous[g.kind] = g.published;
    const r = guardResources(cand, { previous, kinds: [g.kind] });
    for (const rej of r.rejected) {
      guardRejectionsTotal.inc({ type: SHORT_KIND[g.kind] });
      log.warn({ group: g.key, kind: g.kind, resource: rej.name, errors: rej.errors }, 'guard rejected a resource; the previous version (if any) stays');
    }
    return { accepted: r.accepted[g.kind], rejected: r.rejected };
  }

  private computeGroup(g: GroupState, peers: Readonly<Record<ResourceKind, string>> | undefined): void {
    const built = g.translator.build(this.view, g.scope);
    g.computations++;
    this.counts.computations[g.kind]++;
    computationsTotal.inc({ kind: SHORT_KIND[g.kind], mode: 'full' });
    const { accepted, rejected } = this.guard(g, built, peers);
    g.rejected = new Map(rejected.map((r) => [r.name, r]));
    this.publish(g, accepted, 'set');
  }

  /** Writes to the cache; an encoding failure keeps the cache (and `published`) as they were. */
  private publish(g: GroupState, resources: ResourceMap, mode: 'set' | 'upsert'): void {
    try {
      if (mode === 'set') {
        // The guard made this map for this call: the group keeps it (and patches it in place below).
        const next = resources instanceof Map ? resources : new Map(resources);
        if (this.holding > 0 && g.kind !== 'listeners') {
          g.published = next;
          this.held.set(g, this.holding);
          return;
        }
        this.cache.setResources(g.key, TYPE_OF_KIND[g.kind], next);
        g.published = next;
        this.held.delete(g);
      } else {
        // A held group gets the patch when it is released (its whole published set is written then).
        if (!this.held.has(g)) this.cache.upsertResources(g.key, TYPE_OF_KIND[g.kind], resources);
        // Updated in place: an existing name keeps its (sorted) position; a new one forces a re-sort.
        const next = g.published as Map<string, Resource>;
        let added = false;
        for (const [n, r] of resources) {
          added ||= !next.has(n);
          next.set(n, r);
        }
        if (added) g.published = sortedMap(next);
      }
    } catch (e) {
      this.notPublished(g, e);
    }
  }

  /** Records that a group's resources failed to encode: the cache keeps its previous set. */
  private notPublished(g: GroupState, e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    guardRejectionsTotal.inc({ type: SHORT_KIND[g.kind] });
    g.rejected.set('*', { kind: g.kind, name: '*', errors: [`not published: ${message}`] });
    log.error({ group: g.key, error: message }, 'resources failed to encode; the previous set stays');
  }

  /** Replaces some resources of a group (guarded one by one); their rejections replace earlier ones of the same names. */
  private patchGroup(g: GroupState, rebuilt: Map<string, Resource>): void {
    if (rebuilt.size === 0) return;
    const { accepted, rejected } = this.guard(g, rebuilt, this.peersOf(g));
    for (const n of rebuilt.keys()) g.rejected.delete(n);
    for (const r of rejected) g.rejected.set(r.name, r);
    this.publish(g, accepted, 'upsert');
  }

  // ---- following the model ----

  private onModelChange(snapshot: MeshSnapshot, changes: ChangeSet): void {
    if (this.closed) return;
    let twoStep: { step: number; listenerGroups: ReadonlySet<string> } | undefined;
    try {
      if (structural(changes) || headlessEndpoints(snapshot, changes)) twoStep = this.recomputeAll(snapshot, changes);
      else {
        const previous = this.view;
        this.view = this.newView(snapshot, previous);
        if (changes.endpoints.length) this.applyEndpointChanges(previous, changes.endpoints);
      }
      const touchesNodes = structural(changes) || [...changes.workloads.added, ...changes.workloads.changed, ...changes.workloads.removed].some((k) => this.nodes.has(k) || this.unresolved.has(k));
      if (touchesNodes) {
        // Streams re-run the resolver (synchronously): nodes whose scopes changed move to new groups.
        // Under a policy change those are held too: a client's new dependencies are its grants.
        this.holding = twoStep?.step ?? 0;
        try {
          this.cache.reresolve();
        } finally {
          this.holding = 0;
        }
        this.dropEmptyGroups();
      }
    } catch (e) {
      log.error({ err: e, version: snapshot.version }, 'publishing a model change failed; proxies keep their last resources');
    }
    if (twoStep) this.releaseAfterListeners(twoStep.step, twoStep.listenerGroups);
  }

  /** Recomputes the groups a change can touch; for a policy change with `whenApplied`, the step holding the non-listener results. */
  private recomputeAll(snapshot: MeshSnapshot, changes?: ChangeSet): { step: number; listenerGroups: ReadonlySet<string> } | undefined {
    const previous = this.view;
    this.view = this.newView(snapshot);
    // A TrafficPolicy/AccessPolicy-only change recomputes only the groups it can touch (policy-change.ts).
    const touched = changes ? policyChangeFilter(previous, this.view, changes) : undefined;
    const ordered = [...this.groups.values()].sort((a, b) => RESOURCE_KINDS.indexOf(a.kind) - RESOURCE_KINDS.indexOf(b.kind) || (a.key < b.key ? -1 : 1));
    const recomputed = ordered.filter((g) => !touched || touched(g.scope));
    // A policy change is pushed in two steps (see `whenApplied`): listeners now, the rest once applied.
    const step = touched !== undefined && this.options.whenApplied !== undefined ? ++this.steps : 0;
    this.holding = step;
    try {
      for (const g of recomputed) this.computeGroup(g, this.peersOf(g));
    } finally {
      this.holding = 0;
    }
    return step > 0 ? { step, listenerGroups: new Set(recomputed.filter((g) => g.kind === 'listeners').map((g) => g.key)) } : undefined;
  }

  /** Pushes the listener groups' changes now and writes what `step` held once their proxies have answered them. */
  private releaseAfterListeners(step: number, listenerGroups: ReadonlySet<string>): void {
    if (listenerGroups.size === 0) {
      this.releaseHeld(step);
      return;
    }
    this.cache.flush();
    const timeoutMs = this.options.applyTimeoutMs ?? 3000;
    const started = performance.now();
    this.options.whenApplied!(listenerGroups, LISTENER_TYPE, timeoutMs).then(
      (applied) => {
        if (!applied) log.warn({ groups: [...listenerGroups], waitedMs: Math.round(performance.now() - started) }, 'listeners of a policy change not applied by every proxy in time; pushing clusters and routes anyway');
        this.releaseHeld(step);
      },
      (err: unknown) => {
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'waiting for listeners to be applied failed; pushing clusters and routes now');
        this.releaseHeld(step);
      },
    );
  }

  /**
   * Writes the latest computation of every group held by `step` (or an earlier step) to the cache.
   * A group a later policy change holds again waits for that change's listeners.
   */
  private releaseHeld(step: number): void {
    if (this.closed) return;
    for (const [g, heldBy] of [...this.held]) {
      if (heldBy > step) continue;
      this.held.delete(g);
      if (this.groups.get(g.key) !== g) continue;
      try {
        this.cache.setResources(g.key, TYPE_OF_KIND[g.kind], g.published);
      } catch (e) {
        this.notPublished(g, e);
      }
    }
  }

  private applyEndpointChanges(previous: MeshView, serviceKeys: readonly string[]): void {
    const affected = new Set(serviceKeys.map(globalKeyOfService));
    const identityChanged = new Set([...affected].filter((gk) => identitySignature(previous, gk) !== identitySignature(this.view, gk)));
    for (const g of this.groups.values()) {
      if (g.kind === 'endpoints' && g.scope.kind === 'endpoints') {
        const rebuilt = rebuildAssignments(this.view, g.translator, g.scope, affected);
        this.counts.assignmentsRebuilt += rebuilt.size;
        if (rebuilt.size) computationsTotal.inc({ kind: 'eds', mode: 'incremental' });
        this.patchGroup(g, rebuilt);
      } else if (g.kind === 'clusters' && g.scope.kind === 'clusters' && identityChanged.size) {
        const targets = g.translator.targets(this.view, g.scope).filter((t) => identityChanged.has(t.globalKey));
        const rebuilt = g.translator.rebuildClusters(this.view, g.scope, targets);
        this.counts.clustersRebuilt += rebuilt.size;
        if (rebuilt.size) computationsTotal.inc({ kind: 'cds', mode: 'incremental' });
        this.patchGroup(g, rebuilt);
      }
    }
  }
}
