/**
 * "convergence": from a topology change (one endpoint taken out of service) to the moment real
 * grpc-js-xds clients stop sending to it. 50 proxyless clients (each its own xDS client and ADS
 * stream) call a service with 4 XdsServer endpoints continuously; each repetition marks one
 * endpoint UNHEALTHY in the model (gRPC drops non-serving endpoints: its server keeps running, so
 * only the configuration can stop the traffic) and records, per client, when it stopped sending
 * there; then restores it. p50/p99 over 20 repetitions of the time until all 50 clients stopped
 * (resolution: one client's pacing, 50 ms), and how many clients were still sending after 500 ms. Baseline in the same run: the cache's debounce window alone (time from
 * the change reaching the cache to its batch being handed to the streams).
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
      const allStopped: number[] = [];
      const late: number[] = [];
      const debounce: number[] = [];
      for (let rep = 0; rep < REPETITIONS; rep++) {
        const r = await mesh.takeOutAndMeasure(rep % ENDPOINTS, 5000);
        allStopped.push(Math.max(...r.perClientMs));
        late.push(r.perClientMs.filter((ms) => ms > 500).length);
        debounce.push(r.debounceMs);
        await mesh.restore(rep % ENDPOINTS, 10_000);
      }
      const base50 = percentile(debounce, 50);
      const base99 = percentile(debounce, 99);
      const p99 = percentile(allStopped, 99);
      return [
        { scenario: 'convergence', metric: `all ${CLIENTS} clients stopped, p50`, value: percentile(allStopped, 50), unit: 'ms', baseline: base50 },
        { scenario: 'convergence', metric: `all ${CLIENTS} clients stopped, p99`, value: p99, unit: 'ms', baseline: base99, target: '< 500 ms', pass: p99 < 500 },
        { scenario: 'convergence', metric: 'clients still sending after 500 ms (mean per change)', value: late.reduce((a, b) => a + b, 0) / late.length, unit: 'clients', target: '0', pass: late.every((n) => n === 0) },
        { scenario: 'convergence', metric: 'RPCs to the endpoint after all stopped', value: mesh.strayRpcs, unit: 'RPCs', target: '0', pass: mesh.strayRpcs === 0 },
      ];
    } finally {
      await mesh.close();
    }
  },
};
