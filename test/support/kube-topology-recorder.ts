/**
 * A TopologyEvent sink for tests: records every batch and applies the events the way a model store
 * would (replaceCluster replaces a cluster's objects; stale flags per cluster), so a test can assert
 * what the rest of crossmesh would see, and wait for it.
 */
import type { Service, TopologyEvent, Workload } from '../../src/model/types.js';
import { objectKey } from '../../src/model/types.js';

export class TopologyRecorder {
  readonly batches: TopologyEvent[][] = [];
  readonly services = new Map<string, Service>();
  readonly workloads = new Map<string, Workload>();
  readonly stale = new Map<string, boolean>();
  private waiters: (() => void)[] = [];

  /** Pass this to startKubernetesDiscovery. */
  readonly sink = (events: readonly TopologyEvent[]): void => {
    this.batches.push([...events]);
    for (const e of events) this.apply(e);
    for (const w of this.waiters.splice(0)) w();
  };

  /** Every event received, flattened. */
  get events(): TopologyEvent[] {
    return this.batches.flat();
  }

  /** Events of one kind. */
  ofKind<K extends TopologyEvent['kind']>(kind: K): Extract<TopologyEvent, { kind: K }>[] {
    return this.events.filter((e): e is Extract<TopologyEvent, { kind: K }> => e.kind === kind);
  }

  /** Resolves when `predicate` holds (checked after every batch); rejects after `timeoutMs` with `what`. */
  async waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}\nlast events: ${JSON.stringify(this.events.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Number of events so far; pair with `since()` to look only at what came after. */
  mark(): number {
    return this.events.length;
  }

  since(mark: number): TopologyEvent[] {
    return this.events.slice(mark);
  }

  private apply(e: TopologyEvent): void {
    switch (e.kind) {
      case 'upsertService':
        this.services.set(objectKey(e.service), e.service);
        break;
      case 'deleteService':
        this.services.delete(e.key);
        break;
      case 'upsertWorkload':
        this.workloads.set(objectKey(e.workload), e.workload);
        break;
      case 'deleteWorkload':
        this.workloads.delete(e.key);
        break;
      case 'replaceCluster':
        for (const [k, s] of this.services) if (s.cluster === e.cluster) this.services.delete(k);
        for (const [k, w] of this.workloads) if (w.cluster === e.cluster) this.workloads.delete(k);
        for (const s of e.services) this.services.set(objectKey(s), s);
        for (const w of e.workloads) this.workloads.set(objectKey(w), w);
        break;
      case 'clusterStale':
        this.stale.set(e.cluster, e.stale);
        break;
    }
  }
}
