/**
 * The seed's traffic shift with real grpc-js-xds clients: callers of echo in cluster1 send 75% to
 * v3 (only in cluster2), 15% to v1 and 10% to v2 (cluster1), from the TrafficPolicy crossmesh
 * turns into weighted routes; measured over 2,000 RPCs, each share within ±5 points.
 */
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, it } from 'vitest';
import { SHIFT_POLICY, SHIFT_SERVERS, expectShift } from './claims.js';
import { Sim, calls, tally, until } from './harness.js';

let sim: Sim;
let client: grpc.Client;

beforeAll(async () => {
  sim = await Sim.start({
    workloads: [
      ...SHIFT_SERVERS,
      { cluster: 'cluster1', name: 'client-0', address: '127.0.1.50', serviceAccount: 'client' },
    ],
    policies: SHIFT_POLICY,
  });
  await Promise.all(SHIFT_SERVERS.map((w) => sim.startServer(w.name)));
  client = await sim.client('client-0');
}, 20_000);

afterAll(async () => {
  await sim?.close();
});

it('splits 2,000 RPCs 75/15/10 across clusters and subsets within ±5 points', { timeout: 25_000 }, async () => {
  // Warm up until all three subsets have connected (each weighted cluster has its own channel state).
  const seen = new Set<string>();
  await until(client, (o) => o.ok && (seen.add(o.answer.workload), seen.size === 3), 10_000, 1);
  expectShift(tally(await calls(client, 2000, 32)));
});
