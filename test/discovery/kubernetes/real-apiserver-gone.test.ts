/**
 * 410 Gone from a real API server: etcd's history is compacted past the resourceVersion a watch
 * would resume from, and the server answers the resumed watch with 410. Discovery must relist that
 * kind and emit a fresh replaceCluster, without calling the cluster stale. The same compaction
 * between two pages of a list expires the continue token: the list starts over.
 *
 * This server runs without the watch cache: the cache keeps its own history from its start and
 * ignores etcd compaction for watches, so only a direct etcd watch makes a 410 on demand (what a
 * client meets when a cache falls behind, or behind an API server restarted since).
 */
import { afterEach, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../../../src/discovery/kubernetes/index.js';
import { kubeResourceApis, type KubeObject, type ResourceApi } from '../../../src/discovery/kubernetes/api-resources.js';
import { Reflector } from '../../../src/discovery/kubernetes/reflector.js';
import { kubeApiServerSuite, useKubeApiServer } from '../../support/kube-apiserver.js';
import { TopologyRecorder } from '../../support/kube-topology-recorder.js';
import { FAST, kubeCluster } from './kube-test-cluster.js';
import { createEndpointSlice, createNode, createPod, createService, deleteObject } from './real-kube-fixtures.js';

kubeApiServerSuite('kubernetes discovery: 410 Gone from a real API server', () => {
  const server = useKubeApiServer({ watchCache: false });
  let discovery: KubernetesDiscovery | undefined;

  afterEach(async () => {
    await discovery?.stop();
    discovery = undefined;
  });

  it('a watch resumed from a compacted resourceVersion gets 410: the kind is relisted and a new replaceCluster lands, no staleness', async () => {
    const api = server();
    await createNode(api, 'node-a', { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z1' });
    await createService(api, { name: 'web', selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] });
    await createPod(api, { name: 'web-0', ip: '10.40.0.10', labels: { app: 'web' }, node: 'node-a', ready: true });
    await createPod(api, { name: 'web-1', ip: '10.40.0.11', labels: { app: 'web' }, node: 'node-a', ready: true });
    await createEndpointSlice(api, { name: 'web-1', service: 'web', ports: [{ name: 'http', port: 80 }], endpoints: [{ pod: 'web-0', ip: '10.40.0.10', ready: true }, { pod: 'web-1', ip: '10.40.0.11', ready: true }] });

    const rec = new TopologyRecorder();
    // Each watch ends after 2 s and is resumed from the last resourceVersion seen, as in production after 5-10 min.
    discovery = await startKubernetesDiscovery(kubeCluster('c1', api.adminKubeconfig), rec.sink, { ...FAST, requestTimeoutMs: 10_000, watchTimeoutSeconds: 2 });
    await rec.waitFor('initial replaceCluster', () => rec.ofKind('replaceCluster').length === 1, 15_000);
    expect(rec.workloads.size).toBe(2);

    // A write to services only: the pods, nodes and endpointslices watches keep their older
    // resourceVersion, which the compaction then puts out of etcd's history.
    await createService(api, { name: 'later', selector: { app: 'later' }, ports: [{ port: 81 }] });
    await rec.waitFor('later service', () => rec.services.has('c1/default/later'), 15_000);
    const compacted = await api.compactEtcd();
    expect(compacted).toBeGreaterThan(0);

    await rec.waitFor('relist after 410', () => rec.ofKind('replaceCluster').length >= 2, 15_000);
    expect(discovery.status().relists).toBeGreaterThanOrEqual(1);
    expect(rec.ofKind('clusterStale')).toEqual([]);
    const last = rec.ofKind('replaceCluster').at(-1)!;
    // default/kubernetes (selector-less, mapped) is there whenever the API server got to creating it.
    expect(last.services.map((s) => s.name).filter((n) => n !== 'kubernetes').sort()).toEqual(['later', 'web']);
    expect(last.workloads.map((w) => w.name).sort()).toEqual(['web-0', 'web-1']);

    // After the relist the kind watches again from the new resourceVersion: changes flow as before.
    await deleteObject(api, '/api/v1/namespaces/default/pods', 'web-1');
    await rec.waitFor('web-1 deleted', () => !rec.workloads.has('c1/default/web-1'), 15_000);
    expect(discovery.status()).toMatchObject({ connected: true, stale: false });
  }, 60_000);

  it('a continue token that expired between two pages (compaction) restarts the list from the first page', async () => {
    const api = server();
    for (let i = 0; i < 5; i++) await createPod(api, { name: `cont-${i}`, namespace: 'cont', ip: `10.41.0.${i + 1}`, node: 'node-a', ready: true });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(api.adminKubeconfig);
    const real = kubeResourceApis(kc).pods as unknown as ResourceApi<KubeObject>;
    const answers: string[] = [];
    let compacted = false;
    // The real list, with history made to vanish once, right before the first continue request.
    const pods: ResourceApi<KubeObject> = {
      kind: 'pods',
      watchPath: real.watchPath,
      list: async (r) => {
        if (r.continueToken && !compacted) {
          compacted = true;
          await createService(api, { name: 'moves-the-revision', namespace: 'cont', ports: [{ port: 1 }] });
          await api.compactEtcd();
        }
        try {
          const page = await real.list(r);
          answers.push(`${r.continueToken ? 'next' : 'first'} ${page.items.length}`);
          return page;
        } catch (err) {
          answers.push(`${r.continueToken ? 'next' : 'first'} HTTP ${(err as { code?: number }).code}`);
          throw err;
        }
      },
    };
    let listed: string[] | undefined;
    const failures: string[] = [];
    const reflector = new Reflector<KubeObject>(
      kc,
      pods,
      {
        listStarted: () => undefined,
        listed: (_kind, items) => (listed = items.map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`)),
        event: () => undefined,
        failed: (_kind, err) => failures.push(err.message),
      },
      { backoff: { initialMs: 50, maxMs: 500 }, requestTimeoutMs: 10_000, watchTimeoutSeconds: 60, pageSize: 2 },
    );
    reflector.start();
    try {
      const end = Date.now() + 15_000;
      while (!listed && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    } finally {
      await reflector.stop();
    }
    expect(answers.slice(0, 3)).toEqual(['first 2', 'next HTTP 410', 'first 2']);
    expect(failures).toEqual([]);
    expect(listed?.filter((k) => k.startsWith('cont/')).sort()).toEqual(['cont/cont-0', 'cont/cont-1', 'cont/cont-2', 'cont/cont-3', 'cont/cont-4']);
  }, 60_000);
});
