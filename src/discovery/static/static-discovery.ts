/**
 * Static discovery: the Services and Workloads written in config files, for every cluster that
 * has no `discovery.kubernetes`. Each config (re)load becomes one `replaceCluster` per static
 * cluster, so objects removed from the files disappear from the model, and clusters that stop
 * being declared are emptied.
 */
import type { MeshConfig } from '../../config/mesh-config.js';
import type { ChangeSet } from '../../model/changeset.js';
import type { ModelStore } from '../../model/store.js';
import type { Service, TopologyEvent, Workload } from '../../model/types.js';
import type { DiscoverySource, TopologySink } from '../source.js';

/** Clusters whose topology comes from the config files. */
export function staticClusters(config: MeshConfig): string[] {
  return config.clusters.filter((c) => !c.discovery?.kubernetes).map((c) => c.name).sort();
}

/** The events that make the model's static clusters match `config`, given the clusters it managed before. */
export function staticEvents(config: MeshConfig, previouslyManaged: ReadonlySet<string> = new Set()): { events: TopologyEvent[]; managed: Set<string> } {
  const managed = new Set(staticClusters(config));
  const services = new Map<string, Service[]>();
  const workloads = new Map<string, Workload[]>();
  for (const c of managed) {
    services.set(c, []);
    workloads.set(c, []);
  }
  // Objects naming undeclared or Kubernetes-discovered clusters are skipped (the loader warns about them).
  for (const s of config.services) services.get(s.cluster)?.push(s);
  for (const w of config.workloads) workloads.get(w.cluster)?.push(w);
  const events: TopologyEvent[] = [];
  for (const c of managed) events.push({ kind: 'replaceCluster', cluster: c, services: services.get(c)!, workloads: workloads.get(c)! });
  const kubernetes = new Set(config.clusters.filter((c) => c.discovery?.kubernetes).map((c) => c.name));
  for (const c of [...previouslyManaged].sort()) {
    // A cluster now discovered from Kubernetes is refilled by that source; emptying it here would blank it meanwhile.
    if (!managed.has(c) && !kubernetes.has(c)) events.push({ kind: 'replaceCluster', cluster: c, services: [], workloads: [] });
  }
  return { events, managed };
}

/**
 * The static source as a DiscoverySource: `start` reports the current config's topology and
 * `update` reports a reloaded config's.
 */
export class StaticDiscovery implements DiscoverySource {
  readonly name = 'static';
  private managed = new Set<string>();
  private sink: TopologySink | undefined;

  constructor(private config?: MeshConfig) {}

  /** Reports the initial static topology. */
  async start(sink: TopologySink): Promise<void> {
    this.sink = sink;
    this.report();
  }

  /** Reports the static topology of a reloaded configuration. */
  update(config: MeshConfig): void {
    this.config = config;
    this.report();
  }

  /** The events `update(config)` would report, without reporting them (for applying together with declarations). */
  eventsFor(config: MeshConfig): TopologyEvent[] {
    this.config = config;
    const { events, managed } = staticEvents(config, this.managed);
    this.managed = managed;
    return events;
  }

  async stop(): Promise<void> {
    this.sink = undefined;
  }

  private report(): void {
    if (!this.config) return;
    const events = this.eventsFor(this.config);
    this.sink?.(events);
  }
}

/** Applies a (re)loaded config to the model as one step: its declarations plus its static topology. */
export function applyConfig(store: ModelStore, discovery: StaticDiscovery, config: MeshConfig): ChangeSet {
  return store.update({ declarations: config, events: discovery.eventsFor(config) });
}
