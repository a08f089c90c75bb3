/**
 * `crossmesh explain` on the embedded default mesh: the text sections say what the explanation
 * holds, `--json` carries the same facts as explainProxy, unknown names exit 1 naming them, and
 * the built binary does the same.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExplain } from '../../src/cli/explain.js';
import { meshLoader } from '../../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { defaultMeshDir } from '../../src/config/default-mesh.js';
import type { ModelStore } from '../../src/model/store.js';
import { explainProxy, type Explanation } from '../../src/translate/explain.js';
import { MeshView } from '../../src/translate/index.js';
import { defaultMeshStore } from '../translate/default-mesh.js';

const CLI = join(process.cwd(), 'dist/src/cli/main.js');
const PRODUCTPAGE = 'cluster1/default/productpage-v1-0';

async function run(nodeId: string, flags: Parameters<typeof runExplain>[1]): Promise<{ code: number; out: string; err: string[] }> {
  let out = '';
  const err: string[] = [];
  const code = await runExplain(nodeId, flags, { out: (t) => (out += t), err: (l) => err.push(l) });
  return { code, out, err };
}

/** The lines of one text section (from its heading to the next blank line). */
function section(text: string, heading: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(heading));
  expect(start, `section ${heading}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && l === '');
  return lines.slice(start + 1, end);
}

let store: ModelStore;
beforeAll(async () => {
  store = await defaultMeshStore();
});

describe('crossmesh explain (text)', () => {
  it('explains the productpage sidecar of cluster1 in sections', async () => {
    const r = await run(PRODUCTPAGE, { to: 'reviews' });
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const proxy = section(r.out, `Proxy ${PRODUCTPAGE}`);
    expect(proxy).toContain('  role:      sidecar (no Gateway names its workload)');
    expect(proxy).toContain('  placement: cluster cluster1, network net1, locality us-east/us-east-1a, address 127.0.1.10');
    expect(proxy).toContain('  identity:  spiffe://cluster1/ns/default/sa/bookinfo-productpage');

    const reachable = section(r.out, 'Reachable services');
    expect(reachable).toContain(
      '  reviews.default.svc.cluster.local:9080 -> 75% outbound|9080|version-v3|reviews.default.svc.cluster2.global, 15% outbound|9080|version-v1|reviews.default.svc.cluster.local, 10% outbound|9080|version-v2|reviews.default.svc.cluster.local [crossmesh-system/simple]',
    );
    expect(reachable).toContain('  details.default.svc.cluster.local:9080 -> outbound|9080||details.default.svc.cluster.local');

    const failover = section(r.out, 'Failover services');
    expect(failover).toEqual([
      '  reviews-failover.default.global:9080 (FailoverService crossmesh-system/reviews-failover) -> outbound|9080||reviews-failover.default.global',
      '    1. outbound|9080||reviews.default.svc.cluster2.global (first: cluster2 via gateway 127.0.2.100:15443)',
      '    2. outbound|9080||reviews.default.svc.cluster1.global (first: 2 endpoints in cluster1)',
      '    3. outbound|9080||reviews.default.svc.cluster3.global (first: 2 endpoints in cluster3)',
    ]);

    const endpoints = section(r.out, 'Endpoints by priority');
    const at = endpoints.indexOf('  outbound|9080||reviews.default.svc.cluster.local (overprovisioning 140)');
    expect(at).toBeGreaterThanOrEqual(0);
    expect(endpoints.slice(at + 1, at + 4)).toEqual([
      '    priority 0: us-east/us-east-1a: 2 endpoints of cluster1 (same zone, this cluster)',
      '    priority 1: us-east/us-east-1b: 2 endpoints of cluster3 (same region, another zone, another cluster)',
      '    priority 2: eu-west/eu-west-1a: cluster2 via east-west gateway 127.0.2.100:15443 (other network net2; another region, another cluster; 1 serving endpoint behind it), weight 1',
    ]);

    const policies = section(r.out, 'Traffic policies');
    const p = policies.indexOf('  reviews.default.svc.cluster.local:9080: crossmesh-system/mgmt-reviews-outlier, crossmesh-system/simple');
    expect(policies.slice(p + 1, p + 3)).toEqual([
      '    every request: trafficShift from crossmesh-system/simple -> 75% outbound|9080|version-v3|reviews.default.svc.cluster2.global, 15% outbound|9080|version-v1|reviews.default.svc.cluster.local, 10% outbound|9080|version-v2|reviews.default.svc.cluster.local',
      '    clusters: outlierDetection from crossmesh-system/mgmt-reviews-outlier',
    ]);

    const access = r.out.split('\n').slice(r.out.split('\n').findIndex((l) => l.startsWith('Access:')));
    expect(access[0]).toBe('Access: spiffe://cluster1/ns/default/sa/bookinfo-productpage -> reviews.default.svc.cluster.local:9080: ALLOW');
    expect(access).toContain('  cluster1 default/reviews:9080: ALLOW: AccessPolicy crossmesh-system/productpage allows spiffe://cluster1/ns/default/sa/bookinfo-productpage');
  });

  it('a denied destination: DENY with the reason, and that the proxy is not sent it', async () => {
    const r = await run(PRODUCTPAGE, { to: 'ratings:9080', config: [defaultMeshDir()] });
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    const at = lines.findIndex((l) => l.startsWith('Access:'));
    expect(lines.slice(at, at + 5)).toEqual([
      'Access: spiffe://cluster1/ns/default/sa/bookinfo-productpage -> ratings.default.svc.cluster.local:9080: DENY',
      ...['cluster1', 'cluster2', 'cluster3'].map(
        (c) =>
          `  ${c} default/ratings:9080: DENY: globalAccessPolicy ENABLED (VirtualMesh crossmesh-system/virtual-mesh) and no AccessPolicy allows spiffe://cluster1/ns/default/sa/bookinfo-productpage; AccessPolicies on this port admit other callers only: crossmesh-system/reviews`,
      ),
      '  this proxy is not served ratings.default.svc.cluster.local:9080 (under enforced access policy a proxy gets only what it may call)',
    ]);
  });

  it('an unknown node or destination: exit 1, the name and close matches on stderr, nothing on stdout', async () => {
    const n = await run('cluster1/default/productpage', {});
    expect(n).toEqual({
      code: 1,
      out: '',
      err: ['crossmesh explain: unknown node "cluster1/default/productpage": no workload with that id (node ids are <cluster>/<namespace>/<name>); close matches: cluster1/default/productpage-v1-0, cluster2/default/productpage-v1-0'],
    });
    const t = await run(PRODUCTPAGE, { to: 'raitngs' });
    expect(t.code).toBe(1);
    expect(t.err).toEqual(['crossmesh explain: --to raitngs: no service named "raitngs" is visible from cluster1; close matches: ratings']);
    const role = await run(PRODUCTPAGE, { role: 'router' });
    expect(role.code).toBe(1);
    expect(role.err[0]).toMatch(/^crossmesh explain: --role: node.metadata.role "router" is not one of sidecar, gateway, ingress, proxyless$/);
  });
});

describe('crossmesh explain --json', () => {
  it('parses and carries the same facts as explainProxy', async () => {
    const r = await run(PRODUCTPAGE, { to: 'ratings', json: true });
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.out) as Explanation;
    const direct = explainProxy(new MeshView(store.current), PRODUCTPAGE, { to: 'ratings' });
    expect(parsed).toEqual(JSON.parse(JSON.stringify(direct)));
    expect(parsed.access?.verdict).toBe('DENY');
    expect(parsed.trafficPolicies.find((h) => h.host === 'reviews.default.svc.cluster.local')?.routeGroups[0]?.destinations.map((d) => d.weight)).toEqual([75, 15, 10]);
  });
});

describe('crossmesh explain --admin (a running serve)', () => {
  let plane: ControlPlane;
  beforeAll(async () => {
    plane = await startControlPlane({ xdsPort: 0, adminPort: 0, debounceMs: 10, loadMesh: meshLoader({ pruneIntervalMs: 60_000 }) });
  });
  afterAll(async () => {
    await plane?.close();
  });

  it('explains from the mesh the server serves: the same facts as offline', async () => {
    const online = await run(PRODUCTPAGE, { admin: plane.adminUrl, to: 'ratings', json: true });
    expect(online.err).toEqual([]);
    expect(online.code).toBe(0);
    const offline = await run(PRODUCTPAGE, { to: 'ratings', json: true });
    expect(JSON.parse(online.out)).toEqual(JSON.parse(offline.out));
  });

  it("an unknown node: exit 1 with the server's reason; --config cannot be combined with it", async () => {
    const r = await run('cluster1/default/productpage', { admin: plane.adminUrl });
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/^crossmesh explain: \/debug\/explain: unknown node "cluster1\/default\/productpage": .*close matches: cluster1\/default\/productpage-v1-0.* \(HTTP 404\)$/);
    const both = await run(PRODUCTPAGE, { admin: plane.adminUrl, config: [defaultMeshDir()] });
    expect(both).toEqual({ code: 1, out: '', err: ['crossmesh explain: --admin explains what that server serves; --config cannot be given with it'] });
  });
});

describe('the built binary', () => {
  it('node dist/src/cli/main.js explain: JSON for --to reviews (ALLOW), text for an east-west gateway, exit 1 for an unknown node', () => {
    const json = spawnSync(process.execPath, [CLI, 'explain', PRODUCTPAGE, '--to', 'reviews.default.svc.cluster.local:9080', '--json'], { encoding: 'utf8' });
    expect(json.stderr).toBe('');
    expect(json.status).toBe(0);
    const e = JSON.parse(json.stdout) as Explanation;
    expect(e.access).toMatchObject({ verdict: 'ALLOW', host: 'reviews.default.svc.cluster.local', port: 9080 });
    expect(e.access!.destinations.every((d) => d.policy === 'crossmesh-system/productpage')).toBe(true);
    const reviews = e.endpoints.find((a) => a.cluster === 'outbound|9080||reviews.default.svc.cluster.local')!;
    expect(reviews.priorities.map((p) => p.localities.map((l) => l.places.map((x) => x.cluster)).flat())).toEqual([['cluster1'], ['cluster3'], ['cluster2']]);

    const gw = spawnSync(process.execPath, [CLI, 'explain', 'cluster2/crossmesh-system/east-west-gateway-0'], { encoding: 'utf8' });
    expect(gw.status).toBe(0);
    expect(gw.stdout).toContain('  role:      gateway (its workload runs EastWest Gateway crossmesh-system/east-west)');
    expect(gw.stdout).toContain(
      '  gateway_15443 (tcp, SNI outbound_.9080_._.reviews.default.svc.cluster.local, outbound_.9080_._.reviews.default.svc.cluster2.global) -> outbound|9080||reviews.default.svc.cluster.local',
    );

    const bad = spawnSync(process.execPath, [CLI, 'explain', 'cluster9/default/nobody'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^crossmesh explain: unknown node "cluster9\/default\/nobody"/);
    // Three processes that each load the mesh and Envoy's protos: seconds apiece on a busy 2-core machine.
  }, 120_000);
});
