/** Kubernetes discovery of one cluster as a DiscoverySource, for the wiring that starts every source alike. */
import type { Cluster, TopologyEvent } from '../../model/types.js';
import type { DiscoverySource, TopologySink } from '../source.js';
import { startKubernetesDiscovery, type KubernetesDiscovery, type KubernetesDiscoveryOptions, type KubernetesDiscoveryStatus } from './discovery.js';

/** A DiscoverySource that can also report its Kubernetes status. */
export interface KubernetesSource extends DiscoverySource {
  status(): KubernetesDiscoveryStatus | undefined;
}

/**
 * Wraps startKubernetesDiscovery. start() rejects on an unusable kubeconfig/context, and otherwise
 * resolves once the first sync was reported, or the server was found unreachable (stale), or after
 * `initialWaitMs` (default 10 s) of a slow server, so one cluster never holds up start-up for long.
 */
export function kubernetesSource(cluster: Cluster, options: KubernetesDiscoveryOptions & { readonly initialWaitMs?: number } = {}): KubernetesSource {
  let discovery: KubernetesDiscovery | undefined;
  let stopped = false;
  let settle: (() => void) | undefined;
  return {
    name: `kubernetes:${cluster.name}`,
    async start(sink: TopologySink): Promise<void> {
      const attempted = new Promise<void>((resolve) => (settle = resolve));
      const forward = (events: readonly TopologyEvent[]): void => {
        sink(events);
        if (events.some((e) => e.kind === 'replaceCluster' || e.kind === 'clusterStale')) settle?.();
      };
      discovery = await startKubernetesDiscovery(cluster, forward, options);
      if (stopped) {
        await discovery.stop();
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([attempted, new Promise<void>((resolve) => (timer = setTimeout(resolve, options.initialWaitMs ?? 10_000)))]);
      clearTimeout(timer);
    },
    async stop(): Promise<void> {
      stopped = true;
      settle?.();
      await discovery?.stop();
    },
    status: () => discovery?.status(),
  };
}
