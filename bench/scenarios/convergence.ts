/**
 * "convergence": from a topology change (one endpoint taken out of service) to the moment real
 * grpc-js-xds clients stop sending to it. 50 proxyless clients (each its own xDS client and ADS
 * stream) call a service with 4 XdsServer endpoints continuously; each repetition marks one
 * endpoint UNHEALTHY in the model (gRPC drops non-serving endpoints: its server keeps running, so
 * only the configuration can stop the traffic), records per client the start of the last RPC the
 * endpoint answered (RPCs are sequential per client, so every later one went elsewhere), then
 * restores it. p50/p99 over 20 repetitions of that moment for the slowest of the 50 clients,
 * beside the upper bound (the client's next RPC), when crossmesh wrote the EDS response on every
 * stream and when every ACK came back, and the RPCs that failed meanwhile. Baseline in the same
 * run: the cache's debounce window alone (from the change reaching the cache to its batch being
 * handed to the streams). Why the upper bound is far above the moment itself: docs/proxyless.md.
 */
import { startConvergenceMesh } from '../convergence-mesh.js';
import type { BenchRow, BenchScenario } from '../types.js';

const CLIENTS = 50;
const ENDPOINTS = 4;
const REPETITIONS = 20;
const DEBOUNCE_MS = 100;

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((s.length * p) / 100) - 1))]!;
}

export const scenario: BenchScenario = {
  name: 'convergence',
  description: `${CLIENTS} grpc-js-xds clients, ${ENDPOINTS} endpoints: endpoint out of service → clients stop sending to it`,
  async run(): Promise<BenchRow[]> {
    const mesh = await startConvergenceMesh({ clients: CLIENTS, endpoints: ENDPOINTS, debounceMs: DEBOUNCE_MS });
    try {
      await mesh.warmUp(20_000);
      const stopped: number[] = [];
      const upper: number[] = [];
      const pushed: number[] = [];
      const acked: number[] = [];
      const failed: number[] = [];
      const responses: number[] = [];
      const debounce: number[] = [];
      for (let rep = 0; rep < REPETITIONS; rep++) {
        const r = await mesh.takeOutAndMeasure(rep % ENDPOINTS, 15_000);
        stopped.push(Math.max(...r.clients.map((c) => c.lastSentMs)));
        upper.push(Math.max(...r.clients.map((c) => c.nextSentMs)));
        pushed.push(Math.max(...r.clients.map((c) => c.pushMs)));
        acked.push(Math.max(...r.clients.map((c) => c.ackMs)));
        failed.push(r.failures.length);
        responses.push(Object.values(r.acksByType).reduce((a, b) => a + b, 0) / CLIENTS);
        debounce.push(r.debounceMs);
        await mesh.restore(rep % ENDPOINTS, 15_000);
      }
      const base50 = percentile(debounce, 50);
      const base99 = percentile(debounce, 99);
      const p99 = percentile(stopped, 99);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const row = (metric: string, value: number, unit: string, extra: Partial<BenchRow> = {}): BenchRow => ({ scenario: 'convergence', metric, value, unit, ...extra });
      return [
        row(`all ${CLIENTS} clients stopped (last RPC sent there), p50`, percentile(stopped, 50), 'ms', { baseline: base50 }),
        row(`all ${CLIENTS} clients stopped (last RPC sent there), p99`, p99, 'ms', { baseline: base99, target: '< 500 ms', pass: p99 < 500 }),
        row(`upper bound (next RPC of that client, went elsewhere), p50`, percentile(upper, 50), 'ms', { baseline: base50 }),
        row(`upper bound (next RPC of that client, went elsewhere), p99`, percentile(upper, 99), 'ms', { baseline: base99 }),
        row(`EDS written on all ${CLIENTS} streams, p99`, percentile(pushed, 99), 'ms', { baseline: base99 }),
        row(`EDS ACKed by all ${CLIENTS} clients, p99`, percentile(acked, 99), 'ms', { baseline: base99 }),
        row('xDS responses per client per change', mean(responses), 'responses', { target: '1 (EDS only)', pass: responses.every((n) => n === 1) }),
        row('RPCs failed per change (grpc-js reconnects, see docs)', mean(failed), 'RPCs'),
        row('RPCs to the endpoint after all stopped', mesh.strayRpcs, 'RPCs', { target: '0', pass: mesh.strayRpcs === 0 }),
      ];
    } finally {
      await mesh.close();
    }
  },
};
