/**
 * The simulations behind the core proxyless claims (locality failover, the 75/15/10 shift,
 * FailoverService failover, access policy), shared by the grpc-js tests and the other clients'
 * tests so that every client library is held to the same topology, policy and bounds.
 */
import { expect } from 'vitest';
import type { SimWorkload } from './harness.js';

/** Echo in zone a (two), zone b of cluster1, cluster2 (same region) and cluster3 (another region). */
export const LOCALITY_SERVERS: readonly SimWorkload[] = [
  { cluster: 'cluster1', name: 'echo-1a-0', address: '127.0.1.11', zone: 'us-east-1a', app: 'echo', serviceAccount: 'echo' },
  { cluster: 'cluster1', name: 'echo-1a-1', address: '127.0.1.12', zone: 'us-east-1a', app: 'echo', serviceAccount: 'echo' },
  { cluster: 'cluster1', name: 'echo-1b-0', address: '127.0.1.21', zone: 'us-east-1b', app: 'echo', serviceAccount: 'echo' },
  { cluster: 'cluster2', name: 'echo-2-0', address: '127.0.2.11', app: 'echo', serviceAccount: 'echo' },
  { cluster: 'cluster3', name: 'echo-3-0', address: '127.0.3.11', app: 'echo', serviceAccount: 'echo' },
];

/** The seed's shift: callers of echo in cluster1 send 75% to v3 (cluster2), 15% to v1, 10% to v2 (cluster1). */
export const SHIFT_POLICY = `apiVersion: networking.smh.solo.io/v1alpha2
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

/** One server per subset of the shift. */
export const SHIFT_SERVERS: readonly SimWorkload[] = [
  { cluster: 'cluster1', name: 'echo-v1', address: '127.0.1.11', app: 'echo', version: 'v1', serviceAccount: 'echo' },
  { cluster: 'cluster1', name: 'echo-v2', address: '127.0.1.12', app: 'echo', version: 'v2', serviceAccount: 'echo' },
  { cluster: 'cluster2', name: 'echo-v3', address: '127.0.2.11', app: 'echo', version: 'v3', serviceAccount: 'echo' },
];

/** Asserts a tally of 2,000 RPCs: no errors, and each share of the shift within ±5 points (`who`: which client, for the message). */
export function expectShift(t: Record<string, number>, who = ''): void {
  const why = `${who}${who ? ': ' : ''}${JSON.stringify(t)}`;
  const share = (k: string) => ((t[k] ?? 0) / 2000) * 100;
  expect(Object.keys(t).filter((k) => k.startsWith('error')), why).toEqual([]);
  expect(Math.abs(share('echo-v3') - 75), why).toBeLessThanOrEqual(5);
  expect(Math.abs(share('echo-v1') - 15), why).toBeLessThanOrEqual(5);
  expect(Math.abs(share('echo-v2') - 10), why).toBeLessThanOrEqual(5);
}

/** `echo-failover.default.global`: echo in cluster2 first, then cluster1. */
export const FAILOVER_POLICY = `apiVersion: networking.smh.solo.io/v1alpha2
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
export const FAILOVER_TARGET = 'echo-failover.default.global:9080';

/** One echo in cluster1 (secondary), two in cluster2 (primary). */
export const FAILOVER_SERVERS: readonly SimWorkload[] = [
  { cluster: 'cluster1', name: 'echo-1-0', address: '127.0.1.11', app: 'echo', serviceAccount: 'echo' },
  { cluster: 'cluster2', name: 'echo-2-0', address: '127.0.2.11', app: 'echo', serviceAccount: 'echo' },
  { cluster: 'cluster2', name: 'echo-2-1', address: '127.0.2.12', app: 'echo', serviceAccount: 'echo' },
];

/** An AccessPolicy letting service account `sa` of cluster1 call echo (`extra`: more spec lines). */
export const allowPolicy = (name: string, sa: string, extra = '') => `apiVersion: networking.smh.solo.io/v1alpha2
kind: AccessPolicy
metadata: {namespace: crossmesh-system, name: ${name}}
spec:
  sourceSelector:
  - kubeServiceAccountRefs:
      serviceAccounts: [{name: ${sa}, namespace: default, clusterName: cluster1}]
  destinationSelector:
  - kubeServiceMatcher: {namespaces: [default], labels: {service: echo}}
${extra}`;

/** "allowed" may call everything on echo, "limited" only a method echo does not have; nobody else. */
export const ACCESS_BASE = [allowPolicy('allowed', 'allowed'), allowPolicy('limited', 'limited', '  allowedPaths: [/crossmesh.demo.Echo/Other]\n')].join('---\n');

/** The grant the hot-reload step adds: "limited" everything, "stranger" too. */
export const ACCESS_GRANTED = [ACCESS_BASE, allowPolicy('limited-all', 'limited'), allowPolicy('stranger', 'stranger')].join('---\n');

/** The access-policy simulation: echo in cluster2, three clients in cluster1. */
export const ACCESS_WORKLOADS: readonly SimWorkload[] = [
  { cluster: 'cluster2', name: 'echo-2-0', address: '127.0.2.11', app: 'echo', serviceAccount: 'echo' },
  { cluster: 'cluster1', name: 'client-allowed', address: '127.0.1.50', serviceAccount: 'allowed' },
  { cluster: 'cluster1', name: 'client-limited', address: '127.0.1.51', serviceAccount: 'limited' },
  { cluster: 'cluster1', name: 'client-stranger', address: '127.0.1.52', serviceAccount: 'stranger' },
];
