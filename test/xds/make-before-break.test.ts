/**
 * Make-before-break for access grants, over real xDS streams: when an AccessPolicy lets a client
 * call a server, the server's listener (its RBAC) is pushed first, and the client's clusters only
 * once the server has answered that push, so the client's first connection is already allowed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelStore } from '../../src/model/store.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { MeshPublisher } from '../../src/xds/mesh-publisher.js';
import { XdsServer } from '../../src/xds/server.js';
import { CLUSTER_TYPE, LISTENER_TYPE } from '../../src/xds/types.js';
import { loadSeedConfig, seedFile, seedStore } from '../translate/policy-seed-mesh.js';
import { testNode, XdsTestClient, type SotwTestStream } from '../support/xds-client.js';

const BEFORE = ['01-virtual-mesh.yaml', '02-access-ingress-gateway.yaml', '03-access-productpage.yaml', '05-traffic-policy-simple.yaml'].map(seedFile);
/** Seed 06: reviews may call ratings. */
const GRANT = seedFile('06-access-reviews-two-clusters.yaml');
const CLIENT = 'kind2/default/reviews-v1-0';
const SERVER = 'kind2/default/ratings-v1-0';
const RATINGS = 'outbound|9080||ratings.default.svc.cluster.local';

let closeAll: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeAll?.();
  closeAll = undefined;
});

async function start(applyTimeoutMs: number): Promise<{ store: ModelStore; client: SotwTestStream; server: SotwTestStream }> {
  const { store } = await seedStore(BEFORE);
  const cache = new SnapshotCache({ debounceMs: 5 });
  const xds = new XdsServer({ cache });
  const publisher = MeshPublisher.attach(store, cache, { whenApplied: (g, t, ms) => xds.whenAnswered(g, t, ms), applyTimeoutMs });
  const port = await xds.listen('127.0.0.1', 0);
  const c = new XdsTestClient(`127.0.0.1:${port}`);
  closeAll = async () => {
    c.close();
    publisher.close();
    await xds.close(100);
    cache.close();
  };
  const client = c.sotw();
  client.send({ typeUrl: CLUSTER_TYPE, node: testNode(CLIENT) });
  const cds = await client.next();
  expect(cds.names).not.toContain(RATINGS);
  client.ack(cds);
  const server = c.sotw();
  server.send({ typeUrl: LISTENER_TYPE, node: testNode(SERVER) });
  const lds = await server.next();
  expect(JSON.stringify(lds.resources)).not.toContain('bookinfo-reviews');
  server.ack(lds);
  return { store, client, server };
}

async function grant(store: ModelStore): Promise<void> {
  const after = await loadSeedConfig([...BEFORE, GRANT]);
  const s = store.current;
  store.applyDeclarations({ clusters: [...s.clusters.values()], gateways: [...s.gateways.values()], policies: { ...s.policies, accessPolicies: after.policies.accessPolicies } });
}

describe('make-before-break on an access grant', () => {
  it('pushes the server its RBAC first and the client its clusters only after the server answered', async () => {
    const { store, client, server } = await start(5000);
    await grant(store);
    const lds = await server.next(2000);
    expect(JSON.stringify(lds.resources)).toContain('bookinfo-reviews'); // the client's identity is allowed now
    // The server has not answered yet: the client is not told about ratings.
    await client.none(400);
    server.ack(lds);
    const started = Date.now();
    const cds = await client.next(2000);
    expect(cds.names).toContain(RATINGS);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('pushes the client anyway once the wait times out (a server that never answers holds nothing up for long)', async () => {
    const { store, client, server } = await start(700);
    const t0 = Date.now();
    await grant(store);
    await server.next(2000); // not answered
    const cds = await client.next(3000);
    expect(cds.names).toContain(RATINGS);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(650);
  });
});
