/**
 * Issue 15, section 2 (discovery fidelity): a Kubernetes service's endpoints are what its EndpointSlices list (as
 * Istio does), not the pods its selector matches. Discovery against the fake API server, its
 * events applied to a real ModelStore, endpoints read from the snapshot.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../../../src/discovery/kubernetes/index.js';
import { EMPTY_POLICIES } from '../../../src/model/policies.js';
import { ModelStore } from '../../../src/model/store.js';
import { ClusterState } from '../../../src/discovery/kubernetes/cluster-state.js';
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

/** `address:port health` of a service's endpoints in the model. */
function endpointsOf(svc: string, port: number): string[] {
  return (store.current.endpoints.get(`east/default/${svc}`) ?? []).map((e) => `${e.address}:${e.targetPorts[String(port)]} ${e.health}`).sort();
}

it('a selector-less service stays out (its slice\'s addresses are outside the mesh), whatever its slices list', async () => {
  server.apply('services', service({ name: 'db', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  server.apply('endpointslices', endpointSlice({ name: 'db-manual', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.1', ready: true }] }));
  server.apply('services', service({ name: 'web', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
  await start();
  expect([...rec.services.keys()]).toEqual(['east/default/web']);
  expect(store.current.endpoints.has('east/default/db')).toBe(false);
  expect([...rec.workloads.keys()]).toEqual([]);
});

it('a ready pod its selector matches but no slice lists has no endpoint; once listed it has', async () => {
  server.apply('services', service({ name: 'web', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
  server.apply('pods', pod({ name: 'web-0', ip: '10.0.0.1', labels: { app: 'web' }, ready: true }));
  server.apply('pods', pod({ name: 'web-1', ip: '10.0.0.2', labels: { app: 'web' }, ready: true }));
  server.apply('endpointslices', endpointSlice({ name: 'web-a', service: 'web', ports: [{ name: 'http', port: 8080 }], endpoints: [{ pod: 'web-0', ip: '10.0.0.1', ready: true }] }));
  await start();
  expect(endpointsOf('web', 80)).toEqual(['10.0.0.1:8080 HEALTHY']);

  server.apply('endpointslices', endpointSlice({ name: 'web-a', service: 'web', ports: [{ name: 'http', port: 8080 }], endpoints: [{ pod: 'web-0', ip: '10.0.0.1', ready: true }, { pod: 'web-1', ip: '10.0.0.2', ready: true }] }));
  await rec.waitFor('web-1 listed', () => endpointsOf('web', 80).length === 2);
  expect(endpointsOf('web', 80)).toEqual(['10.0.0.1:8080 HEALTHY', '10.0.0.2:8080 HEALTHY']);
});

it('FQDN slices and slices a multi-cluster services implementation imported are ignored', async () => {
  server.apply('services', service({ name: 'api', selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
  server.apply('pods', pod({ name: 'api-0', ip: '10.0.0.5', labels: { app: 'api' }, ready: true }));
  server.apply('endpointslices', endpointSlice({ name: 'api-a', service: 'api', ports: [{ name: 'http', port: 8080 }], endpoints: [{ pod: 'api-0', ip: '10.0.0.5', ready: true }] }));
  server.apply('endpointslices', endpointSlice({ name: 'api-fqdn', service: 'api', addressType: 'FQDN', ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: 'api.example.com', ready: true }] }));
  server.apply('endpointslices', endpointSlice({ name: 'api-imported', service: 'api', labels: { 'multicluster.kubernetes.io/service-name': 'api' }, ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '10.77.0.9', ready: true }] }));
  await start();
  expect(endpointsOf('api', 80)).toEqual(['10.0.0.5:8080 HEALTHY']);
  expect([...rec.workloads.keys()]).toEqual(['east/default/api-0']);
});

it('a named targetPort with no slice yet resolves from the selected pods\' container ports; one nothing resolves is left out, never the service port', async () => {
  server.apply('services', service({ name: 'grpc', selector: { app: 'grpc' }, ports: [{ name: 'grpc', port: 7070, targetPort: 'grpc-port' }, { name: 'http-admin', port: 9000, targetPort: 'admin' }] }));
  server.apply('pods', pod({ name: 'grpc-0', ip: '10.0.0.7', labels: { app: 'grpc' }, ready: true, containerPorts: [{ name: 'grpc-port', containerPort: 17070 }] }));
  await start();
  expect(rec.services.get('east/default/grpc')?.ports).toEqual([{ name: 'grpc', port: 7070, targetPort: 17070, protocol: 'GRPC' }]);

  // A pod that names the admin port arrives: the port appears.
  server.apply('pods', pod({ name: 'grpc-1', ip: '10.0.0.8', labels: { app: 'grpc' }, ready: true, containerPorts: [{ name: 'grpc-port', containerPort: 17070 }, { name: 'admin', containerPort: 19000 }] }));
  await rec.waitFor('admin port resolved', () => (rec.services.get('east/default/grpc')?.ports.length ?? 0) === 2);
  expect(rec.services.get('east/default/grpc')?.ports.map((p) => `${p.port}->${p.targetPort}`)).toEqual(['7070->17070', '9000->19000']);
});

it('objects are kept without managedFields (server-side apply bookkeeping nothing reads)', () => {
  const state = new ClusterState(kubeCluster('east', 'unused'));
  const p = pod({ name: 'big', ip: '10.0.0.9', ready: true }) as { metadata: Record<string, unknown> };
  p.metadata.managedFields = Array.from({ length: 50 }, (_, i) => ({ manager: `m${i}`, operation: 'Apply', fieldsV1: { 'f:spec': {} } }));
  state.apply('pods', 'ADDED', p);
  state.replace('pods', [p]);
  expect(state.pods.get('default/big')?.metadata).not.toHaveProperty('managedFields');
  expect(state.workload('default/big')?.address).toBe('10.0.0.9');
});
