/**
 * Workload certificate rotation on real Envoy: the VirtualMesh gives leaves a 6 s life
 * (`spec.ca.leafTtl`), so crossmesh's CA reissues each one every 4 s (2/3 of its life) and pushes
 * it over SDS. Steady traffic crosses the ingress, productpage and (75 % by the traffic shift)
 * cluster2's reviews v3 through the east-west gateways, mTLS on every hop, for about three leaf
 * lifetimes. Every Envoy must pick the new leaves up in place (same process), with no request
 * failing and no NACK.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MeshSim } from '../../src/meshsim/index.js';
import type { Driver } from '../../src/netsim/index.js';
import { COMPOSE_TOPOLOGY, envoySuite, policyDir } from './support.js';
import { leafSerials, nacks, normSerial, secretVersion, sleep, startIngressMesh, steadyTraffic, waitFor } from './steady.js';

/** The leaf lifetime: the CA takes ≥ 1 s, but notAfter is cut to the second and Envoy must get the new leaf before the old one ends; 6 s leaves 2 s for the push. */
const LEAF_TTL_S = 6;
/** How long a reissued leaf may take to reach Envoy: the 2 s between renewal (at 4 s) and the end of the old leaf. */
const PUSH_MS = (LEAF_TTL_S * 1000) / 3;
/** The step's VirtualMesh with short-lived leaves (read by `crossmesh serve` at start). */
const VIRTUAL_MESH = `apiVersion: networking.smh.solo.io/v1alpha2
kind: VirtualMesh
metadata:
  name: virtual-mesh
  namespace: crossmesh-system
spec:
  mtlsConfig:
    autoRestartPods: true
    shared:
      rootCertificateAuthority:
        generated: null
  federation: {}
  globalAccessPolicy: DISABLED
  ca:
    leafTtl: ${LEAF_TTL_S}s
  meshes:
  - name: cluster1
  - name: cluster2
`;

/** Pods whose `default` certificate is watched: a cluster1 sidecar, the cluster2 sidecar reached through the gateways, and the ingress. */
const WATCHED = ['cluster1-productpage-v1-0', 'cluster2-reviews-v3-0', 'cluster1-ingress-gateway-0'];

envoySuite(`workload certificates rotate every ${(LEAF_TTL_S * 2) / 3} s without an Envoy restart or a failed request`, () => {
  let mesh: MeshSim | undefined;
  let client: Driver;
  let url: string;
  const policies = policyDir();

  beforeAll(async () => {
    writeFileSync(join(policies.dir, 'virtual-mesh.yaml'), VIRTUAL_MESH);
    policies.apply('traffic-shift.yaml');
    ({ mesh, client, url } = await startIngressMesh({ topology: [COMPOSE_TOPOLOGY], policyDir: policies.dir, adsApi: (p) => (p.name === 'cluster2-reviews-v3-0' || p.name === 'cluster1-ingress-gateway-0' ? 'delta' : 'sotw') }));
  }, 240_000);

  afterAll(async () => {
    await mesh?.close();
    policies.dispose();
  }, 30_000);

  it('the default certificate of each watched sidecar changes at least twice over three lifetimes; same Envoy processes, zero failed requests, no NACK', async () => {
    const m = mesh!;
    const pids = new Map([...m.pods.values()].map((p) => [p.pod.name, p.envoy.pid]));
    const seen = new Map<string, string[]>(WATCHED.map((n) => [n, []]));
    const versions = new Map<string, Set<string>>(WATCHED.map((n) => [n, new Set()]));
    const sample = async (): Promise<void> => {
      for (const name of WATCHED) {
        const admin = m.pod(name).envoy.admin;
        const [serials, version] = await Promise.all([leafSerials(admin), secretVersion(admin)]);
        // Every TLS context of a proxy uses the one `default` secret; during a push some may lag by a moment.
        const list = seen.get(name)!;
        for (const s of serials) if (list.at(-1) !== s && !list.includes(s)) list.push(s);
        if (version) versions.get(name)!.add(version);
      }
    };
    await sample();
    for (const name of WATCHED) expect(seen.get(name)!.length, `${name} holds no leaf certificate`).toBeGreaterThanOrEqual(1);

    const traffic = steadyTraffic(client, url, { batch: 10, concurrency: 2 });
    const until = Date.now() + 3 * LEAF_TTL_S * 1000;
    while (Date.now() < until) {
      await sample();
      await sleep(400);
    }
    const t = await traffic.stop();
    await sample();

    const report = JSON.stringify({ serials: Object.fromEntries(seen), sdsVersions: Object.fromEntries([...versions].map(([k, v]) => [k, v.size])), requests: t.total, reviews: Object.fromEntries(t.reviews) });
    console.info(report);
    // Each leaf lives 6 s and is replaced at 4 s: 18 s of watching sees 4 or 5 leaves; at least 3 (two changes) whatever the load.
    for (const name of WATCHED) {
      expect(seen.get(name)!.length, `${name}: ${report}`).toBeGreaterThanOrEqual(3);
      expect(versions.get(name)!.size, `${name}: SDS versions, ${report}`).toBeGreaterThanOrEqual(3);
    }
    // What Envoy holds is a certificate crossmesh currently lists (/debug/certs). A leaf reissued just
    // before the check is still on its way over SDS: each Envoy gets PUSH_MS, the margin a 6 s leaf
    // renewed at 4 s leaves before the one it replaces ends.
    for (const name of WATCHED) {
      await waitFor(`${name} holding one of crossmesh's current leaves`, PUSH_MS, async () => {
        const issued = await m.controlPlane.adminJson<{ issued: { serial: string }[] }>('/debug/certs');
        const current = new Set(issued.issued.map((c) => normSerial(c.serial)));
        const now = [...(await leafSerials(m.pod(name).envoy.admin))].map(normSerial);
        return now.some((s) => current.has(s)) || `${name} holds ${now.join(',')}; crossmesh's current leaves: ${[...current].join(',')}`;
      });
    }
    // Traffic went on through every rotation, and it crossed to cluster2 (both sides of that mTLS rotated).
    expect(t.total, report).toBeGreaterThan(50);
    expect(t.failures, report).toEqual([]);
    expect(t.reviews.get('reviews v3 (cluster2)') ?? 0, report).toBeGreaterThan(t.total / 2);
    // In place: no Envoy was restarted, each is still the same process and alive.
    for (const p of m.pods.values()) {
      expect(p.envoy.pid, p.pod.name).toBe(pids.get(p.pod.name));
      expect(p.envoy.process.exitStatus(), `${p.pod.name} exited:\n${p.envoy.logTail(10)}`).toBeUndefined();
    }
    expect(await nacks(m)).toEqual([]);
    // Nothing rejected on Envoy's side either: no SDS update was refused.
    for (const name of WATCHED) {
      const rejected = [...(await m.pod(name).envoy.admin.stats('^sds\\..*\\.update_rejected$'))].filter(([, v]) => v > 0);
      expect(rejected, name).toEqual([]);
    }
  }, 90_000);
});
