/**
 * The seed's traffic shift with real grpc-js-xds clients: callers of echo in cluster1 send 75% to
 * v3 (only in cluster2), 15% to v1 and 10% to v2 (cluster1), from the TrafficPolicy crossmesh
 * turns into weighted routes; measured over 2,000 RPCs, each share within ±5 points.
 */
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Sim, calls, tally, until } from './harness.js';

const POLICY = `apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata: {namespace: crossmesh-system, name: shift}
spec:
  destinationSelector:
  - kubeServiceRefs:
      services: [{clusterName: cluster1, name: echo, namespace: default}]
  trafficShift:
    destinations:
    - kubeService: {clusterName: cluster2, name: echo, namespace: default, subset: {version: v3}}
      weight: 75
    - kubeService: {clusterName: cluster1, name: echo, namespace: default, subset: {version: v1}}
      weight: 15
    - kubeService: {clusterName: cluster1, name: echo, namespace: default, subset: {version: v2}}
      weight: 10
`;

let sim: Sim;
let client: grpc.Client;

beforeAll(async () => {
  sim = await Sim.start({
    workloads: [
      { cluster: 'cluster1', name: 'echo-v1', address: '127.0.1.11', app: 'echo', version: 'v1', serviceAccount: 'echo' },
      { cluster: 'cluster1', name: 'echo-v2', address: '127.0.1.12', app: 'echo', version: 'v2', serviceAccount: 'echo' },
      { cluster: 'cluster2', name: 'echo-v3', address: '127.0.2.11', app: 'echo', version: 'v3', serviceAccount: 'echo' },
      { cluster: 'cluster1', name: 'client-0', address: '127.0.1.50', serviceAccount: 'client' },
    ],
    policies: POLICY,
  });
  await Promise.all(['echo-v1', 'echo-v2', 'echo-v3'].map((n) => sim.startServer(n)));
  client = await sim.client('client-0');
}, 20_000);

afterAll(async () => {
  await sim?.close();
});

it('splits 2,000 RPCs 75/15/10 across clusters and subsets within ±5 points', { timeout: 25_000 }, async () => {
  // Warm up until all three subsets have connected (each weighted cluster has its own channel state).
  const seen = new Set<string>();
  await until(client, (o) => o.ok && (seen.add(o.answer.workload), seen.size === 3), 10_000, 1);
  const t = tally(await calls(client, 2000, 32));
  const share = (k: string) => ((t[k] ?? 0) / 2000) * 100;
  expect(Object.keys(t).filter((k) => k.startsWith('error')), JSON.stringify(t)).toEqual([]);
  expect(Math.abs(share('echo-v3') - 75), JSON.stringify(t)).toBeLessThanOrEqual(5);
  expect(Math.abs(share('echo-v1') - 15), JSON.stringify(t)).toBeLessThanOrEqual(5);
  expect(Math.abs(share('echo-v2') - 10), JSON.stringify(t)).toBeLessThanOrEqual(5);
});
