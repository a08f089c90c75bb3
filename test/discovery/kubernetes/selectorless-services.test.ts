/**
 * Issue 15, section 2 (last item): a Service without a selector whose EndpointSlices are managed by
 * hand gets endpoints. Addresses that name no Pod (a database VM, the API server behind
 * `default/kubernetes`) are workloads outside the mesh (`mesh: false`, reached in plaintext); a
 * hand-listed Pod stays a mesh workload. Discovery against the fake API server, its events applied
 * to a real ModelStore, endpoints read from the snapshot.
 */
import { expect, it } from 'vitest';
import { endpointSlice, pod, service } from '../../support/kube-objects.js';
import { useFakeDiscovery } from './fake-discovery.js';

const k8s = useFakeDiscovery();

/** `address:targetPort health mesh|plaintext` of a service's endpoints in the model. */
function endpointsOf(svc: string, port: number, ns = 'default'): string[] {
  return (k8s.store.current.endpoints.get(`east/${ns}/${svc}`) ?? []).map((e) => `${e.address}:${e.targetPorts[String(port)]} ${e.health} ${e.mesh === false ? 'plaintext' : 'mesh'}`).sort();
}

it('a selector-less service with a hand-managed slice gets its addresses as endpoints outside the mesh', async () => {
  k8s.server.apply('services', service({ name: 'db', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'db-manual', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.1', ready: true }, { ip: '10.9.0.2', ready: false }] }));
  await k8s.start();
  expect([...k8s.rec.services.keys()]).toEqual(['east/default/db']);
  expect(endpointsOf('db', 5432)).toEqual(['10.9.0.1:5432 HEALTHY plaintext', '10.9.0.2:5432 UNHEALTHY plaintext']);
  const w = k8s.store.current.workloads.get('east/default/db~10.9.0.1');
  expect(w).toMatchObject({ mesh: false, memberOf: ['db'], serviceAccount: '', labels: {} });
});

it('default/kubernetes (the API server, no selector, port 443 → 6443) gets its address as a plaintext endpoint', async () => {
  k8s.server.apply('services', service({ name: 'kubernetes', clusterIP: '10.96.0.1', labels: { component: 'apiserver', provider: 'kubernetes' }, ports: [{ name: 'https', port: 443, targetPort: 6443 }] }));
  // What the API server writes for itself: no targetRef, no selector-managed label.
  k8s.server.apply('endpointslices', endpointSlice({ name: 'kubernetes', service: 'kubernetes', ports: [{ name: 'https', port: 6443 }], endpoints: [{ ip: '172.18.0.2', ready: true }] }));
  await k8s.start();
  expect(endpointsOf('kubernetes', 443)).toEqual(['172.18.0.2:6443 HEALTHY plaintext']);
});

it('a hand-managed slice naming a pod by targetRef keeps that pod a mesh workload; the slice port overrides the service\'s targetPort', async () => {
  k8s.server.apply('services', service({ name: 'legacy', ports: [{ name: 'http', port: 80, targetPort: 80 }] }));
  k8s.server.apply('pods', pod({ name: 'legacy-0', ip: '10.0.0.7', labels: { app: 'legacy' }, ready: true }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'legacy-manual', service: 'legacy', ports: [{ name: 'http', port: 8080 }], endpoints: [{ pod: 'legacy-0', ip: '10.0.0.7', ready: true }, { ip: '192.168.5.5', ready: true }] }));
  await k8s.start();
  expect(endpointsOf('legacy', 80)).toEqual(['10.0.0.7:8080 HEALTHY mesh', '192.168.5.5:8080 HEALTHY plaintext']);
});

it('addresses come and go with the slice, the service and its selector', async () => {
  k8s.server.apply('services', service({ name: 'db', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  await k8s.start();
  expect(endpointsOf('db', 5432)).toEqual([]);

  k8s.server.apply('endpointslices', endpointSlice({ name: 'db-manual', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.1', ready: true }] }));
  await k8s.rec.waitFor('address listed', () => endpointsOf('db', 5432).length === 1);
  k8s.server.apply('endpointslices', endpointSlice({ name: 'db-manual', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.3', ready: true, terminating: true, serving: true }] }));
  await k8s.rec.waitFor('address moved', () => endpointsOf('db', 5432).join() === '10.9.0.3:5432 DRAINING plaintext');
  expect(k8s.store.current.workloads.has('east/default/db~10.9.0.1')).toBe(false);

  // Given a selector, the slice is the EndpointSlice controller's: a Pod-less address is no workload.
  k8s.server.apply('services', service({ name: 'db', selector: { app: 'db' }, ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  await k8s.rec.waitFor('selector added', () => !k8s.store.current.workloads.has('east/default/db~10.9.0.3'));
  expect(endpointsOf('db', 5432)).toEqual([]);

  k8s.server.apply('services', service({ name: 'db', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  await k8s.rec.waitFor('selector removed', () => endpointsOf('db', 5432).length === 1);
  k8s.server.delete('endpointslices', 'db-manual', 'default');
  await k8s.rec.waitFor('slice deleted', () => !k8s.store.current.workloads.has('east/default/db~10.9.0.3'));
  expect(endpointsOf('db', 5432)).toEqual([]);
});

it('a headless selector-less service stays out (its ORIGINAL_DST cluster has no per-endpoint TLS mode)', async () => {
  k8s.server.apply('services', service({ name: 'ext', clusterIP: 'None', ports: [{ name: 'tcp', port: 9000, targetPort: 9000 }] }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'ext-manual', service: 'ext', ports: [{ name: 'tcp', port: 9000 }], endpoints: [{ ip: '10.9.9.9', ready: true }] }));
  await k8s.start();
  expect([...k8s.rec.services.keys()]).toEqual([]);
  expect([...k8s.rec.workloads.keys()]).toEqual([]);
});

it('an address two slices list is one workload, as healthy as its worst listing; each service gets its own', async () => {
  k8s.server.apply('services', service({ name: 'db', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  k8s.server.apply('services', service({ name: 'db-ro', ports: [{ name: 'tcp-pg', port: 5432, targetPort: 5432 }] }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'db-a', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.1', ready: true }] }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'db-b', service: 'db', ports: [{ name: 'tcp-pg', port: 5432 }], endpoints: [{ ip: '10.9.0.1', ready: false }] }));
  k8s.server.apply('endpointslices', endpointSlice({ name: 'db-ro-a', service: 'db-ro', ports: [{ name: 'tcp-pg', port: 6432 }], endpoints: [{ ip: '10.9.0.1', ready: true }] }));
  await k8s.start();
  expect(endpointsOf('db', 5432)).toEqual(['10.9.0.1:5432 UNHEALTHY plaintext']);
  expect(endpointsOf('db-ro', 5432)).toEqual(['10.9.0.1:6432 HEALTHY plaintext']);
  expect([...k8s.rec.workloads.keys()].sort()).toEqual(['east/default/db-ro~10.9.0.1', 'east/default/db~10.9.0.1']);

  k8s.server.delete('endpointslices', 'db-b', 'default');
  await k8s.rec.waitFor('worse listing gone', () => endpointsOf('db', 5432).join() === '10.9.0.1:5432 HEALTHY plaintext');
});
