/** A CA certificate together with what is needed to sign under it. */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { issuerFacts, type Signer } from './ca-certificate.js';
import { signingAlgorithmOf } from './keys.js';
import { toPem } from './pem.js';

/** A loaded CA (root or intermediate) that can sign certificates. */
export interface IssuingCa {
  /** First 16 hex digits of the certificate's SHA-256 fingerprint. */
  readonly id: string;
  readonly cert: X509Certificate;
  readonly certPem: string;
  readonly notAfter: Date;
  readonly signer: Signer;
}

/** Short, stable id of a certificate: the first 16 hex digits of its SHA-256 fingerprint. */
export function certificateId(cert: X509Certificate): string {
  return cert.fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase();
}

/** Pairs a CA certificate with its private key; `where` names the source in errors. */
export function issuingCa(cert: X509Certificate, key: KeyObject, where: string): IssuingCa {
  if (!cert.checkPrivateKey(key)) throw new Error(`${where}: the private key does not match the certificate's public key`);
  const facts = issuerFacts(cert.raw);
  return {
    id: certificateId(cert),
    cert,
    certPem: toPem(cert.raw),
    notAfter: new Date(cert.validTo),
    signer: { nameDer: facts.subjectDer, keyId: facts.keyId, key, algorithm: signingAlgorithmOf(key) },
  };
}
