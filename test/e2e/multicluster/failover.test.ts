/**
 * Aggregate failover with real grpc-js-xds clients: `echo-failover.default.global` is a
 * FailoverService backed by echo in cluster2, then cluster1. A client in cluster1 sends to cluster2;
 * with cluster2's backends stopped it fails over to cluster1; when they return, traffic goes back.
 */
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FAILOVER_POLICY, FAILOVER_SERVERS, FAILOVER_TARGET } from './claims.js';
import { Sim, calls, from, tally, until } from './harness.js';

let sim: Sim;
let client: grpc.Client;

beforeAll(async () => {
  sim = await Sim.start({
    workloads: [
      ...FAILOVER_SERVERS,
      { cluster: 'cluster1', name: 'client-0', address: '127.0.1.50', serviceAccount: 'client' },
    ],
    policies: FAILOVER_POLICY,
  });
  await Promise.all(FAILOVER_SERVERS.map((w) => sim.startServer(w.name)));
  client = await sim.client('client-0', FAILOVER_TARGET);
}, 20_000);

afterAll(async () => {
  await sim?.close();
});

it('sends to the primary backing service, fails over to the secondary when it is down, and returns', { timeout: 25_000 }, async () => {
  await until(client, from('echo-2-0', 'echo-2-1'), 8000);
  const primary = tally(await calls(client, 100));
  expect(Object.keys(primary).sort()).toEqual(['echo-2-0', 'echo-2-1']);

  sim.stopServer('echo-2-0');
  sim.stopServer('echo-2-1');
  await until(client, from('echo-1-0'), 6000);
  expect(tally(await calls(client, 100))).toEqual({ 'echo-1-0': 100 });

  await Promise.all([sim.startServer('echo-2-0'), sim.startServer('echo-2-1')]);
  await until(client, from('echo-2-0', 'echo-2-1'), 8000);
});
