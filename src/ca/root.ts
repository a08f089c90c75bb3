/**
 * The root CA: generated once and persisted in the CA directory, or supplied by the user as PEM
 * files (VirtualMesh `rootCertificateAuthority`). Supplied files are validated with errors that
 * name the file and what is wrong with it.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { buildCaCertificate } from './ca-certificate.js';
import { readOptional, rootPaths, writeCaFiles } from './ca-store.js';
import { issuingCa, type IssuingCa } from './issuing-ca.js';
import { generateKey, parsePrivateKey, privateKeyToPem, signingAlgorithmOf, type KeyAlgorithm } from './keys.js';
import { splitCertificates } from './pem.js';

/** Where the root comes from. */
export type RootSource =
  | { readonly kind: 'generated' }
  | { readonly kind: 'files'; readonly certFile: string; readonly keyFile: string }
  /**
   * A Kubernetes Secret, already read (src/ca/root-secret.ts): `secret` is `<namespace>/<name>`,
   * `certPem`/`keyPem` its `tls.crt`/`tls.key`. Validated like supplied files; the key is never copied.
   */
  | { readonly kind: 'secret'; readonly secret: string; readonly certPem: string; readonly keyPem: string; readonly trustPem?: string };

/** Positive random serial with 126 bits of entropy and a fixed length (no DER sign padding needed). */
export function randomSerial(): Buffer {
  const s = randomBytes(16);
  s[0] = (s[0]! & 0x3f) | 0x40;
  return s;
}

/** Creates a new self-signed root and persists it under `dir/roots/<id>/` (state.json is the caller's). */
export async function generateRoot(dir: string, algorithm: KeyAlgorithm, lifetimeMs: number, now: number): Promise<IssuingCa> {
  const { root, keyPem } = await createRoot(algorithm, lifetimeMs, now);
  await writeCaFiles(rootPaths(dir, root.id), root.certPem, keyPem);
  return root;
}

/** Creates a new self-signed root in memory: the CA and its private key as PEM (nothing is written). */
export async function createRoot(algorithm: KeyAlgorithm, lifetimeMs: number, now: number): Promise<{ readonly root: IssuingCa; readonly keyPem: string }> {
  const { privateKeyPem, spki } = await generateKey(algorithm);
  const key = parsePrivateKey(privateKeyPem, 'generated root key');
  const stamp = new Date(now).toISOString().slice(0, 10);
  const der = buildCaCertificate({
    subject: { organization: 'crossmesh', commonName: `crossmesh root CA ${stamp} ${randomBytes(3).toString('hex')}` },
    spki,
    serial: randomSerial(),
    notBefore: new Date(now - 60 * 60 * 1000),
    notAfter: new Date(now + lifetimeMs),
    pathLen: 1,
    selfKey: { key, algorithm: signingAlgorithmOf(key) },
  });
  const root = issuingCa(new X509Certificate(der), key, 'generated root');
  return { root, keyPem: privateKeyToPem(key) };
}

/** Loads a generated root persisted earlier; a missing or mismatched file is an error, never a silent new root. */
export async function loadGeneratedRoot(dir: string, id: string): Promise<IssuingCa> {
  const paths = rootPaths(dir, id);
  const certPem = await readOptional(paths.cert);
  const keyPem = await readOptional(paths.key);
  const lost = !certPem ? paths.cert : !keyPem ? paths.key : undefined;
  if (lost || !certPem || !keyPem) {
    throw new Error(
      `${lost}: missing, but ${dir}/state.json names root ${id} as active. Restore the file, or remove ${dir} to generate a new root (every workload certificate will then be reissued and old ones stop being trusted).`,
    );
  }
  const cert = parseCaCertificate(certPem, paths.cert);
  const root = issuingCa(cert, parsePrivateKey(keyPem, paths.key), `${paths.cert} + ${paths.key}`);
  if (root.id !== id) throw new Error(`${paths.cert}: certificate fingerprint ${root.id} does not match its directory name ${id}`);
  return root;
}

/** Loads and validates a user-supplied root; copies its certificate (never its key) into the CA directory. */
export async function loadSuppliedRoot(dir: string, certFile: string, keyFile: string, now: number): Promise<IssuingCa> {
  const certPem = await readRequired(certFile, 'root certificate (certFile)');
  const keyPem = await readRequired(keyFile, 'root private key (keyFile)');
  return adoptRoot(dir, parseSuppliedRoot(certPem, keyPem, certFile, keyFile, now));
}

/** Validates a root given as PEM text (a Kubernetes Secret's keys) and copies its certificate into the CA directory. */
export async function loadPemRoot(dir: string, certPem: string, keyPem: string, certWhere: string, keyWhere: string, now: number): Promise<IssuingCa> {
  return adoptRoot(dir, parseSuppliedRoot(certPem, keyPem, certWhere, keyWhere, now));
}

async function adoptRoot(dir: string, root: IssuingCa): Promise<IssuingCa> {
  const paths = rootPaths(dir, root.id);
  if ((await readOptional(paths.cert)) !== root.certPem) await writeCaFiles(paths, root.certPem);
  return root;
}

/**
 * Checks a supplied root: one self-signed CA certificate, valid now, and its unencrypted private
 * key. `certWhere`/`keyWhere` name where each came from (a file, or a Secret and its key) in errors.
 */
export function parseSuppliedRoot(certPem: string, keyPem: string, certWhere: string, keyWhere: string, now: number): IssuingCa {
  const cert = parseCaCertificate(certPem, certWhere);
  if (!cert.checkIssued(cert) || !cert.verify(cert.publicKey)) {
    throw new Error(`${certWhere}: certificate "${(cert.subject ?? '').replace(/\n/g, ', ')}" is not self-signed; crossmesh uses the supplied certificate as the trust anchor, so it must be a root`);
  }
  if (Date.parse(cert.validTo) <= now) throw new Error(`${certWhere}: root certificate expired on ${cert.validTo}`);
  if (Date.parse(cert.validFrom) > now) throw new Error(`${certWhere}: root certificate is not valid before ${cert.validFrom}`);
  const key = parsePrivateKey(keyPem, keyWhere);
  try {
    signingAlgorithmOf(key);
  } catch (e) {
    throw new Error(`${keyWhere}: ${(e as Error).message}`);
  }
  return issuingCa(cert, key, `${keyWhere} (for ${certWhere})`);
}

/** Reads a root certificate persisted in the CA directory (for trust bundles of retiring roots). */
export async function loadRootCertificate(dir: string, id: string): Promise<X509Certificate | undefined> {
  const path = rootPaths(dir, id).cert;
  const pem = await readOptional(path);
  return pem === undefined ? undefined : parseCaCertificate(pem, path);
}

async function readRequired(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read the supplied ${what}: ${code === 'ENOENT' ? 'file not found' : (e as Error).message}`);
  }
}

/** Parses exactly one PEM certificate that must be a CA; `where` names the file in errors. */
export function parseCaCertificate(pem: string, where: string): X509Certificate {
  const blocks = splitCertificates(pem);
  if (blocks.length === 0) throw new Error(`${where}: no PEM CERTIFICATE block found`);
  if (blocks.length > 1) throw new Error(`${where}: expected one certificate, found ${blocks.length}`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(blocks[0]!);
  } catch (e) {
    throw new Error(`${where}: not a valid X.509 certificate (${(e as Error).message})`);
  }
  if (!cert.ca) throw new Error(`${where}: certificate "${(cert.subject ?? '').replace(/\n/g, ', ')}" is not a CA (basicConstraints CA:TRUE is required)`);
  return cert;
}

/**
 * Additional trust anchors (a Secret's `ca.crt`): one or more self-signed CA certificates, each
 * currently valid; `where` names the source in errors, with the certificate's position.
 */
export function parseTrustAnchors(pem: string, where: string, now: number): X509Certificate[] {
  const blocks = splitCertificates(pem);
  if (blocks.length === 0) throw new Error(`${where}: no PEM CERTIFICATE block found`);
  return blocks.map((block, i) => {
    const at = blocks.length > 1 ? `${where} (certificate ${i + 1} of ${blocks.length})` : where;
    const cert = parseCaCertificate(block, at);
    if (!cert.checkIssued(cert) || !cert.verify(cert.publicKey)) throw new Error(`${at}: certificate "${(cert.subject ?? '').replace(/\n/g, ', ')}" is not self-signed; only roots can be trust anchors`);
    if (Date.parse(cert.validTo) <= now) throw new Error(`${at}: certificate expired on ${cert.validTo}`);
    return cert;
  });
}
