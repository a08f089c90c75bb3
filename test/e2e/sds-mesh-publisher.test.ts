/**
 * The secret hook on the real mesh publisher: with `secretGroup: security.secretGroup`, an
 * authenticated Envoy sidecar gets its translated configuration and its own certificate on one
 * ADS stream, while a development-mode client without credentials gets the configuration only.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { startXdsSecurity, type XdsSecurity } from '../../src/xds/auth/security.js';
import { issueToken } from '../../src/xds/auth/tokens.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { MeshPublisher } from '../../src/xds/mesh-publisher.js';
import { CLUSTER, Client, SECRET, defaultMeshStore, node } from '../auth/support.js';

let dir: string;
let ca: CertificateAuthority;
let security: XdsSecurity;
let plane: ControlPlane;
let publisher: MeshPublisher | undefined;
const clients: Client[] = [];
const X = 'cluster1/default/productpage-v1-0';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crossmesh-pub-'));
  ca = await CertificateAuthority.open({ directory: dir });
  const cache = new SnapshotCache({ debounceMs: 5 });
  // Development mode so one server shows both the authenticated and the anonymous case.
  security = await startXdsSecurity({ ca, cache, insecure: true, tokenReviewer: false });
  const store = await defaultMeshStore();
  plane = await startControlPlane({
    cache,
    security,
    xdsPort: 0,
    adminPort: 0,
    loadMesh: async (ctx) => {
      ctx.security!.setMesh(() => store.current);
      publisher = MeshPublisher.attach(store, ctx.cache, { secretGroup: (proxy, identity) => ctx.security!.secretGroup(proxy.nodeId, identity) });
    },
  });
});
afterAll(async () => {
  for (const c of clients) c.close();
  publisher?.close();
  await plane?.close();
  ca?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('the owner gets clusters and its certificate; an anonymous client gets clusters and no secret', async () => {
  const { token } = await issueToken(security.keyring, { kind: 'node', nodeId: X }, 60_000);
  const c = new Client(plane.xdsAddress);
  clients.push(c);
  const owner = c.open(undefined, token);
  owner.send({ typeUrl: CLUSTER, node: node(X) });
  expect((await owner.nextOf(CLUSTER)).resources.length).toBeGreaterThan(0);
  owner.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'] });
  const secrets = await owner.nextOf(SECRET);
  expect(secrets.resources.map((r) => r.name).sort()).toEqual(['ROOTCA', 'default']);

  const anon = c.open();
  anon.send({ typeUrl: CLUSTER, node: node(X) });
  expect((await anon.nextOf(CLUSTER)).resources.length).toBeGreaterThan(0);
  anon.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'] });
  await expect(anon.nextOf(SECRET, 500)).rejects.toThrow(/no xDS response/);
});
