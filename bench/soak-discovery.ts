/**
 * The soak benchmark's stand-in for one cluster's Kubernetes discovery: `serve`'s discovery
 * manager starts it for the cluster whose config names `discovery.kubernetes`, and it reports what
 * informers would: one full list (services, their endpoint pods, the client pods the simulated
 * proxies run as), then `upsertWorkload` events as pods change. A change gives an endpoint pod a new
 * address, as a rescheduled pod gets: addresses never repeat, so anything kept per address or per
 * resource version that is never let go shows up as growth.
 */
import type { KubernetesSource } from '../src/discovery/kubernetes/kubernetes-source.js';
import type { TopologySink } from '../src/discovery/source.js';
import type { Service, TopologyEvent, Workload } from '../src/model/types.js';

/** Sizes of the simulated cluster. */
export interface SoakTopology {
  readonly cluster: string;
  readonly namespace: string;
  readonly services: number;
  readonly endpointsPerService: number;
  /** Client pods `client-<i>`: the workloads the simulated proxies' node ids name. */
  readonly clients: number;
  /** Zones pods are spread over, round-robin. */
  readonly zones: readonly string[];
}

const REGION = 'us-east';

/** Port every soak service listens on. */
export const SOAK_PORT = 8080;

/** Address number g in 10.64.0.0/10: 4 million of them before one repeats. */
function address(g: number): string {
  return `10.${64 + ((g >>> 16) & 0x3f)}.${(g >>> 8) & 0xff}.${g & 0xff}`;
}

/** A discovery source for one simulated cluster whose endpoint pods `churn()` moves. */
export class SoakDiscovery implements KubernetesSource {
  readonly name: string;
  private sink: TopologySink | undefined;
  private readonly endpoints: Workload[] = [];
  private next = 0;
  private addresses = 0;
  /** Pod changes reported so far, and the batches (model updates) they came in. */
  changes = 0;
  batches = 0;

  constructor(private readonly t: SoakTopology) {
    this.name = `kubernetes:${t.cluster}`;
  }

  /** Reports the whole cluster as one list, as informers do on start. */
  async start(sink: TopologySink): Promise<void> {
    this.sink = sink;
    const { cluster, namespace, zones } = this.t;
    const locality = (i: number) => ({ region: REGION, zone: zones[i % zones.length]!, subzone: '' });
    const services: Service[] = [];
    const workloads: Workload[] = [];
    for (let s = 0; s < this.t.services; s++) {
      const app = `svc-${s}`;
      services.push({ name: app, namespace, cluster, ports: [{ name: 'http', port: SOAK_PORT, targetPort: SOAK_PORT, protocol: 'HTTP' }], selector: { app }, labels: {} });
      for (let e = 0; e < this.t.endpointsPerService; e++) {
        const w: Workload = { name: `${app}-${e}`, namespace, cluster, address: address(this.addresses++), labels: { app }, serviceAccount: app, locality: locality(e), health: 'HEALTHY' };
        this.endpoints.push(w);
        workloads.push(w);
      }
    }
    for (let i = 0; i < this.t.clients; i++) {
      workloads.push({ name: `client-${i}`, namespace, cluster, address: address(this.addresses++), labels: { app: 'client' }, serviceAccount: 'client', locality: locality(i), health: 'HEALTHY' });
    }
    sink([{ kind: 'replaceCluster', cluster, services, workloads }]);
  }

  /**
   * Moves the next `count` endpoint pods (round-robin over every service) to new addresses, reported
   * as one batch: Kubernetes discovery coalesces the events that arrive while the loop is busy the
   * same way, so a late tick does not turn into `count` model updates in a row.
   */
  churn(count = 1): void {
    if (!this.sink) throw new Error('soak discovery not started');
    const events: TopologyEvent[] = [];
    for (let k = 0; k < count; k++) {
      const i = this.next;
      this.next = (this.next + 1) % this.endpoints.length;
      const moved: Workload = { ...this.endpoints[i]!, address: address(this.addresses++) };
      this.endpoints[i] = moved;
      events.push({ kind: 'upsertWorkload', workload: moved });
    }
    this.changes += count;
    this.batches++;
    this.sink(events);
  }

  status(): undefined {
    return undefined;
  }

  async stop(): Promise<void> {
    this.sink = undefined;
  }
}
