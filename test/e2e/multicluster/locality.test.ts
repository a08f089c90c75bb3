/**
 * Locality-priority failover with real grpc-js-xds clients and servers: a client in cluster1 zone a
 * sends everything to zone a; with zone a stopped, to zone b of the same cluster and region; with
 * that stopped too, to cluster2 (same region, another cluster), never to cluster3 (another
 * region) while cluster2 serves; when zone a comes back, traffic returns to it. No config changes:
 * the priorities crossmesh put in EDS drive the client.
 */
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LOCALITY_SERVERS } from './claims.js';
import { Sim, calls, from, tally, until } from './harness.js';

let sim: Sim;
let client: grpc.Client;

beforeAll(async () => {
  sim = await Sim.start({
    workloads: [
      ...LOCALITY_SERVERS,
      { cluster: 'cluster1', name: 'client-0', address: '127.0.1.50', zone: 'us-east-1a', serviceAccount: 'client' },
    ],
  });
  await Promise.all(LOCALITY_SERVERS.map((w) => sim.startServer(w.name)));
  client = await sim.client('client-0');
}, 20_000);

afterAll(async () => {
  await sim?.close();
});

it('keeps traffic in the zone, then spills zone → region → next cluster, and comes back', { timeout: 25_000 }, async () => {
  await until(client, from('echo-1a-0', 'echo-1a-1'), 8000);
  const local = tally(await calls(client, 200));
  expect(Object.keys(local).sort()).toEqual(['echo-1a-0', 'echo-1a-1']);
  // Round robin inside the locality.
  expect(local['echo-1a-0']).toBeGreaterThan(60);

  sim.stopServer('echo-1a-0');
  sim.stopServer('echo-1a-1');
  await until(client, from('echo-1b-0'), 5000);
  expect(tally(await calls(client, 100))).toEqual({ 'echo-1b-0': 100 });

  sim.stopServer('echo-1b-0');
  await until(client, from('echo-2-0'), 5000);
  expect(tally(await calls(client, 100))).toEqual({ 'echo-2-0': 100 });

  await Promise.all([sim.startServer('echo-1a-0'), sim.startServer('echo-1a-1')]);
  await until(client, from('echo-1a-0', 'echo-1a-1'), 8000);
  const back = tally(await calls(client, 100));
  expect(Object.keys(back).sort()).toEqual(['echo-1a-0', 'echo-1a-1']);
});
