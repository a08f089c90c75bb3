/**
 * Endpoints outside the mesh on real Envoy (Istio's per-endpoint tlsMode): a workload with
 * `mesh: false` (a plain server in its own network namespace: no capture, no Envoy, as a database
 * VM or the API server behind `default/kubernetes` would be) is reached through the caller's
 * sidecar in plaintext, while a call to a mesh service from the same sidecar still goes over mesh
 * mTLS. The compose topology plus one such workload and a client in cluster1, written by this file.
 */
import { expect, it } from 'vitest';
import { envoySuite, statSum, useTopologyMesh } from './support.js';

const CLIENT = 'cluster1-pt-client-0';
const PODS = new Set([CLIENT, 'cluster1-vmdb-0', 'cluster1-details-v1-0']);

const TOPOLOGY = `apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: vmdb, namespace: default, cluster: cluster1}
spec: {selector: {app: vmdb}, ports: [{name: http, port: 9080, targetPort: 9080}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: vmdb-0, namespace: default, cluster: cluster1}
spec: {address: 172.30.1.50, labels: {app: vmdb, version: v1}, mesh: false}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: pt-client-0, namespace: default, cluster: cluster1}
spec: {address: 172.30.1.51, labels: {app: pt-client, version: v1}, serviceAccount: pt-client}
`;

envoySuite('endpoints outside the mesh on real Envoy: plaintext to them, mesh mTLS to everything else', () => {
  const { mesh: meshOf, client: clientOf } = useTopologyMesh(TOPOLOGY, PODS, CLIENT);

  it('a sidecar\'s app reaches the workload outside the mesh by its service name, in plaintext through its Envoy', async () => {
    const results = await clientOf().requests({ url: 'http://vmdb.default.svc.cluster.local:9080/', count: 12, concurrency: 3, timeoutMs: 5000 });
    expect(results.map((r) => r.status ?? r.error)).toEqual(Array(12).fill(200));
    expect(new Set(results.map((r) => r.headers?.['x-demo-pod']))).toEqual(new Set(['vmdb-0']));
    const admin = meshOf().pod(CLIENT).envoy.admin;
    // Through the client's sidecar (its outbound cluster counted them), with no TLS handshake there.
    expect(await statSum(admin, /^cluster\.outbound\|9080\|\|vmdb\.default\.svc\.cluster\.local\.upstream_rq_total$/)).toBeGreaterThanOrEqual(12);
    expect(await statSum(admin, /^cluster\.outbound\|9080\|\|vmdb\.default\.svc\.cluster\.local\.ssl\.handshake$/)).toBe(0);
  }, 30_000);

  it('the same sidecar still speaks mesh mTLS to a mesh service', async () => {
    const results = await clientOf().requests({ url: 'http://details.default.svc.cluster.local:9080/', count: 6, concurrency: 2, timeoutMs: 5000 });
    expect(results.map((r) => r.status ?? r.error)).toEqual(Array(6).fill(200));
    expect(await statSum(meshOf().pod(CLIENT).envoy.admin, /^cluster\.outbound\|9080\|\|details\.default\.svc\.cluster\.local\.ssl\.handshake$/)).toBeGreaterThanOrEqual(1);
    expect(await statSum(meshOf().pod('cluster1-details-v1-0').envoy.admin, /^listener\..*\.ssl\.handshake$/)).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
