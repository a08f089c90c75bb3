/**
 * Kubernetes service account tokens, reviewed by the (in-test) API server of the cluster the
 * node claims: authenticated, unauthenticated, wrong audience, and API server down → refused.
 */
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { register } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loader.js';
import { defaultMeshDir } from '../../src/config/default-mesh.js';
import { ModelStore } from '../../src/model/store.js';
import { KubernetesTokenReviewer } from '../../src/xds/auth/token-review.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { Client, SECRET, node, startSecureServer, type SecureServer } from '../auth/support.js';

const REVIEWS = 'cluster1/default/reviews-v1-0';
const RATINGS = 'cluster1/default/ratings-v1-0';

/** The default mesh with cluster1 discovered from `kubeconfig` (its workloads fed as discovery events). */
async function meshWithKubeCluster(kubeconfig: string): Promise<ModelStore> {
  const { config } = await loadConfig([defaultMeshDir()]);
  if (!config) throw new Error('default mesh does not load');
  const clusters = config.clusters.map((c) => (c.name === 'cluster1' ? { ...c, discovery: { kubernetes: { kubeconfig } } } : c));
  const events = clusters.map((c) => ({
    kind: 'replaceCluster' as const,
    cluster: c.name,
    services: config.services.filter((s) => s.cluster === c.name),
    workloads: config.workloads.filter((w) => w.cluster === c.name),
  }));
  return new ModelStore({ declarations: { clusters, gateways: config.gateways, policies: config.policies }, events });
}

async function refusals(reason: string): Promise<number> {
  const m = await register.getSingleMetric('crossmesh_xds_auth_refusals_total')!.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('Kubernetes service account tokens', () => {
  let api: FakeKubeApiServer;
  let kubeconfig: string;
  let s: SecureServer;
  const clients: Client[] = [];
  const open = (token: string, nodeId: string) => {
    const c = new Client(s.address, { rootPem: s.rootPem });
    clients.push(c);
    const st = c.open(undefined, token);
    st.send({ typeUrl: SECRET, names: ['default'], node: node(nodeId) });
    return st;
  };

  beforeAll(async () => {
    api = await FakeKubeApiServer.start();
    kubeconfig = api.writeKubeconfig();
    api.addServiceAccountToken('sa-token-reviews', { namespace: 'default', serviceAccount: 'bookinfo-reviews', audiences: ['crossmesh'] });
    api.addServiceAccountToken('sa-token-reviews-2', { namespace: 'default', serviceAccount: 'bookinfo-reviews', audiences: ['crossmesh'] });
    api.addServiceAccountToken('sa-token-wrong-audience', { namespace: 'default', serviceAccount: 'bookinfo-reviews', audiences: ['https://kubernetes.default.svc'] });
    s = await startSecureServer({ store: await meshWithKubeCluster(kubeconfig), security: { tokenReviewer: new KubernetesTokenReviewer({ timeoutMs: 2000, cacheTtlMs: 60_000 }) } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await s?.close();
    await api?.close();
    if (kubeconfig) await rm(dirname(kubeconfig), { recursive: true, force: true });
  });

  it('an authenticated service account token gets that workload\'s secrets; the review is cached', async () => {
    const st = open('sa-token-reviews', REVIEWS);
    const r = await st.nextOf(SECRET);
    expect(r.resources.map((x) => x.name)).toEqual(['default']);
    const review = api.tokenReviews();
    expect(review).toHaveLength(1);
    expect(review[0]!.authorization).toBe(`Bearer ${api.token}`);
    const proxies = (await (await fetch(`${s.admin.url}/debug/proxies`)).json()) as { proxies: { nodeId: string; identity: string }[] };
    expect(proxies.proxies.find((p) => p.nodeId === REVIEWS)?.identity).toBe('k8s:spiffe://cluster1/ns/default/sa/bookinfo-reviews');
    st.close();
    const again = open('sa-token-reviews', 'cluster1/default/reviews-v2-0');
    expect((await again.nextOf(SECRET)).resources.map((x) => x.name)).toEqual(['default']);
    expect(api.tokenReviews()).toHaveLength(1);
    again.close();
  });

  it('the same service account token claiming another service account\'s node is refused', async () => {
    const st = open('sa-token-reviews', RATINGS);
    const status = await st.endsWithin(5000);
    expect(status?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status?.details).toContain('bookinfo-reviews');
  });

  it('a token the API server does not authenticate is refused', async () => {
    const before = await refusals('tokenreview_rejected');
    const status = await open('not-a-real-token', REVIEWS).endsWithin(5000);
    expect(status?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status?.details).toContain('did not authenticate');
    expect(await refusals('tokenreview_rejected')).toBe(before + 1);
  });

  it('a token for another audience is refused', async () => {
    const status = await open('sa-token-wrong-audience', REVIEWS).endsWithin(5000);
    expect(status?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status?.details).toMatch(/audience/);
  });

  it('API server down: refused, not allowed; back up: allowed again', async () => {
    await api.goDown();
    try {
      const before = await refusals('tokenreview_unavailable');
      const status = await open('sa-token-reviews-2', REVIEWS).endsWithin(8000);
      expect(status?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(status?.details).toMatch(/TokenReview against cluster cluster1 failed/);
      expect(await refusals('tokenreview_unavailable')).toBe(before + 1);
    } finally {
      await api.comeUp();
    }
    const st = open('sa-token-reviews-2', REVIEWS);
    expect((await st.nextOf(SECRET)).resources.map((x) => x.name)).toEqual(['default']);
    st.close();
  });

  it('a hanging API server is refused after the review timeout', async () => {
    api.setDelay(Infinity);
    try {
      const started = Date.now();
      const status = await open('fresh-token-never-reviewed', REVIEWS).endsWithin(8000);
      expect(status?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(status?.details).toMatch(/no answer within 2000 ms/);
      expect(Date.now() - started).toBeLessThan(6000);
    } finally {
      api.setDelay(0);
    }
  });
});
