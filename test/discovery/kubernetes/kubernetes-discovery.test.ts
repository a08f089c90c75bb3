/**
 * Kubernetes discovery against a real HTTP fake API server: what each watched kind turns into.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../../../src/discovery/kubernetes/index.js';
import type { FakeKubeApiServer } from '../../support/fake-kube-apiserver.js';
import { endpointSlice, node, pod, service } from '../../support/kube-objects.js';
import { TopologyRecorder } from '../../support/kube-topology-recorder.js';
import { DEFAULT_LOCALITY, FAST, fakeApiServer, kubeCluster } from './kube-test-cluster.js';

let server: FakeKubeApiServer;
let kubeconfig: string;
let cleanup: () => Promise<void>;
let discovery: KubernetesDiscovery | undefined;
let rec: TopologyRecorder;

beforeEach(async () => {
  ({ server, kubeconfig, cleanup } = await fakeApiServer());
  rec = new TopologyRecorder();
});

afterEach(async () => {
  await discovery?.stop();
  discovery = undefined;
  await cleanup();
});

async function start(): Promise<void> {
  discovery = await startKubernetesDiscovery(kubeCluster('east', kubeconfig), rec.sink, FAST);
  await rec.waitFor('initial replaceCluster', () => rec.ofKind('replaceCluster').length === 1);
}

function seedBookinfo(): void {
  server.apply('nodes', node('node-a', { 'topology.kubernetes.io/region': 'eu-west', 'topology.kubernetes.io/zone': 'eu-west-1b', 'topology.istio.io/subzone': 'rack7' }));
  server.apply('nodes', node('node-b', {}));
  server.apply('services', service({ name: 'reviews', namespace: 'bookinfo', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] }));
  server.apply('pods', pod({ name: 'reviews-v1-0', namespace: 'bookinfo', ip: '10.0.0.11', labels: { app: 'reviews', version: 'v1' }, node: 'node-a', serviceAccount: 'bookinfo-reviews', ready: true }));
  server.apply('pods', pod({ name: 'reviews-v2-0', namespace: 'bookinfo', ip: '10.0.0.12', labels: { app: 'reviews', version: 'v2' }, node: 'node-b', serviceAccount: 'bookinfo-reviews', ready: true }));
  server.apply(
    'endpointslices',
    endpointSlice({
      name: 'reviews-abc',
      namespace: 'bookinfo',
      service: 'reviews',
      ports: [{ name: 'http', port: 9080 }],
      endpoints: [
        { pod: 'reviews-v1-0', ip: '10.0.0.11', ready: true, serving: true, terminating: false },
        { pod: 'reviews-v2-0', ip: '10.0.0.12', ready: true, serving: true, terminating: false },
      ],
    }),
  );
}

describe('kubernetes discovery: initial sync', () => {
  it('lists every kind with the client over HTTP and emits one replaceCluster with services and workloads', async () => {
    seedBookinfo();
    await start();
    const [replace] = rec.ofKind('replaceCluster');
    expect(replace?.cluster).toBe('east');
    expect(replace?.services).toEqual([
      { name: 'reviews', namespace: 'bookinfo', cluster: 'east', ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }], selector: { app: 'reviews' }, labels: {}, membership: 'listed' },
    ]);
    const byName = Object.fromEntries((replace?.workloads ?? []).map((w) => [w.name, w]));
    expect(byName['reviews-v1-0']).toEqual({
      name: 'reviews-v1-0',
      namespace: 'bookinfo',
      cluster: 'east',
      address: '10.0.0.11',
      labels: { app: 'reviews', version: 'v1' },
      serviceAccount: 'bookinfo-reviews',
      locality: { region: 'eu-west', zone: 'eu-west-1b', subzone: 'rack7' },
      health: 'HEALTHY',
      memberOf: ['reviews'],
    });
    // node-b has no topology labels: the cluster's default locality.
    expect(byName['reviews-v2-0']?.locality).toEqual(DEFAULT_LOCALITY);

    // Real list and watch requests, with the kubeconfig's token, bookmarks and a server-side timeout.
    for (const kind of ['services', 'endpointslices', 'pods', 'nodes'] as const) {
      const lists = server.requestsFor(kind, { watch: false });
      expect(lists.length).toBeGreaterThanOrEqual(1);
      expect(lists[0]?.authorization).toBe(`Bearer ${server.token}`);
      await rec.waitFor(`${kind} watch`, () => server.activeWatches(kind) === 1);
      const watch = server.requestsFor(kind, { watch: true })[0];
      expect(watch?.query.allowWatchBookmarks).toBe('true');
      expect(watch?.query.timeoutSeconds).toBe('60');
      expect(Number(watch?.query.resourceVersion)).toBeGreaterThan(0);
    }
    // pageSize 2 with 2 nodes and 2 pods: the continue token is followed.
    expect(server.requestsFor('pods', { watch: false }).length).toBe(1);
    server.apply('pods', pod({ name: 'extra', namespace: 'other', ip: '10.0.9.9', ready: true }));
    await rec.waitFor('extra pod', () => rec.workloads.has('east/other/extra'));
    const s = discovery!.status();
    expect(s).toMatchObject({ cluster: 'east', connected: true, stale: false, relists: 0, counts: { services: 1, pods: 3, endpointSlices: 1, nodes: 2 } });
    expect(s.lastSyncAt).toBeDefined();
  });

  it('follows continue tokens across pages', async () => {
    for (let i = 0; i < 7; i++) server.apply('pods', pod({ name: `p${i}`, ip: `10.1.0.${i + 1}`, ready: true }));
    await start();
    expect(rec.ofKind('replaceCluster')[0]?.workloads.map((w) => w.name).sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    const lists = server.requestsFor('pods', { watch: false });
    expect(lists.length).toBe(4); // 7 objects, 2 per page
    expect(lists[1]?.query.continue).toBeDefined();
  });
});

describe('kubernetes discovery: watch events of each kind', () => {
  it('services: add, update, delete', async () => {
    await start();
    server.apply('services', service({ name: 'ratings', selector: { app: 'ratings' }, ports: [{ name: 'http', port: 9080 }] }));
    await rec.waitFor('ratings added', () => rec.services.has('east/default/ratings'));
    expect(rec.services.get('east/default/ratings')?.ports).toEqual([{ name: 'http', port: 9080, targetPort: 9080, protocol: 'HTTP' }]);

    server.apply('services', service({ name: 'ratings', selector: { app: 'ratings' }, labels: { tier: 'back' }, ports: [{ name: 'grpc-api', port: 7070, targetPort: 7071 }] }));
    await rec.waitFor('ratings updated', () => rec.services.get('east/default/ratings')?.ports[0]?.port === 7070);
    expect(rec.services.get('east/default/ratings')).toMatchObject({ labels: { tier: 'back' }, ports: [{ name: 'grpc-api', port: 7070, targetPort: 7071, protocol: 'GRPC' }] });

    server.delete('services', 'ratings', 'default');
    await rec.waitFor('ratings deleted', () => !rec.services.has('east/default/ratings'));
    expect(rec.ofKind('deleteService').map((e) => e.key)).toEqual(['east/default/ratings']);
  });

  it('pods: no IP → nothing; IP assigned → workload; relabel → upsert; Succeeded → gone; delete → deleteWorkload', async () => {
    await start();
    server.apply('pods', pod({ name: 'web-0', labels: { app: 'web' }, serviceAccount: 'web' }));
    server.apply('services', service({ name: 'marker', selector: { app: 'marker' }, ports: [{ port: 80 }] }));
    await rec.waitFor('marker', () => rec.services.has('east/default/marker'));
    expect(rec.workloads.has('east/default/web-0')).toBe(false);

    server.apply('pods', pod({ name: 'web-0', ip: '10.0.1.5', labels: { app: 'web' }, serviceAccount: 'web', ready: true }));
    await rec.waitFor('web-0 added', () => rec.workloads.has('east/default/web-0'));
    expect(rec.workloads.get('east/default/web-0')).toMatchObject({ address: '10.0.1.5', serviceAccount: 'web', health: 'HEALTHY' });

    server.apply('pods', pod({ name: 'web-0', ip: '10.0.1.5', labels: { app: 'web', version: 'v2' }, serviceAccount: 'web', ready: false }));
    await rec.waitFor('web-0 relabelled', () => rec.workloads.get('east/default/web-0')?.labels.version === 'v2');
    expect(rec.workloads.get('east/default/web-0')?.health).toBe('UNHEALTHY');

    server.apply('pods', pod({ name: 'job-0', ip: '10.0.1.6', ready: true }));
    await rec.waitFor('job-0 added', () => rec.workloads.has('east/default/job-0'));
    server.apply('pods', pod({ name: 'job-0', ip: '10.0.1.6', ready: false, phase: 'Succeeded' }));
    await rec.waitFor('job-0 gone', () => !rec.workloads.has('east/default/job-0'));

    server.delete('pods', 'web-0', 'default');
    await rec.waitFor('web-0 deleted', () => !rec.workloads.has('east/default/web-0'));
    expect(rec.ofKind('deleteWorkload').map((e) => e.key)).toEqual(['east/default/job-0', 'east/default/web-0']);
    // The pod with no Ready condition at all was never emitted, so nothing says UNKNOWN wrongly.
  });

  it('nodes: locality from topology labels; a relabel re-emits the workloads on that node; a deleted node falls back to the default', async () => {
    seedBookinfo();
    await start();
    const before = rec.mark();
    server.apply('nodes', node('node-a', { 'topology.kubernetes.io/region': 'eu-west', 'topology.kubernetes.io/zone': 'eu-west-1c' }));
    await rec.waitFor('relocated', () => rec.workloads.get('east/bookinfo/reviews-v1-0')?.locality.zone === 'eu-west-1c');
    expect(rec.workloads.get('east/bookinfo/reviews-v1-0')?.locality).toEqual({ region: 'eu-west', zone: 'eu-west-1c', subzone: '' });
    // Only the workload on node-a changed.
    expect(rec.since(before).map((e) => (e.kind === 'upsertWorkload' ? e.workload.name : e.kind))).toEqual(['reviews-v1-0']);

    server.apply('nodes', node('node-b', { 'topology.kubernetes.io/zone': 'us-east-1c' }));
    await rec.waitFor('node-b zone', () => rec.workloads.get('east/bookinfo/reviews-v2-0')?.locality.zone === 'us-east-1c');
    // Only a zone label: the default region is kept.
    expect(rec.workloads.get('east/bookinfo/reviews-v2-0')?.locality).toEqual({ region: 'us-east', zone: 'us-east-1c', subzone: '' });

    server.delete('nodes', 'node-a');
    await rec.waitFor('node-a gone', () => rec.workloads.get('east/bookinfo/reviews-v1-0')?.locality.region === 'us-east');
    expect(rec.workloads.get('east/bookinfo/reviews-v1-0')?.locality).toEqual(DEFAULT_LOCALITY);
  });

  it('endpointslices: ready → HEALTHY, serving+terminating → DRAINING, not ready → UNHEALTHY, not listed → pod Ready condition', async () => {
    seedBookinfo();
    await start();
    const slice = (v1: { ready?: boolean; serving?: boolean; terminating?: boolean }) =>
      endpointSlice({
        name: 'reviews-abc',
        namespace: 'bookinfo',
        service: 'reviews',
        ports: [{ name: 'http', port: 9080 }],
        endpoints: [
          { pod: 'reviews-v1-0', ip: '10.0.0.11', ...v1 },
          { pod: 'reviews-v2-0', ip: '10.0.0.12', ready: true },
        ],
      });
    const health = () => rec.workloads.get('east/bookinfo/reviews-v1-0')?.health;

    server.apply('endpointslices', slice({ ready: false, serving: true, terminating: true }));
    await rec.waitFor('draining', () => health() === 'DRAINING');
    server.apply('endpointslices', slice({ ready: false, serving: false, terminating: true }));
    await rec.waitFor('terminating, not serving', () => health() === 'UNHEALTHY');
    server.apply('endpointslices', slice({ ready: true }));
    await rec.waitFor('ready again', () => health() === 'HEALTHY');
    server.apply('endpointslices', slice({ ready: false, serving: false, terminating: false }));
    await rec.waitFor('not ready', () => health() === 'UNHEALTHY');
    // Nil conditions mean ready (the API's documented default).
    server.apply('endpointslices', slice({}));
    await rec.waitFor('nil conditions', () => health() === 'HEALTHY');

    // Out of every slice: the pod's own Ready condition decides.
    server.apply('pods', pod({ name: 'reviews-v1-0', namespace: 'bookinfo', ip: '10.0.0.11', labels: { app: 'reviews', version: 'v1' }, node: 'node-a', serviceAccount: 'bookinfo-reviews', ready: false }));
    server.apply('endpointslices', slice({ ready: false }));
    await rec.waitFor('unready in slice', () => health() === 'UNHEALTHY');
    server.delete('endpointslices', 'reviews-abc', 'bookinfo');
    server.apply('pods', pod({ name: 'reviews-v1-0', namespace: 'bookinfo', ip: '10.0.0.11', labels: { app: 'reviews', version: 'v1' }, node: 'node-a', serviceAccount: 'bookinfo-reviews', ready: true }));
    await rec.waitFor('no slice, pod Ready', () => health() === 'HEALTHY');
    server.apply('pods', pod({ name: 'reviews-v1-0', namespace: 'bookinfo', ip: '10.0.0.11', labels: { app: 'reviews', version: 'v1' }, node: 'node-a', serviceAccount: 'bookinfo-reviews' }));
    await rec.waitFor('no slice, no Ready condition', () => health() === 'UNKNOWN');
  });

  it('endpointslices resolve named target ports, and per-pod container ports become workload port overrides', async () => {
    server.apply('services', service({ name: 'api', selector: { app: 'api' }, ports: [{ name: 'http-web', port: 80, targetPort: 'web' }, { name: 'metrics', port: 9090, targetPort: 'metrics' }] }));
    server.apply('pods', pod({ name: 'api-a', ip: '10.0.2.1', labels: { app: 'api' }, ready: true }));
    server.apply('pods', pod({ name: 'api-b', ip: '10.0.2.2', labels: { app: 'api' }, ready: true }));
    server.apply('pods', pod({ name: 'api-c', ip: '10.0.2.3', labels: { app: 'api' }, ready: true }));
    // Two pods serve "web" on 8080, one (an older version) on 8000: one slice per port set, as the controller does.
    server.apply('endpointslices', endpointSlice({ name: 'api-1', service: 'api', ports: [{ name: 'http-web', port: 8080 }, { name: 'metrics', port: 15090 }], endpoints: [{ pod: 'api-a', ip: '10.0.2.1' }, { pod: 'api-b', ip: '10.0.2.2' }] }));
    server.apply('endpointslices', endpointSlice({ name: 'api-2', service: 'api', ports: [{ name: 'http-web', port: 8000 }, { name: 'metrics', port: 15090 }], endpoints: [{ pod: 'api-c', ip: '10.0.2.3' }] }));
    await start();
    expect(rec.services.get('east/default/api')?.ports).toEqual([
      { name: 'http-web', port: 80, targetPort: 8080, protocol: 'HTTP' },
      { name: 'metrics', port: 9090, targetPort: 15090, protocol: 'TCP' },
    ]);
    expect(rec.workloads.get('east/default/api-a')?.ports).toBeUndefined();
    expect(rec.workloads.get('east/default/api-c')?.ports).toEqual({ '80': 8000 });

    // The old pod is replaced by one on 8080: its override goes away with the slice.
    server.apply('endpointslices', endpointSlice({ name: 'api-2', service: 'api', ports: [{ name: 'http-web', port: 8080 }, { name: 'metrics', port: 15090 }], endpoints: [{ pod: 'api-c', ip: '10.0.2.3' }] }));
    await rec.waitFor('override gone', () => rec.workloads.get('east/default/api-c') !== undefined && rec.workloads.get('east/default/api-c')?.ports === undefined);
  });

  it('protocols from appProtocol and port names; UDP ports and ExternalName services left out, selector-less ones mapped', async () => {
    server.apply(
      'services',
      service({
        name: 'mixed',
        selector: { app: 'mixed' },
        ports: [
          { name: 'web', port: 1, appProtocol: 'http' },
          { name: 'h2', port: 2, appProtocol: 'kubernetes.io/h2c' },
          { name: 'rpc', port: 3, appProtocol: 'grpc' },
          { name: 'http2-x', port: 4 },
          { name: 'grpc-x', port: 5 },
          { name: 'http', port: 6 },
          { name: 'https', port: 7 },
          { name: 'http-tls', port: 8, appProtocol: 'https' },
          { name: 'dns', port: 53, protocol: 'UDP' },
        ],
      }),
    );
    server.apply('services', service({ name: 'kubernetes', ports: [{ name: 'https', port: 443, targetPort: 6443 }] }));
    server.apply('services', service({ name: 'ext', type: 'ExternalName', selector: { app: 'x' }, ports: [{ port: 80 }] }));
    await start();
    expect(rec.services.get('east/default/mixed')?.ports.map((p) => `${p.port}:${p.protocol}`)).toEqual(['1:HTTP', '2:HTTP2', '3:GRPC', '4:HTTP2', '5:GRPC', '6:HTTP', '7:TCP', '8:TCP']);
    expect([...rec.services.keys()].sort()).toEqual(['east/default/kubernetes', 'east/default/mixed']);
  });

  it('host-network pods sharing a node IP stay separate workloads', async () => {
    server.apply('pods', pod({ name: 'exporter-a', namespace: 'kube-system', ip: '192.168.1.10', hostNetwork: true, labels: { app: 'exporter' }, ready: true }));
    server.apply('pods', pod({ name: 'proxy-a', namespace: 'kube-system', ip: '192.168.1.10', hostNetwork: true, labels: { app: 'proxy' }, ready: true }));
    await start();
    expect(rec.workloads.get('east/kube-system/exporter-a')?.address).toBe('192.168.1.10');
    expect(rec.workloads.get('east/kube-system/proxy-a')?.address).toBe('192.168.1.10');
    server.delete('pods', 'proxy-a', 'kube-system');
    await rec.waitFor('proxy-a gone', () => !rec.workloads.has('east/kube-system/proxy-a'));
    expect(rec.workloads.get('east/kube-system/exporter-a')?.labels).toEqual({ app: 'exporter' });
  });

  it('coalesces a burst of changes into one batch and emits nothing for no-op updates', async () => {
    seedBookinfo();
    await start();
    const batchesBefore = rec.batches.length;
    for (let i = 0; i < 20; i++) server.apply('pods', pod({ name: `burst-${i}`, namespace: 'bookinfo', ip: `10.9.0.${i + 1}`, ready: true }));
    await rec.waitFor('burst', () => rec.workloads.has('east/bookinfo/burst-19'));
    expect(rec.batches.length - batchesBefore).toBeLessThanOrEqual(2);

    const mark = rec.mark();
    // A status-only change that does not affect the model (a new resourceVersion, same content).
    server.apply('pods', pod({ name: 'burst-0', namespace: 'bookinfo', ip: '10.9.0.1', ready: true }));
    server.apply('services', service({ name: 'probe', selector: { app: 'probe' }, ports: [{ port: 1 }] }));
    await rec.waitFor('probe', () => rec.services.has('east/default/probe'));
    expect(rec.since(mark).map((e) => e.kind)).toEqual(['upsertService']);
  });
});
