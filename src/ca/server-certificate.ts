/**
 * The xDS server's own TLS certificate: a leaf signed by the active root with DNS and IP SANs
 * (`crossmesh.<namespace>.svc`, the configured host names and addresses), so every proxy that
 * trusts the mesh root can verify the control plane it talks to. It has no URI SAN: it is not a
 * workload identity and can never authenticate as one.
 */
import { isIP } from 'node:net';
import { sign, X509Certificate } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as x509 from '@peculiar/asn1-x509';
import { algorithmIdentifier, exactArrayBuffer, keyIdentifier } from './ca-certificate.js';
import type { IssuingCa } from './issuing-ca.js';
import { generateKey, type KeyAlgorithm } from './keys.js';
import { toPem } from './pem.js';
import { randomSerial } from './root.js';

/** What the server certificate must name. */
export interface ServerCertificateRequest {
  /** DNS names; the first one becomes the subject CN. At least one name or address overall. */
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly lifetimeMs: number;
  readonly keyAlgorithm: KeyAlgorithm;
  /** Set this far in the past to tolerate clock skew. */
  readonly backdateMs: number;
}

/** An issued server certificate. `privateKey` is non-enumerable so it never serialises into logs. */
export interface ServerCertificate {
  /** PEM: the leaf only (it is signed by the root, which clients already hold). */
  readonly certificatePem: string;
  readonly privateKey: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly rootId: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

const DNS_NAME = /^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

/** Splits host names from IP addresses and validates both; throws naming the bad value. */
export function classifyHosts(hosts: readonly string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const raw of hosts) {
    const h = raw.trim().replace(/^\[|\]$/g, '');
    // A wildcard bind address is not a name anyone connects to.
    if (h === '' || h === '0.0.0.0' || h === '::') continue;
    if (isIP(h)) {
      if (!ipAddresses.includes(h)) ipAddresses.push(h);
    } else {
      const lower = h.toLowerCase();
      if (lower.length > 253 || !DNS_NAME.test(lower)) throw new Error(`xDS server host name "${raw}" is neither an IP address nor a valid DNS name`);
      if (!dnsNames.includes(lower)) dnsNames.push(lower);
    }
  }
  return { dnsNames, ipAddresses };
}

function ext(extnID: string, critical: boolean, value: unknown): x509.Extension {
  return new x509.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** Issues a TLS server certificate under `issuer` (the active root). */
export async function issueServerCertificate(issuer: IssuingCa, req: ServerCertificateRequest, now: number): Promise<ServerCertificate> {
  if (req.dnsNames.length + req.ipAddresses.length === 0) throw new Error('a server certificate needs at least one DNS name or IP address');
  const key = await generateKey(req.keyAlgorithm);
  const serial = randomSerial();
  const notBefore = new Date(Math.floor((now - req.backdateMs) / 1000) * 1000);
  const notAfter = new Date(Math.min(Math.floor((now + req.lifetimeMs) / 1000) * 1000, issuer.notAfter.getTime()));
  const names = [
    ...req.dnsNames.map((d) => new x509.GeneralName({ dNSName: d })),
    ...req.ipAddresses.map((ip) => new x509.GeneralName({ iPAddress: ip })),
  ];
  const keyUsage = req.keyAlgorithm === 'RSA_2048' ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature;
  const cn = req.dnsNames[0] ?? req.ipAddresses[0]!;
  const subject = new x509.Name([
    new x509.RelativeDistinguishedName([new x509.AttributeTypeAndValue({ type: '2.5.4.10', value: new x509.AttributeValue({ utf8String: 'crossmesh' }) })]),
    new x509.RelativeDistinguishedName([new x509.AttributeTypeAndValue({ type: '2.5.4.3', value: new x509.AttributeValue({ utf8String: cn }) })]),
  ]);
  const sigAlg = algorithmIdentifier(issuer.signer.algorithm);
  const tbs = new x509.TBSCertificate({
    version: x509.Version.v3,
    serialNumber: exactArrayBuffer(serial),
    signature: sigAlg,
    issuer: AsnConvert.parse(issuer.signer.nameDer, x509.Name),
    validity: new x509.Validity({ notBefore, notAfter }),
    subject,
    subjectPublicKeyInfo: AsnConvert.parse(key.spki, x509.SubjectPublicKeyInfo),
    extensions: new x509.Extensions([
      ext(x509.id_ce_basicConstraints, true, new x509.BasicConstraints({ cA: false })),
      ext(x509.id_ce_keyUsage, true, new x509.KeyUsage(keyUsage)),
      ext(x509.id_ce_extKeyUsage, false, new x509.ExtendedKeyUsage([x509.id_kp_serverAuth])),
      ext(x509.id_ce_subjectKeyIdentifier, false, new x509.SubjectKeyIdentifier(keyIdentifier(key.spki))),
      ext(x509.id_ce_authorityKeyIdentifier, false, new x509.AuthorityKeyIdentifier({ keyIdentifier: new x509.KeyIdentifier(issuer.signer.keyId) })),
      ext(x509.id_ce_subjectAltName, false, new x509.SubjectAlternativeName(names)),
    ]),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign(issuer.signer.algorithm.hash, tbsDer, issuer.signer.key);
  const der = Buffer.from(AsnConvert.serialize(new x509.Certificate({ tbsCertificate: tbs, signatureAlgorithm: sigAlg, signatureValue: exactArrayBuffer(signature) })));
  const cert = new X509Certificate(der);
  if (!cert.verify(issuer.cert.publicKey)) throw new Error('server certificate does not verify against its issuer (internal error)');
  const out = {
    certificatePem: toPem(der),
    serial: cert.serialNumber.toUpperCase(),
    notBefore,
    notAfter,
    rootId: issuer.id,
    dnsNames: [...req.dnsNames],
    ipAddresses: [...req.ipAddresses],
  } as Omit<ServerCertificate, 'privateKey'> as ServerCertificate;
  Object.defineProperty(out, 'privateKey', { value: key.privateKeyPem, enumerable: false });
  return Object.freeze(out);
}
