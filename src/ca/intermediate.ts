/**
 * One intermediate CA per member cluster and root: CA:TRUE pathLen:0 (it can only sign leaves),
 * keyUsage keyCertSign+cRLSign, and a URI name constraint to the cluster's trust domain, so a
 * cluster's CA cannot vouch for identities of another trust domain. Persisted beside the root
 * and reused on restart while it is valid, signed by that root and long-lived enough.
 */
import { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as x509 from '@peculiar/asn1-x509';
import { log } from '../log.js';
import { buildCaCertificate } from './ca-certificate.js';
import { intermediatePaths, readOptional, writeCaFiles } from './ca-store.js';
import { issuingCa, type IssuingCa } from './issuing-ca.js';
import { generateKey, parsePrivateKey, privateKeyToPem, type KeyAlgorithm } from './keys.js';
import { LeafTemplate } from './leaf-template.js';
import { randomSerial } from './root.js';
import { deriveP256, deriveSecret, deriveSerial } from './deterministic.js';

/** A cluster's intermediate CA with its pre-encoded leaf template. */
export interface Intermediate extends IssuingCa {
  readonly cluster: string;
  readonly trustDomain: string;
  readonly rootId: string;
  readonly template: LeafTemplate;
  /** Shared issuance: the secret this intermediate's leaves are derived from (undefined: random leaves). */
  readonly leafSecret?: Buffer;
}

/** How intermediates are made and when a persisted one is still good enough. */
export interface IntermediatePolicy {
  readonly algorithm: KeyAlgorithm;
  readonly lifetimeMs: number;
  /** A persisted intermediate expiring sooner than this is replaced (leaves must not outlive it). */
  readonly minRemainingMs: number;
}

/** The host of the single permitted URI subtree of a CA certificate, if it has one. */
export function permittedUriHost(cert: X509Certificate): string | undefined {
  const parsed = AsnConvert.parse(cert.raw, x509.Certificate);
  const ext = parsed.tbsCertificate.extensions?.find((e) => e.extnID === x509.id_ce_nameConstraints);
  if (!ext) return undefined;
  const nc = AsnConvert.parse(ext.extnValue.buffer, x509.NameConstraints);
  return nc.permittedSubtrees?.[0]?.base.uniformResourceIdentifier;
}

function withTemplate(ca: IssuingCa, cluster: string, trustDomain: string, rootId: string): Intermediate {
  return { ...ca, cluster, trustDomain, rootId, template: new LeafTemplate(ca.signer) };
}

/** Why a persisted intermediate cannot be reused, or undefined if it can. */
function unusable(cert: X509Certificate, root: IssuingCa, trustDomain: string, policy: IntermediatePolicy, now: number): string | undefined {
  if (!cert.ca) return 'not a CA certificate';
  if (!cert.checkIssued(root.cert) || !cert.verify(root.cert.publicKey)) return 'not signed by the active root';
  if (permittedUriHost(cert) !== trustDomain) return `trust domain changed to ${trustDomain}`;
  if (Date.parse(cert.validTo) - now < policy.minRemainingMs) return `expires ${cert.validTo}`;
  return undefined;
}

/** Returns the persisted intermediate of `cluster` under `root`, creating (and persisting) one if needed. */
export async function loadOrCreateIntermediate(
  dir: string,
  root: IssuingCa,
  cluster: string,
  trustDomain: string,
  policy: IntermediatePolicy,
  now: number,
): Promise<Intermediate> {
  const paths = intermediatePaths(dir, root.id, cluster);
  const certPem = await readOptional(paths.cert);
  const keyPem = await readOptional(paths.key);
  if (certPem && keyPem) {
    try {
      const cert = new X509Certificate(certPem);
      const key = parsePrivateKey(keyPem, paths.key);
      const why = unusable(cert, root, trustDomain, policy, now);
      if (!why) return withTemplate(issuingCa(cert, key, paths.cert), cluster, trustDomain, root.id);
      log.info({ cluster, reason: why }, 'replacing persisted intermediate CA');
    } catch (e) {
      // A torn pair (crash between the key and the cert write) is recoverable: make a new one.
      log.warn({ cluster, path: paths.cert, err: (e as Error).message }, 'persisted intermediate CA unreadable; creating a new one');
    }
  }
  const { privateKeyPem, spki } = await generateKey(policy.algorithm);
  const key = parsePrivateKey(privateKeyPem, 'generated intermediate key');
  const der = buildCaCertificate({
    subject: { organization: 'crossmesh', organizationalUnit: trustDomain, commonName: `crossmesh intermediate CA ${cluster}` },
    spki,
    serial: randomSerial(),
    notBefore: new Date(Math.max(now - 60 * 60 * 1000, Date.parse(root.cert.validFrom))),
    notAfter: new Date(Math.min(now + policy.lifetimeMs, root.notAfter.getTime())),
    pathLen: 0,
    permittedUriHost: trustDomain,
    signer: root.signer,
  });
  const ca = issuingCa(new X509Certificate(der), key, `intermediate for ${cluster}`);
  await writeCaFiles(paths, ca.certPem, privateKeyToPem(key));
  log.info({ cluster, trustDomain, root: root.id, id: ca.id, notAfter: ca.notAfter.toISOString() }, 'created intermediate CA');
  return withTemplate(ca, cluster, trustDomain, root.id);
}

/**
 * Shared issuance: the intermediate of `cluster` under `root` as every replica holding the root
 * computes it: key, serial and validity derived from `secret` (see deterministic.ts) and the
 * window `now` falls in, signed deterministically. Windows last `lifetimeMs - minRemainingMs`, so
 * an intermediate is replaced exactly when a persisted one would be (less than `minRemainingMs`
 * left), at the same moment on every replica. ECDSA P-256 only (RSA keys cannot be derived).
 */
export function deriveIntermediate(root: IssuingCa, secret: Buffer, cluster: string, trustDomain: string, policy: IntermediatePolicy, now: number): Intermediate {
  if (policy.algorithm !== 'ECDSA_P256') throw new Error(`shared issuance derives ECDSA P-256 keys only, not ${policy.algorithm}`);
  const windowMs = policy.lifetimeMs - policy.minRemainingMs;
  if (windowMs <= 0) throw new Error('shared issuance: the intermediate lifetime must exceed the time it must have left');
  const start = Math.floor(now / windowMs) * windowMs;
  const label = `intermediate\u0000${root.id}\u0000${cluster}\u0000${trustDomain}\u0000${start}`;
  const key = deriveP256(secret, label);
  const seconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
  const der = buildCaCertificate({
    subject: { organization: 'crossmesh', organizationalUnit: trustDomain, commonName: `crossmesh intermediate CA ${cluster}` },
    spki: key.spki,
    serial: deriveSerial(secret, label),
    notBefore: seconds(Math.max(start - 60 * 60 * 1000, Date.parse(root.cert.validFrom))),
    notAfter: seconds(Math.min(start + policy.lifetimeMs, root.notAfter.getTime())),
    pathLen: 0,
    permittedUriHost: trustDomain,
    signer: { ...root.signer, deterministic: true },
  });
  const ca = issuingCa(new X509Certificate(der), parsePrivateKey(key.privateKeyPem, 'derived intermediate key'), `intermediate for ${cluster}`);
  const signer = { ...ca.signer, deterministic: true };
  return { ...ca, signer, cluster, trustDomain, rootId: root.id, template: new LeafTemplate(signer), leafSecret: deriveSecret(secret, `leaves\u0000${ca.id}`) };
}
