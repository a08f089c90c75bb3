/**
 * Kubernetes discovery when the API server misbehaves: 410 Gone, dropped watches, outages, errors,
 * slow answers, several clusters at once. Real HTTP against the fake API server, short backoffs.
 */
import { register } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../../../src/discovery/kubernetes/index.js';
import type { FakeKubeApiServer } from '../../support/fake-kube-apiserver.js';
import { endpointSlice, node, pod, service } from '../../support/kube-objects.js';
import { TopologyRecorder } from '../../support/kube-topology-recorder.js';
import { FAST, fakeApiServer, kubeCluster } from './kube-test-cluster.js';

const KINDS = ['services', 'endpointslices', 'pods', 'nodes'] as const;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  name = 'east',
  host = '127.0.0.1',
  options = FAST,
  rec = new TopologyRecorder(),
): Promise<{ server: FakeKubeApiServer; rec: TopologyRecorder; discovery: KubernetesDiscovery }> {
  const fake = await fakeApiServer(host);
  cleanups.push(fake.cleanup);
  const discovery = await startKubernetesDiscovery(kubeCluster(name, fake.kubeconfig), rec.sink, options);
  cleanups.push(() => discovery.stop());
  return { server: fake.server, rec, discovery };
}

function seed(server: FakeKubeApiServer, ipPrefix = '10.0.0'): void {
  server.apply('nodes', node('node-a', { 'topology.kubernetes.io/region': 'us-east', 'topology.kubernetes.io/zone': 'us-east-1b' }));
  server.apply('services', service({ name: 'reviews', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }] }));
  server.apply('pods', pod({ name: 'reviews-0', ip: `${ipPrefix}.10`, labels: { app: 'reviews' }, node: 'node-a', ready: true }));
  server.apply('pods', pod({ name: 'reviews-1', ip: `${ipPrefix}.11`, labels: { app: 'reviews' }, node: 'node-a', ready: true }));
  server.apply('endpointslices', endpointSlice({ name: 'reviews-x', service: 'reviews', ports: [{ name: 'http', port: 9080 }], endpoints: [{ pod: 'reviews-0', ip: `${ipPrefix}.10`, ready: true }, { pod: 'reviews-1', ip: `${ipPrefix}.11`, ready: true }] }));
}

async function allWatching(server: FakeKubeApiServer, rec: TopologyRecorder): Promise<void> {
  await rec.waitFor('a watch per kind', () => KINDS.every((k) => server.activeWatches(k) === 1));
}

async function metricValue(name: string, cluster: string): Promise<number | undefined> {
  const text = await register.metrics();
  const m = text.match(new RegExp(`^${name}\\{cluster="${cluster}"\\} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

describe('kubernetes discovery: 410 Gone', () => {
  it('compacted history: re-watch gets 410, relists, and a replaceCluster drops what was deleted during the gap', async () => {
    const { server, rec, discovery } = await setup('gone');
    seed(server);
    await rec.waitFor('initial sync', () => rec.ofKind('replaceCluster').length === 1);
    await allWatching(server, rec);
    const relistsBefore = (await metricValue('crossmesh_discovery_relists_total', 'gone')) ?? 0;
    const mark = rec.mark();

    // Watches drop; while the client is away, a pod is deleted, one is added and etcd compacts.
    server.dropWatches('reset');
    server.delete('pods', 'reviews-1', 'default');
    server.apply('pods', pod({ name: 'reviews-2', ip: '10.0.0.12', labels: { app: 'reviews' }, node: 'node-a', ready: true }));
    server.compactHistory();

    // Each kind hits its 410 on its own schedule; once all four have relisted the model matches the server.
    await rec.waitFor('every kind relisted', () => discovery.status().relists === 4 && rec.since(mark).some((e) => e.kind === 'replaceCluster'));
    await new Promise((r) => setTimeout(r, 50));
    expect([...rec.workloads.keys()].sort()).toEqual(['gone/default/reviews-0', 'gone/default/reviews-2']);
    // The deletion reached the model only through a replace, and nothing went stale over a 410.
    expect(rec.since(mark).filter((e) => e.kind !== 'replaceCluster')).toEqual([]);
    expect(rec.ofKind('replaceCluster').at(-1)?.workloads.map((w) => w.name).sort()).toEqual(['reviews-0', 'reviews-2']);
    expect(KINDS.every((k) => server.requestsFor(k, { watch: false }).length === 2)).toBe(true);
    expect((await metricValue('crossmesh_discovery_relists_total', 'gone'))! - relistsBefore).toBe(4);
    expect(discovery.status().stale).toBe(false);
  });

  it('an ERROR 410 event on one kind relists only that kind and emits exactly one replaceCluster', async () => {
    const { server, rec, discovery } = await setup('gone1');
    seed(server);
    await rec.waitFor('initial sync', () => rec.ofKind('replaceCluster').length === 1);
    await allWatching(server, rec);
    const mark = rec.mark();
    server.fail410OnNextWatch(['pods']);
    server.dropWatches('end');
    await rec.waitFor('pods replace', () => rec.since(mark).some((e) => e.kind === 'replaceCluster'));
    await allWatching(server, rec);
    // A later change still flows incrementally after the relist.
    server.apply('services', service({ name: 'after', selector: { app: 'after' }, ports: [{ port: 80 }] }));
    await rec.waitFor('after', () => rec.services.has('gone1/default/after'));
    expect(rec.since(mark).map((e) => e.kind)).toEqual(['replaceCluster', 'upsertService']);
    expect(discovery.status().relists).toBe(1);
    expect(server.requestsFor('pods', { watch: false }).length).toBe(2);
    expect(server.requestsFor('services', { watch: false }).length).toBe(1);
  });
  it('an expired continue token (410 mid-list) restarts the list from the first page', async () => {
    const fake = await fakeApiServer();
    cleanups.push(fake.cleanup);
    for (let i = 0; i < 5; i++) fake.server.apply('pods', pod({ name: `p${i}`, ip: `10.4.0.${i + 1}`, ready: true }));
    let compacted = false;
    fake.server.beforeList = (kind, query) => {
      // Between page 1 and page 2: a pod is deleted and history compacts, expiring the token.
      if (kind === 'pods' && query.continue && !compacted) {
        compacted = true;
        fake.server.delete('pods', 'p4', 'default');
        fake.server.compactHistory();
      }
    };
    const rec = new TopologyRecorder();
    const discovery = await startKubernetesDiscovery(kubeCluster('cont', fake.kubeconfig), rec.sink, FAST);
    cleanups.push(() => discovery.stop());
    await rec.waitFor('synced', () => rec.ofKind('replaceCluster').length === 1);
    expect(rec.ofKind('replaceCluster')[0]?.workloads.map((w) => w.name).sort()).toEqual(['p0', 'p1', 'p2', 'p3']);
    const lists = fake.server.requestsFor('pods', { watch: false });
    // page 1, page 2 (410), then page 1..2 again of the 4 remaining.
    expect(lists.map((r) => (r.query.continue ? 'cont' : 'first'))).toEqual(['first', 'cont', 'first', 'cont']);
    expect(rec.ofKind('clusterStale')).toEqual([]);
  });
});

describe('kubernetes discovery: dropped connections', () => {
  it('resumes each watch from the last resourceVersion it saw (events and bookmarks) without relisting', async () => {
    const { server, rec, discovery } = await setup('drop');
    seed(server);
    await rec.waitFor('initial sync', () => rec.ofKind('replaceCluster').length === 1);
    await allWatching(server, rec);

    const added = server.apply('pods', pod({ name: 'reviews-2', ip: '10.0.0.12', labels: { app: 'reviews' }, node: 'node-a', ready: true }));
    await rec.waitFor('reviews-2', () => rec.workloads.has('drop/default/reviews-2'));
    // A services change moves the store on; nodes only learn it from a bookmark.
    const svc = server.apply('services', service({ name: 'other', selector: { app: 'o' }, ports: [{ port: 1 }] }));
    await rec.waitFor('other', () => rec.services.has('drop/default/other'));
    server.sendBookmarks();
    await new Promise((r) => setTimeout(r, 50));
    const watchesBefore = server.requestsFor('pods', { watch: true }).length;

    expect(server.dropWatches('reset')).toBe(4);
    // Changes made while no watch is open are replayed from the resumed resourceVersion.
    server.delete('pods', 'reviews-0', 'default');
    await rec.waitFor('reviews-0 deleted via resumed watch', () => !rec.workloads.has('drop/default/reviews-0'));
    await allWatching(server, rec);

    const podWatches = server.requestsFor('pods', { watch: true });
    expect(podWatches.length).toBe(watchesBefore + 1);
    expect(podWatches.at(-1)?.query.resourceVersion).toBe(svc.metadata.resourceVersion); // bookmark moved it past the pod event
    expect(Number(podWatches.at(-1)?.query.resourceVersion)).toBeGreaterThan(Number(added.metadata.resourceVersion));
    expect(server.requestsFor('nodes', { watch: true }).at(-1)?.query.resourceVersion).toBe(svc.metadata.resourceVersion);
    for (const k of KINDS) expect(server.requestsFor(k, { watch: false }).length).toBe(1);
    expect(rec.ofKind('replaceCluster').length).toBe(1);
    expect(rec.ofKind('deleteWorkload').map((e) => e.key)).toEqual(['drop/default/reviews-0']);
    expect(rec.ofKind('clusterStale')).toEqual([]);
    expect(discovery.status()).toMatchObject({ relists: 0, stale: false, connected: true });
  });

  it('a watch the server ends cleanly (timeoutSeconds) is re-opened from its resourceVersion', async () => {
    const { server, rec, discovery } = await setup('timeout', '127.0.0.1', { ...FAST, watchTimeoutSeconds: 1 });
    seed(server);
    await rec.waitFor('initial sync', () => rec.ofKind('replaceCluster').length === 1);
    await rec.waitFor('second pods watch after server timeout', () => server.requestsFor('pods', { watch: true }).length >= 2, 4000);
    const [first, second] = server.requestsFor('pods', { watch: true });
    expect(second?.query.resourceVersion).toBe(first?.query.resourceVersion);
    expect(server.requestsFor('pods', { watch: false }).length).toBe(1);
    expect(discovery.status().relists).toBe(0);
  });
});

describe('kubernetes discovery: API server down', () => {
  it('marks the cluster stale keeping last-known objects, then relists and recovers without a restart', async () => {
    const { server, rec, discovery } = await setup('down');
    seed(server);
    await rec.waitFor('initial sync', () => rec.ofKind('replaceCluster').length === 1);
    await allWatching(server, rec);
    const known = [...rec.workloads.keys()].sort();
    const mark = rec.mark();

    await server.goDown();
    await rec.waitFor('stale', () => rec.stale.get('down') === true);
    const staleEvent = rec.ofKind('clusterStale')[0];
    expect(staleEvent?.reason).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up/);
    expect(rec.since(mark).map((e) => e.kind)).toEqual(['clusterStale']);
    expect([...rec.workloads.keys()].sort()).toEqual(known);
    expect(discovery.status()).toMatchObject({ stale: true, connected: false });
    expect(discovery.status().lastError).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up/);
    expect(await metricValue('crossmesh_discovery_cluster_stale', 'down')).toBe(1);

    // It keeps retrying (capped backoff) and changes made meanwhile are picked up on return.
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.since(mark).map((e) => e.kind)).toEqual(['clusterStale']);
    server.delete('pods', 'reviews-1', 'default');
    server.apply('pods', pod({ name: 'reviews-9', ip: '10.0.0.19', labels: { app: 'reviews' }, node: 'node-a', ready: true }));
    const listsBefore = server.requestsFor('pods', { watch: false }).length;
    await server.comeUp();

    await rec.waitFor('recovered', () => rec.stale.get('down') === false);
    const recovery = rec.batches.find((b) => b.some((e) => e.kind === 'clusterStale' && !e.stale));
    expect(recovery?.map((e) => e.kind)).toEqual(['replaceCluster', 'clusterStale']);
    expect(rec.ofKind('replaceCluster').length).toBe(2);
    expect([...rec.workloads.keys()].sort()).toEqual(['down/default/reviews-0', 'down/default/reviews-9']);
    expect(server.requestsFor('pods', { watch: false }).length).toBe(listsBefore + 1);
    expect(discovery.status()).toMatchObject({ stale: false, connected: true, relists: 4 });
    expect(await metricValue('crossmesh_discovery_cluster_stale', 'down')).toBe(0);

    // And it is live again.
    server.apply('pods', pod({ name: 'reviews-10', ip: '10.0.0.20', labels: { app: 'reviews' }, ready: true }));
    await rec.waitFor('live after recovery', () => rec.workloads.has('down/default/reviews-10'));
  });

  it('a server down from the start is reported stale, and syncs once it comes up', async () => {
    const fake = await fakeApiServer();
    cleanups.push(fake.cleanup);
    seed(fake.server);
    await fake.server.goDown();
    const rec = new TopologyRecorder();
    const discovery = await startKubernetesDiscovery(kubeCluster('late', fake.kubeconfig), rec.sink, FAST);
    cleanups.push(() => discovery.stop());
    await rec.waitFor('stale', () => rec.stale.get('late') === true);
    expect(discovery.status()).toMatchObject({ connected: false, stale: true, counts: { pods: 0 } });
    await fake.server.comeUp();
    await rec.waitFor('synced', () => rec.stale.get('late') === false);
    expect(rec.ofKind('replaceCluster')[0]?.workloads.length).toBe(2);
  });

  it('HTTP errors on one kind: stale with the kind and status in the reason; other kinds keep flowing; recovers', async () => {
    const { server, rec, discovery } = await setup('errs');
    seed(server);
    await rec.waitFor('initial sync', () => rec.ofKind('replaceCluster').length === 1);
    await allWatching(server, rec);
    server.failRequests('pods', 1_000_000);
    server.dropWatches('end');
    await rec.waitFor('stale', () => rec.stale.get('errs') === true);
    expect(rec.ofKind('clusterStale')[0]?.reason).toMatch(/^pods: .*500.*injected failure/);

    server.apply('services', service({ name: 'during', selector: { app: 'd' }, ports: [{ port: 1 }] }));
    await rec.waitFor('service change while pods fail', () => rec.services.has('errs/default/during'));
    expect(rec.stale.get('errs')).toBe(true);
    expect(rec.workloads.size).toBe(2);

    server.failRequests('pods', 0);
    await rec.waitFor('recovered', () => rec.stale.get('errs') === false);
    expect(discovery.status().relists).toBe(1);
  });
});

describe('kubernetes discovery: the server\'s words in the stale reason', () => {
  it('a failing list names the kind, the status and the message of the Status body', async () => {
    const fake = await fakeApiServer();
    cleanups.push(fake.cleanup);
    seed(fake.server);
    // From the start: the first failure is the list (the generated client), not a watch.
    fake.server.failRequests('pods', 1_000_000);
    const rec = new TopologyRecorder();
    const discovery = await startKubernetesDiscovery(kubeCluster('words', fake.kubeconfig), rec.sink, FAST);
    cleanups.push(() => discovery.stop());
    await rec.waitFor('stale', () => rec.stale.get('words') === true);
    expect(rec.ofKind('clusterStale')[0]?.reason).toBe('pods: HTTP 500: injected failure');
    expect(discovery.status().lastError).toBe('pods: HTTP 500: injected failure');
  });
});

describe('kubernetes discovery: slow servers and several clusters', () => {
  it('a slow API server delays only its own cluster', async () => {
    const slow = await setup('slow', '127.0.0.2', { ...FAST, requestTimeoutMs: 5000 });
    // Set the delay before anything answered: the slow cluster's lists are all in flight now or soon.
    slow.server.setDelay(1500);
    seed(slow.server);
    const t0 = Date.now();
    const fast = await setup('fast', '127.0.0.3');
    seed(fast.server, '10.1.0');
    await fast.rec.waitFor('fast synced', () => fast.rec.ofKind('replaceCluster').length === 1);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(slow.rec.ofKind('replaceCluster').length).toBe(0);
    fast.server.apply('pods', pod({ name: 'quick', ip: '10.1.0.50', ready: true }));
    await fast.rec.waitFor('fast event', () => fast.rec.workloads.has('fast/default/quick'));
    expect(slow.rec.ofKind('replaceCluster').length).toBe(0);
    await slow.rec.waitFor('slow synced', () => slow.rec.ofKind('replaceCluster').length === 1, 8000);
    expect(slow.rec.ofKind('clusterStale')).toEqual([]);
  });

  it('a hung API server times out into stale, and stop() is prompt even with requests hanging', async () => {
    const hung = await setup('hung', '127.0.0.1', { ...FAST, requestTimeoutMs: 300 });
    seed(hung.server);
    await hung.rec.waitFor('synced', () => hung.rec.ofKind('replaceCluster').length === 1);
    await allWatching(hung.server, hung.rec);
    hung.server.setDelay(Infinity);
    hung.server.dropWatches('reset');
    await hung.rec.waitFor('stale', () => hung.rec.stale.get('hung') === true, 3000);
    expect(hung.rec.ofKind('clusterStale')[0]?.reason).toMatch(/no response to watch|timed out/);
    expect(hung.rec.workloads.size).toBe(2);
    hung.server.setDelay(0);
    await hung.rec.waitFor('recovered', () => hung.rec.stale.get('hung') === false, 3000);

    hung.server.setDelay(Infinity);
    hung.server.dropWatches('reset');
    await new Promise((r) => setTimeout(r, 100));
    const t = Date.now();
    await hung.discovery.stop();
    expect(Date.now() - t).toBeLessThan(500);
    const n = hung.rec.batches.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(hung.rec.batches.length).toBe(n);
  });

  it('stop() during hanging initial lists aborts them: prompt, no connection left open, no events after', async () => {
    const fake = await fakeApiServer();
    cleanups.push(fake.cleanup);
    fake.server.setDelay(Infinity);
    const rec = new TopologyRecorder();
    const discovery = await startKubernetesDiscovery(kubeCluster('hang0', fake.kubeconfig), rec.sink, { ...FAST, requestTimeoutMs: 10_000 });
    await rec.waitFor('four lists in flight', () => fake.server.requests.length === 4 && fake.server.openConnections() === 4);
    const t = Date.now();
    await discovery.stop();
    expect(Date.now() - t).toBeLessThan(500);
    await rec.waitFor('connections closed', () => fake.server.openConnections() === 0, 2000);
    expect(rec.events).toEqual([]);
    expect(discovery.status().connected).toBe(false);
  });

  it('two clusters at once into one sink: events tagged by cluster, a change or outage in one touches only that one', async () => {
    // One sink for both, as the model store has.
    const rec = new TopologyRecorder();
    const a = await setup('cluster1', '127.0.0.2', FAST, rec);
    const b = await setup('cluster2', '127.0.0.3', FAST, rec);
    seed(a.server, '10.1.0');
    seed(b.server, '10.2.0');
    await rec.waitFor('both synced', () => rec.ofKind('replaceCluster').length === 2);
    expect(rec.ofKind('replaceCluster').map((e) => e.cluster).sort()).toEqual(['cluster1', 'cluster2']);
    expect([...rec.workloads.values()].map((w) => `${w.cluster}:${w.address}`).sort()).toEqual([
      'cluster1:10.1.0.10',
      'cluster1:10.1.0.11',
      'cluster2:10.2.0.10',
      'cluster2:10.2.0.11',
    ]);
    // Same service name in both clusters: two model services, one per cluster.
    expect([...rec.services.keys()].sort()).toEqual(['cluster1/default/reviews', 'cluster2/default/reviews']);

    const mark = rec.mark();
    a.server.delete('pods', 'reviews-0', 'default');
    await rec.waitFor('cluster1 delete', () => !rec.workloads.has('cluster1/default/reviews-0'));
    expect(rec.since(mark)).toEqual([{ kind: 'deleteWorkload', key: 'cluster1/default/reviews-0' }]);
    expect(rec.workloads.has('cluster2/default/reviews-0')).toBe(true);

    await b.server.goDown();
    await rec.waitFor('cluster2 stale', () => rec.stale.get('cluster2') === true);
    a.server.apply('pods', pod({ name: 'after', ip: '10.1.0.99', ready: true }));
    await rec.waitFor('cluster1 still live', () => rec.workloads.has('cluster1/default/after'));
    expect(rec.stale.get('cluster1')).toBeUndefined();
    expect(a.discovery.status().stale).toBe(false);
    expect(b.discovery.status().stale).toBe(true);
    expect([...rec.workloads.keys()].filter((k) => k.startsWith('cluster2/')).length).toBe(2);
  });
});
