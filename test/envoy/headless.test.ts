/**
 * Headless services on real Envoy: an app that resolves a pod's own name
 * (`<pod>.<svc>.<ns>.svc.cluster.local`) reaches that pod, and only it, through both sidecars over
 * mesh mTLS, for an HTTP port (ORIGINAL_DST behind the route's wildcard domain) and for a TCP port
 * (a listener per pod address). A load-balanced service would spread the same calls over both pods.
 * The compose topology plus two headless services in cluster1, written by this file.
 */
import { expect, it } from 'vitest';
import { envoySuite, statSum, useTopologyMesh } from './support.js';

const CLIENT = 'cluster1-hl-client-0';
const PODS = new Set([CLIENT, 'cluster1-store-0', 'cluster1-store-1', 'cluster1-ledger-0', 'cluster1-ledger-1']);

const TOPOLOGY = `apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: store, namespace: default, cluster: cluster1}
spec: {clusterIP: None, selector: {app: store}, ports: [{name: http, port: 9080, targetPort: 9080}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: ledger, namespace: default, cluster: cluster1}
spec: {clusterIP: None, selector: {app: ledger}, ports: [{name: tcp, port: 9000, targetPort: 9000, protocol: TCP}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: store-0, namespace: default, cluster: cluster1}
spec: {address: 172.30.1.40, labels: {app: store, version: v1}, serviceAccount: store}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: store-1, namespace: default, cluster: cluster1}
spec: {address: 172.30.1.41, labels: {app: store, version: v1}, serviceAccount: store}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: ledger-0, namespace: default, cluster: cluster1}
spec: {address: 172.30.1.42, labels: {app: ledger, version: v1}, serviceAccount: ledger}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: ledger-1, namespace: default, cluster: cluster1}
spec: {address: 172.30.1.43, labels: {app: ledger, version: v1}, serviceAccount: ledger}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: hl-client-0, namespace: default, cluster: cluster1}
spec: {address: 172.30.1.44, labels: {app: hl-client, version: v1}, serviceAccount: hl-client}
`;

envoySuite('headless services on real Envoy: a pod reached by its own name is the pod that answers', () => {
  const { mesh: meshOf, client: clientOf } = useTopologyMesh(TOPOLOGY, PODS, CLIENT);

  it('HTTP: store-1.store.default.svc.cluster.local answers from store-1 every time, over mesh mTLS', async () => {
    for (const pod of ['store-1', 'store-0']) {
      const results = await clientOf().requests({ url: `http://${pod}.store.default.svc.cluster.local:9080/`, count: 12, concurrency: 3, timeoutMs: 5000 });
      expect(results.map((r) => r.status ?? r.error)).toEqual(Array(12).fill(200));
      expect(new Set(results.map((r) => r.headers?.['x-demo-pod']))).toEqual(new Set([pod]));
    }
    const admin = meshOf().pod(CLIENT).envoy.admin;
    expect(await statSum(admin, /^cluster\.outbound\|9080\|\|store\.default\.svc\.cluster\.local\.upstream_rq_total$/)).toBeGreaterThanOrEqual(24);
    expect(await statSum(meshOf().pod('cluster1-store-1').envoy.admin, /^listener\..*\.ssl\.handshake$/)).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('TCP: a connection to ledger-0\'s address reaches ledger-0 only, through both sidecars', async () => {
    for (const pod of ['ledger-0', 'ledger-1']) {
      const results = await clientOf().requests({ url: `http://${pod}.ledger.default.svc.cluster.local:9000/`, count: 12, concurrency: 3, timeoutMs: 5000 });
      expect(results.map((r) => r.status ?? r.error)).toEqual(Array(12).fill(200));
      expect(new Set(results.map((r) => r.headers?.['x-demo-pod']))).toEqual(new Set([pod]));
    }
    const admin = meshOf().pod(CLIENT).envoy.admin;
    expect(await statSum(admin, /^cluster\.outbound\|9000\|\|ledger\.default\.svc\.cluster\.local\.upstream_cx_total$/)).toBeGreaterThanOrEqual(24);
    expect(await statSum(meshOf().pod('cluster1-ledger-0').envoy.admin, /^listener\..*\.ssl\.handshake$/)).toBeGreaterThanOrEqual(12);
  }, 30_000);
});
