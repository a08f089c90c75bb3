/**
 * Holds the current MeshSnapshot and advances it: discovery sources feed TopologyEvents, config
 * reloads replace the declarations (clusters, gateways, policies). Each update yields the next
 * immutable snapshot and a ChangeSet, recomputing endpoints only for the services it touches,
 * and tells subscribers.
 */
import { log } from '../log.js';
import { KeyTracker, diffHashes, noKeyChanges, type ChangeSet, type KeyChanges } from './changeset.js';
import { combine, formatVersion, objectHash } from './content-hash.js';
import { PersistentMap, type MapEditor } from './persistent-map.js';
import { EMPTY_POLICIES, policyKey, type MeshPolicies } from './policies.js';
import { globalServiceKey, type Endpoint, type GlobalService, type MeshDeclarations, type MeshSnapshot, type StaleCluster } from './snapshot.js';
import { TopologyIndex, sameEntries } from './topology-index.js';
import { objectKey, spiffeId, type Cluster, type Gateway, type ObjectKey, type Service, type TopologyEvent, type Workload } from './types.js';

/** One atomic step: new declarations (optional) and discovery events, applied together. */
export interface ModelUpdate {
  readonly declarations?: MeshDeclarations;
  readonly events?: readonly TopologyEvent[];
}

export type SnapshotListener = (snapshot: MeshSnapshot, changes: ChangeSet) => void;

type PolicyKind = keyof MeshPolicies;
const POLICY_KINDS: readonly PolicyKind[] = ['virtualMeshes', 'trafficPolicies', 'accessPolicies', 'failoverServices'];

const EMPTY_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if ((a?.length ?? 0) !== (b?.length ?? 0)) return false;
  return (a ?? []).every((x, i) => x === b![i]);
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return (
    a.workload === b.workload &&
    a.address === b.address &&
    sameList(a.additionalAddresses, b.additionalAddresses) &&
    a.health === b.health &&
    a.network === b.network &&
    a.serviceAccount === b.serviceAccount &&
    a.identity === b.identity &&
    a.mesh === b.mesh &&
    a.locality.region === b.locality.region &&
    a.locality.zone === b.locality.zone &&
    a.locality.subzone === b.locality.subzone &&
    sameEntries(a.labels, b.labels) &&
    sameEntries(a.targetPorts, b.targetPorts)
  );
}

function makeEndpoint(svc: Service, wk: ObjectKey, w: Workload, cluster: Cluster | undefined): Endpoint {
  const targetPorts: Record<string, number> = {};
  for (const p of svc.ports) targetPorts[String(p.port)] = w.ports?.[String(p.port)] ?? p.targetPort;
  return Object.freeze({
    workload: wk,
    name: w.name,
    namespace: w.namespace,
    cluster: w.cluster,
    network: cluster?.network ?? '',
    address: w.address,
    ...(w.addresses?.length ? { additionalAddresses: w.addresses } : {}),
    targetPorts: Object.freeze(targetPorts),
    health: w.health,
    locality: w.locality.region || !cluster ? w.locality : cluster.locality,
    labels: w.labels,
    serviceAccount: w.serviceAccount,
    identity: spiffeId(cluster?.trustDomain ?? w.cluster, w.namespace, w.serviceAccount),
    ...(w.mesh === false ? { mesh: false as const } : {}),
  });
}

/** Mutable working state of one update. */
interface Batch {
  services: MapEditor<ObjectKey, Service>;
  workloads: MapEditor<ObjectKey, Workload>;
  endpoints: MapEditor<ObjectKey, readonly Endpoint[]>;
  workloadServices: MapEditor<ObjectKey, readonly ObjectKey[]>;
  globalServices: MapEditor<string, GlobalService>;
  serviceTracker: KeyTracker;
  workloadTracker: KeyTracker;
  dirtyServices: Set<ObjectKey>;
  dirtyWorkloadServices: Set<ObjectKey>;
  dirtyGlobal: Set<string>;
  changedEndpoints: Set<ObjectKey>;
  staleFlipped: Set<string>;
  stale: Map<string, StaleCluster> | undefined;
}

export class ModelStore {
  private snap: MeshSnapshot;
  private readonly index = new TopologyIndex();
  private readonly listeners = new Set<SnapshotListener>();
  private versionSum = 0n;
  private readonly serviceHashes = new Map<ObjectKey, bigint>();
  private readonly workloadHashes = new Map<ObjectKey, bigint>();
  private clusterHashes = new Map<string, bigint>();
  private gatewayHashes = new Map<ObjectKey, bigint>();
  private policyHashes: Record<PolicyKind, Map<string, bigint>> = {
    virtualMeshes: new Map(),
    trafficPolicies: new Map(),
    accessPolicies: new Map(),
    failoverServices: new Map(),
  };
  private readonly staleHashes = new Map<string, bigint>();
  private readonly globalMembers = new Map<string, Set<ObjectKey>>();

  constructor(initial?: ModelUpdate) {
    this.snap = Object.freeze({
      version: formatVersion(0n),
      generation: 0,
      clusters: new Map(),
      staleClusters: new Map(),
      services: PersistentMap.empty(),
      workloads: PersistentMap.empty(),
      gateways: PersistentMap.empty(),
      policies: EMPTY_POLICIES,
      endpoints: PersistentMap.empty(),
      workloadServices: PersistentMap.empty(),
      globalServices: PersistentMap.empty(),
    }) as MeshSnapshot;
    if (initial) this.update(initial);
  }

  /** The snapshot in force. */
  get current(): MeshSnapshot {
    return this.snap;
  }

  /** Calls `listener` after every non-empty update; returns the unsubscribe function. */
  subscribe(listener: SnapshotListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies discovery events (see `update`). */
  applyEvents(events: readonly TopologyEvent[]): ChangeSet {
    return this.update({ events });
  }

  /** Replaces the declared clusters, gateways and policies (see `update`). */
  applyDeclarations(declarations: MeshDeclarations): ChangeSet {
    return this.update({ declarations });
  }

  /** Applies declarations then events as one step; produces the next snapshot and its change set. */
  update(u: ModelUpdate): ChangeSet {
    const prev = this.snap;
    const prevSnap = prev as MeshSnapshot & {
      services: PersistentMap<ObjectKey, Service>;
      workloads: PersistentMap<ObjectKey, Workload>;
      endpoints: PersistentMap<ObjectKey, readonly Endpoint[]>;
      workloadServices: PersistentMap<ObjectKey, readonly ObjectKey[]>;
      globalServices: PersistentMap<string, GlobalService>;
      gateways: PersistentMap<ObjectKey, Gateway>;
    };
    const b: Batch = {
      services: prevSnap.services.edit(),
      workloads: prevSnap.workloads.edit(),
      endpoints: prevSnap.endpoints.edit(),
      workloadServices: prevSnap.workloadServices.edit(),
      globalServices: prevSnap.globalServices.edit(),
      serviceTracker: new KeyTracker(),
      workloadTracker: new KeyTracker(),
      dirtyServices: new Set(),
      dirtyWorkloadServices: new Set(),
      dirtyGlobal: new Set(),
      changedEndpoints: new Set(),
      staleFlipped: new Set(),
      stale: undefined,
    };

    let clusters = prev.clusters;
    let clusterChanges: KeyChanges = { added: [], changed: [], removed: [] };
    let gateways: ReadonlyMap<ObjectKey, Gateway> = prev.gateways;
    let gatewayChanges: KeyChanges = clusterChanges;
    let policies = prev.policies;
    const policyChanges = {} as Record<PolicyKind, KeyChanges>;
    for (const k of POLICY_KINDS) policyChanges[k] = clusterChanges;

    if (u.declarations) {
      const d = u.declarations;
      const nextClusterHashes = new Map(d.clusters.map((c) => [c.name, objectHash('Cluster', c.name, c)] as const));
      clusterChanges = diffHashes(this.clusterHashes, nextClusterHashes);
      if (!noKeyChanges(clusterChanges)) {
        this.replaceHashes(this.clusterHashes, nextClusterHashes);
        this.clusterHashes = nextClusterHashes;
        clusters = new Map(d.clusters.map((c) => [c.name, c]));
        // Network, trust domain and default locality feed every endpoint of the cluster.
        for (const name of [...clusterChanges.added, ...clusterChanges.changed, ...clusterChanges.removed]) {
          for (const sk of this.index.servicesInCluster(name)) b.dirtyServices.add(sk);
        }
      }
      const nextGatewayHashes = new Map(d.gateways.map((g) => [objectKey(g), objectHash('Gateway', objectKey(g), g)] as const));
      gatewayChanges = diffHashes(this.gatewayHashes, nextGatewayHashes);
      if (!noKeyChanges(gatewayChanges)) {
        this.replaceHashes(this.gatewayHashes, nextGatewayHashes);
        this.gatewayHashes = nextGatewayHashes;
        gateways = PersistentMap.from(d.gateways.map((g) => [objectKey(g), g] as const));
      }
      let policiesChanged = false;
      for (const kind of POLICY_KINDS) {
        const list = d.policies[kind] as readonly { name: string; namespace: string }[];
        const next = new Map(list.map((p) => [policyKey(p), objectHash(kind, policyKey(p), p)] as const));
        policyChanges[kind] = diffHashes(this.policyHashes[kind], next);
        if (!noKeyChanges(policyChanges[kind])) {
          policiesChanged = true;
          this.replaceHashes(this.policyHashes[kind], next);
          this.policyHashes[kind] = next;
        }
      }
      if (policiesChanged) policies = d.policies;
    }

    for (const ev of u.events ?? []) this.applyEvent(b, ev);
    for (const sk of b.dirtyServices) this.recomputeEndpoints(b, sk, clusters);
    for (const wk of b.dirtyWorkloadServices) {
      const set = this.index.servicesOf(wk);
      if (set.size === 0) b.workloadServices.delete(wk);
      else b.workloadServices.set(wk, Object.freeze([...set].sort()));
    }
    const globalChanged: string[] = [];
    for (const gk of b.dirtyGlobal) {
      const members = this.globalMembers.get(gk);
      const before = b.globalServices.get(gk);
      if (!members || members.size === 0) {
        if (before) globalChanged.push(gk);
        b.globalServices.delete(gk);
        continue;
      }
      const services = [...members].sort();
      if (before && before.services.length === services.length && before.services.every((s, i) => s === services[i])) continue;
      const first = b.services.get(services[0]!)!;
      b.globalServices.set(gk, Object.freeze({
        name: first.name,
        namespace: first.namespace,
        services: Object.freeze(services),
        clusters: Object.freeze([...new Set(services.map((s) => b.services.get(s)!.cluster))].sort()),
      }));
      globalChanged.push(gk);
    }

    const serviceChanges = b.serviceTracker.result((k) => this.serviceHashes.get(k));
    const workloadChanges = b.workloadTracker.result((k) => this.workloadHashes.get(k));
    if (b.staleFlipped.size) {
      const named = new Set([...clusterChanges.added, ...clusterChanges.changed, ...clusterChanges.removed]);
      const extra = [...b.staleFlipped].filter((c) => !named.has(c));
      if (extra.length) clusterChanges = { ...clusterChanges, changed: [...clusterChanges.changed, ...extra].sort() };
    }

    const endpoints = [...b.changedEndpoints].sort();
    const empty =
      noKeyChanges(clusterChanges) &&
      noKeyChanges(serviceChanges) &&
      noKeyChanges(workloadChanges) &&
      noKeyChanges(gatewayChanges) &&
      endpoints.length === 0 &&
      globalChanged.length === 0 &&
      POLICY_KINDS.every((k) => noKeyChanges(policyChanges[k]));

    const version = formatVersion(this.versionSum);
    const changes: ChangeSet = Object.freeze({
      fromVersion: prev.version,
      toVersion: empty ? prev.version : version,
      clusters: clusterChanges,
      services: serviceChanges,
      workloads: workloadChanges,
      gateways: gatewayChanges,
      endpoints,
      globalServices: globalChanged.sort(),
      policies: policyChanges,
      empty,
    });
    if (empty) return changes;

    this.snap = Object.freeze({
      version,
      generation: prev.generation + 1,
      clusters,
      staleClusters: b.stale ?? prev.staleClusters,
      services: b.services.done(),
      workloads: b.workloads.done(),
      gateways,
      policies,
      endpoints: b.endpoints.done(),
      workloadServices: b.workloadServices.done(),
      globalServices: b.globalServices.done(),
    });
    for (const l of [...this.listeners]) {
      try {
        l(this.snap, changes);
      } catch (err) {
        log.error({ err }, 'model subscriber failed');
      }
    }
    return changes;
  }

  private replaceHashes(before: Map<string, bigint>, after: Map<string, bigint>): void {
    for (const h of before.values()) this.versionSum = combine(this.versionSum, h, -1);
    for (const h of after.values()) this.versionSum = combine(this.versionSum, h, 1);
  }

  private applyEvent(b: Batch, ev: TopologyEvent): void {
    switch (ev.kind) {
      case 'upsertService':
        this.upsertService(b, ev.service);
        break;
      case 'deleteService':
        this.deleteService(b, ev.key);
        break;
      case 'upsertWorkload':
        this.upsertWorkload(b, ev.workload);
        break;
      case 'deleteWorkload':
        this.deleteWorkload(b, ev.key);
        break;
      case 'replaceCluster': {
        const keepS = new Set(ev.services.map((s) => objectKey(s)));
        for (const sk of [...this.index.servicesInCluster(ev.cluster)]) if (!keepS.has(sk)) this.deleteService(b, sk);
        const keepW = new Set(ev.workloads.map((w) => objectKey(w)));
        for (const wk of [...this.index.workloadsInCluster(ev.cluster)]) if (!keepW.has(wk)) this.deleteWorkload(b, wk);
        for (const s of ev.services) {
          if (s.cluster === ev.cluster) this.upsertService(b, s);
          else log.warn({ cluster: ev.cluster, service: objectKey(s) }, 'replaceCluster carried a service of another cluster; ignored');
        }
        for (const w of ev.workloads) {
          if (w.cluster === ev.cluster) this.upsertWorkload(b, w);
          else log.warn({ cluster: ev.cluster, workload: objectKey(w) }, 'replaceCluster carried a workload of another cluster; ignored');
        }
        break;
      }
      case 'clusterStale': {
        const cur = b.stale ?? (this.snap.staleClusters as Map<string, StaleCluster>);
        const was = cur.get(ev.cluster);
        if (ev.stale) {
          const reason = ev.reason ?? 'source unreachable';
          if (was && was.reason === reason) break;
          b.stale ??= new Map(cur);
          b.stale.set(ev.cluster, Object.freeze({ reason, since: was?.since ?? Date.now() }));
          this.setStaleHash(ev.cluster, objectHash('StaleCluster', ev.cluster, reason));
          if (!was) b.staleFlipped.add(ev.cluster);
        } else if (was) {
          b.stale ??= new Map(cur);
          b.stale.delete(ev.cluster);
          this.setStaleHash(ev.cluster, undefined);
          b.staleFlipped.add(ev.cluster);
        }
        break;
      }
    }
  }

  private setStaleHash(cluster: string, h: bigint | undefined): void {
    const old = this.staleHashes.get(cluster);
    if (old !== undefined) this.versionSum = combine(this.versionSum, old, -1);
    if (h === undefined) this.staleHashes.delete(cluster);
    else {
      this.staleHashes.set(cluster, h);
      this.versionSum = combine(this.versionSum, h, 1);
    }
  }

  private upsertService(b: Batch, s: Service): void {
    const key = objectKey(s);
    const h = objectHash('Service', key, s);
    const oldHash = this.serviceHashes.get(key);
    if (oldHash === h) return;
    b.serviceTracker.touch(key, oldHash);
    const old = b.services.get(key);
    if (old) this.index.removeService(key, old);
    else this.joinGlobal(b, key, s);
    if (oldHash !== undefined) this.versionSum = combine(this.versionSum, oldHash, -1);
    this.versionSum = combine(this.versionSum, h, 1);
    this.serviceHashes.set(key, h);
    b.services.set(key, s);
    this.index.addService(key, s);
    b.dirtyServices.add(key);
  }

  private deleteService(b: Batch, key: ObjectKey): void {
    const old = b.services.get(key);
    const oldHash = this.serviceHashes.get(key);
    if (!old || oldHash === undefined) return;
    b.serviceTracker.touch(key, oldHash);
    this.versionSum = combine(this.versionSum, oldHash, -1);
    this.serviceHashes.delete(key);
    b.services.delete(key);
    this.index.removeService(key, old);
    const gk = globalServiceKey(old);
    const members = this.globalMembers.get(gk);
    members?.delete(key);
    if (members && members.size === 0) this.globalMembers.delete(gk);
    b.dirtyGlobal.add(gk);
    b.dirtyServices.add(key);
  }

  private joinGlobal(b: Batch, key: ObjectKey, s: Service): void {
    const gk = globalServiceKey(s);
    let members = this.globalMembers.get(gk);
    if (!members) this.globalMembers.set(gk, (members = new Set()));
    members.add(key);
    b.dirtyGlobal.add(gk);
  }

  private upsertWorkload(b: Batch, w: Workload): void {
    const key = objectKey(w);
    const h = objectHash('Workload', key, w);
    const oldHash = this.workloadHashes.get(key);
    if (oldHash === h) return;
    b.workloadTracker.touch(key, oldHash);
    const old = b.workloads.get(key);
    if (old) {
      this.index.removeWorkload(key, old);
      for (const sk of this.index.servicesOf(key)) b.dirtyServices.add(sk);
    }
    if (oldHash !== undefined) this.versionSum = combine(this.versionSum, oldHash, -1);
    this.versionSum = combine(this.versionSum, h, 1);
    this.workloadHashes.set(key, h);
    b.workloads.set(key, w);
    this.index.addWorkload(key, w);
    for (const sk of this.index.servicesSelecting(w, (k) => b.services.get(k))) b.dirtyServices.add(sk);
  }

  private deleteWorkload(b: Batch, key: ObjectKey): void {
    const old = b.workloads.get(key);
    const oldHash = this.workloadHashes.get(key);
    if (!old || oldHash === undefined) return;
    b.workloadTracker.touch(key, oldHash);
    this.versionSum = combine(this.versionSum, oldHash, -1);
    this.workloadHashes.delete(key);
    b.workloads.delete(key);
    this.index.removeWorkload(key, old);
    for (const sk of this.index.servicesOf(key)) b.dirtyServices.add(sk);
  }

  private recomputeEndpoints(b: Batch, sk: ObjectKey, clusters: ReadonlyMap<string, Cluster>): void {
    const svc = b.services.get(sk);
    const before = b.endpoints.get(sk);
    const members = svc ? this.index.selectWorkloads(svc, (k) => b.workloads.get(k)) : new Set<ObjectKey>();
    for (const wk of this.index.setMembers(sk, members)) b.dirtyWorkloadServices.add(wk);
    if (!svc) {
      if (before) {
        b.endpoints.delete(sk);
        b.changedEndpoints.add(sk);
      }
      return;
    }
    const cluster = clusters.get(svc.cluster);
    const byWorkload = new Map(before?.map((e) => [e.workload, e]));
    const next: Endpoint[] = [];
    let same = before !== undefined && before.length === members.size;
    for (const wk of [...members].sort()) {
      const fresh = makeEndpoint(svc, wk, b.workloads.get(wk)!, cluster);
      const old = byWorkload.get(wk);
      if (old && sameEndpoint(old, fresh)) next.push(old);
      else {
        next.push(fresh);
        same = false;
      }
    }
    if (same && before && before.every((e, i) => e === next[i])) return;
    b.endpoints.set(sk, next.length ? Object.freeze(next) : EMPTY_ENDPOINTS);
    b.changedEndpoints.add(sk);
  }
}
