/**
 * How traffic spreads across priorities when part of one fails, on real Envoy (docs/translation.md,
 * "How traffic spreads"): a service's own host keeps Envoy's overprovisioning 140 (one of two local
 * hosts ejected: 70 % stay, 30 % go to the other network's gateway), while the children of a
 * FailoverService aggregate are in strict order (one healthy host keeps everything; the switch to
 * the next backing service happens when none is left, and the way back is whole). Requests go from
 * productpage's pod (captured by its sidecar) straight to reviews, so every answer names the
 * reviews host that served it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Driver } from '../../src/netsim/index.js';
import { startMeshSim, type MeshSim } from '../../src/meshsim/index.js';
import { COMPOSE_TOPOLOGY, STEPS, envoySuite, policyDir } from './support.js';

const PODS = new Set([
  'cluster1-productpage-v1-0',
  'cluster1-reviews-v1-0',
  'cluster1-reviews-v2-0',
  'cluster1-ratings-v1-0',
  'cluster2-reviews-v3-0',
  'cluster2-ratings-v1-0',
  'cluster2-east-west-gateway-0',
]);
const REVIEWS_URL = 'http://reviews.default.svc.cluster.local:9080/reviews';
const LOCAL = 'outbound|9080||reviews.default.svc.cluster.local';
const CHILD1 = 'outbound|9080||reviews.default.svc.cluster1.global';

/** The seed's step-4 policies with the ejection shortened (30 s → 4 s base) and checked every second. */
function failoverStep(): string {
  return readFileSync(join(STEPS, 'failover.yaml'), 'utf8').replace('baseEjectionTime: 2m', 'baseEjectionTime: 4s').replace('interval: 10s', 'interval: 1s');
}

envoySuite('failover across priorities on real Envoy: overprovisioning 140 vs. strict order', () => {
  let mesh: MeshSim;
  let caller: Driver;
  const policies = policyDir();

  /** `n` requests to reviews from productpage's pod: answers by reviews host, and the failures. */
  async function spread(n: number): Promise<{ by: Map<string, number>; failures: string[] }> {
    const results = await caller.requests({ url: REVIEWS_URL, count: n, concurrency: 4, timeoutMs: 5000, maxBodyBytes: 65536 });
    const by = new Map<string, number>();
    const failures: string[] = [];
    for (const r of results) {
      if (r.status !== 200) {
        failures.push(`${r.status ?? r.error} ${r.body?.slice(0, 80) ?? ''}`);
        continue;
      }
      const who = (JSON.parse(r.body!) as { chain: string[] }).chain[0]!;
      by.set(who, (by.get(who) ?? 0) + 1);
    }
    return { by, failures };
  }

  /** Sends requests until productpage's Envoy has `n` hosts of `cluster` ejected (each stopped host fails once and is ejected). */
  async function ejected(cluster: string, n: number): Promise<void> {
    const admin = mesh.pod('cluster1-productpage-v1-0').envoy.admin;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const stats = await admin.stats(`cluster\\.${cluster.replace(/[|.]/g, '\\$&')}\\.outlier_detection\\.ejections_active`);
      if ([...stats.values()][0] === n) return;
      if (Date.now() > deadline) throw new Error(`${cluster}: ${n} ejections not reached within 15 s (${JSON.stringify([...stats])})`);
      await spread(4);
    }
  }

  /** Polls until `ok(spread(20))`, within `ms`. */
  async function until(ok: (s: { by: Map<string, number>; failures: string[] }) => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await spread(20);
      if (ok(s)) return;
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms; last: ${JSON.stringify([...s.by])} failures ${JSON.stringify(s.failures.slice(0, 3))}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  beforeAll(async () => {
    policies.apply('virtual-mesh.yaml');
    policies.write('outlier.yaml', failoverStep().split('\n---\n')[0]!);
    mesh = await startMeshSim({ topology: [COMPOSE_TOPOLOGY], policyDir: policies.dir, only: (p) => PODS.has(p.name) });
    caller = await mesh.sim.driver('cluster1-productpage-v1-0');
  }, 90_000);

  afterAll(async () => {
    await caller?.close().catch(() => undefined);
    await mesh?.close();
    policies.dispose();
  }, 30_000);

  it('locality failover (overprovisioning 140): with one of the two local hosts ejected, 70 % stay local and 30 % go through the gateway', async () => {
    const before = await spread(60);
    expect(before.failures).toEqual([]);
    expect([...before.by.keys()].sort()).toEqual(['reviews v1 (cluster1)', 'reviews v2 (cluster1)']);
    await mesh.stopPod('cluster1-reviews-v2-0');
    await ejected(LOCAL, 1);
    const n = 400;
    const s = await spread(n);
    const v3 = s.by.get('reviews v3 (cluster2)') ?? 0;
    const v1 = s.by.get('reviews v1 (cluster1)') ?? 0;
    const counts = `${JSON.stringify([...s.by])} failures ${s.failures.length}`;
    console.log(`failover-spread: one of two local hosts ejected, overprovisioning 140: ${counts} of ${n}`);
    // Priority 0 is half healthy: min(100, 50 x 1.4) = 70 % of the requests stay, 30 % spill
    // (one standard deviation is 2.3 points over 400 requests; the bound leaves room for a loaded machine).
    expect(Math.abs((100 * v3) / n - 30), counts).toBeLessThanOrEqual(10);
    expect(Math.abs((100 * v1) / n - 70), counts).toBeLessThanOrEqual(10);
    expect(s.by.has('reviews v2 (cluster1)'), counts).toBe(false);
    // An ejection ending mid-run lets one request through to the stopped host before it is ejected again.
    expect(s.failures.length, counts).toBeLessThanOrEqual(3);
  }, 60_000);

  it('FailoverService (strict order): one healthy host of the first backing service keeps every request', async () => {
    await mesh.startPod(mesh.layout.pods.find((p) => p.name === 'cluster1-reviews-v2-0')!);
    policies.remove('outlier.yaml');
    policies.write('failover.yaml', failoverStep());
    await mesh.settle(['virtual-mesh.yaml', 'failover.yaml'], 20_000);
    // The aggregate's first child is cluster1's reviews; both its hosts answer again once v2's ejection is over.
    await until((s) => s.failures.length === 0 && s.by.has('reviews v1 (cluster1)') && s.by.has('reviews v2 (cluster1)') && !s.by.has('reviews v3 (cluster2)'), 30_000);
    await mesh.stopPod('cluster1-reviews-v2-0');
    await ejected(CHILD1, 1);
    // Through an aggregate, Envoy keeps sending to the ejected host until its next outlier interval
    // (1 s here) refreshes the aggregate's view of its children: measured, then bounded.
    const ejectedAt = Date.now();
    await until((r) => r.failures.length === 0, 5000);
    const window = Date.now() - ejectedAt;
    expect(window).toBeLessThan(2500);
    const n = 300;
    const s = await spread(n);
    const counts = `${JSON.stringify([...s.by])} failures ${s.failures.length} ${JSON.stringify(s.failures.slice(0, 3))}; ejection took effect after ${window} ms`;
    console.log(`failover-spread: one of two hosts ejected in the aggregate's first child: took effect after ${window} ms; then ${counts}`);
    expect(s.by.get('reviews v3 (cluster2)') ?? 0, counts).toBe(0);
    expect(s.by.get('reviews v1 (cluster1)') ?? 0, counts).toBeGreaterThanOrEqual(n - 3);
    expect(s.failures.length, counts).toBeLessThanOrEqual(3);
  }, 90_000);

  it('FailoverService: the switch to cluster2 is whole when no host is left, and so is the way back when one returns', async () => {
    await mesh.stopPod('cluster1-reviews-v1-0');
    await until((s) => s.by.get('reviews v3 (cluster2)') === 20, 15_000);
    const during = await spread(100);
    expect(during.failures).toEqual([]);
    expect([...during.by]).toEqual([['reviews v3 (cluster2)', 100]]);
    // v1 back, v2 still down: with 140 the aggregate would keep 30 % on cluster2; strict order brings all of it back.
    await mesh.startPod(mesh.layout.pods.find((p) => p.name === 'cluster1-reviews-v1-0')!);
    await until((s) => s.by.get('reviews v1 (cluster1)') === 20, 40_000);
    const back = await spread(200);
    const counts = `${JSON.stringify([...back.by])} failures ${back.failures.length}`;
    expect(back.by.get('reviews v3 (cluster2)') ?? 0, counts).toBe(0);
    expect(back.by.get('reviews v1 (cluster1)') ?? 0, counts).toBeGreaterThanOrEqual(197);
  }, 90_000);
});
