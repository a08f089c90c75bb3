/**
 * Policies as CRDs, end to end on real Envoy: `crossmesh serve --policies-kubeconfig` (the CLI,
 * as a user starts it) reads TrafficPolicies from a real API server; a policy created there is
 * what a client's requests through its Envoy sidecar meet within 1 s; an invalid update is
 * refused in the object's status while Envoy keeps the previous good version; deleting the object
 * takes the policy away.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMeshSim, type MeshSim } from '../../src/meshsim/index.js';
import type { Driver } from '../../src/netsim/index.js';
import { kubeApiServerSuite, useKubeApiServer, type KubeApiServer } from '../support/kube-apiserver.js';
import { ensureNamespace } from '../discovery/kubernetes/real-kube-fixtures.js';
import { acceptedOf, createPolicy, getPolicy, installPolicyCrds, objectsPath, updatePolicySpec, waitFor, type PolicyDoc } from '../config/kubernetes/policy-crd-fixtures.js';
import { envoySuite, policyDir } from './support.js';

const TOPOLOGY = `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {network: n1, serviceCIDR: 10.96.8.0/24, locality: {region: r1, zone: z1}, gateway: {address: 172.31.0.11, port: 15443}}
---
kind: Service
apiVersion: crossmesh.io/v1alpha1
metadata: {name: web, namespace: default, cluster: c1, labels: {app: web}}
spec: {clusterIP: 10.96.8.1, selector: {app: web}, ports: [{name: http, port: 9080, targetPort: 9080}]}
---
kind: Workload
apiVersion: crossmesh.io/v1alpha1
metadata: {name: client-0, namespace: default, cluster: c1}
spec: {address: 172.31.8.10, labels: {app: client, version: v1}, serviceAccount: client}
---
kind: Workload
apiVersion: crossmesh.io/v1alpha1
metadata: {name: web-0, namespace: default, cluster: c1}
spec: {address: 172.31.8.20, labels: {app: web, version: v1}, serviceAccount: web}
`;

const WEB = 'http://web.default.svc.cluster.local:9080/';

const abortPolicy = (status: number, extra: Record<string, unknown> = {}): PolicyDoc => ({
  apiVersion: 'networking.smh.solo.io/v1alpha2',
  kind: 'TrafficPolicy',
  metadata: { name: 'web-fault', namespace: 'default' },
  spec: { destinationSelector: [{ kubeServiceRefs: { services: [{ name: 'web', namespace: 'default', clusterName: 'c1' }] } }], faultInjection: { abort: { httpStatus: status }, percentage: 100, ...extra } },
});

envoySuite('policies as CRDs reach real Envoy', () => {
  kubeApiServerSuite('serve --policies-kubeconfig with Envoy sidecars', () => {
    const server = useKubeApiServer();
    let api: KubeApiServer;
    let mesh: MeshSim | undefined;
    let client: Driver;
    const topoDir = mkdtempSync(path.join(os.tmpdir(), 'crossmesh-crd-envoy-'));
    const policies = policyDir();

    /** Sends one request every 10 ms until one is answered with `status`; returns when (performance.now()). */
    async function firstAnswer(status: number, timeoutMs: number): Promise<number> {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const r = await client.request(WEB, { timeoutMs: 2000 });
        if (r.status === status) return performance.now();
        if (performance.now() > deadline) throw new Error(`no ${status} within ${timeoutMs} ms (last: ${r.status ?? r.error})`);
        await new Promise((res) => setTimeout(res, 10));
      }
    }

    beforeAll(async () => {
      api = server();
      await installPolicyCrds(api);
      await ensureNamespace(api, 'crossmesh-system');
      writeFileSync(path.join(topoDir, 'topology.yaml'), TOPOLOGY);
      mesh = await startMeshSim({ topology: [topoDir], policyDir: policies.dir, calls: () => '', serveArgs: ['--policies-kubeconfig', api.adminKubeconfig] });
      client = await mesh.sim.driver('c1-client-0');
      expect((await client.request(WEB, { timeoutMs: 5000 })).status).toBe(200);
    }, 120_000);

    afterAll(async () => {
      await mesh?.close();
      policies.dispose();
      rmSync(topoDir, { recursive: true, force: true });
    }, 30_000);

    it('a created TrafficPolicy answers the client through its Envoy within 1 s; an invalid update leaves Envoy on the last good one; delete removes it', async () => {
      await createPolicy(api, abortPolicy(418));
      const created = performance.now();
      const first = await firstAnswer(418, 5000);
      const latency = first - created;

      await updatePolicySpec(api, 'TrafficPolicy', 'default', 'web-fault', abortPolicy(429).spec);
      const updated = performance.now();
      const second = (await firstAnswer(429, 5000)) - updated;
      console.log(`TrafficPolicy written on the API server → first request through the Envoy sidecar meeting it: create ${latency.toFixed(0)} ms, update ${second.toFixed(0)} ms`);
      expect(latency).toBeLessThan(1000);
      expect(second).toBeLessThan(1000);

      // Invalid for crossmesh (a delay that is no duration), valid for the API server's schema.
      await updatePolicySpec(api, 'TrafficPolicy', 'default', 'web-fault', abortPolicy(503, { fixedDelay: 'soon' }).spec);
      const rejected = await waitFor('Accepted=False at generation 3', async () => {
        const o = await getPolicy(api, 'TrafficPolicy', 'default', 'web-fault');
        return o.status?.observedGeneration === 3 && acceptedOf(o)?.status === 'False' ? o : undefined;
      });
      expect(acceptedOf(rejected)!.message).toMatch(/^TrafficPolicy web-fault: spec\.faultInjection\.fixedDelay: invalid duration "soon"/);
      const rs = await Promise.all(Array.from({ length: 10 }, () => client.request(WEB, { timeoutMs: 2000 })));
      expect(rs.map((r) => r.status)).toEqual(Array(10).fill(429));

      await api.request('DELETE', `${objectsPath('TrafficPolicy', 'default')}/web-fault`);
      await firstAnswer(200, 5000);
    }, 60_000);
  });
});
