/**
 * Kubernetes discovery for one cluster: four reflectors (Services, EndpointSlices, Pods, Nodes, all
 * namespaces) feeding a ClusterState, and a coalescing emitter that turns state changes into
 * TopologyEvent batches: one replaceCluster after every (re)list, upserts/deletes in between,
 * clusterStale while the API server cannot be reached.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Cluster, ObjectKey, Service, TopologyEvent, Workload } from '../../model/types.js';
import { objectKey } from '../../model/types.js';
import { log } from '../../log.js';
import { kubeResourceApis, RESOURCE_KINDS, type KubeObject, type ResourceApi, type ResourceKind } from './api-resources.js';
import type { BackoffOptions } from './backoff.js';
import { ClusterState } from './cluster-state.js';
import { loadClusterKubeConfig, type LoadedKubeConfig } from './kubeconfig.js';
import { clusterStaleGauge, relistsCounter } from './metrics.js';
import { Reflector, type ListReason, type ReflectorHandlers } from './reflector.js';

/** Tuning knobs; the defaults suit production, tests shrink them. */
export interface KubernetesDiscoveryOptions {
  /** Retry delays after a failed request: first delay and cap (default 500 ms … 30 s). */
  readonly backoff?: Partial<BackoffOptions>;
  /** Changes within this window go out as one batch (default 5 ms). */
  readonly batchWindowMs?: number;
  /** A list, or a watch without response headers, fails after this long (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Server-side watch duration before the client re-watches from its resourceVersion (default 300–600 s, randomised per watch kind). */
  readonly watchTimeoutSeconds?: number;
  /** Objects per list page (default 500). */
  readonly pageSize?: number;
  /** An already loaded and checked kubeconfig (a remote-cluster Secret's) instead of the Cluster's `discovery.kubernetes` files. */
  readonly kubeConfig?: LoadedKubeConfig;
}

/** What status() reports about one cluster's discovery. */
export interface KubernetesDiscoveryStatus {
  readonly cluster: string;
  /** Every kind has listed and none is failing. */
  readonly connected: boolean;
  /** Objects are served from the last-known state because the API server cannot be reached. */
  readonly stale: boolean;
  readonly lastError?: string;
  /** When the last full (re)list was emitted (ISO 8601). */
  readonly lastSyncAt?: string;
  readonly server: string;
  readonly context: string;
  readonly counts: { readonly services: number; readonly pods: number; readonly endpointSlices: number; readonly nodes: number };
  /** Relists after the initial list, summed over kinds. */
  readonly relists: number;
}

/** A running discovery; stop() releases every connection and timer. */
export interface KubernetesDiscovery {
  readonly cluster: string;
  stop(): Promise<void>;
  status(): KubernetesDiscoveryStatus;
}

/** Receives each coalesced batch; a sink that throws is logged, never propagated. */
export type TopologySink = (events: readonly TopologyEvent[]) => void;

/**
 * Loads the cluster's kubeconfig (rejecting with an error naming the file and context when it is
 * unusable) and starts discovery in the background; resolves without waiting for the first sync,
 * so a slow API server never delays other clusters.
 */
export async function startKubernetesDiscovery(
  cluster: Cluster,
  sink: TopologySink,
  options: KubernetesDiscoveryOptions = {},
): Promise<KubernetesDiscovery> {
  const loaded = options.kubeConfig ?? loadClusterKubeConfig(cluster);
  const runner = new ClusterDiscovery(cluster, loaded.kubeConfig, loaded.server, loaded.context, sink, options);
  runner.start();
  return {
    cluster: cluster.name,
    stop: () => runner.stop(),
    status: () => runner.status(),
  };
}

class ClusterDiscovery {
  private readonly state: ClusterState;
  private readonly reflectors: Reflector<KubeObject>[];
  private readonly batchWindowMs: number;

  /** Kinds whose list is in flight; while any is, changes are held for the replaceCluster that follows. */
  private readonly listing = new Set<ResourceKind>();
  /** Kinds that have listed at least once. */
  private readonly listed = new Set<ResourceKind>();
  private readonly failed = new Map<ResourceKind, string>();
  private replacePending = false;
  private stale = false;
  private staleAnnounced: boolean | undefined;
  private lastError: string | undefined;
  private lastSyncAt: string | undefined;
  private relists = 0;
  private stopped = false;
  private flushTimer: NodeJS.Timeout | undefined;

  /** What the sink has been told, to emit only real changes. */
  private readonly emittedServices = new Map<ObjectKey, string>();
  private readonly emittedWorkloads = new Map<ObjectKey, string>();

  constructor(
    private readonly cluster: Cluster,
    kc: k8s.KubeConfig,
    private readonly server: string,
    private readonly context: string,
    private readonly sink: TopologySink,
    options: KubernetesDiscoveryOptions,
  ) {
    this.state = new ClusterState(cluster);
    this.batchWindowMs = options.batchWindowMs ?? 5;
    const apis = kubeResourceApis(kc);
    const handlers: ReflectorHandlers<KubeObject> = {
      listStarted: (kind, reason) => this.onListStarted(kind, reason),
      listed: (kind, items, reason) => this.onListed(kind, items, reason),
      event: (kind, type, object) => {
        this.state.apply(kind, type, object);
        this.scheduleFlush();
      },
      failed: (kind, error) => this.onFailed(kind, error),
    };
    const backoff: BackoffOptions = { initialMs: options.backoff?.initialMs ?? 500, maxMs: options.backoff?.maxMs ?? 30_000 };
    this.reflectors = RESOURCE_KINDS.map(
      (kind) =>
        new Reflector<KubeObject>(kc, apis[kind] as unknown as ResourceApi<KubeObject>, handlers, {
          backoff,
          requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
          // Spread re-watches out like client-go does, so kinds do not reconnect in lockstep.
          watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
          pageSize: options.pageSize ?? 500,
        }),
    );
    clusterStaleGauge.set({ cluster: cluster.name }, 0);
  }

  start(): void {
    for (const r of this.reflectors) r.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await Promise.all(this.reflectors.map((r) => r.stop()));
    // A stopped cluster is no longer watched at all; leave no series claiming either way.
    clusterStaleGauge.remove({ cluster: this.cluster.name });
  }

  status(): KubernetesDiscoveryStatus {
    return {
      cluster: this.cluster.name,
      connected: this.listed.size === RESOURCE_KINDS.length && this.failed.size === 0,
      stale: this.stale,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(this.lastSyncAt !== undefined ? { lastSyncAt: this.lastSyncAt } : {}),
      server: this.server,
      context: this.context,
      counts: {
        services: this.state.services.size,
        pods: this.state.pods.size,
        endpointSlices: this.state.slices.size,
        nodes: this.state.nodes.size,
      },
      relists: this.relists,
    };
  }

  private onListStarted(kind: ResourceKind, reason: ListReason): void {
    this.listing.add(kind);
    if (reason !== 'initial') log.info({ cluster: this.cluster.name, kind, reason }, 'relisting');
  }

  private onListed(kind: ResourceKind, items: KubeObject[], reason: ListReason): void {
    this.listing.delete(kind);
    // Counted when a relist lands, not per attempt: an outage's failed retries are not relists.
    if (reason !== 'initial') {
      this.relists++;
      relistsCounter.inc({ cluster: this.cluster.name });
    }
    this.listed.add(kind);
    const wasFailed = this.failed.delete(kind);
    this.state.replace(kind, items);
    this.replacePending = true;
    if (wasFailed) {
      // The server answers again: let the other failed kinds retry now instead of at the end of
      // their backoff, so recovery relists them together and emits a single replaceCluster.
      for (const r of this.reflectors) {
        if (this.failed.has(r.kind)) {
          this.listing.add(r.kind);
          r.retryNow();
        }
      }
    }
    this.scheduleFlush();
  }

  private onFailed(kind: ResourceKind, error: Error): void {
    this.listing.delete(kind);
    this.failed.set(kind, error.message);
    this.lastError = error.message;
    if (!this.stale) {
      this.stale = true;
      clusterStaleGauge.set({ cluster: this.cluster.name }, 1);
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.stopped || this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, this.batchWindowMs);
  }

  private flush(): void {
    if (this.stopped) return;
    const out: TopologyEvent[] = [];
    if (this.stale && this.staleAnnounced !== true) {
      out.push({ kind: 'clusterStale', cluster: this.cluster.name, stale: true, reason: this.lastError ?? 'API server unreachable' });
      this.staleAnnounced = true;
    }
    const synced = this.listed.size === RESOURCE_KINDS.length;
    // Hold changes while a (re)list is in flight: they are part of the replaceCluster it ends with.
    if (synced && this.listing.size === 0) {
      if (this.replacePending) out.push(this.replaceEvent());
      else out.push(...this.incrementalEvents());
      if (this.stale && this.failed.size === 0) {
        this.stale = false;
        clusterStaleGauge.set({ cluster: this.cluster.name }, 0);
        if (this.staleAnnounced) out.push({ kind: 'clusterStale', cluster: this.cluster.name, stale: false });
        this.staleAnnounced = false;
      }
    }
    if (out.length === 0) return;
    try {
      this.sink(out);
    } catch (err) {
      log.error({ cluster: this.cluster.name, err: (err as Error).message }, 'topology sink threw; events dropped');
    }
  }

  private replaceEvent(): TopologyEvent {
    this.replacePending = false;
    this.state.takeDirty();
    const { services, workloads } = this.state.all();
    this.emittedServices.clear();
    this.emittedWorkloads.clear();
    for (const s of services) this.emittedServices.set(objectKey(s), JSON.stringify(s));
    for (const w of workloads) this.emittedWorkloads.set(objectKey(w), JSON.stringify(w));
    this.lastSyncAt = new Date().toISOString();
    return { kind: 'replaceCluster', cluster: this.cluster.name, services, workloads };
  }

  private incrementalEvents(): TopologyEvent[] {
    const dirty = this.state.takeDirty();
    const out: TopologyEvent[] = [];
    const name = this.cluster.name;
    for (const key of [...dirty.services].sort()) {
      const next: Service | undefined = this.state.service(key);
      const id = `${name}/${key}`;
      if (next) {
        const json = JSON.stringify(next);
        if (this.emittedServices.get(id) !== json) {
          this.emittedServices.set(id, json);
          out.push({ kind: 'upsertService', service: next });
        }
      } else if (this.emittedServices.delete(id)) {
        out.push({ kind: 'deleteService', key: id });
      }
    }
    for (const key of [...dirty.pods].sort()) {
      const next: Workload | undefined = this.state.workload(key);
      const id = `${name}/${key}`;
      if (next) {
        const json = JSON.stringify(next);
        if (this.emittedWorkloads.get(id) !== json) {
          this.emittedWorkloads.set(id, json);
          out.push({ kind: 'upsertWorkload', workload: next });
        }
      } else if (this.emittedWorkloads.delete(id)) {
        out.push({ kind: 'deleteWorkload', key: id });
      }
    }
    return out;
  }
}
