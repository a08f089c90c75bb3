/**
 * The fast leaf encoder must produce exactly what @peculiar/asn1-x509 produces for the same
 * certificate: the library is the reference, the template only avoids re-serialising constants.
 */
import { createHash, generateKeyPairSync, verify, X509Certificate } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as x509 from '@peculiar/asn1-x509';
import { describe, expect, it } from 'vitest';
import { algorithmIdentifier, exactArrayBuffer, type Signer } from '../../src/ca/ca-certificate.js';
import { children } from '../../src/ca/der.js';
import { generateEcP256, generateRsa2048, signingAlgorithmOf, type GeneratedKey } from '../../src/ca/keys.js';
import { LeafTemplate } from '../../src/ca/leaf-template.js';

function signerFor(type: 'ec' | 'rsa'): Signer {
  const { privateKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const name = new x509.Name([
    new x509.RelativeDistinguishedName([new x509.AttributeTypeAndValue({ type: '2.5.4.10', value: new x509.AttributeValue({ utf8String: 'crossmesh' }) })]),
    new x509.RelativeDistinguishedName([new x509.AttributeTypeAndValue({ type: '2.5.4.3', value: new x509.AttributeValue({ utf8String: 'test intermediate' }) })]),
  ]);
  return { nameDer: Buffer.from(AsnConvert.serialize(name)), keyId: Buffer.alloc(20, 7), key: privateKey, algorithm: signingAlgorithmOf(privateKey) };
}

function ext(extnID: string, critical: boolean, value: unknown): x509.Extension {
  return new x509.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** The same TBSCertificate built entirely with the library. */
function referenceTbs(signer: Signer, key: GeneratedKey, serial: Buffer, notBefore: Date, notAfter: Date, uri: string): Buffer {
  const ku = key.algorithm === 'RSA_2048' ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature;
  const tbs = new x509.TBSCertificate({
    version: x509.Version.v3,
    serialNumber: exactArrayBuffer(serial),
    signature: algorithmIdentifier(signer.algorithm),
    issuer: AsnConvert.parse(signer.nameDer, x509.Name),
    validity: new x509.Validity({ notBefore, notAfter }),
    subject: new x509.Name([]),
    subjectPublicKeyInfo: AsnConvert.parse(key.spki, x509.SubjectPublicKeyInfo),
    extensions: new x509.Extensions([
      ext(x509.id_ce_keyUsage, true, new x509.KeyUsage(ku)),
      ext(x509.id_ce_extKeyUsage, false, new x509.ExtendedKeyUsage([x509.id_kp_serverAuth, x509.id_kp_clientAuth])),
      ext(x509.id_ce_basicConstraints, true, new x509.BasicConstraints({ cA: false })),
      ext(x509.id_ce_authorityKeyIdentifier, false, new x509.AuthorityKeyIdentifier({ keyIdentifier: new x509.KeyIdentifier(signer.keyId) })),
      ext(x509.id_ce_subjectKeyIdentifier, false, new x509.SubjectKeyIdentifier(createHash('sha1').update(key.publicKeyBits).digest())),
      ext(x509.id_ce_subjectAltName, true, new x509.SubjectAlternativeName([new x509.GeneralName({ uniformResourceIdentifier: uri })])),
    ]),
  });
  return Buffer.from(AsnConvert.serialize(tbs));
}

describe('leaf template', () => {
  const cases: { name: string; signer: 'ec' | 'rsa'; key: () => Promise<GeneratedKey>; when: Date; uri: string }[] = [
    { name: 'ECDSA leaf, ECDSA issuer, UTCTime', signer: 'ec', key: async () => generateEcP256(), when: new Date('2031-03-04T05:06:07Z'), uri: 'spiffe://c1/ns/default/sa/reviews' },
    { name: 'RSA leaf, RSA issuer, GeneralizedTime after 2049', signer: 'rsa', key: generateRsa2048, when: new Date('2051-12-31T23:59:59Z'), uri: 'spiffe://cluster-two.example/ns/ns-with-a-long-name/sa/' + 'x'.repeat(150) },
  ];
  for (const c of cases) {
    it(`is byte-identical to the library encoding: ${c.name}`, async () => {
      const signer = signerFor(c.signer);
      const key = await c.key();
      const template = new LeafTemplate(signer);
      for (const serial of [Buffer.from('4f'.repeat(16), 'hex'), Buffer.from('7f00000000000000000000000000ab01', 'hex')]) {
        const notAfter = new Date(c.when.getTime() + 86_400_000);
        const fields = { serial, notBefore: c.when, notAfter, uri: c.uri, key };
        expect(template.tbs(fields).toString('hex')).toBe(referenceTbs(signer, key, serial, c.when, notAfter, c.uri).toString('hex'));
        const der = template.build(fields);
        const cert = new X509Certificate(der);
        expect(cert.subjectAltName).toBe(`URI:${c.uri}`);
        // The outer signature covers exactly the TBS bytes.
        const [tbs, , sig] = children(der);
        expect(verify(signer.algorithm.hash, tbs!.encoded, signer.key, sig!.content.subarray(1))).toBe(true);
        expect(AsnConvert.parse(der, x509.Certificate).tbsCertificate.validity.notAfter.getTime().getTime()).toBe(notAfter.getTime());
      }
    });
  }

  it('refuses URIs that are not printable ASCII', () => {
    const template = new LeafTemplate(signerFor('ec'));
    expect(() => template.build({ serial: Buffer.from([0x41]), notBefore: new Date(), notAfter: new Date(), uri: 'spiffe://é/ns/a/sa/b', key: generateEcP256() })).toThrow(/printable ASCII/);
  });
});
