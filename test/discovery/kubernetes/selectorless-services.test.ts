/**
 * Issue 15, section 2 (last item): a Service without a selector whose EndpointSlices are managed by
 * hand gets endpoints. Addresses that name no Pod (a database VM, the API server behind
 * `default/kubernetes`) are workloads outside the mesh (`mesh: false`, reached in plaintext); a
 * hand-listed Pod stays a mesh workload. Discovery against the fake API server, its events applied
 * to a real ModelStore, endpoints read from the snapshot.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../../../src/discovery/kubernetes/index.js';
import { EMPTY_POLICIES } from '../../../src/model/policies.js';
import { ModelStore } from '../../../src/model/store.js';
import type { FakeKubeApiServer } from '../../support/fake-kube-apiserver.js';
import { endpointSlice, pod, service } from '../../support/kube-objects.js';
import { TopologyRecorder } from '../../support/kube-topology-recorder.js';
import { FAST, fakeApiServer, kubeCluster } from './kube-test-cluster.js';

let server: FakeKubeApiServer;
let kubeconfig: string;
let cleanup: () => Promise<void>;
let discovery: KubernetesDiscovery | undefined;
let rec: TopologyRecorder;
let store: ModelStore;

beforeEach(async () => {
  ({ server, kubeconfig, cleanup } = await fakeApiServer());
  rec = new TopologyRecorder();
  store = new ModelStore({ declarations: { clusters: [kubeCluster('east', kubeconfig)], gateways: [], policies: EMPTY_POLICIES } });
});

afterEach(async () => {
  await discovery?.stop();
  discovery = undefined;
  await cleanup();
});

async function start(): Promise<void> {
  discovery = await startKubernetesDiscovery(
    kubeCluster('east', kubeconfig),
    (events) => {
      store.applyEvents(events);
      rec.sink(events);
    },
    FAST,
  );
  await rec.waitFor('initial replaceCluster', () => rec.ofKind('replaceCluster').length === 1);
}

/** `address:targetPort health mesh|plaintext` of a service's endpoints in the model. */
function endpointsOf(svc: string, port: number, ns = 'default'): string[] {
  return (store.current.endpoints.get(`east/${ns}/${svc}`) ?? []).map((e) => `${e.address}:${e.targetPorts[String(port)]} ${e.health} ${e.mesh === false ? 'plaintext' : 'mesh'}`).sort();
}

it('a selector-less service with a hand-managed slice gets its addresses as endpoints outside the mesh', async () => {
  server.apply('services', service({ name: 'db', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  server.apply('endpointslices', endpointSlice({ name: 'db-manual', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.1', ready: true }, { ip: '10.9.0.2', ready: false }] }));
  await start();
  expect([...rec.services.keys()]).toEqual(['east/default/db']);
  expect(endpointsOf('db', 5432)).toEqual(['10.9.0.1:5432 HEALTHY plaintext', '10.9.0.2:5432 UNHEALTHY plaintext']);
  const w = store.current.workloads.get('east/default/db~10.9.0.1');
  expect(w).toMatchObject({ mesh: false, memberOf: ['db'], serviceAccount: '', labels: {} });
});

it('default/kubernetes (the API server, no selector, port 443 → 6443) gets its address as a plaintext endpoint', async () => {
  server.apply('services', service({ name: 'kubernetes', clusterIP: '10.96.0.1', labels: { component: 'apiserver', provider: 'kubernetes' }, ports: [{ name: 'https', port: 443, targetPort: 6443 }] }));
  // What the API server writes for itself: no targetRef, no selector-managed label.
  server.apply('endpointslices', endpointSlice({ name: 'kubernetes', service: 'kubernetes', ports: [{ name: 'https', port: 6443 }], endpoints: [{ ip: '172.18.0.2', ready: true }] }));
  await start();
  expect(endpointsOf('kubernetes', 443)).toEqual(['172.18.0.2:6443 HEALTHY plaintext']);
});

it('a hand-managed slice naming a pod by targetRef keeps that pod a mesh workload; the slice port overrides the service\'s targetPort', async () => {
  server.apply('services', service({ name: 'legacy', ports: [{ name: 'http', port: 80, targetPort: 80 }] }));
  server.apply('pods', pod({ name: 'legacy-0', ip: '10.0.0.7', labels: { app: 'legacy' }, ready: true }));
  server.apply('endpointslices', endpointSlice({ name: 'legacy-manual', service: 'legacy', ports: [{ name: 'http', port: 8080 }], endpoints: [{ pod: 'legacy-0', ip: '10.0.0.7', ready: true }, { ip: '192.168.5.5', ready: true }] }));
  await start();
  expect(endpointsOf('legacy', 80)).toEqual(['10.0.0.7:8080 HEALTHY mesh', '192.168.5.5:8080 HEALTHY plaintext']);
});

it('addresses come and go with the slice, the service and its selector', async () => {
  server.apply('services', service({ name: 'db', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  await start();
  expect(endpointsOf('db', 5432)).toEqual([]);

  server.apply('endpointslices', endpointSlice({ name: 'db-manual', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.1', ready: true }] }));
  await rec.waitFor('address listed', () => endpointsOf('db', 5432).length === 1);
  server.apply('endpointslices', endpointSlice({ name: 'db-manual', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.3', ready: true, terminating: true, serving: true }] }));
  await rec.waitFor('address moved', () => endpointsOf('db', 5432).join() === '10.9.0.3:5432 DRAINING plaintext');
  expect(store.current.workloads.has('east/default/db~10.9.0.1')).toBe(false);

  // Given a selector, the slice is the EndpointSlice controller's: a Pod-less address is no workload.
  server.apply('services', service({ name: 'db', selector: { app: 'db' }, ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  await rec.waitFor('selector added', () => !store.current.workloads.has('east/default/db~10.9.0.3'));
  expect(endpointsOf('db', 5432)).toEqual([]);

  server.apply('services', service({ name: 'db', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  await rec.waitFor('selector removed', () => endpointsOf('db', 5432).length === 1);
  server.delete('endpointslices', 'db-manual', 'default');
  await rec.waitFor('slice deleted', () => !store.current.workloads.has('east/default/db~10.9.0.3'));
  expect(endpointsOf('db', 5432)).toEqual([]);
});

it('a headless selector-less service stays out (its ORIGINAL_DST cluster has no per-endpoint TLS mode)', async () => {
  server.apply('services', service({ name: 'ext', clusterIP: 'None', ports: [{ name: 'tcp', port: 9000, targetPort: 9000 }] }));
  server.apply('endpointslices', endpointSlice({ name: 'ext-manual', service: 'ext', ports: [{ name: 'tcp', port: 9000 }], endpoints: [{ ip: '10.9.9.9', ready: true }] }));
  await start();
  expect([...rec.services.keys()]).toEqual([]);
  expect([...rec.workloads.keys()]).toEqual([]);
});

it('an address two slices list is one workload, as healthy as its worst listing; each service gets its own', async () => {
  server.apply('services', service({ name: 'db', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  server.apply('services', service({ name: 'db-ro', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  server.apply('endpointslices', endpointSlice({ name: 'db-a', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.1', ready: true }] }));
  server.apply('endpointslices', endpointSlice({ name: 'db-b', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.1', ready: false }] }));
  server.apply('endpointslices', endpointSlice({ name: 'db-ro-a', service: 'db-ro', ports: [{ name: 'tcp-pg', port: 6432 }], endpoints: [{ ip: '10.9.0.1', ready: true }] }));
  await start();
  expect(endpointsOf('db', 5432)).toEqual(['10.9.0.1:5432 UNHEALTHY plaintext']);
  expect(endpointsOf('db-ro', 5432)).toEqual(['10.9.0.1:6432 HEALTHY plaintext']);
  expect([...rec.workloads.keys()].sort()).toEqual(['east/default/db-ro~10.9.0.1', 'east/default/db~10.9.0.1']);

  server.delete('endpointslices', 'db-b', 'default');
  await rec.waitFor('worse listing gone', () => endpointsOf('db', 5432).join() === '10.9.0.1:5432 HEALTHY plaintext');
});
