/**
 * Keeps the model's discovery sources in step with the configuration: each (re)loaded config is
 * applied to the model together with its static topology, and one Kubernetes source runs per
 * cluster that declares `discovery.kubernetes` (started, restarted or stopped as the config changes,
 * and restarted when the contents of its kubeconfig change: a rotated token or certificate is used
 * within seconds, without a restart of crossmesh) or that a remote-cluster Secret registers
 * (started, restarted or stopped as the Secrets change).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { MeshConfig } from '../config/mesh-config.js';
import type { ChangeSet } from '../model/changeset.js';
import type { ModelStore } from '../model/store.js';
import type { Cluster, TopologyEvent } from '../model/types.js';
import { log } from '../log.js';
import { applyConfig, StaticDiscovery } from './static/static-discovery.js';
import { expandKubeconfigPath } from './kubernetes/kubeconfig.js';
import { kubernetesSource, type KubernetesSource } from './kubernetes/kubernetes-source.js';
import type { KubernetesDiscoveryOptions, KubernetesDiscoveryStatus } from './kubernetes/discovery.js';
import type { RemoteClusterRegistration } from './kubernetes/remote-secrets.js';
import { withRemoteClusters, type RemoteClusterConflict } from './remote-clusters.js';

/** Per-source state for `/debug/discovery`. */
export interface DiscoveryStatus {
  readonly staticClusters: readonly string[];
  readonly kubernetes: readonly ((KubernetesDiscoveryStatus | { readonly cluster: string; readonly error: string }) & { readonly registeredBy?: string })[];
  /** Remote-cluster Secret keys not used because the configuration discovers that cluster itself. */
  readonly remoteConflicts: readonly RemoteClusterConflict[];
}

export interface DiscoveryManagerOptions {
  readonly kubernetes?: KubernetesDiscoveryOptions & { readonly initialWaitMs?: number };
  /** How often kubeconfig files are checked for new contents (default 2 s; 0 = never). */
  readonly kubeconfigCheckMs?: number;
  /** Creates a cluster's source; tests may substitute one. */
  readonly createKubernetesSource?: (cluster: Cluster, options: DiscoveryManagerOptions['kubernetes']) => KubernetesSource;
}

interface Running {
  readonly source: KubernetesSource;
  /** The discovery settings it was started with; a change restarts it. */
  readonly settings: string;
  error?: string;
}

/** The kubeconfig files a cluster's discovery reads (its own file, or $KUBECONFIG's list). */
function kubeconfigFiles(c: Cluster): string[] {
  const file = c.discovery?.kubernetes?.kubeconfig;
  if (file !== undefined && file.trim() !== '') return [expandKubeconfigPath(file)];
  const env = process.env.KUBECONFIG;
  return env ? env.split(':').filter(Boolean).map(expandKubeconfigPath) : [];
}

/** What a cluster's discovery was started from: its settings and its kubeconfig files' contents. */
function settingsOf(c: Cluster): string | undefined {
  if (!c.discovery?.kubernetes) return undefined;
  const h = createHash('sha256');
  for (const f of kubeconfigFiles(c)) {
    h.update(f).update('\u0000');
    try {
      h.update(readFileSync(f));
    } catch (e) {
      h.update(`missing: ${(e as NodeJS.ErrnoException).code ?? ''}`);
    }
  }
  return `${JSON.stringify(c.discovery.kubernetes)}\u0000${h.digest('hex')}`;
}

export class DiscoveryManager {
  private readonly staticSource = new StaticDiscovery();
  private readonly running = new Map<string, Running>();
  private staticNames: string[] = [];
  private closed = false;
  /** Serialises reconciliations so two quick reloads never start a source twice. */
  private queue: Promise<unknown> = Promise.resolve();
  private lastConfig: MeshConfig | undefined;
  /** Clusters registered by remote-cluster Secrets (setRemoteClusters). */
  private registrations: readonly RemoteClusterRegistration[] = [];
  /** Of those, the ones in use after the last reconcile, by cluster name. */
  private remote: ReadonlyMap<string, RemoteClusterRegistration> = new Map();
  private remoteConflicts: readonly RemoteClusterConflict[] = [];
  private readonly kubeconfigTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: ModelStore,
    private readonly options: DiscoveryManagerOptions = {},
  ) {
    const every = options.kubeconfigCheckMs ?? 2000;
    if (every > 0) {
      this.kubeconfigTimer = setInterval(() => this.checkKubeconfigs(), every);
      this.kubeconfigTimer.unref();
    }
  }

  /**
   * Applies `config`: declarations and static topology in one model step, then starts, restarts or
   * stops Kubernetes sources. Resolves when new sources have reported their first state (or gave up
   * waiting, see `initialWaitMs`), so a first snapshot already includes what they found.
   */
  apply(config: MeshConfig): Promise<ChangeSet> {
    const step = this.queue.then(() => this.reconcile(config));
    this.queue = step.catch(() => undefined);
    return step;
  }

  /**
   * Replaces the set of clusters registered by remote-cluster Secrets and reconciles the last
   * configuration with it (before the first apply, it is only remembered for that apply).
   */
  setRemoteClusters(registrations: readonly RemoteClusterRegistration[]): Promise<ChangeSet | undefined> {
    this.registrations = registrations;
    const config = this.lastConfig;
    if (!config || this.closed) return Promise.resolve(undefined);
    return this.apply(config);
  }

  /** Status of every source. */
  status(): DiscoveryStatus {
    return {
      staticClusters: this.staticNames,
      kubernetes: [...this.running.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([cluster, r]) => {
          const s = r.source.status() ?? { cluster, error: r.error ?? 'starting' };
          const reg = this.remote.get(cluster);
          return reg ? { ...s, registeredBy: `Secret ${reg.secret}, key ${reg.key}` } : s;
        }),
      remoteConflicts: this.remoteConflicts,
    };
  }

  /** Stops every source. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.kubeconfigTimer) clearInterval(this.kubeconfigTimer);
    await this.queue;
    await Promise.all([...this.running.values()].map((r) => r.source.stop()));
    this.running.clear();
  }

  /** Restarts the sources whose kubeconfig contents changed (by reconciling the last config again). */
  private checkKubeconfigs(): void {
    const config = this.lastConfig;
    if (!config || this.closed) return;
    const changed = config.clusters.filter((c) => {
      const r = this.running.get(c.name);
      return r !== undefined && !this.remote.has(c.name) && settingsOf(c) !== r.settings;
    });
    if (changed.length === 0) return;
    log.info({ clusters: changed.map((c) => c.name) }, 'kubeconfig changed; restarting discovery of those clusters');
    this.apply(config).catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'restarting discovery after a kubeconfig change failed'));
  }

  /** What a cluster's discovery runs from: its Secret registration if it has one, else its settings and files. */
  private settingsFor(c: Cluster): string | undefined {
    const reg = this.remote.get(c.name);
    if (reg) return `secret:${reg.secret}\u0000${reg.key}\u0000${reg.fingerprint}`;
    return settingsOf(c);
  }

  private async reconcile(loaded: MeshConfig): Promise<ChangeSet> {
    this.lastConfig = loaded;
    const merged = withRemoteClusters(loaded, this.registrations);
    const config = merged.config;
    this.remote = merged.remote;
    // Each conflict is logged when it appears, not on every reload while it lasts.
    const known = new Set(this.remoteConflicts.map((c) => c.error));
    for (const c of merged.conflicts) if (!known.has(c.error)) log.error({ cluster: c.cluster, secret: c.secret, key: c.key }, c.error);
    this.remoteConflicts = merged.conflicts;
    const changes = applyConfig(this.store, this.staticSource, config);
    this.staticNames = config.clusters.filter((c) => !c.discovery?.kubernetes).map((c) => c.name).sort();
    if (this.closed) return changes;

    const wanted = new Map(config.clusters.flatMap((c) => (this.settingsFor(c) ? [[c.name, c] as const] : [])));
    const staticNow = new Set(this.staticNames);
    const stopping: Promise<void>[] = [];
    for (const [name, r] of this.running) {
      const next = wanted.get(name);
      if (next && this.settingsFor(next) === r.settings) continue;
      this.running.delete(name);
      stopping.push(
        r.source.stop().then(() => {
          // A cluster no longer discovered through Kubernetes loses what its source reported
          // (unless it is back to static, whose topology the step above already put in place).
          if (!next && !staticNow.has(name)) this.sink([{ kind: 'replaceCluster', cluster: name, services: [], workloads: [] }]);
        }),
      );
    }
    await Promise.all(stopping);

    const starting: Promise<void>[] = [];
    for (const [name, cluster] of wanted) {
      if (this.running.has(name)) continue;
      const create = this.options.createKubernetesSource ?? kubernetesSource;
      const reg = this.remote.get(name);
      const source = create(cluster, reg ? { ...this.options.kubernetes, kubeConfig: reg.kube } : (this.options.kubernetes ?? {}));
      const entry: Running = { source, settings: this.settingsFor(cluster)! };
      this.running.set(name, entry);
      starting.push(
        source.start((events) => this.sink(events)).catch((err: unknown) => {
          // An unusable kubeconfig/context is a config problem of that cluster only: report it, keep the rest.
          entry.error = err instanceof Error ? err.message : String(err);
          log.error({ cluster: name, err: entry.error }, 'kubernetes discovery could not start');
          this.sink([{ kind: 'clusterStale', cluster: name, stale: true, reason: entry.error }]);
        }),
      );
    }
    await Promise.all(starting);
    return changes;
  }

  private sink(events: readonly TopologyEvent[]): void {
    if (this.closed || events.length === 0) return;
    this.store.applyEvents(events);
  }
}
