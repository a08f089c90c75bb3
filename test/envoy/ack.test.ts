/**
 * Every role ACKs everything: the compose mesh (two clusters on two networks, sidecars with
 * capture, east-west gateways, an ingress) run as pods with real Envoy, once over
 * state-of-the-world ADS and once over delta ADS. Each Envoy's own /config_dump must hold exactly
 * what crossmesh serves it, at crossmesh's versions, with nothing in error_state or warming, and
 * crossmesh must record no NACK; then a request from outside the mesh crosses the ingress and
 * every sidecar hop.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMeshSim, type MeshSim } from '../../src/meshsim/index.js';
import { waitConverged } from '../../src/meshsim/verify.js';
import { COMPOSE_TOPOLOGY, envoySuite, policyDir } from './support.js';

for (const ads of ['sotw', 'delta'] as const) {
  envoySuite(`every role ACKs every resource (${ads} ADS)`, () => {
    let mesh: MeshSim | undefined;
    const policies = policyDir();

    beforeAll(async () => {
      policies.apply('virtual-mesh.yaml');
      mesh = await startMeshSim({ topology: [COMPOSE_TOPOLOGY], policyDir: policies.dir, adsApi: ads });
    }, 90_000);

    afterAll(async () => {
      await mesh?.close();
      policies.dispose();
    }, 30_000);

    it('each Envoy holds what crossmesh serves it, at its versions, with no error, no warming and no NACK', async () => {
      const m = mesh!;
      expect(m.pods.size).toBe(m.layout.pods.length);
      expect(new Set([...m.pods.values()].map((p) => p.pod.role))).toEqual(new Set(['sidecar', 'gateway', 'ingress']));
      for (const p of m.pods.values()) await waitConverged(m.controlPlane, p.pod.nodeId, p.envoy.admin, 15_000);
      const proxies = await m.controlPlane.adminJson<{ proxies: { nodeId: string; mode: string }[] }>('/debug/proxies');
      expect(new Set(proxies.proxies.map((p) => p.nodeId))).toEqual(new Set(m.layout.pods.map((p) => p.nodeId)));
      expect(new Set(proxies.proxies.map((p) => p.mode))).toEqual(new Set([ads]));
    }, 120_000);

    it('a request from outside the mesh crosses the ingress, productpage, details and reviews', async () => {
      const m = mesh!;
      const client = await m.client();
      const [r] = await client.requests({ url: m.ingressUrl(), count: 1, timeoutMs: 5000 });
      expect(r?.error).toBeUndefined();
      expect(r?.status).toBe(200);
      const answer = JSON.parse(r!.body!) as { chain: string[] };
      expect(answer.chain[0]).toBe('productpage v1 (cluster1)');
      expect(answer.chain).toContain('details v1 (cluster1)');
      expect(answer.chain.some((c) => /^reviews v[12] \(cluster1\)$/.test(c))).toBe(true);
      expect(answer.chain.join('\n')).not.toMatch(/failed/);
    }, 30_000);
  });
}
