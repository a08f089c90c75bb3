/**
 * Kubernetes discovery against two real API servers (etcd + kube-apiserver 1.36, TLS, RBAC) as two
 * clusters: one reached with a client certificate, the other with a ServiceAccount token from the
 * TokenRequest API, each identity bound by RBAC to exactly the read access docs/kubernetes.md
 * documents. Also: RBAC denials named in the stale reason and healed without a restart, watch
 * bookmarks moving the resume point, and paged lists. The tests share the two servers and run in
 * order: later ones find the objects earlier ones created.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { loadConfig } from '../../../src/config/loader.js';
import { DiscoveryManager } from '../../../src/discovery/manager.js';
import { startKubernetesDiscovery, type KubernetesDiscovery } from '../../../src/discovery/kubernetes/index.js';
import { kubeResourceApis, type KubeObject, type ResourceApi } from '../../../src/discovery/kubernetes/api-resources.js';
import { Reflector } from '../../../src/discovery/kubernetes/reflector.js';
import { ModelStore } from '../../../src/model/store.js';
import { KubernetesTokenReviewer } from '../../../src/xds/auth/token-review.js';
import { tempDir, type TempDir } from '../../config/helpers.js';
import { kubeApiServerSuite, startKubeApiServer, type KubeApiServer } from '../../support/kube-apiserver.js';
import { TopologyRecorder } from '../../support/kube-topology-recorder.js';
import { FAST, kubeCluster } from './kube-test-cluster.js';
import { createEndpointSlice, createNode, createPod, createService, deleteObject, DISCOVERY_RULES, grant } from './real-kube-fixtures.js';

/** Real servers answer in milliseconds but share two cores with the suite: roomier than the fake's timings. */
const REAL = { ...FAST, requestTimeoutMs: 10_000 };

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function clusterDoc(name: string, network: string, region: string, kubeconfig: string): string {
  return `---
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: ${name}}
spec:
  network: ${network}
  locality: {region: ${region}, zone: ${region}-z0}
  discovery: {kubernetes: {kubeconfig: ${JSON.stringify(kubeconfig)}}}
`;
}

kubeApiServerSuite('kubernetes discovery against real API servers', () => {
  let east: KubeApiServer;
  let west: KubeApiServer;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    [east, west] = await Promise.all([startKubeApiServer(), startKubeApiServer()]);
    console.log(`real API servers ready in ${east.startupMs} ms and ${west.startupMs} ms (started together)`);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([east?.close(), west?.close()]);
  }, 30_000);

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('two clusters, one by client certificate and one by ServiceAccount token, both least-privilege, feed one model', async () => {
    // east: a client certificate for a user that only the discovery ClusterRole lets read anything.
    await grant(east, 'crossmesh-discovery', DISCOVERY_RULES, { kind: 'User', name: 'crossmesh-east' });
    const eastKubeconfig = east.clientCertKubeconfig('crossmesh-east', ['crossmesh-readers']);
    // west: the ServiceAccount the docs bind, with a token from the TokenRequest API.
    const token = await west.serviceAccountToken('crossmesh-system', 'crossmesh');
    await grant(west, 'crossmesh-discovery', DISCOVERY_RULES, { kind: 'ServiceAccount', name: 'crossmesh', namespace: 'crossmesh-system' });
    const westKubeconfig = west.tokenKubeconfig(token, 'crossmesh-west');

    // The identities are really restricted: neither may write, nor read what discovery does not need.
    const westCannot = await west.rawRequest('GET', '/api/v1/secrets', undefined, { token });
    expect(westCannot.status).toBe(403);
    expect(westCannot.body.message).toContain('system:serviceaccount:crossmesh-system:crossmesh');

    await createNode(east, 'east-node-a', { 'topology.kubernetes.io/region': 'us-east', 'topology.kubernetes.io/zone': 'us-east-1b' });
    await createService(east, { name: 'reviews', namespace: 'bookinfo', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] });
    await createPod(east, { name: 'reviews-v1-0', namespace: 'bookinfo', ip: '10.10.0.11', labels: { app: 'reviews', version: 'v1' }, node: 'east-node-a', serviceAccount: 'bookinfo-reviews', ready: true });
    await createPod(east, { name: 'reviews-v2-0', namespace: 'bookinfo', ip: '10.10.0.12', labels: { app: 'reviews', version: 'v2' }, node: 'east-node-a', serviceAccount: 'bookinfo-reviews', ready: true });
    await createEndpointSlice(east, {
      name: 'reviews-1',
      namespace: 'bookinfo',
      service: 'reviews',
      ports: [{ name: 'http', port: 9080 }],
      endpoints: [
        { pod: 'reviews-v1-0', ip: '10.10.0.11', ready: true, serving: true, terminating: false },
        { pod: 'reviews-v2-0', ip: '10.10.0.12', ready: false, serving: false, terminating: false },
      ],
    });
    await createNode(west, 'west-node-a', { 'topology.kubernetes.io/region': 'eu-west', 'topology.kubernetes.io/zone': 'eu-west-1a' });
    await createService(west, { name: 'reviews', namespace: 'bookinfo', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] });
    await createPod(west, { name: 'reviews-v3-0', namespace: 'bookinfo', ip: '10.20.0.13', labels: { app: 'reviews', version: 'v3' }, node: 'west-node-a', serviceAccount: 'bookinfo-reviews', ready: true });

    // What the API server's endpoint reconciler writes for default/kubernetes (these servers run
    // with --endpoint-reconciler-type=none): a hand-managed slice, no targetRef.
    await createEndpointSlice(east, { name: 'kubernetes', service: 'kubernetes', ports: [{ name: 'https', port: 6443 }], endpoints: [{ ip: '192.0.2.10', ready: true }] });
    const tmp: TempDir = tempDir();
    cleanups.push(() => tmp.remove());
    tmp.write('mesh.yaml', clusterDoc('east', 'net-east', 'us-east', eastKubeconfig) + clusterDoc('west', 'net-west', 'eu-west', westKubeconfig));
    const loaded = await loadConfig([tmp.dir]);
    expect(loaded.errors).toEqual([]);
    const store = new ModelStore();
    const manager = new DiscoveryManager(store, { kubernetes: { ...REAL, initialWaitMs: 15_000 } });
    cleanups.push(() => manager.close());
    await manager.apply(loaded.config!);

    // default/kubernetes appears whenever each API server gets to creating it.
    await until('both clusters synced', () => store.current.workloads.size === 4 && store.current.services.has('west/default/kubernetes'));
    const snap = store.current;
    // default/kubernetes has no selector: mapped, its hand-managed address an endpoint outside the mesh.
    expect([...snap.services.keys()].sort()).toEqual(['east/bookinfo/reviews', 'east/default/kubernetes', 'west/bookinfo/reviews', 'west/default/kubernetes']);
    expect(snap.endpoints.get('east/default/kubernetes')?.map((e) => `${e.address}:${e.targetPorts['443']} ${e.mesh === false ? 'plaintext' : 'mesh'}`)).toEqual(['192.0.2.10:6443 plaintext']);
    expect(snap.endpoints.get('west/default/kubernetes') ?? []).toEqual([]);
    expect(snap.workloads.get('east/bookinfo/reviews-v1-0')).toMatchObject({
      address: '10.10.0.11',
      serviceAccount: 'bookinfo-reviews',
      locality: { region: 'us-east', zone: 'us-east-1b' },
      health: 'HEALTHY',
    });
    // Health comes from the EndpointSlice's conditions, not from the pod's own Ready condition.
    expect(snap.workloads.get('east/bookinfo/reviews-v2-0')?.health).toBe('UNHEALTHY');
    expect(snap.workloads.get('west/bookinfo/reviews-v3-0')).toMatchObject({ address: '10.20.0.13', locality: { region: 'eu-west', zone: 'eu-west-1a' }, health: 'HEALTHY' });

    const status = manager.status().kubernetes;
    expect(status.map((s) => ('server' in s ? [s.cluster, s.server, s.connected, s.stale] : s))).toEqual([
      ['east', east.url, true, false],
      ['west', west.url, true, false],
    ]);

    // Watches on both servers: an add in west and a delete in east reach the model without a relist.
    await createPod(west, { name: 'reviews-v3-1', namespace: 'bookinfo', ip: '10.20.0.14', labels: { app: 'reviews', version: 'v3' }, node: 'west-node-a', serviceAccount: 'bookinfo-reviews', ready: true });
    await deleteObject(east, '/api/v1/namespaces/bookinfo/services', 'reviews');
    await until('west pod added and east service deleted', () => store.current.workloads.has('west/bookinfo/reviews-v3-1') && !store.current.services.has('east/bookinfo/reviews'));
    expect(store.current.services.has('west/bookinfo/reviews')).toBe(true);
    for (const s of manager.status().kubernetes) expect(s).toMatchObject({ relists: 0, stale: false });
  });

  it('a token without the rights marks the cluster stale naming the forbidden resource, and granting them heals it without a restart', async () => {
    // Everything discovery needs except pods.
    const token = await west.serviceAccountToken('crossmesh-system', 'no-pods');
    await grant(west, 'crossmesh-no-pods', [{ apiGroups: [''], resources: ['services', 'nodes'], verbs: ['get', 'list', 'watch'] }, DISCOVERY_RULES[1]!], {
      kind: 'ServiceAccount',
      name: 'no-pods',
      namespace: 'crossmesh-system',
    });
    const rec = new TopologyRecorder();
    const discovery = await startKubernetesDiscovery(kubeCluster('west', west.tokenKubeconfig(token, 'no-pods')), rec.sink, REAL);
    cleanups.push(() => discovery.stop());

    await rec.waitFor('stale', () => rec.stale.get('west') === true, 15_000);
    const stale = rec.ofKind('clusterStale')[0];
    expect(stale?.reason).toMatch(/^pods: HTTP 403: pods is forbidden: User "system:serviceaccount:crossmesh-system:no-pods" cannot list resource "pods" in API group "" at the cluster scope/);
    expect(discovery.status()).toMatchObject({ connected: false, stale: true });
    expect(rec.ofKind('replaceCluster')).toEqual([]);

    // Fixing RBAC is enough: the retry loop picks the new rights up.
    await grant(west, 'crossmesh-discovery', DISCOVERY_RULES, { kind: 'ServiceAccount', name: 'no-pods', namespace: 'crossmesh-system' });
    await rec.waitFor('healed', () => rec.stale.get('west') === false && rec.ofKind('replaceCluster').length === 1, 15_000);
    expect(discovery.status()).toMatchObject({ connected: true, stale: false });
    expect(rec.workloads.has('west/bookinfo/reviews-v3-0')).toBe(true);
  });

  it('a token the server does not accept is reported as 401, never as an empty cluster', async () => {
    const rec = new TopologyRecorder();
    const discovery = await startKubernetesDiscovery(kubeCluster('east', east.tokenKubeconfig('not-a-real-token', 'bogus')), rec.sink, REAL);
    cleanups.push(() => discovery.stop());
    await rec.waitFor('stale', () => rec.stale.get('east') === true, 15_000);
    expect(rec.ofKind('clusterStale')[0]?.reason).toMatch(/: HTTP 401/);
    expect(rec.ofKind('replaceCluster')).toEqual([]);
  });

  it("crossmesh's TokenReview of a workload token is the API server's own: audience, identity, and the reviewer's RBAC", async () => {
    // The reviewing identity is crossmesh's own ServiceAccount, which needs create on tokenreviews (docs/security.md).
    const reviewerToken = await west.serviceAccountToken('crossmesh-system', 'crossmesh');
    const cluster = kubeCluster('west', west.tokenKubeconfig(reviewerToken, 'reviewer'));
    const reviewer = new KubernetesTokenReviewer({ timeoutMs: 10_000, cacheTtlMs: 0 });
    const workloadToken = await west.serviceAccountToken('bookinfo', 'bookinfo-reviews', { audiences: ['crossmesh'] });

    const denied = await reviewer.review(cluster, workloadToken);
    expect(denied).toMatchObject({ authenticated: false, reason: 'unavailable' });
    expect((denied as { message: string }).message).toMatch(/HTTP 403 \(the kubeconfig user needs permission to create tokenreviews\)/);

    await grant(west, 'crossmesh-tokenreview', [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }], {
      kind: 'ServiceAccount',
      name: 'crossmesh',
      namespace: 'crossmesh-system',
    });
    expect(await reviewer.review(cluster, workloadToken)).toEqual({
      authenticated: true,
      namespace: 'bookinfo',
      serviceAccount: 'bookinfo-reviews',
      username: 'system:serviceaccount:bookinfo:bookinfo-reviews',
    });
    // A token minted for the API server's own audience is not one for crossmesh.
    const apiToken = await west.serviceAccountToken('bookinfo', 'bookinfo-reviews');
    expect(await reviewer.review(cluster, apiToken)).toMatchObject({ authenticated: false, reason: 'rejected' });
    expect((await reviewer.review(cluster, 'garbage')).authenticated).toBe(false);
  });

  it('watch bookmarks move the resume point forward while the watched kind is quiet', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(east.adminKubeconfig);
    const api = kubeResourceApis(kc).nodes as unknown as ResourceApi<KubeObject>;
    const events: string[] = [];
    let listedRv = '';
    const reflector = new Reflector<KubeObject>(
      kc,
      api,
      {
        listStarted: () => undefined,
        listed: (_kind, _items) => {
          listedRv = reflector.lastResourceVersion;
        },
        event: (_kind, type, object) => events.push(`${type} ${object.metadata?.name}`),
        failed: (_kind, err) => events.push(`failed ${err.message}`),
      },
      // The server sends a bookmark 2 s before a watch's deadline: a short watch makes that soon.
      { backoff: { initialMs: 50, maxMs: 500 }, requestTimeoutMs: 10_000, watchTimeoutSeconds: 5, pageSize: 500 },
    );
    reflector.start();
    cleanups.push(() => reflector.stop());
    await until('nodes listed', () => listedRv !== '');

    // Writes to another kind move etcd's revision; only a bookmark can tell the nodes watch.
    const serviceRv = await createService(east, { name: 'bookmark-probe', selector: { app: 'probe' }, ports: [{ port: 80 }] });
    expect(Number(serviceRv)).toBeGreaterThan(Number(listedRv));
    await until('a bookmark at or past the service write', () => Number(reflector.lastResourceVersion) >= Number(serviceRv), 20_000);
    expect(events).toEqual([]);

    // The bookmarked resourceVersion is a valid resume point: a node change after it is delivered.
    await createNode(east, 'bookmark-node');
    await until('node event after the bookmark', () => events.includes('ADDED bookmark-node'));
    expect(events).toEqual(['ADDED bookmark-node']);
  }, 45_000);

  it('lists page by page when a kind has more objects than the page size', async () => {
    for (let i = 0; i < 23; i++) {
      await createPod(west, { name: `paged-${String(i).padStart(2, '0')}`, namespace: 'paging', ip: `10.30.0.${i + 1}`, labels: { app: 'paged' }, node: 'west-node-a', ready: true });
    }
    // The server really pages: a first page of 5 with a continue token.
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(west.adminKubeconfig);
    const first = await kubeResourceApis(kc).pods.list({ limit: 5, signal: AbortSignal.timeout(10_000) });
    expect(first.items).toHaveLength(5);
    expect(first.continueToken).toBeTruthy();

    const rec = new TopologyRecorder();
    let discovery: KubernetesDiscovery | undefined = await startKubernetesDiscovery(kubeCluster('west', west.adminKubeconfig), rec.sink, { ...REAL, pageSize: 5 });
    cleanups.push(() => discovery?.stop());
    await rec.waitFor('initial replaceCluster', () => rec.ofKind('replaceCluster').length === 1, 15_000);
    const paged = rec.ofKind('replaceCluster')[0]!.workloads.filter((w) => w.namespace === 'paging').map((w) => w.name);
    expect(paged).toHaveLength(23);
    expect(new Set(paged).size).toBe(23);
    await discovery.stop();
    discovery = undefined;
  });
});
