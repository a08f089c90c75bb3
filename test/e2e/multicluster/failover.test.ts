/**
 * Aggregate failover with real grpc-js-xds clients: `echo-failover.default.global` is a
 * FailoverService backed by echo in cluster2, then cluster1. A client in cluster1 sends to cluster2;
 * with cluster2's backends stopped it fails over to cluster1; when they return, traffic goes back.
 */
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Sim, calls, from, tally, until } from './harness.js';

const FAILOVER = `apiVersion: networking.smh.solo.io/v1alpha2
kind: FailoverService
metadata: {name: echo-failover, namespace: crossmesh-system}
spec:
  hostname: echo-failover.default.global
  port: {number: 9080, protocol: http}
  meshes: [{name: cluster1}]
  backingServices:
  - kubeService: {name: echo, namespace: default, clusterName: cluster2}
  - kubeService: {name: echo, namespace: default, clusterName: cluster1}
`;

let sim: Sim;
let client: grpc.Client;

beforeAll(async () => {
  sim = await Sim.start({
    workloads: [
      { cluster: 'cluster1', name: 'echo-1-0', address: '127.0.1.11', app: 'echo', serviceAccount: 'echo' },
      { cluster: 'cluster2', name: 'echo-2-0', address: '127.0.2.11', app: 'echo', serviceAccount: 'echo' },
      { cluster: 'cluster2', name: 'echo-2-1', address: '127.0.2.12', app: 'echo', serviceAccount: 'echo' },
      { cluster: 'cluster1', name: 'client-0', address: '127.0.1.50', serviceAccount: 'client' },
    ],
    policies: FAILOVER,
  });
  await Promise.all(['echo-1-0', 'echo-2-0', 'echo-2-1'].map((n) => sim.startServer(n)));
  client = await sim.client('client-0', 'echo-failover.default.global:9080');
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
