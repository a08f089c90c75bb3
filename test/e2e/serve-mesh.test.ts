/**
 * `serve`'s wiring end to end: config files → model → translation → xDS, over a real ADS stream.
 * A valid config edit reaches a connected proxy within a second; an invalid one is reported and
 * the last good configuration keeps serving.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultMeshDir } from '../../src/config/default-mesh.js';
import { meshLoader } from '../../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/xds/types.js';
import { testNode, XdsTestClient, type SotwResponse } from '../support/xds-client.js';

const NODE = 'cluster1/default/productpage-v1-0';
const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';

const NEW_WORKLOAD = `apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: reviews-v2-1, namespace: default, cluster: cluster1}
spec:
  address: 127.0.1.99
  labels: {app: reviews, version: v2}
  serviceAccount: bookinfo-reviews
  locality: {region: us-east, zone: us-east-1a}
`;

function addresses(res: SotwResponse): string[] {
  const cla = res.resources.find((r) => r.name === REVIEWS)!.json as { endpoints?: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] };
  return (cla.endpoints ?? []).flatMap((l) => l.lb_endpoints.map((e) => e.endpoint.address.socket_address.address)).sort();
}

describe('serve with the mesh loader', () => {
  let dir: string;
  let plane: ControlPlane;
  let client: XdsTestClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'crossmesh-serve-'));
    cpSync(defaultMeshDir(), dir, { recursive: true });
    plane = await startControlPlane({ xdsPort: 0, adminPort: 0, debounceMs: 10, configPaths: [dir], loadMesh: meshLoader({ reloadDebounceMs: 50, pruneIntervalMs: 100 }) });
    client = new XdsTestClient(plane.xdsAddress);
  });
  afterAll(async () => {
    client?.close();
    await plane?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is ready once the mesh is loaded and serves a sidecar its clusters and endpoints', async () => {
    expect((await fetch(`${plane.adminUrl}/readyz`)).status).toBe(200);
    const s = client.sotw();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode(NODE) });
    const cds = await s.next();
    expect(cds.names).toContain(REVIEWS);
    s.ack(cds);
    s.send({ typeUrl: ENDPOINT_TYPE, names: [REVIEWS] });
    const eds = await s.next();
    expect(eds.type_url).toBe(ENDPOINT_TYPE);
    expect(addresses(eds)).toContain('127.0.1.12');
    s.ack(eds, [REVIEWS]);

    // A valid edit: a new reviews workload reaches the proxy within a second.
    const started = Date.now();
    writeFileSync(join(dir, 'extra-workload.yaml'), NEW_WORKLOAD);
    let update = await s.next(3000);
    while (update.type_url !== ENDPOINT_TYPE) {
      s.ack(update);
      update = await s.next(3000);
    }
    expect(Date.now() - started).toBeLessThan(1000);
    expect(addresses(update)).toContain('127.0.1.99');
    s.ack(update, [REVIEWS]);

    // An invalid edit is reported and changes nothing that is served.
    writeFileSync(join(dir, 'broken.yaml'), 'apiVersion: crossmesh.io/v1alpha1\nkind: Workload\nmetadata: {name: x, namespace: default, cluster: cluster1}\nspec: {adress: 1.2.3.4}\n');
    const deadline = Date.now() + 3000;
    let status: { lastAttempt: { ok: boolean; errors: string[] } };
    do {
      await new Promise((r) => setTimeout(r, 50));
      status = (await (await fetch(`${plane.adminUrl}/debug/config`)).json()) as typeof status;
    } while (status.lastAttempt.ok && Date.now() < deadline);
    expect(status.lastAttempt.ok).toBe(false);
    expect(status.lastAttempt.errors.join('\n')).toMatch(/broken\.yaml:4: .*adress/);
    await s.none(400);
    expect((await fetch(`${plane.adminUrl}/readyz`)).status).toBe(200);
    const translation = (await (await fetch(`${plane.adminUrl}/debug/translation`)).json()) as { groups: { nodes: string[] }[] };
    expect(translation.groups.some((g) => g.nodes.includes(NODE))).toBe(true);
    s.close();
  });

  it('forgets a proxy once its stream is gone, and drops the groups only it used', async () => {
    type Translation = { groups: { key: string; nodes: string[] }[] };
    const translation = async () => (await (await fetch(`${plane.adminUrl}/debug/translation`)).json()) as Translation;
    const node = 'cluster2/default/reviews-v3-0';
    const s = client.sotw();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode(node) });
    s.ack(await s.next());
    // Its listener group (its own services' inbound ports) is used by no other connected proxy.
    const own = (await translation()).groups.filter((g) => g.nodes.length === 1 && g.nodes[0] === node).map((g) => g.key);
    expect(own.length).toBeGreaterThan(0);
    s.close();
    const deadline = Date.now() + 3000;
    let after: Translation;
    do {
      await new Promise((r) => setTimeout(r, 100));
      after = await translation();
    } while (after.groups.some((g) => g.nodes.includes(node)) && Date.now() < deadline);
    expect(after.groups.some((g) => g.nodes.includes(node))).toBe(false);
    for (const key of own) expect(after.groups.some((g) => g.key === key)).toBe(false);
  });

  it('gives a node id that names no workload nothing, and says why on /debug/proxies', async () => {
    const s = client.sotw();
    s.send({ typeUrl: CLUSTER_TYPE, node: testNode('cluster1/default/ghost-0') });
    await s.none(400);
    const { proxies } = (await (await fetch(`${plane.adminUrl}/debug/proxies`)).json()) as { proxies: { nodeId: string; resolverError: string | null }[] };
    const ghost = proxies.find((p) => p.nodeId === 'cluster1/default/ghost-0');
    expect(ghost?.resolverError).toBe('node cluster1/default/ghost-0: no workload "ghost-0" in namespace "default" of cluster "cluster1"');
    s.close();
  });
});
