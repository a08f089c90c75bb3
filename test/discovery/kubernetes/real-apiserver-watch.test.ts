/**
 * What each watched kind turns into, with a real API server producing the watch events: updates
 * are real PUTs (the server's validation, resourceVersions and managed fields), deletions are real
 * deletions, and a graceful pod deletion leaves the pod terminating (deletionTimestamp set by the
 * server, no kubelet to finish it) as it does in a cluster while the pod shuts down.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../../../src/discovery/kubernetes/index.js';
import { kubeApiServerSuite, useKubeApiServer, type KubeApiServer } from '../../support/kube-apiserver.js';
import { TopologyRecorder } from '../../support/kube-topology-recorder.js';
import { FAST, kubeCluster } from './kube-test-cluster.js';
import { createEndpointSlice, createNode, createPod, createService, deleteObject, update } from './real-kube-fixtures.js';

kubeApiServerSuite('kubernetes discovery: watch events from a real API server', () => {
  const server = useKubeApiServer();
  let api: KubeApiServer;
  let discovery: KubernetesDiscovery | undefined;
  let rec: TopologyRecorder;

  beforeEach(() => {
    api = server();
  });

  afterEach(async () => {
    await discovery?.stop();
    discovery = undefined;
  });

  async function start(name: string): Promise<void> {
    rec = new TopologyRecorder();
    discovery = await startKubernetesDiscovery(kubeCluster(name, api.adminKubeconfig), rec.sink, { ...FAST, requestTimeoutMs: 10_000 });
    await rec.waitFor('initial replaceCluster', () => rec.ofKind('replaceCluster').length === 1, 15_000);
  }

  it('services: add, update, delete', async () => {
    await start('svc');
    // default/kubernetes (selector-less, mapped) appears whenever the API server gets to creating it.
    expect([...rec.services.keys()].filter((k) => k !== 'svc/default/kubernetes')).toEqual([]);
    await createService(api, { name: 'ratings', namespace: 'svc', selector: { app: 'ratings' }, ports: [{ name: 'http', port: 9080 }] });
    await rec.waitFor('ratings added', () => rec.services.has('svc/svc/ratings'), 10_000);
    expect(rec.services.get('svc/svc/ratings')?.ports).toEqual([{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }]);

    await update(api, '/api/v1/namespaces/svc/services/ratings', (s) => {
      s.metadata.labels = { tier: 'back' };
      s.spec.ports = [{ name: 'grpc-api', port: 7070, targetPort: 7071, protocol: 'TCP' }];
    });
    await rec.waitFor('ratings updated', () => rec.services.get('svc/svc/ratings')?.ports[0]?.port === 7070, 10_000);
    expect(rec.services.get('svc/svc/ratings')).toMatchObject({ labels: { tier: 'back' }, ports: [{ name: 'grpc-api', port: 7070, targetPort: 7071, protocol: 'GRPC' }] });

    await deleteObject(api, '/api/v1/namespaces/svc/services', 'ratings');
    await rec.waitFor('ratings deleted', () => !rec.services.has('svc/svc/ratings'), 10_000);
    expect(rec.ofKind('deleteService').map((e) => e.key)).toEqual(['svc/svc/ratings']);
  });

  it('pods: pending without IP → nothing; IP from the status → workload; relabel; Succeeded → gone; graceful delete → DRAINING; gone when deleted', async () => {
    await createNode(api, 'node-p', { 'topology.kubernetes.io/region': 'r-p', 'topology.kubernetes.io/zone': 'z-p' });
    await start('pods');
    // A pod as the scheduler leaves it: bound, no IP yet.
    await createPod(api, { name: 'web-0', namespace: 'pods', labels: { app: 'web' }, node: 'node-p', serviceAccount: 'web', phase: 'Pending' });
    await createService(api, { name: 'marker', namespace: 'pods', selector: { app: 'marker' }, ports: [{ port: 80 }] });
    await rec.waitFor('marker', () => rec.services.has('pods/pods/marker'), 10_000);
    expect(rec.workloads.has('pods/pods/web-0')).toBe(false);

    // The kubelet reports the IP and readiness.
    await update(api, '/api/v1/namespaces/pods/pods/web-0/status', (p) => {
      p.status = { phase: 'Running', podIP: '10.50.0.5', podIPs: [{ ip: '10.50.0.5' }], conditions: [{ type: 'Ready', status: 'True' }] };
    });
    await rec.waitFor('web-0 added', () => rec.workloads.has('pods/pods/web-0'), 10_000);
    expect(rec.workloads.get('pods/pods/web-0')).toMatchObject({ address: '10.50.0.5', serviceAccount: 'web', health: 'HEALTHY', locality: { region: 'r-p', zone: 'z-p' } });

    await update(api, '/api/v1/namespaces/pods/pods/web-0', (p) => {
      p.metadata.labels = { app: 'web', version: 'v2' };
    });
    await rec.waitFor('web-0 relabelled', () => rec.workloads.get('pods/pods/web-0')?.labels.version === 'v2', 10_000);

    await createPod(api, { name: 'job-0', namespace: 'pods', ip: '10.50.0.6', node: 'node-p', ready: true });
    await rec.waitFor('job-0 added', () => rec.workloads.has('pods/pods/job-0'), 10_000);
    await update(api, '/api/v1/namespaces/pods/pods/job-0/status', (p) => {
      p.status.phase = 'Succeeded';
      p.status.conditions = [{ type: 'Ready', status: 'False', reason: 'PodCompleted' }];
    });
    await rec.waitFor('job-0 gone', () => !rec.workloads.has('pods/pods/job-0'), 10_000);

    // A graceful delete: the server sets deletionTimestamp and keeps the pod until a kubelet would confirm.
    await api.request('DELETE', '/api/v1/namespaces/pods/pods/web-0', { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 300 });
    await rec.waitFor('web-0 draining', () => rec.workloads.get('pods/pods/web-0')?.health === 'DRAINING', 10_000);
    await deleteObject(api, '/api/v1/namespaces/pods/pods', 'web-0');
    await rec.waitFor('web-0 deleted', () => !rec.workloads.has('pods/pods/web-0'), 10_000);
    expect(rec.ofKind('deleteWorkload').map((e) => e.key)).toEqual(['pods/pods/job-0', 'pods/pods/web-0']);
  });

  it('nodes and EndpointSlices: a node relabel relocates its workloads; slice conditions decide health', async () => {
    await createNode(api, 'node-e', { 'topology.kubernetes.io/region': 'r-e', 'topology.kubernetes.io/zone': 'z-e1' });
    await createService(api, { name: 'reviews', namespace: 'eps', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }] });
    await createPod(api, { name: 'reviews-0', namespace: 'eps', ip: '10.60.0.1', labels: { app: 'reviews' }, node: 'node-e', ready: true });
    await createEndpointSlice(api, { name: 'reviews-x', namespace: 'eps', service: 'reviews', ports: [{ name: 'http', port: 9080 }], endpoints: [{ pod: 'reviews-0', ip: '10.60.0.1', ready: true }] });
    await start('eps');
    const workload = () => rec.workloads.get('eps/eps/reviews-0');
    expect(workload()).toMatchObject({ health: 'HEALTHY', locality: { region: 'r-e', zone: 'z-e1' } });

    await update(api, '/api/v1/nodes/node-e', (n) => {
      n.metadata.labels['topology.kubernetes.io/zone'] = 'z-e2';
    });
    await rec.waitFor('relocated', () => workload()?.locality.zone === 'z-e2', 10_000);

    const conditions = (c: object) =>
      update(api, '/apis/discovery.k8s.io/v1/namespaces/eps/endpointslices/reviews-x', (s) => {
        s.endpoints[0].conditions = c;
      });
    await conditions({ ready: false, serving: true, terminating: true });
    await rec.waitFor('draining', () => workload()?.health === 'DRAINING', 10_000);
    await conditions({ ready: false, serving: false, terminating: true });
    await rec.waitFor('terminating, not serving', () => workload()?.health === 'UNHEALTHY', 10_000);
    // Absent conditions mean ready, as the API documents.
    await conditions({});
    await rec.waitFor('nil conditions', () => workload()?.health === 'HEALTHY', 10_000);
    expect(discovery!.status()).toMatchObject({ connected: true, stale: false, relists: 0 });
  });
});
