/**
 * SDS serving over the SecretDiscoveryService and ADS: certificates are issued lazily for the
 * owning identity only, rotations and trust-bundle changes reach connected streams, unused
 * identities are released, and key material never shows in logs, config dumps, /debug/certs or
 * metrics.
 */
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../src/xds/auth/tokens.js';
import { Client, SDS, SECRET, captureLogs, node, startSecureServer, until, type Response, type SecureServer } from '../auth/support.js';

const X = 'cluster1/default/reviews-v1-0';
const Y = 'cluster1/default/ratings-v1-0';

function leafOf(r: Response): X509Certificate {
  const def = r.resources.find((x) => x.name === 'default')?.json as { tls_certificate: { certificate_chain: { inline_bytes: string } } } | undefined;
  if (!def) throw new Error(`no default secret in ${JSON.stringify(r.resources.map((x) => x.name))}`);
  return new X509Certificate(Buffer.from(def.tls_certificate.certificate_chain.inline_bytes, 'base64'));
}

function rootsOf(r: Response): number {
  const ca = r.resources.find((x) => x.name === 'ROOTCA')?.json as { validation_context: { trusted_ca: { inline_bytes: string } } } | undefined;
  if (!ca) return 0;
  return (Buffer.from(ca.validation_context.trusted_ca.inline_bytes, 'base64').toString().match(/BEGIN CERTIFICATE/g) ?? []).length;
}

describe('SDS serving', () => {
  let s: SecureServer;
  let logs: ReturnType<typeof captureLogs>;
  const tokens: string[] = [];
  const clients: Client[] = [];
  const client = (): Client => {
    const c = new Client(s.address, { rootPem: s.rootPem });
    clients.push(c);
    return c;
  };
  const tokenFor = async (nodeId: string): Promise<string> => {
    const { token } = await issueToken(s.security.keyring, { kind: 'node', nodeId }, 60_000);
    tokens.push(token);
    return token;
  };

  beforeAll(async () => {
    logs = captureLogs();
    // 4 s leaves are rotated at ~2.7 s: the push must arrive while the stream stays connected.
    s = await startSecureServer({ ca: { leafLifetimeMs: 4000, rootRotationGraceMs: 60_000 }, security: { idleReleaseMs: 0, sweepIntervalMs: 3_600_000 } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await s?.close();
    logs?.restore();
  });

  it('issues nothing at start-up, then only the identity of the node that asks', async () => {
    expect(s.ca.listIssued()).toEqual([]);
    const st = client().open(SDS, await tokenFor(X));
    st.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'], node: node(X) });
    const r = await st.next();
    expect(leafOf(r).subjectAltName).toBe('URI:spiffe://cluster1/ns/default/sa/bookinfo-reviews');
    expect(s.ca.listIssued().map((c) => c.spiffeId)).toEqual(['spiffe://cluster1/ns/default/sa/bookinfo-reviews']);
    st.close();
  });

  it('a stream claiming another node\'s identity over the SDS service gets nothing of it', async () => {
    const st = client().open(SDS, await tokenFor(Y));
    st.send({ typeUrl: SECRET, names: ['default'], node: node(X) });
    const status = await st.endsWithin(5000);
    expect(status?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(s.ca.listIssued().map((c) => c.spiffeId)).not.toContain('spiffe://cluster1/ns/default/sa/bookinfo-ratings');
  });

  it('a rotated leaf and a new trust bundle are pushed to the connected stream before expiry', async () => {
    const st = client().open(SDS, await tokenFor(X));
    st.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'], node: node(X) });
    let r = await st.next();
    const first = leafOf(r);
    st.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'], nonce: r.nonce, version: r.version });
    // Wait for a response carrying a different leaf: the CA's rotation at 2/3 of the lifetime.
    let second = first;
    const deadline = Date.now() + 8000;
    while (second.serialNumber === first.serialNumber && Date.now() < deadline) {
      r = await st.next(8000);
      st.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'], nonce: r.nonce, version: r.version });
      second = leafOf(r);
    }
    expect(second.serialNumber).not.toBe(first.serialNumber);
    expect(Date.now()).toBeLessThan(Date.parse(first.validTo));
    expect(second.subjectAltName).toBe(first.subjectAltName);

    expect(rootsOf(r)).toBe(1);
    await s.ca.rotateRoot();
    for (;;) {
      r = await st.next(5000);
      st.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'], nonce: r.nonce, version: r.version });
      if (rootsOf(r) === 2) break;
    }
    st.close();
  }, 20_000);

  it('/debug/certs lists issued certificates without keys; config dumps and metrics carry no key either', async () => {
    const st = client().open(undefined, await tokenFor(X));
    st.send({ typeUrl: SECRET, names: ['default', 'ROOTCA'], node: node(X) });
    const r = await st.nextOf(SECRET);
    const serial = leafOf(r).serialNumber.toUpperCase();

    const certs = await (await fetch(`${s.admin.url}/debug/certs`)).text();
    const parsed = JSON.parse(certs) as { issued: { identity: string; serial: string; notAfter: string }[]; xdsServer: { dnsNames: string[] } };
    const mine = parsed.issued.find((c) => c.identity === 'spiffe://cluster1/ns/default/sa/bookinfo-reviews');
    expect(mine?.serial).toBe(serial);
    expect(Date.parse(mine!.notAfter)).toBeGreaterThan(Date.now());
    expect(parsed.xdsServer.dnsNames).toContain('crossmesh.crossmesh-system.svc');
    expect(certs).not.toMatch(/PRIVATE KEY/);

    const dump = await (await fetch(`${s.admin.url}/debug/config_dump?node=${encodeURIComponent(X)}`)).text();
    expect(dump).toContain('default');
    expect(dump).not.toMatch(/PRIVATE KEY/);
    // Base64 of "-----BEGIN EC PRIVATE KEY" would be how a leaked inline key looks in JSON.
    expect(dump).not.toContain(Buffer.from('-----BEGIN EC PRIVATE KEY').toString('base64').slice(0, 24));
    const metrics = await (await fetch(`${s.admin.url}/metrics`)).text();
    expect(metrics).not.toMatch(/PRIVATE KEY/);
    st.close();
  });

  it('identities no stream uses any more are released', async () => {
    await until(() => s.xds.activeStreams().length === 0, 5000, 'streams to close');
    expect(s.security.publisher.groups().length).toBeGreaterThan(0);
    s.security.publisher.sweep();
    expect(s.security.publisher.groups()).toEqual([]);
    expect(s.ca.listIssued()).toEqual([]);
  });

  it('no private key or token ever reached the log', () => {
    const all = logs.lines.join('');
    expect(logs.lines.length).toBeGreaterThan(10);
    expect(all).toContain('xds client authenticated');
    // The refusal names both the authenticated identity and the node it claimed.
    expect(logs.lines.some((l) => l.includes(`claims node ${X}`) && l.includes(`token for node ${Y}`))).toBe(true);
    expect(all).not.toMatch(/PRIVATE KEY/);
    for (const t of tokens) expect(all).not.toContain(t.split('.')[2]!);
  });
});
