/**
 * The seed workshop (labs 5 to 7) on real Envoy: the bookinfo-like app of examples/compose in two
 * clusters on two networks, every pod a network namespace with capture rules, its app and its
 * Envoy sidecar, traffic sent from a client namespace outside the mesh through the ingress
 * gateway. Half of the Envoys use delta ADS, half state-of-the-world. The steps are the files of
 * examples/compose/steps, copied into the directory crossmesh watches, as the compose scripts do.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Driver } from '../../src/netsim/index.js';
import { startMeshSim, type MeshSim } from '../../src/meshsim/index.js';
import { COMPOSE_TOPOLOGY, STEPS, envoySuite, policyDir } from './support.js';

interface Answer {
  chain: string[];
  caller: string | null;
  upstreams: Record<string, { ok: boolean; answer?: Answer; error?: string; status?: number }>;
}

/** Pods that speak delta ADS; the others state-of-the-world. */
const DELTA = new Set(['cluster1-productpage-v1-0', 'cluster1-reviews-v1-0', 'cluster2-reviews-v3-0', 'cluster1-ingress-gateway-0', 'cluster2-east-west-gateway-0']);

envoySuite('the seed workshop on real Envoy (labs 5-7)', () => {
  let mesh: MeshSim;
  let client: Driver;
  let url: string;
  const policies = policyDir();

  /** `n` requests through the ingress; counts which reviews answered (`reviews v3 (cluster2)`), errors by text. */
  async function traffic(n: number): Promise<{ reviews: Map<string, number>; failures: string[]; answers: Answer[]; statuses: Map<number, number> }> {
    const results = await client.requests({ url, count: n, concurrency: 8, timeoutMs: 5000, maxBodyBytes: 65536 });
    const reviews = new Map<string, number>();
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const answers: Answer[] = [];
    for (const r of results) {
      statuses.set(r.status ?? 0, (statuses.get(r.status ?? 0) ?? 0) + 1);
      if (r.status !== 200) {
        failures.push(`${r.status ?? r.error} ${r.body?.slice(0, 100) ?? ''}`);
        continue;
      }
      const a = JSON.parse(r.body!) as Answer;
      answers.push(a);
      const rv = a.chain.find((c) => c.startsWith('reviews '));
      if (rv) reviews.set(rv, (reviews.get(rv) ?? 0) + 1);
    }
    return { reviews, failures, answers, statuses };
  }

  /** Polls `ok` every 250 ms until it holds, or fails after `ms`. */
  async function until(ok: () => Promise<boolean>, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  beforeAll(async () => {
    mesh = await startMeshSim({ topology: [COMPOSE_TOPOLOGY], policyDir: policies.dir, adsApi: (p) => (DELTA.has(p.name) ? 'delta' : 'sotw') });
    client = await mesh.client();
    url = mesh.ingressUrl();
  }, 90_000);

  afterAll(async () => {
    await mesh?.close();
    policies.dispose();
  }, 30_000);

  it('before the virtual mesh, each cluster sees only its own services: reviews answers from cluster1', async () => {
    const t = await traffic(40);
    expect(t.failures).toEqual([]);
    expect([...t.reviews.keys()].sort()).toEqual(['reviews v1 (cluster1)', 'reviews v2 (cluster1)']);
    // The chain crossed productpage's and details' sidecars with mTLS: the apps were told who called.
    expect(t.answers[0]!.upstreams.details!.answer!.caller).toBe('spiffe://cluster1/ns/default/sa/bookinfo-productpage');
    expect(t.answers[0]!.caller).toBe('spiffe://cluster1/ns/crossmesh-system/sa/ingress-gateway');
  }, 60_000);

  it('lab 5, the virtual mesh: traffic stays local by locality priority; cluster2 is behind its east-west gateway at a lower priority', async () => {
    policies.apply('virtual-mesh.yaml');
    await mesh.settle(['virtual-mesh.yaml']);
    const t = await traffic(40);
    expect(t.failures).toEqual([]);
    expect([...t.reviews.keys()].sort()).toEqual(['reviews v1 (cluster1)', 'reviews v2 (cluster1)']);
    const clusters = await mesh.pod('cluster1-productpage-v1-0').envoy.admin.clusters();
    const reviews = (clusters.cluster_statuses ?? []).find((c) => c.name === 'outbound|9080||reviews.default.svc.cluster.local') as { host_statuses: { address: { socket_address: { address: string; port_value: number } }; priority?: number }[] } | undefined;
    const hosts = (reviews?.host_statuses ?? []).map((h) => `${h.address.socket_address.address}:${h.address.socket_address.port_value}@${h.priority ?? 0}`).sort();
    expect(hosts).toEqual(['172.30.0.12:15443@1', '172.30.1.12:9080@0', '172.30.1.13:9080@0']);
  }, 60_000);

  it('the east-west gateway holds no key, passes known SNIs through and refuses an unknown one', async () => {
    const gw = mesh.pod('cluster2-east-west-gateway-0');
    // Its only certificate is the mesh root it checks crossmesh's xDS server with: no chain, no key.
    const certs = (await gw.envoy.admin.certs()).certificates as { ca_cert?: unknown[]; cert_chain?: unknown[] }[];
    expect(certs.flatMap((c) => c.cert_chain ?? [])).toEqual([]);
    const [unknown] = await client.requests({ url: 'https://172.30.0.12:15443/', timeoutMs: 3000, tls: { servername: 'outbound_.9080_._.nothing.default.svc.cluster.local', rejectUnauthorized: false } });
    expect(unknown!.status).toBeUndefined();
    expect(unknown!.error).toMatch(/ECONNRESET|socket hang up|disconnected|EPIPE/);
    // A known SNI reaches reviews v3's sidecar, which wants a mesh client certificate: the TLS
    // handshake itself is answered (by the sidecar, with its certificate), then refused for lack of one.
    const [known] = await client.requests({ url: 'https://172.30.0.12:15443/', timeoutMs: 3000, tls: { servername: 'outbound_.9080_._.reviews.default.svc.cluster.local', rejectUnauthorized: false } });
    expect(known!.status).toBeUndefined();
    expect(known!.error).not.toBe('timeout');
  }, 30_000);

  it('lab 7 traffic shift (slide 45): 75 % reviews v3 in cluster2 through its gateway, 15 % v1, 10 % v2, over 1,000 requests', async () => {
    policies.apply('traffic-shift.yaml');
    await mesh.settle(['virtual-mesh.yaml', 'traffic-shift.yaml']);
    const n = 1000;
    const t = await traffic(n);
    expect(t.failures).toEqual([]);
    const share = (k: string): number => (100 * (t.reviews.get(k) ?? 0)) / n;
    const counts = JSON.stringify(Object.fromEntries(t.reviews));
    expect(Math.abs(share('reviews v3 (cluster2)') - 75), counts).toBeLessThanOrEqual(5);
    expect(Math.abs(share('reviews v1 (cluster1)') - 15), counts).toBeLessThanOrEqual(5);
    expect(Math.abs(share('reviews v2 (cluster1)') - 10), counts).toBeLessThanOrEqual(5);
    // v3 answers come from cluster2 with cluster2's ratings; v3 saw productpage's cluster1 identity
    // (mTLS end to end through the gateway, which only passed the bytes through).
    const v3 = t.answers.map((a) => a.upstreams.reviews?.answer).find((r) => r?.chain[0] === 'reviews v3 (cluster2)')!;
    expect(v3.chain).toContain('ratings v1 (cluster2)');
    expect(v3.caller).toBe('spiffe://cluster1/ns/default/sa/bookinfo-productpage');
  }, 120_000);

  it('lab 6 access policies: globalAccessPolicy ENABLED denies everything (403) until the seed\'s AccessPolicies allow the chain', async () => {
    policies.apply('virtual-mesh-rbac.yaml', 'virtual-mesh.yaml');
    await mesh.settle(['virtual-mesh.yaml', 'traffic-shift.yaml']);
    // Connections the ingress opened before the change drain within the sidecars' drain time (5 s): then everything is denied.
    await until(async () => (await traffic(4)).statuses.get(403) === 4, 10_000);
    const denied = await traffic(20);
    expect([...denied.statuses]).toEqual([[403, 20]]);
    expect(denied.failures[0]).toMatch(/^403 RBAC: access denied/);
    policies.apply('access-policies.yaml');
    await mesh.settle(['virtual-mesh.yaml', 'traffic-shift.yaml', 'access-policies.yaml']);
    await until(async () => (await traffic(4)).failures.length === 0, 10_000);
    const allowed = await traffic(200);
    expect(allowed.failures).toEqual([]);
    expect(allowed.answers.every((a) => !a.chain.join(' ').includes('failed'))).toBe(true);
    expect(allowed.reviews.get('reviews v3 (cluster2)') ?? 0).toBeGreaterThan(100);
  }, 90_000);

  /** Stops cluster1's reviews, expects every answer from cluster2 within 5 s, restarts them, expects cluster1 again. */
  async function failoverAndBack(): Promise<void> {
    const stopped = [await mesh.stopPod('cluster1-reviews-v1-0'), await mesh.stopPod('cluster1-reviews-v2-0')];
    // The first calls to the stopped endpoints fail and eject them; Envoy keeps picking priority 0
    // for about a second after all of its hosts are ejected at once (envoyproxy/envoy#28304), then
    // every answer comes from cluster2 through its gateway.
    const stoppedAt = Date.now();
    await until(async () => (await traffic(10)).reviews.get('reviews v3 (cluster2)') === 10, 10_000);
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    const during = await traffic(40);
    expect(during.failures).toEqual([]);
    expect([...during.reviews.entries()]).toEqual([['reviews v3 (cluster2)', 40]]);

    for (const p of stopped) await mesh.startPod(p);
    // Back once both ejections end (3 s times the number of ejections while they were down; while
    // only one is back, the locality lab's priority 0 is half healthy and, with overprovisioning
    // 140, takes 70 % of the requests; the aggregate's children are in strict order and take all).
    // A restarted endpoint that answers its first calls slowly on a busy machine can be ejected
    // once more (for 6 s, then 9 s): what is claimed is that all traffic comes back, so the check
    // is a full sample of 40 from cluster1 alone, within the bound.
    let after = await traffic(40);
    await until(async () => {
      after = await traffic(40);
      return after.failures.length === 0 && !after.reviews.has('reviews v3 (cluster2)') && after.reviews.has('reviews v1 (cluster1)') && after.reviews.has('reviews v2 (cluster1)');
    }, 60_000);
    expect(after.failures).toEqual([]);
    expect([...after.reviews.keys()].sort()).toEqual(['reviews v1 (cluster1)', 'reviews v2 (cluster1)']);
  }

  /** The step's policies with the ejection shortened from 2 minutes to 3 s, so the return is seen in the test. */
  const failoverStep = (): string => readFileSync(join(STEPS, 'failover.yaml'), 'utf8').replace('baseEjectionTime: 2m', 'baseEjectionTime: 3s').replace('interval: 10s', 'interval: 1s');

  it('lab 7 locality failover: with outlier detection alone, cluster1\'s stopped reviews are ejected and the lower-priority gateway endpoint takes over, and back', async () => {
    policies.remove('traffic-shift.yaml');
    policies.write('outlier.yaml', failoverStep().split('\n---\n')[0]!);
    await mesh.settle(['virtual-mesh.yaml', 'access-policies.yaml', 'outlier.yaml']);
    const before = await traffic(40);
    expect(before.failures).toEqual([]);
    expect([...before.reviews.keys()].sort()).toEqual(['reviews v1 (cluster1)', 'reviews v2 (cluster1)']);
    await failoverAndBack();
  }, 150_000);

  it('lab 7 FailoverService: productpage\'s reviews go to the aggregate (cluster1\'s reviews, then cluster2\'s), which fails over and back', async () => {
    policies.remove('outlier.yaml');
    policies.write('failover.yaml', failoverStep());
    await mesh.settle(['virtual-mesh.yaml', 'access-policies.yaml', 'failover.yaml']);
    const routes = await mesh.pod('cluster1-productpage-v1-0').envoy.admin.configDump({ resource: 'dynamic_route_configs' });
    expect(JSON.stringify(routes)).toContain('outbound|9080||reviews-failover.default.global');
    const before = await traffic(40);
    expect(before.failures).toEqual([]);
    expect([...before.reviews.keys()].sort()).toEqual(['reviews v1 (cluster1)', 'reviews v2 (cluster1)']);
    await failoverAndBack();
  }, 150_000);
});
