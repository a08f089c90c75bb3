/**
 * The wiring `crossmesh serve` uses: startControlPlane({ security }) serves TLS with the CA-issued
 * certificate, authenticates streams, hands the security layer to the mesh loader (which installs
 * the secret-aware resolver and the model), and exposes /debug/certs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { issueToken } from '../../src/xds/auth/tokens.js';
import { startXdsSecurity, type XdsSecurity } from '../../src/xds/auth/security.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { Client, SECRET, defaultMeshStore, meshResolver, node } from '../auth/support.js';

let dir: string;
let ca: CertificateAuthority;
let security: XdsSecurity;
let plane: ControlPlane;
const clients: Client[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crossmesh-plane-'));
  ca = await CertificateAuthority.open({ directory: dir });
  const cache = new SnapshotCache({ debounceMs: 5 });
  security = await startXdsSecurity({ ca, cache, insecure: false, tokenReviewer: false });
  const store = await defaultMeshStore();
  plane = await startControlPlane({
    cache,
    security,
    xdsPort: 0,
    adminPort: 0,
    loadMesh: async (ctx) => {
      ctx.security!.setMesh(() => store.current);
      ctx.cache.setResolver(ctx.security!.withSecretGroups(meshResolver(store)));
    },
  });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await plane?.close();
  ca?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('serves secrets over TLS to a token holder, refuses plaintext clients, and lists certificates', async () => {
  const { token } = await issueToken(security.keyring, { kind: 'node', nodeId: 'cluster2/default/reviews-v3-0' }, 60_000);
  const c = new Client(plane.xdsAddress, { rootPem: ca.trustBundle().pem });
  clients.push(c);
  const st = c.open(undefined, token);
  st.send({ typeUrl: SECRET, names: ['default'], node: node('cluster2/default/reviews-v3-0') });
  expect((await st.nextOf(SECRET)).resources.map((r) => r.name)).toEqual(['default']);

  const plain = new Client(plane.xdsAddress);
  clients.push(plain);
  const p = plain.open(undefined, token);
  p.send({ typeUrl: SECRET, names: ['default'], node: node('cluster2/default/reviews-v3-0') });
  expect((await p.endsWithin(5000))?.code).toBe(grpc.status.UNAVAILABLE);

  const certs = (await (await fetch(`${plane.adminUrl}/debug/certs`)).json()) as { issued: { identity: string }[] };
  expect(certs.issued.map((x) => x.identity)).toEqual(['spiffe://cluster2/ns/default/sa/bookinfo-reviews']);
});
