/**
 * Chain shape of issued certificates, checked with Node's own X.509 parser and signature
 * verification (OpenSSL), not with the code that produced them.
 */
import { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as x509 from '@peculiar/asn1-x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority, type WorkloadIdentity } from '../../src/ca/index.js';
import { FakeClock } from './fake-clock.js';
import { certs, tempDir } from './helpers.js';

const reviews: WorkloadIdentity = { cluster: 'cluster1', trustDomain: 'cluster1.local', namespace: 'bookinfo', serviceAccount: 'reviews' };

function ext<T>(cert: X509Certificate, oid: string, type: new () => T): { critical: boolean; value: T } | undefined {
  const parsed = AsnConvert.parse(cert.raw, x509.Certificate);
  const e = parsed.tbsCertificate.extensions?.find((x) => x.extnID === oid);
  return e ? { critical: e.critical, value: AsnConvert.parse(e.extnValue.buffer, type) } : undefined;
}

describe('certificate chain', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: CertificateAuthority;
  const clock = new FakeClock(Date.now());

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    ca = await CertificateAuthority.open({ directory: dir, clock });
  });
  afterEach(async () => {
    ca.close();
    await cleanup();
  });

  it('issues leaf → cluster intermediate → root, each verifying against the next', async () => {
    const wc = await ca.getWorkloadCertificate(reviews);
    const [leaf, inter, ...rest] = certs(wc.certificateChainPem);
    expect(rest).toHaveLength(0);
    const [root] = certs(ca.trustBundle().pem);
    expect(leaf!.verify(inter!.publicKey)).toBe(true);
    expect(inter!.verify(root!.publicKey)).toBe(true);
    expect(root!.verify(root!.publicKey)).toBe(true);
    expect(leaf!.checkIssued(inter!)).toBe(true);
    expect(inter!.checkIssued(root!)).toBe(true);
    expect(leaf!.verify(root!.publicKey)).toBe(false);
    // The private key handed out belongs to the leaf.
    const { createPrivateKey } = await import('node:crypto');
    expect(leaf!.checkPrivateKey(createPrivateKey(wc.privateKey))).toBe(true);
    expect(wc.serial).toBe(leaf!.serialNumber);
  });

  it('puts exactly the SPIFFE URI in a critical SAN, with serverAuth+clientAuth and digitalSignature only', async () => {
    const wc = await ca.getWorkloadCertificate(reviews);
    const leaf = certs(wc.certificateChainPem)[0]!;
    expect(wc.spiffeId).toBe('spiffe://cluster1.local/ns/bookinfo/sa/reviews');
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster1.local/ns/bookinfo/sa/reviews');
    expect(leaf.subject ?? '').toBe(''); // empty subject: the identity is the SAN alone (as in Istio)
    expect(leaf.ca).toBe(false);
    expect(ext(leaf, x509.id_ce_subjectAltName, x509.SubjectAlternativeName)?.critical).toBe(true);
    expect(leaf.keyUsage?.sort()).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    const ku = ext(leaf, x509.id_ce_keyUsage, x509.KeyUsage)!;
    expect(ku.critical).toBe(true);
    expect(ku.value.toJSON()).toEqual(['digitalSignature']);
    expect(leaf.publicKey.asymmetricKeyType).toBe('ec');
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('has a 24 h lifetime, backdated 5 min, and rotates at 2/3 of it', async () => {
    const now = clock.now();
    const wc = await ca.getWorkloadCertificate(reviews);
    const leaf = certs(wc.certificateChainPem)[0]!;
    const from = Date.parse(leaf.validFrom);
    const to = Date.parse(leaf.validTo);
    expect(from).toBe(wc.notBefore.getTime());
    expect(to).toBe(wc.notAfter.getTime());
    expect(Math.abs(from - (now - 5 * 60_000))).toBeLessThan(1000);
    expect(Math.abs(to - (now + 24 * 3600_000))).toBeLessThan(1000);
    expect(wc.rotateAt.getTime()).toBe(now + 16 * 3600_000);
    expect(ca.listIssued()).toEqual([
      { spiffeId: wc.spiffeId, cluster: 'cluster1', serial: wc.serial, notBefore: wc.notBefore, notAfter: wc.notAfter, rotateAt: wc.rotateAt, keyAlgorithm: 'ECDSA_P256', rootId: wc.rootId },
    ]);
  });

  it('makes intermediates CA:TRUE pathLen 0, keyCertSign+cRLSign, name-constrained to the trust domain', async () => {
    const wc = await ca.getWorkloadCertificate(reviews);
    const inter = certs(wc.certificateChainPem)[1]!;
    const root = certs(ca.trustBundle().pem)[0]!;
    expect(inter.ca).toBe(true);
    const bc = ext(inter, x509.id_ce_basicConstraints, x509.BasicConstraints)!;
    expect(bc.critical).toBe(true);
    expect(bc.value.cA).toBe(true);
    expect(bc.value.pathLenConstraint).toBe(0);
    expect(ext(inter, x509.id_ce_keyUsage, x509.KeyUsage)!.value.toJSON().sort()).toEqual(['crlSign', 'keyCertSign']);
    const nc = ext(inter, x509.id_ce_nameConstraints, x509.NameConstraints)!;
    expect(nc.critical).toBe(true);
    expect(nc.value.permittedSubtrees?.map((s) => s.base.uniformResourceIdentifier)).toEqual(['cluster1.local']);
    expect(root.ca).toBe(true);
    expect(ext(root, x509.id_ce_basicConstraints, x509.BasicConstraints)!.value.pathLenConstraint).toBe(1);
    // Leaves may not outlive their intermediate.
    expect(Date.parse(inter.validTo)).toBeGreaterThan(wc.notAfter.getTime());
  });

  it('gives each cluster its own intermediate under the same root, and reuses the leaf until rotation', async () => {
    const a = await ca.getWorkloadCertificate(reviews);
    const again = await ca.getWorkloadCertificate(reviews);
    expect(again).toBe(a);
    const b = await ca.getWorkloadCertificate({ cluster: 'cluster2', trustDomain: 'cluster2.local', namespace: 'bookinfo', serviceAccount: 'ratings' });
    const interA = certs(a.certificateChainPem)[1]!;
    const interB = certs(b.certificateChainPem)[1]!;
    expect(interA.fingerprint256).not.toBe(interB.fingerprint256);
    const root = certs(ca.trustBundle().pem)[0]!;
    expect(interB.verify(root.publicKey)).toBe(true);
    expect(ca.listIntermediates().map((i) => i.cluster).sort()).toEqual(['cluster1', 'cluster2']);
    expect(ca.listIssued().map((i) => i.spiffeId)).toEqual(['spiffe://cluster1.local/ns/bookinfo/sa/reviews', 'spiffe://cluster2.local/ns/bookinfo/sa/ratings']);
  });

  it('shares one issuance between concurrent first requests and uses random serials', async () => {
    const [x, y] = await Promise.all([ca.getWorkloadCertificate(reviews), ca.getWorkloadCertificate(reviews)]);
    expect(x).toBe(y);
    const other = await ca.getWorkloadCertificate({ ...reviews, serviceAccount: 'details' });
    expect(other.serial).not.toBe(x.serial);
    expect(x.serial).toMatch(/^[0-9A-F]{32}$/);
  });

  it('never exposes the private key when serialised or listed', async () => {
    const wc = await ca.getWorkloadCertificate(reviews);
    expect(wc.privateKey).toContain('PRIVATE KEY');
    expect(JSON.stringify(wc)).not.toContain('PRIVATE KEY');
    expect(Object.keys(wc)).not.toContain('privateKey');
    expect(JSON.stringify(ca.listIssued())).not.toContain('PRIVATE');
  });

  it('rejects invalid identities with a message naming the field', async () => {
    await expect(ca.getWorkloadCertificate({ ...reviews, namespace: 'a/b' })).rejects.toThrow(/invalid namespace "a\/b"/);
    await expect(ca.getWorkloadCertificate({ ...reviews, trustDomain: 'Upper.Case' })).rejects.toThrow(/invalid trust domain "Upper.Case" of cluster cluster1/);
    await expect(ca.getWorkloadCertificate({ ...reviews, cluster: '../etc' })).rejects.toThrow(/invalid cluster name/);
    await expect(ca.getWorkloadCertificate({ ...reviews, serviceAccount: '..' })).rejects.toThrow(/invalid service account/);
  });

  it('issues RSA 2048 chains when asked, with keyEncipherment on the leaf', async () => {
    const { dir: rsaDir, cleanup: rsaCleanup } = await tempDir();
    const rsa = await CertificateAuthority.open({ directory: rsaDir, keyAlgorithm: 'RSA_2048', clock });
    try {
      const wc = await rsa.getWorkloadCertificate(reviews);
      const [leaf, inter] = certs(wc.certificateChainPem);
      const root = certs(rsa.trustBundle().pem)[0]!;
      expect(wc.keyAlgorithm).toBe('RSA_2048');
      expect(wc.privateKey).toContain('BEGIN PRIVATE KEY');
      expect(leaf!.publicKey.asymmetricKeyType).toBe('rsa');
      expect(leaf!.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(root.publicKey.asymmetricKeyType).toBe('rsa');
      expect(leaf!.verify(inter!.publicKey)).toBe(true);
      expect(inter!.verify(root.publicKey)).toBe(true);
      expect(ext(leaf!, x509.id_ce_keyUsage, x509.KeyUsage)!.value.toJSON().sort()).toEqual(['digitalSignature', 'keyEncipherment']);
      expect(leaf!.subjectAltName).toBe('URI:spiffe://cluster1.local/ns/bookinfo/sa/reviews');
    } finally {
      rsa.close();
      await rsaCleanup();
    }
  });
});
