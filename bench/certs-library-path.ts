/**
 * The alternative the certs benchmark compares against: encoding every leaf's whole
 * TBSCertificate with @peculiar/asn1-x509's generic serializer (what a straightforward use of
 * the library does), then signing with crypto.sign. Same key generation, same fields.
 */
import { createHash, sign } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as x509 from '@peculiar/asn1-x509';
import { algorithmIdentifier, exactArrayBuffer, type Signer } from '../src/ca/ca-certificate.js';
import { generateEcP256 } from '../src/ca/keys.js';
import { randomSerial } from '../src/ca/root.js';

function ext(extnID: string, critical: boolean, value: unknown): x509.Extension {
  return new x509.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** Issues one ECDSA leaf for `uri` under `signer`, serialising every field with the library. */
export function issueWithLibraryOnly(signer: Signer, uri: string, now: number): Buffer {
  const key = generateEcP256();
  const sigAlg = algorithmIdentifier(signer.algorithm);
  const tbs = new x509.TBSCertificate({
    version: x509.Version.v3,
    serialNumber: exactArrayBuffer(randomSerial()),
    signature: sigAlg,
    issuer: AsnConvert.parse(signer.nameDer, x509.Name),
    validity: new x509.Validity({ notBefore: new Date(now - 300_000), notAfter: new Date(now + 86_400_000) }),
    subject: new x509.Name([]),
    subjectPublicKeyInfo: AsnConvert.parse(key.spki, x509.SubjectPublicKeyInfo),
    extensions: new x509.Extensions([
      ext(x509.id_ce_keyUsage, true, new x509.KeyUsage(x509.KeyUsageFlags.digitalSignature)),
      ext(x509.id_ce_extKeyUsage, false, new x509.ExtendedKeyUsage([x509.id_kp_serverAuth, x509.id_kp_clientAuth])),
      ext(x509.id_ce_basicConstraints, true, new x509.BasicConstraints({ cA: false })),
      ext(x509.id_ce_authorityKeyIdentifier, false, new x509.AuthorityKeyIdentifier({ keyIdentifier: new x509.KeyIdentifier(signer.keyId) })),
      ext(x509.id_ce_subjectKeyIdentifier, false, new x509.SubjectKeyIdentifier(createHash('sha1').update(key.publicKeyBits).digest())),
      ext(x509.id_ce_subjectAltName, true, new x509.SubjectAlternativeName([new x509.GeneralName({ uniformResourceIdentifier: uri })])),
    ]),
  });
  const signature = sign(signer.algorithm.hash, Buffer.from(AsnConvert.serialize(tbs)), signer.key);
  return Buffer.from(AsnConvert.serialize(new x509.Certificate({ tbsCertificate: tbs, signatureAlgorithm: sigAlg, signatureValue: exactArrayBuffer(signature) })));
}
