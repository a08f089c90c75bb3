/**
 * Real mutual TLS between two Node `tls` sockets on 127.0.0.1 with certificates from two
 * clusters' intermediates: OpenSSL builds and checks the chains (including name constraints),
 * and each side checks the peer's SPIFFE ID.
 */
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type PeerCertificate, type TLSSocket } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority, type WorkloadCertificate, type WorkloadIdentity } from '../../src/ca/index.js';
import { intermediatePaths } from '../../src/ca/ca-store.js';
import { issuingCa } from '../../src/ca/issuing-ca.js';
import { generateEcP256, parsePrivateKey } from '../../src/ca/keys.js';
import { LeafTemplate } from '../../src/ca/leaf-template.js';
import { toPem } from '../../src/ca/pem.js';
import { randomSerial } from '../../src/ca/root.js';
import { FakeClock } from './fake-clock.js';
import { certs, tempDir, waitFor } from './helpers.js';

const frontend: WorkloadIdentity = { cluster: 'cluster1', trustDomain: 'cluster1', namespace: 'shop', serviceAccount: 'frontend' };
const payments: WorkloadIdentity = { cluster: 'cluster2', trustDomain: 'cluster2', namespace: 'shop', serviceAccount: 'payments' };

interface Side {
  readonly chain: string;
  readonly key: string;
  readonly ca: string;
  /** The SPIFFE ID this side insists the peer presents. */
  readonly expectPeer: string;
}

interface Outcome {
  readonly ok: boolean;
  readonly error?: string;
  readonly serverSawPeer?: string;
  readonly clientSawPeer?: string;
  readonly echoed?: string;
}

function uriOf(cert: PeerCertificate | undefined): string | undefined {
  return cert?.subjectaltname?.startsWith('URI:') ? cert.subjectaltname.slice(4) : undefined;
}

/** One mTLS exchange: server `s` on 127.0.0.1, client `c`; resolves with what happened (bounded). */
async function handshake(s: Side, c: Side): Promise<Outcome> {
  let serverSawPeer: string | undefined;
  const server = createServer({ cert: s.chain, key: s.key, ca: s.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (sock: TLSSocket) => {
    serverSawPeer = uriOf(sock.getPeerCertificate());
    if (serverSawPeer !== s.expectPeer) {
      sock.destroy();
      return;
    }
    sock.on('data', (d) => sock.end(`echo:${d.toString()}`));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    return await new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        sock.destroy();
        resolve({ ok: false, error: 'timeout' });
      }, 5000);
      const sock = connect({
        host: '127.0.0.1',
        port,
        cert: c.chain,
        key: c.key,
        ca: c.ca,
        minVersion: 'TLSv1.2',
        // Secure naming: the server must be the expected SPIFFE identity (no DNS names in mesh certificates).
        checkServerIdentity: (_host, cert) => (uriOf(cert) === c.expectPeer ? undefined : new Error(`server is ${uriOf(cert) ?? 'unknown'}, expected ${c.expectPeer}`)),
      });
      let echoed = '';
      sock.on('secureConnect', () => sock.write('hello'));
      sock.on('data', (d) => (echoed += d.toString()));
      sock.on('end', () => {
        clearTimeout(timer);
        resolve({ ok: echoed === 'echo:hello', echoed, serverSawPeer, clientSawPeer: uriOf(sock.getPeerCertificate()) });
        sock.destroy();
      });
      sock.on('error', (e) => {
        clearTimeout(timer);
        resolve({ ok: false, error: e.message, serverSawPeer });
      });
    });
  } finally {
    server.close();
  }
}

function side(wc: WorkloadCertificate, bundle: string, expectPeer: string): Side {
  return { chain: wc.certificateChainPem, key: wc.privateKey, ca: bundle, expectPeer };
}

describe('mTLS between clusters', () => {
  let dir: string;
  let otherDir: string;
  let cleanups: (() => Promise<void>)[];
  let ca: CertificateAuthority;
  const clock = new FakeClock(Date.now());

  beforeEach(async () => {
    cleanups = [];
    const t1 = await tempDir();
    const t2 = await tempDir();
    dir = t1.dir;
    otherDir = t2.dir;
    cleanups.push(t1.cleanup, t2.cleanup);
    ca = await CertificateAuthority.open({ directory: dir, clock });
  });
  afterEach(async () => {
    ca.close();
    for (const c of cleanups) await c();
  });

  it('succeeds between leaves of two clusters, each side seeing the other SPIFFE ID', async () => {
    const fe = await ca.getWorkloadCertificate(frontend);
    const pay = await ca.getWorkloadCertificate(payments);
    const bundle = ca.trustBundle().pem;
    const out = await handshake(side(pay, bundle, fe.spiffeId), side(fe, bundle, pay.spiffeId));
    expect(out).toMatchObject({ ok: true, serverSawPeer: 'spiffe://cluster1/ns/shop/sa/frontend', clientSawPeer: 'spiffe://cluster2/ns/shop/sa/payments' });
  });

  it('fails when the client expects another server identity (secure naming)', async () => {
    const fe = await ca.getWorkloadCertificate(frontend);
    const pay = await ca.getWorkloadCertificate(payments);
    const bundle = ca.trustBundle().pem;
    const out = await handshake(side(pay, bundle, fe.spiffeId), side(fe, bundle, 'spiffe://cluster2/ns/shop/sa/ledger'));
    expect(out.ok).toBe(false);
    expect(out.error).toMatch(/server is spiffe:\/\/cluster2\/ns\/shop\/sa\/payments, expected .*ledger/);
  });

  it('fails with a certificate from a different root, in either direction', async () => {
    const stranger = await CertificateAuthority.open({ directory: otherDir, clock });
    try {
      const fe = await ca.getWorkloadCertificate(frontend);
      const pay = await ca.getWorkloadCertificate(payments);
      const impostor = await stranger.getWorkloadCertificate(frontend); // same SPIFFE ID, wrong root
      const bundle = ca.trustBundle().pem;
      const badClient = await handshake(side(pay, bundle, fe.spiffeId), side(impostor, bundle, pay.spiffeId));
      expect(badClient.ok).toBe(false);
      expect(badClient.serverSawPeer).toBeUndefined();
      const badServer = await handshake(side(impostor, bundle, fe.spiffeId), side(fe, bundle, impostor.spiffeId));
      expect(badServer.ok).toBe(false);
      expect(badServer.error).toMatch(/certificate/i);
    } finally {
      stranger.close();
    }
  });

  it("refuses a leaf for another trust domain signed by a cluster's intermediate (name constraint)", async () => {
    const fe = await ca.getWorkloadCertificate(frontend);
    const pay = await ca.getWorkloadCertificate(payments);
    // Forge, with cluster1's real intermediate key, a leaf claiming cluster2's trust domain.
    const paths = intermediatePaths(dir, fe.rootId, 'cluster1');
    const inter = issuingCa(certs(await readFile(paths.cert, 'utf8'))[0]!, parsePrivateKey(await readFile(paths.key), paths.key), 'test');
    const key = generateEcP256();
    const forged = new LeafTemplate(inter.signer).build({
      serial: randomSerial(),
      notBefore: new Date(clock.now() - 60_000),
      notAfter: new Date(clock.now() + 3600_000),
      uri: 'spiffe://cluster2/ns/shop/sa/payments',
      key,
    });
    const forgedSide: Side = { chain: toPem(forged) + inter.certPem, key: key.privateKeyPem, ca: ca.trustBundle().pem, expectPeer: fe.spiffeId };
    expect(certs(forgedSide.chain)[0]!.verify(inter.cert.publicKey)).toBe(true); // the signature itself is fine
    const out = await handshake(forgedSide, side(fe, ca.trustBundle().pem, pay.spiffeId));
    expect(out.ok).toBe(false);
    expect(out.error).toMatch(/subtree|name constraint/i);
  });

  it('keeps old-root and new-root leaves talking during a root rotation', async () => {
    const oldFe = await ca.getWorkloadCertificate(frontend);
    await ca.rotateRoot();
    const newPay = await ca.getWorkloadCertificate(payments);
    expect(newPay.rootId).not.toBe(oldFe.rootId);
    const bundle = ca.trustBundle().pem;
    const mixed = await handshake(side(newPay, bundle, oldFe.spiffeId), side(oldFe, bundle, newPay.spiffeId));
    expect(mixed.ok).toBe(true);
    const reverse = await handshake(side(oldFe, bundle, newPay.spiffeId), side(newPay, bundle, oldFe.spiffeId));
    expect(reverse.ok).toBe(true);

    // Once everything is reissued and the old root dropped, the old leaf is no longer accepted.
    clock.advance(60_000);
    await waitFor(() => ca.listIssued().every((i) => i.rootId === newPay.rootId));
    clock.advance(60_000);
    await waitFor(() => ca.trustBundle().roots.length === 1);
    const after = ca.trustBundle().pem;
    const stale = await handshake(side(newPay, after, oldFe.spiffeId), side(oldFe, after, newPay.spiffeId));
    expect(stale.ok).toBe(false);
    const fresh = await handshake(side(newPay, after, oldFe.spiffeId), side(ca.currentWorkloadCertificate(frontend)!, after, newPay.spiffeId));
    expect(fresh.ok).toBe(true);
  });

  it('works with RSA 2048 leaves', async () => {
    const { dir: rsaDir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    const rsa = await CertificateAuthority.open({ directory: rsaDir, keyAlgorithm: 'RSA_2048', clock });
    try {
      const fe = await rsa.getWorkloadCertificate(frontend);
      const pay = await rsa.getWorkloadCertificate(payments);
      const out = await handshake(side(pay, rsa.trustBundle().pem, fe.spiffeId), side(fe, rsa.trustBundle().pem, pay.spiffeId));
      expect(out).toMatchObject({ ok: true, serverSawPeer: fe.spiffeId, clientSawPeer: pay.spiffeId });
    } finally {
      rsa.close();
    }
  });
});
