/**
 * Root and intermediate CA certificates, encoded with @peculiar/asn1-x509 (a handful per mesh,
 * so clarity beats speed here), and the issuer facts later certificates need from a CA cert.
 */
import { createHash, sign, type KeyObject } from 'node:crypto';
import { signDeterministic } from './deterministic.js';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as x509 from '@peculiar/asn1-x509';
import { children } from './der.js';
import { spkiBits, type SigningAlgorithm } from './keys.js';

/** Subject of a CA certificate crossmesh creates. */
export interface CaSubject {
  readonly commonName: string;
  readonly organization: string;
  readonly organizationalUnit?: string;
}

/** What signs a certificate: the issuer's name (raw DER), key identifier and key. */
export interface Signer {
  readonly nameDer: Buffer;
  readonly keyId: Buffer;
  readonly key: KeyObject;
  readonly algorithm: SigningAlgorithm;
  /** Sign deterministically (RFC 6979 for ECDSA): shared issuance, where replicas must produce the same bytes. */
  readonly deterministic?: boolean;
}

/** A CA certificate to create. Without `signer` it is self-signed by `selfKey`. */
export interface CaCertificateRequest {
  readonly subject: CaSubject;
  readonly spki: Buffer;
  readonly serial: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** basicConstraints pathLenConstraint; omitted = unlimited. */
  readonly pathLen?: number;
  /** Restricts issued URI SANs to this host (RFC 5280 name constraint), e.g. a SPIFFE trust domain. */
  readonly permittedUriHost?: string;
  readonly signer?: Signer;
  readonly selfKey?: { readonly key: KeyObject; readonly algorithm: SigningAlgorithm };
}

/** A standalone ArrayBuffer with exactly these bytes (Node Buffers may be views into a shared pool). */
export function exactArrayBuffer(b: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(b.byteLength);
  new Uint8Array(out).set(b);
  return out;
}

/** The AlgorithmIdentifier for a signing algorithm. */
export function algorithmIdentifier(alg: SigningAlgorithm): x509.AlgorithmIdentifier {
  return new x509.AlgorithmIdentifier(
    alg.nullParameters ? { algorithm: alg.oid, parameters: Uint8Array.of(0x05, 0x00).buffer } : { algorithm: alg.oid },
  );
}

/** Method-1 key identifier (RFC 5280 §4.2.1.2): SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Buffer): Buffer {
  return createHash('sha1').update(spkiBits(spki)).digest();
}

function rdn(type: string, value: string): x509.RelativeDistinguishedName {
  return new x509.RelativeDistinguishedName([new x509.AttributeTypeAndValue({ type, value: new x509.AttributeValue({ utf8String: value }) })]);
}

function nameOf(s: CaSubject): x509.Name {
  const rdns = [rdn('2.5.4.10', s.organization)];
  if (s.organizationalUnit) rdns.push(rdn('2.5.4.11', s.organizationalUnit));
  rdns.push(rdn('2.5.4.3', s.commonName));
  return new x509.Name(rdns);
}

function extension(extnID: string, critical: boolean, value: unknown): x509.Extension {
  return new x509.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** Encodes and signs a CA certificate; returns its DER. */
export function buildCaCertificate(req: CaCertificateRequest): Buffer {
  const subject = nameOf(req.subject);
  const subjectDer = Buffer.from(AsnConvert.serialize(subject));
  const ski = keyIdentifier(req.spki);
  const signing = req.signer ?? (req.selfKey && { nameDer: subjectDer, keyId: ski, key: req.selfKey.key, algorithm: req.selfKey.algorithm });
  if (!signing) throw new Error('a CA certificate needs a signer or a self-signing key');
  const issuer = AsnConvert.parse(signing.nameDer, x509.Name);
  if (!Buffer.from(AsnConvert.serialize(issuer)).equals(signing.nameDer)) {
    throw new Error('issuer name does not re-encode identically; use a CA certificate whose subject is DER (UTF8String/PrintableString)');
  }
  const extensions = [
    extension(x509.id_ce_basicConstraints, true, new x509.BasicConstraints({ cA: true, ...(req.pathLen === undefined ? {} : { pathLenConstraint: req.pathLen }) })),
    extension(x509.id_ce_keyUsage, true, new x509.KeyUsage(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)),
    extension(x509.id_ce_subjectKeyIdentifier, false, new x509.SubjectKeyIdentifier(ski)),
  ];
  if (req.signer) extensions.push(extension(x509.id_ce_authorityKeyIdentifier, false, new x509.AuthorityKeyIdentifier({ keyIdentifier: new x509.KeyIdentifier(req.signer.keyId) })));
  if (req.permittedUriHost) {
    const permitted = new x509.GeneralSubtrees([new x509.GeneralSubtree({ base: new x509.GeneralName({ uniformResourceIdentifier: req.permittedUriHost }) })]);
    extensions.push(extension(x509.id_ce_nameConstraints, true, new x509.NameConstraints({ permittedSubtrees: permitted })));
  }
  const sigAlg = algorithmIdentifier(signing.algorithm);
  const tbs = new x509.TBSCertificate({
    version: x509.Version.v3,
    serialNumber: exactArrayBuffer(req.serial),
    signature: sigAlg,
    issuer,
    validity: new x509.Validity({ notBefore: req.notBefore, notAfter: req.notAfter }),
    subject,
    subjectPublicKeyInfo: AsnConvert.parse(req.spki, x509.SubjectPublicKeyInfo),
    extensions: new x509.Extensions(extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = 'deterministic' in signing && signing.deterministic ? signDeterministic(signing.algorithm.hash, tbsDer, signing.key) : sign(signing.algorithm.hash, tbsDer, signing.key);
  return Buffer.from(AsnConvert.serialize(new x509.Certificate({ tbsCertificate: tbs, signatureAlgorithm: sigAlg, signatureValue: exactArrayBuffer(signature) })));
}

/** The facts of a CA certificate an issuer needs: raw subject name DER and key identifier. */
export function issuerFacts(certDer: Buffer): { readonly subjectDer: Buffer; readonly keyId: Buffer } {
  const tbs = children(certDer)[0];
  if (!tbs) throw new Error('malformed certificate');
  const fields = children(tbs.encoded);
  // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, spki, ...
  const base = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[base + 4];
  const spki = fields[base + 5];
  if (!subject || !spki) throw new Error('malformed certificate');
  const cert = AsnConvert.parse(certDer, x509.Certificate);
  const skiExt = cert.tbsCertificate.extensions?.find((e) => e.extnID === x509.id_ce_subjectKeyIdentifier);
  const keyId = skiExt
    ? Buffer.from(AsnConvert.parse(skiExt.extnValue.buffer, x509.SubjectKeyIdentifier).buffer)
    : keyIdentifier(Buffer.from(spki.encoded));
  return { subjectDer: Buffer.from(subject.encoded), keyId };
}
