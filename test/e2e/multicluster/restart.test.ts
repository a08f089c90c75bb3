/**
 * crossmesh restarts mid-traffic: RPCs keep flowing on the configuration clients and servers
 * already have, the clients reconnect and are served again (every type ACKed), and trust holds:
 * the CA is reopened from its directory, so a certificate issued after the restart is accepted by
 * a server whose certificate was issued before it.
 */
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Sim, call, calls, from, tally, until, type Outcome } from './harness.js';

let sim: Sim;
let client: grpc.Client;

beforeAll(async () => {
  sim = await Sim.start({
    workloads: [
      { cluster: 'cluster1', name: 'echo-1a-0', address: '127.0.1.11', app: 'echo', serviceAccount: 'echo' },
      { cluster: 'cluster2', name: 'echo-2-0', address: '127.0.2.11', app: 'echo', serviceAccount: 'echo' },
      { cluster: 'cluster1', name: 'client-0', address: '127.0.1.50', serviceAccount: 'client' },
      { cluster: 'cluster1', name: 'client-1', address: '127.0.1.51', serviceAccount: 'client' },
    ],
  });
  await Promise.all([sim.startServer('echo-1a-0'), sim.startServer('echo-2-0')]);
  client = await sim.client('client-0');
  await until(client, from('echo-1a-0'), 8000, 5);
}, 20_000);

afterAll(async () => {
  await sim?.close();
});

function acked(nodeId: string): boolean {
  const p = sim.plane.xds.proxies().find((x) => x.nodeId === nodeId);
  if (!p) return false;
  return ['lds', 'rds', 'cds', 'eds'].every((t) => p.types[t] !== undefined && p.types[t]!.lastNack === null && p.types[t]!.ackedVersion !== null && p.types[t]!.ackedVersion === p.types[t]!.lastSentVersion);
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('keeps RPCs flowing while the control plane is down, resyncs clients after it restarts, and keeps trust', { timeout: 25_000 }, async () => {
  expect(acked('cluster1/default/client-0')).toBe(true);
  const during: Outcome[] = [];
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      during.push(await call(client));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  await sim.stopPlane();
  await new Promise((r) => setTimeout(r, 1000));
  await sim.reopenCa();
  await sim.startPlane();
  await waitFor(() => acked('cluster1/default/client-0'), 10_000);
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await traffic;

  expect(during.length).toBeGreaterThan(50);
  expect(tally(during)).toEqual({ 'echo-1a-0': during.length });

  // The restarted plane still drives the client: the local server goes away, traffic moves to cluster2.
  sim.stopServer('echo-1a-0');
  await until(client, from('echo-2-0'), 5000);

  // Trust: a certificate issued by the reopened CA is accepted by a server certified before the restart.
  const fresh = await sim.client('client-1');
  await until(fresh, from('echo-2-0'), 8000, 5);
  expect(tally(await calls(fresh, 20))).toEqual({ 'echo-2-0': 20 });
});
