import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loader.js';
import { DiscoveryManager } from '../../src/discovery/manager.js';
import { ModelStore } from '../../src/model/store.js';
import { tempDir, type TempDir } from '../config/helpers.js';
import { fakeApiServer, FAST } from './kubernetes/kube-test-cluster.js';
import { endpointSlice, node, pod, service } from '../support/kube-objects.js';

const STATIC = `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {network: n1, locality: {region: r1, zone: z1}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: web, namespace: default, cluster: c1}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: web-0, namespace: default, cluster: c1}
spec: {address: 127.0.1.10, labels: {app: web}, serviceAccount: web}
`;

function kubeClusterDoc(kubeconfig: string): string {
  return `---
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: k1}
spec:
  network: n2
  locality: {region: r2, zone: z2}
  discovery: {kubernetes: {kubeconfig: ${JSON.stringify(kubeconfig)}}}
`;
}

async function load(dir: string) {
  const result = await loadConfig([dir]);
  expect(result.errors).toEqual([]);
  return result.config!;
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('DiscoveryManager', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('merges static clusters and a Kubernetes cluster into one model, and drops the cluster when the config removes it', async () => {
    const api = await fakeApiServer();
    cleanups.push(api.cleanup);
    api.server.apply('nodes', node('n-a', { 'topology.kubernetes.io/region': 'r2', 'topology.kubernetes.io/zone': 'z2b' }));
    api.server.apply('services', service({ name: 'api', selector: { app: 'api' }, ports: [{ name: 'grpc', port: 9000 }] }));
    api.server.apply('pods', pod({ name: 'api-0', ip: '127.0.2.10', labels: { app: 'api' }, serviceAccount: 'api', node: 'n-a' }));
    api.server.apply('endpointslices', endpointSlice({ name: 'api-x', service: 'api', ports: [{ name: 'grpc', port: 9000 }], endpoints: [{ ip: '127.0.2.10', pod: 'api-0', ready: true }] }));

    const tmp: TempDir = tempDir();
    cleanups.push(() => tmp.remove());
    tmp.write('mesh.yaml', STATIC + kubeClusterDoc(api.kubeconfig));

    const store = new ModelStore();
    const manager = new DiscoveryManager(store, { kubernetes: { ...FAST, initialWaitMs: 3000 } });
    cleanups.push(() => manager.close());
    await manager.apply(await load(tmp.dir));

    const snap = store.current;
    expect([...snap.workloads.keys()].sort()).toEqual(['c1/default/web-0', 'k1/default/api-0']);
    expect(snap.workloads.get('k1/default/api-0')!.locality.zone).toBe('z2b');
    expect(manager.status().staticClusters).toEqual(['c1']);
    expect(manager.status().kubernetes.map((s) => s.cluster)).toEqual(['k1']);

    // A pod added on the API server reaches the model without any reload.
    api.server.apply('pods', pod({ name: 'api-1', ip: '127.0.2.11', labels: { app: 'api' }, serviceAccount: 'api', node: 'n-a' }));
    await until(() => store.current.workloads.has('k1/default/api-1'));

    // The config stops registering k1: its source stops and its objects leave the model.
    tmp.write('mesh.yaml', STATIC);
    await manager.apply(await load(tmp.dir));
    await until(() => ![...store.current.workloads.keys()].some((k) => k.startsWith('k1/')));
    expect(manager.status().kubernetes).toEqual([]);
    await until(() => api.server.activeWatches() === 0);
  });

  it('keeps the rest of the mesh when one cluster has an unusable kubeconfig', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    tmp.write('mesh.yaml', STATIC + kubeClusterDoc(`${tmp.dir}/missing-kubeconfig`));
    const store = new ModelStore();
    const manager = new DiscoveryManager(store, { kubernetes: FAST });
    cleanups.push(() => manager.close());
    await manager.apply(await load(tmp.dir));
    expect(store.current.workloads.has('c1/default/web-0')).toBe(true);
    expect(store.current.staleClusters.get('k1')?.reason).toMatch(/missing-kubeconfig/);
    const k = manager.status().kubernetes[0] as { cluster: string; error: string };
    expect(k.cluster).toBe('k1');
    expect(k.error).toMatch(/missing-kubeconfig/);
  });

  it('re-reads a kubeconfig whose contents change: a rotated token takes the cluster out of the stale state within seconds, no restart', async () => {
    const api = await fakeApiServer();
    cleanups.push(api.cleanup);
    api.server.apply('services', service({ name: 'api', selector: { app: 'api' }, ports: [{ name: 'grpc', port: 9000 }] }));
    api.server.apply('pods', pod({ name: 'api-0', ip: '127.0.2.10', labels: { app: 'api' }, serviceAccount: 'api' }));
    // The token in the file has expired (the server refuses it).
    const kubeconfig = api.server.writeKubeconfig({ token: 'expired-token', fileName: 'rotating' });
    const tmp: TempDir = tempDir();
    cleanups.push(() => tmp.remove());
    tmp.write('mesh.yaml', STATIC + kubeClusterDoc(kubeconfig));

    const store = new ModelStore();
    const manager = new DiscoveryManager(store, { kubernetes: { ...FAST, initialWaitMs: 500 }, kubeconfigCheckMs: 200 });
    cleanups.push(() => manager.close());
    await manager.apply(await load(tmp.dir));
    await until(() => (manager.status().kubernetes[0] as { stale?: boolean }).stale === true || /401|Unauthorized/.test(JSON.stringify(manager.status())));
    expect(store.current.workloads.has('k1/default/api-0')).toBe(false);

    // The token is rotated in the file (as a credentials helper or a mounted secret does).
    api.server.writeKubeconfig({ dir: dirname(kubeconfig), fileName: 'rotating' });
    await until(() => store.current.workloads.has('k1/default/api-0'), 10_000);
    await until(() => (manager.status().kubernetes[0] as { connected?: boolean }).connected === true, 5000);
    expect(manager.status().kubernetes[0]).toMatchObject({ cluster: 'k1', connected: true, stale: false });
  }, 20_000);
});
