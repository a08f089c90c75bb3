/**
 * Shared issuance: two CAs (two replicas, two CA directories) holding the same supplied root issue
 * byte-identical intermediates and leaves for the same identity in the same window, rotate them at
 * the same window ends to the same new leaves, and chain them to the root with the name constraint
 * of the cluster's trust domain. Without shared issuance the same setup gives different leaves.
 * Also: a Secret root's `ca.crt` (additional roots to trust, for rotations) in the trust bundle.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { createRoot } from '../../src/ca/root.js';
import { permittedUriHost } from '../../src/ca/intermediate.js';
import { FakeClock } from './fake-clock.js';
import { certs, tempDir, waitFor } from './helpers.js';

const HOUR = 3_600_000;
const identity = { cluster: 'cluster1', trustDomain: 'cluster1', namespace: 'bookinfo', serviceAccount: 'reviews' };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function twoReplicas(sharedIssuance: boolean, clock: FakeClock): Promise<[CertificateAuthority, CertificateAuthority, string]> {
  const { root, keyPem } = await createRoot('ECDSA_P256', 3650 * 24 * HOUR, Date.now());
  const open = async (): Promise<CertificateAuthority> => {
    const d = await tempDir();
    const ca = await CertificateAuthority.open({ directory: d.dir, root: { kind: 'secret', secret: 'crossmesh-system/crossmesh-root-ca', certPem: root.certPem, keyPem }, sharedIssuance, clock });
    cleanups.push(d.cleanup, () => ca.close());
    return ca;
  };
  return [await open(), await open(), root.certPem];
}

describe('shared issuance', () => {
  it('gives two replicas the same leaf (chain, key, serial) for an identity, chained to the shared root', async () => {
    const clock = new FakeClock(Date.UTC(2030, 0, 1, 5, 17));
    const [a, b, rootPem] = await twoReplicas(true, clock);
    const ca = await a.getWorkloadCertificate(identity);
    const cb = await b.getWorkloadCertificate(identity);
    expect(cb.certificateChainPem).toBe(ca.certificateChainPem);
    expect(cb.privateKey).toBe(ca.privateKey);
    expect(cb.serial).toBe(ca.serial);
    // Windows of 16 h (2/3 of 24 h) counted from the Unix epoch: 2030-01-01 05:17 falls in the one
    // from 2029-12-31 16:00; valid from its start (less 5 min) for 24 h, replaced at its end.
    expect(ca.notBefore.toISOString()).toBe('2029-12-31T15:55:00.000Z');
    expect(ca.notAfter.toISOString()).toBe('2030-01-01T16:00:00.000Z');
    expect(ca.rotateAt.toISOString()).toBe('2030-01-01T08:00:00.000Z');
    const [leaf, inter] = certs(ca.certificateChainPem);
    const [root] = certs(rootPem);
    expect(leaf!.verify(inter!.publicKey)).toBe(true);
    expect(inter!.verify(root!.publicKey)).toBe(true);
    expect(permittedUriHost(inter!)).toBe('cluster1');
    expect(leaf!.subjectAltName).toBe('URI:spiffe://cluster1/ns/bookinfo/sa/reviews');
    expect(leaf!.checkPrivateKey((await import('node:crypto')).createPrivateKey(ca.privateKey))).toBe(true);
    // Another identity gets another key.
    const other = await a.getWorkloadCertificate({ ...identity, serviceAccount: 'ratings' });
    expect(other.privateKey).not.toBe(ca.privateKey);
    expect(other.serial).not.toBe(ca.serial);
  });

  it('rotates both replicas at the window end to the same new leaf', async () => {
    const clock = new FakeClock(Date.UTC(2030, 0, 1, 5, 17));
    const [a, b] = await twoReplicas(true, clock);
    const first = await a.getWorkloadCertificate(identity);
    await b.getWorkloadCertificate(identity);
    clock.advance(first.rotateAt.getTime() - clock.now());
    await waitFor(() => a.currentWorkloadCertificate(identity)?.serial !== first.serial && b.currentWorkloadCertificate(identity)?.serial !== first.serial);
    const na = a.currentWorkloadCertificate(identity)!;
    const nb = b.currentWorkloadCertificate(identity)!;
    expect(nb.certificateChainPem).toBe(na.certificateChainPem);
    expect(na.notBefore.toISOString()).toBe('2030-01-01T07:55:00.000Z');
    expect(na.rotateAt.toISOString()).toBe('2030-01-02T00:00:00.000Z');
    // The old leaf was still valid for a third of its lifetime when it was replaced.
    expect(first.notAfter.getTime() - first.rotateAt.getTime()).toBe(8 * HOUR);
  });

  it('without it, the same two replicas issue different leaves', async () => {
    const clock = new FakeClock(Date.UTC(2030, 0, 1, 5, 17));
    const [a, b] = await twoReplicas(false, clock);
    expect((await a.getWorkloadCertificate(identity)).certificateChainPem).not.toBe((await b.getWorkloadCertificate(identity)).certificateChainPem);
  });
});

describe('additional trust anchors (a Secret root\'s ca.crt)', () => {
  it('puts them in the trust bundle after the active root, and refuses what is not a root, naming the key', async () => {
    const { root, keyPem } = await createRoot('ECDSA_P256', 3650 * 24 * HOUR, Date.now());
    const next = await createRoot('ECDSA_P256', 3650 * 24 * HOUR, Date.now());
    const d = await tempDir();
    cleanups.push(d.cleanup);
    const secret = 'crossmesh-system/crossmesh-root-ca';
    const ca = await CertificateAuthority.open({ directory: d.dir, root: { kind: 'secret', secret, certPem: root.certPem, keyPem, trustPem: next.root.certPem + root.certPem } });
    cleanups.push(() => ca.close());
    const bundle = ca.trustBundle();
    expect(bundle.roots.map((r) => [r.id, r.status])).toEqual([
      [root.id, 'active'],
      [next.root.id, 'trusted'],
    ]);
    expect(bundle.pem).toBe(root.certPem + next.root.certPem);
    const leaf = await ca.getWorkloadCertificate(identity);
    expect(leaf.rootId).toBe(root.id);

    const d2 = await tempDir();
    cleanups.push(d2.cleanup);
    const inter = certs((await ca.getWorkloadCertificate(identity)).certificateChainPem)[1]!;
    await expect(
      CertificateAuthority.open({ directory: d2.dir, root: { kind: 'secret', secret, certPem: root.certPem, keyPem, trustPem: next.root.certPem + inter.toString() } }),
    ).rejects.toThrow(`secret ${secret} key ca.crt (certificate 2 of 2): certificate "O=crossmesh, OU=cluster1, CN=crossmesh intermediate CA cluster1" is not self-signed; only roots can be trust anchors`);
    await expect(CertificateAuthority.open({ directory: d2.dir, root: { kind: 'secret', secret, certPem: root.certPem, keyPem, trustPem: 'nothing' } })).rejects.toThrow(
      `secret ${secret} key ca.crt: no PEM CERTIFICATE block found`,
    );
  });
});
