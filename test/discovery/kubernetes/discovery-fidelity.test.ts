/**
 * Issue 15, section 2 (discovery fidelity): a Kubernetes service's endpoints are what its EndpointSlices list (as
 * Istio does), not the pods its selector matches. Discovery against the fake API server, its
 * events applied to a real ModelStore, endpoints read from the snapshot.
 */
import { expect, it } from 'vitest';
import { ClusterState } from '../../../src/discovery/kubernetes/cluster-state.js';
import { endpointSlice, pod, service } from '../../support/kube-objects.js';
import { useFakeDiscovery } from './fake-discovery.js';
import { kubeCluster } from './kube-test-cluster.js';

const k8s = useFakeDiscovery();

/** `address:port health` of a service's endpoints in the model. */
function endpointsOf(svc: string, port: number): string[] {
  return (k8s.store.current.endpoints.get(`east/default/${svc}`) ?? []).map((e) => `${e.address}:${e.targetPorts[String(port)]} ${e.health}`).sort();
}

it('a ready pod its selector matches but no slice lists has no endpoint; once listed it has', async () => {
  k8s.server.apply('services', service({ name: 'web', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
  k8s.server.apply('pods', pod({ name: 'web-0', ip: '10.0.0.1', labels: { app: 'web' }, ready: true }));
  k8s.server.apply('pods', pod({ name: 'web-1', ip: '10.0.0.2', labels: { app: 'web' }, ready: true }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'web-a', service: 'web', ports: [{ name: 'http', port: 8080 }], endpoints: [{ pod: 'web-0', ip: '10.0.0.1', ready: true }] }));
  await k8s.start();
  expect(endpointsOf('web', 80)).toEqual(['10.0.0.1:8080 HEALTHY']);

  k8s.server.apply('endpointslices', endpointSlice({ name: 'web-a', service: 'web', ports: [{ name: 'http', port: 8080 }], endpoints: [{ pod: 'web-0', ip: '10.0.0.1', ready: true }, { pod: 'web-1', ip: '10.0.0.2', ready: true }] }));
  await k8s.rec.waitFor('web-1 listed', () => endpointsOf('web', 80).length === 2);
  expect(endpointsOf('web', 80)).toEqual(['10.0.0.1:8080 HEALTHY', '10.0.0.2:8080 HEALTHY']);
});

it('FQDN slices and slices a multi-cluster services implementation imported are ignored', async () => {
  k8s.server.apply('services', service({ name: 'api', selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
  k8s.server.apply('pods', pod({ name: 'api-0', ip: '10.0.0.5', labels: { app: 'api' }, ready: true }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'api-a', service: 'api', ports: [{ name: 'http', port: 8080 }], endpoints: [{ pod: 'api-0', ip: '10.0.0.5', ready: true }] }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'api-fqdn', service: 'api', addressType: 'FQDN', ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: 'api.example.com', ready: true }] }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'api-imported', service: 'api', labels: { 'multicluster.kubernetes.io/service-name': 'api' }, ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '10.77.0.9', ready: true }] }));
  await k8s.start();
  expect(endpointsOf('api', 80)).toEqual(['10.0.0.5:8080 HEALTHY']);
  expect([...k8s.rec.workloads.keys()]).toEqual(['east/default/api-0']);
});

it('a named targetPort with no slice yet resolves from the selected pods\' container ports; one nothing resolves is left out, never the service port', async () => {
  k8s.server.apply('services', service({ name: 'grpc', selector: { app: 'grpc' }, ports: [{ name: 'grpc', port: 7070, targetPort: 'grpc-port' }, { name: 'http-admin', port: 9000, targetPort: 'admin' }] }));
  k8s.server.apply('pods', pod({ name: 'grpc-0', ip: '10.0.0.7', labels: { app: 'grpc' }, ready: true, containerPorts: [{ name: 'grpc-port', containerPort: 17070 }] }));
  await k8s.start();
  expect(k8s.rec.services.get('east/default/grpc')?.ports).toEqual([{ name: 'grpc', port: 7070, targetPort: 17070, protocol: 'GRPC' }]);

  // A pod that names the admin port arrives: the port appears.
  k8s.server.apply('pods', pod({ name: 'grpc-1', ip: '10.0.0.8', labels: { app: 'grpc' }, ready: true, containerPorts: [{ name: 'grpc-port', containerPort: 17070 }, { name: 'admin', containerPort: 19000 }] }));
  await k8s.rec.waitFor('admin port resolved', () => (k8s.rec.services.get('east/default/grpc')?.ports.length ?? 0) === 2);
  expect(k8s.rec.services.get('east/default/grpc')?.ports.map((p) => `${p.port}->${p.targetPort}`)).toEqual(['7070->17070', '9000->19000']);
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

it('a dual-stack pod is one workload with both podIPs; EDS sends the second as additional_addresses on the same port', async () => {
  const { MeshView } = await import('../../../src/translate/mesh-view.js');
  const { messageType } = await import('../../../src/xds/protos.js');
  k8s.server.apply('services', service({ name: 'web', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
  k8s.server.apply('pods', pod({ name: 'web-0', ips: ['10.0.0.1', 'fd00::1'], labels: { app: 'web' }, ready: true }));
  // A dual-stack service has one slice per family, each listing the pod; the IPv6 one here without targetRef (matched by address).
  k8s.server.apply('endpointslices', endpointSlice({ name: 'web-v4', service: 'web', ports: [{ name: 'http', port: 8080 }], endpoints: [{ pod: 'web-0', ip: '10.0.0.1', ready: true }] }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'web-v6', service: 'web', addressType: 'IPv6', ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: 'fd00::1', ready: true }] }));
  await k8s.start();
  expect(k8s.rec.workloads.get('east/default/web-0')).toMatchObject({ address: '10.0.0.1', addresses: ['fd00::1'], memberOf: ['web'] });
  expect(k8s.store.current.endpoints.get('east/default/web')?.map((e) => [e.address, e.additionalAddresses])).toEqual([['10.0.0.1', ['fd00::1']]]);

  const view = new MeshView(k8s.store.current);
  const target = view.sidecarTargets('east').find((t) => t.clusterName === 'outbound|80||web.default.svc.cluster.local')!;
  const cla = view.assignment(target, { cluster: 'east', network: 'east-net', locality: { region: 'us-east', zone: 'us-east-1a', subzone: '' } });
  const endpoint = cla.endpoints[0]!.lb_endpoints[0]!.endpoint;
  expect(endpoint).toEqual({
    address: { socket_address: { address: '10.0.0.1', port_value: 8080 } },
    additional_addresses: [{ address: { socket_address: { address: 'fd00::1', port_value: 8080 } } }],
  });
  // Envoy's own schema takes it (encoded and decoded through the ClusterLoadAssignment proto).
  const T = messageType('envoy.config.endpoint.v3.ClusterLoadAssignment');
  const decoded = T.toObject(T.decode(T.encode(T.fromObject(JSON.parse(JSON.stringify(cla)))).finish())) as { endpoints: { lb_endpoints: { endpoint: { additional_addresses: unknown[] } }[] }[] };
  expect(decoded.endpoints[0]!.lb_endpoints[0]!.endpoint.additional_addresses).toEqual([{ address: { socket_address: { address: 'fd00::1', port_value: 8080 } } }]);

  // A new IPv6 address is a change of the endpoint; a single-stack pod gets no additional addresses.
  k8s.server.apply('pods', pod({ name: 'web-0', ips: ['10.0.0.1', 'fd00::9'], labels: { app: 'web' }, ready: true }));
  await k8s.rec.waitFor('new IPv6 address', () => k8s.store.current.endpoints.get('east/default/web')?.[0]?.additionalAddresses?.[0] === 'fd00::9');
  k8s.server.apply('pods', pod({ name: 'web-0', ip: '10.0.0.1', labels: { app: 'web' }, ready: true }));
  await k8s.rec.waitFor('single stack again', () => k8s.store.current.endpoints.get('east/default/web')?.[0]?.additionalAddresses === undefined);
  expect(k8s.rec.workloads.get('east/default/web-0')?.addresses).toBeUndefined();
});

it('a headless service (clusterIP None) is mapped as headless, its pods as its endpoints; a sidecar reaches each pod by its own address', async () => {
  const { MeshView } = await import('../../../src/translate/mesh-view.js');
  const { hostsEntries } = await import('../../../src/translate/service-addresses.js');
  k8s.server.apply('services', service({ name: 'db', clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'tcp-pg', port: 5432 }] }));
  k8s.server.apply('services', service({ name: 'api', selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
  for (const [i, ip] of ['10.0.0.10', '10.0.0.11'].entries()) k8s.server.apply('pods', pod({ name: `db-${i}`, ip, labels: { app: 'db' }, ready: true }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'db-a', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ pod: 'db-0', ip: '10.0.0.10', ready: true }, { pod: 'db-1', ip: '10.0.0.11', ready: true }] }));
  await k8s.start();
  expect(k8s.rec.services.get('east/default/db')).toMatchObject({ headless: true });
  expect(k8s.rec.services.get('east/default/db')?.address).toBeUndefined();
  expect(k8s.rec.services.get('east/default/api')?.headless).toBeUndefined();
  const view = new MeshView(k8s.store.current);
  const names = new Map(hostsEntries(view, 'east', 'default').flatMap((e) => e.names.map((n) => [n, e.address] as const)));
  expect(names.get('db-0.db.default.svc.cluster.local')).toBe('10.0.0.10');
  expect(names.get('db-1.db.default.svc.cluster.local')).toBe('10.0.0.11');
});
