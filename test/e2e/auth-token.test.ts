/**
 * Bearer-token authentication over real gRPC + TLS on 127.0.0.1: a token for node X gets X's
 * secrets; the same token claiming Y is refused PERMISSION_DENIED; no token, expired, tampered
 * and foreign tokens are refused; tokens survive a signing-key rotation until they expire.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { register } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenKeyring } from '../../src/ca/token-key.js';
import { issueToken } from '../../src/xds/auth/tokens.js';
import { CLUSTER, Client, SECRET, node, startSecureServer, type SecureServer } from '../auth/support.js';

let s: SecureServer;
const clients: Client[] = [];
const X = 'cluster1/default/reviews-v1-0';
const Y = 'cluster1/default/ratings-v1-0';

function client(): Client {
  const c = new Client(s.address, { rootPem: s.rootPem });
  clients.push(c);
  return c;
}

async function refusals(reason: string): Promise<number> {
  const m = await register.getSingleMetric('crossmesh_xds_auth_refusals_total')!.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

beforeAll(async () => {
  s = await startSecureServer();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await s?.close();
});

describe('token authentication', () => {
  it('a token for node X receives X\'s own certificate, key and the trust bundle over ADS', async () => {
    const { token } = await issueToken(s.security.keyring, { kind: 'node', nodeId: X }, 60_000);
    const st = client().open(undefined, token);
    st.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'], node: node(X) });
    const r = await st.nextOf(SECRET);
    expect(r.resources.map((x) => x.name).sort()).toEqual(['ROOTCA', 'default']);
    const def = r.resources.find((x) => x.name === 'default')!.json as { tls_certificate: { certificate_chain: { inline_bytes: string }; private_key: { inline_bytes: string } } };
    const chain = Buffer.from(def.tls_certificate.certificate_chain.inline_bytes, 'base64').toString();
    const key = Buffer.from(def.tls_certificate.private_key.inline_bytes, 'base64').toString();
    const leaf = new X509Certificate(chain);
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster1/ns/default/sa/bookinfo-reviews');
    expect(leaf.checkPrivateKey(createPrivateKey(key))).toBe(true);
    const rootca = r.resources.find((x) => x.name === 'ROOTCA')!.json as { validation_context: { trusted_ca: { inline_bytes: string } } };
    expect(Buffer.from(rootca.validation_context.trusted_ca.inline_bytes, 'base64').toString()).toBe(s.ca.trustBundle().pem);
    // The rest of the configuration flows on the same stream.
    st.send({ typeUrl: CLUSTER, nonce: r.nonce, version: r.version, names: [] });
    st.send({ typeUrl: CLUSTER });
    expect((await st.nextOf(CLUSTER)).resources.map((x) => x.name)).toEqual(['outbound|9080||reviews.default.svc.cluster.local']);
    // /debug/proxies shows how the stream authenticated.
    const proxies = (await (await fetch(`${s.admin.url}/debug/proxies`)).json()) as { proxies: { nodeId: string; identity: string }[] };
    expect(proxies.proxies.find((p) => p.nodeId === X)?.identity).toBe('token:spiffe://cluster1/ns/default/sa/bookinfo-reviews');
    st.close();
  });

  it('the same token claiming node Y is refused with PERMISSION_DENIED and counted', async () => {
    const before = await refusals('identity_mismatch');
    const { token } = await issueToken(s.security.keyring, { kind: 'node', nodeId: X }, 60_000);
    const st = client().open(undefined, token);
    st.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'], node: node(Y) });
    const status = await st.endsWithin(5000);
    expect(status?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status?.details).toContain(X);
    expect(status?.details).toContain(Y);
    expect(await refusals('identity_mismatch')).toBe(before + 1);
  });

  it('a service-account token serves every replica of that account and no other workload', async () => {
    const { token } = await issueToken(s.security.keyring, { kind: 'serviceAccount', cluster: 'cluster1', namespace: 'default', serviceAccount: 'bookinfo-reviews' }, 60_000);
    const ok = client().open(undefined, token);
    ok.send({ typeUrl: SECRET, names: ['default'], node: node('cluster1/default/reviews-v2-0') });
    const r = await ok.nextOf(SECRET);
    expect(r.resources.map((x) => x.name)).toEqual(['default']);
    ok.close();
    const bad = client().open(undefined, token);
    bad.send({ typeUrl: SECRET, names: ['default'], node: node(Y) });
    expect((await bad.endsWithin(5000))?.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('without credentials there is no stream at all outside development mode', async () => {
    const before = await refusals('missing_credentials');
    const st = client().open();
    st.send({ typeUrl: CLUSTER, node: node(X) });
    const status = await st.endsWithin(5000);
    expect(status?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await refusals('missing_credentials')).toBe(before + 1);
  });

  it('expired and tampered tokens are refused', async () => {
    const expired = await issueToken(s.security.keyring, { kind: 'node', nodeId: X }, 1000, Date.now() - 120_000);
    const a = client().open(undefined, expired.token);
    a.send({ typeUrl: SECRET, names: ['default'], node: node(X) });
    const sa = await a.endsWithin(5000);
    expect(sa?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(sa?.details).toMatch(/expired/);

    const good = await issueToken(s.security.keyring, { kind: 'node', nodeId: X }, 60_000);
    const [h, p, sig] = good.token.split('.') as [string, string, string];
    // Same signature, payload rewritten to claim another node.
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: `node:${Y}` })).toString('base64url');
    const b = client().open(undefined, `${h}.${forged}.${sig}`);
    b.send({ typeUrl: SECRET, names: ['default'], node: node(Y) });
    const sb = await b.endsWithin(5000);
    expect(sb?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(sb?.details).toMatch(/signature/);
  });

  it('a token signed by another CA\'s key is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crossmesh-other-'));
    try {
      const other = await TokenKeyring.open({ directory: dir, rootId: 'other' });
      const { token } = await issueToken(other, { kind: 'node', nodeId: X }, 60_000);
      const st = client().open(undefined, token);
      st.send({ typeUrl: SECRET, names: ['default'], node: node(X) });
      const status = await st.endsWithin(5000);
      expect(status?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(status?.details).toMatch(/unknown or retired/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('after the signing key rotates with the CA root, old tokens stay valid and new ones use the new key', async () => {
    const old = await issueToken(s.security.keyring, { kind: 'node', nodeId: X }, 60_000);
    const kidBefore = s.security.keyring.signingKey().kid;
    await s.ca.rotateRoot();
    // The keyring follows the trust-bundle event asynchronously.
    const deadline = Date.now() + 5000;
    while (s.security.keyring.signingKey().kid === kidBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(s.security.keyring.signingKey().kid).not.toBe(kidBefore);
    expect(s.security.keyring.list().find((k) => k.kid === kidBefore)?.status).toBe('previous');

    for (const token of [old.token, (await issueToken(s.security.keyring, { kind: 'node', nodeId: X }, 60_000)).token]) {
      const st = client().open(undefined, token);
      st.send({ typeUrl: SECRET, names: ['default'], node: node(X) });
      expect((await st.nextOf(SECRET)).resources.map((x) => x.name)).toEqual(['default']);
      st.close();
    }
  });
});
