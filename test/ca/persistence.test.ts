/** The CA directory: a generated root survives restarts, files have safe modes, supplied roots are validated. */
import { X509Certificate } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildCaCertificate } from '../../src/ca/ca-certificate.js';
import { CertificateAuthority, type WorkloadIdentity } from '../../src/ca/index.js';
import { generateEcP256, generateRsa2048, parsePrivateKey, privateKeyToPem, signingAlgorithmOf } from '../../src/ca/keys.js';
import { toPem } from '../../src/ca/pem.js';
import { randomSerial } from '../../src/ca/root.js';
import { FakeClock } from './fake-clock.js';
import { certs, tempDir } from './helpers.js';

const id: WorkloadIdentity = { cluster: 'cluster1', trustDomain: 'cluster1', namespace: 'default', serviceAccount: 'web' };

/** Writes a self-signed CA (or, with `ca: false`, a non-CA cert) the way a user's tooling would. */
async function writeRoot(dir: string, opts: { ca?: boolean; rsa?: boolean; name?: string } = {}): Promise<{ certFile: string; keyFile: string }> {
  const k = opts.rsa ? await generateRsa2048() : generateEcP256();
  const key = parsePrivateKey(k.privateKeyPem, 'test');
  const now = Date.now();
  let der = buildCaCertificate({
    subject: { organization: 'Example Corp', commonName: opts.name ?? 'Example Root' },
    spki: k.spki,
    serial: randomSerial(),
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 365 * 86400_000),
    selfKey: { key, algorithm: signingAlgorithmOf(key) },
  });
  if (opts.ca === false) {
    // A leaf from a throwaway CA: a perfectly good certificate, just not a CA.
    const { dir: d2, cleanup } = await tempDir();
    const other = await CertificateAuthority.open({ directory: d2 });
    const wc = await other.getWorkloadCertificate(id);
    other.close();
    await cleanup();
    der = certs(wc.certificateChainPem)[0]!.raw;
  }
  const certFile = join(dir, `${opts.name ?? 'root'}.crt`);
  const keyFile = join(dir, `${opts.name ?? 'root'}.key`);
  await writeFile(certFile, toPem(der));
  await writeFile(keyFile, privateKeyToPem(key), { mode: 0o600 });
  return { certFile, keyFile };
}

describe('CA persistence', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('generates the root once and reuses it after a restart (same fingerprint, same intermediate)', async () => {
    const caDir = join(dir, 'ca');
    const first = await CertificateAuthority.open({ directory: caDir });
    const leafBefore = await first.getWorkloadCertificate(id);
    const rootBefore = certs(first.trustBundle().pem)[0]!;
    first.close();

    const second = await CertificateAuthority.open({ directory: caDir });
    const rootAfter = certs(second.trustBundle().pem)[0]!;
    expect(rootAfter.fingerprint256).toBe(rootBefore.fingerprint256);
    expect(second.listIssued()).toEqual([]); // leaves are in memory only; nothing issued on open
    const leafAfter = await second.getWorkloadCertificate(id);
    expect(leafAfter.serial).not.toBe(leafBefore.serial);
    // Same intermediate, so the old leaf's chain and the new leaf's chain are interchangeable.
    expect(certs(leafAfter.certificateChainPem)[1]!.fingerprint256).toBe(certs(leafBefore.certificateChainPem)[1]!.fingerprint256);
    // And a leaf issued before the restart still verifies against the trust bundle after it.
    const [oldLeaf, oldInter] = certs(leafBefore.certificateChainPem);
    expect(oldLeaf!.verify(oldInter!.publicKey) && oldInter!.verify(rootAfter.publicKey)).toBe(true);
    second.close();
  });

  it('stores keys 0600 and certificates 0644, in a 0700 directory, and leaves no temp files', async () => {
    const caDir = join(dir, 'ca');
    const ca = await CertificateAuthority.open({ directory: caDir });
    const wc = await ca.getWorkloadCertificate(id);
    ca.close();
    const rootDir = join(caDir, 'roots', wc.rootId);
    expect((await stat(join(rootDir, 'key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(rootDir, 'cert.pem'))).mode & 0o777).toBe(0o644);
    const interDir = join(caDir, 'intermediates', wc.rootId, 'cluster1');
    expect((await stat(join(interDir, 'key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(interDir, 'cert.pem'))).mode & 0o777).toBe(0o644);
    expect((await stat(caDir)).mode & 0o777).toBe(0o700);
    const state = JSON.parse(await readFile(join(caDir, 'state.json'), 'utf8'));
    expect(state).toEqual({ version: 1, activeRoot: wc.rootId, activeRootKind: 'generated', retiring: [] });
    const all = [...(await readdir(caDir, { recursive: true }))].map(String);
    expect(all.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // The root key on disk really is the key of the root certificate.
    const root = new X509Certificate(await readFile(join(rootDir, 'cert.pem')));
    expect(root.checkPrivateKey(parsePrivateKey(await readFile(join(rootDir, 'key.pem')), 'root key'))).toBe(true);
  });

  it('refuses to silently replace a root whose key has gone missing', async () => {
    const caDir = join(dir, 'ca');
    const ca = await CertificateAuthority.open({ directory: caDir });
    const rootId = ca.trustBundle().roots[0]!.id;
    ca.close();
    const { rm } = await import('node:fs/promises');
    await rm(join(caDir, 'roots', rootId, 'key.pem'));
    await expect(CertificateAuthority.open({ directory: caDir })).rejects.toThrow(new RegExp(`roots/${rootId}/key.pem: missing, but .*state.json names root ${rootId}`));
  });

  it('reports a corrupt state file with its path', async () => {
    const caDir = join(dir, 'ca');
    await mkdir(caDir, { recursive: true });
    await writeFile(join(caDir, 'state.json'), '{"version": 1, "activeRoot": ');
    await expect(CertificateAuthority.open({ directory: caDir })).rejects.toThrow(/state\.json: not valid JSON/);
  });

  it('recovers from a torn intermediate (crash between key and certificate write) by making a new one', async () => {
    const caDir = join(dir, 'ca');
    const ca = await CertificateAuthority.open({ directory: caDir });
    const before = await ca.getWorkloadCertificate(id);
    ca.close();
    const interDir = join(caDir, 'intermediates', before.rootId, 'cluster1');
    await writeFile(join(interDir, 'key.pem'), privateKeyToPem(parsePrivateKey(generateEcP256().privateKeyPem, 'x')));
    const again = await CertificateAuthority.open({ directory: caDir });
    const after = await again.getWorkloadCertificate(id);
    const [leaf, inter] = certs(after.certificateChainPem);
    const root = certs(again.trustBundle().pem)[0]!;
    expect(inter!.fingerprint256).not.toBe(certs(before.certificateChainPem)[1]!.fingerprint256);
    expect(leaf!.verify(inter!.publicKey) && inter!.verify(root.publicKey)).toBe(true);
    again.close();
  });

  it('uses a supplied root, copying only its certificate into the CA directory', async () => {
    const supplied = await writeRoot(dir);
    const caDir = join(dir, 'ca');
    const ca = await CertificateAuthority.open({ directory: caDir, root: { kind: 'files', ...supplied } });
    const wc = await ca.getWorkloadCertificate(id);
    const userRoot = new X509Certificate(await readFile(supplied.certFile));
    expect(certs(ca.trustBundle().pem)[0]!.fingerprint256).toBe(userRoot.fingerprint256);
    expect(certs(wc.certificateChainPem)[1]!.verify(userRoot.publicKey)).toBe(true);
    expect(await readdir(join(caDir, 'roots', wc.rootId))).toEqual(['cert.pem']);
    ca.close();
  });

  it('accepts a supplied RSA root and signs ECDSA leaves under it', async () => {
    const supplied = await writeRoot(dir, { rsa: true });
    const ca = await CertificateAuthority.open({ directory: join(dir, 'ca'), root: { kind: 'files', ...supplied } });
    const wc = await ca.getWorkloadCertificate(id);
    const [leaf, inter] = certs(wc.certificateChainPem);
    const root = certs(ca.trustBundle().pem)[0]!;
    expect(root.publicKey.asymmetricKeyType).toBe('rsa');
    expect(leaf!.publicKey.asymmetricKeyType).toBe('ec');
    expect(leaf!.verify(inter!.publicKey) && inter!.verify(root.publicKey)).toBe(true);
    ca.close();
  });

  it('explains what is wrong with a bad supplied root', async () => {
    const caDir = join(dir, 'ca');
    const good = await writeRoot(dir, { name: 'good' });
    const other = await writeRoot(dir, { name: 'other' });
    const notCa = await writeRoot(dir, { name: 'leaf', ca: false });
    const open = (certFile: string, keyFile: string) => CertificateAuthority.open({ directory: caDir, root: { kind: 'files', certFile, keyFile } });

    await expect(open(join(dir, 'nope.crt'), good.keyFile)).rejects.toThrow(/nope\.crt: cannot read the supplied root certificate \(certFile\): file not found/);
    await expect(open(good.certFile, join(dir, 'nope.key'))).rejects.toThrow(/nope\.key: cannot read the supplied root private key \(keyFile\): file not found/);
    await expect(open(good.certFile, other.keyFile)).rejects.toThrow(/does not match the certificate's public key/);
    await expect(open(notCa.certFile, notCa.keyFile)).rejects.toThrow(/leaf\.crt: certificate .* is not a CA/);
    await writeFile(join(dir, 'garbage.crt'), 'hello');
    await expect(open(join(dir, 'garbage.crt'), good.keyFile)).rejects.toThrow(/garbage\.crt: no PEM CERTIFICATE block found/);
    await writeFile(join(dir, 'garbage.key'), 'hello');
    await expect(open(good.certFile, join(dir, 'garbage.key'))).rejects.toThrow(/garbage\.key: not a readable unencrypted PEM private key/);
    // An intermediate is a CA but not a root: it cannot anchor trust on its own.
    const gen = await CertificateAuthority.open({ directory: join(dir, 'gen') });
    const wc = await gen.getWorkloadCertificate(id);
    gen.close();
    const interFile = join(dir, 'inter.crt');
    await writeFile(interFile, certs(wc.certificateChainPem)[1]!.toString());
    await expect(open(interFile, join(dir, 'gen', 'intermediates', wc.rootId, 'cluster1', 'key.pem'))).rejects.toThrow(/inter\.crt: .* is not self-signed/);
  });

  it('keeps the previous root in the bundle when the supplied root is changed between restarts', async () => {
    const caDir = join(dir, 'ca');
    const clock = new FakeClock(Date.now());
    const a = await writeRoot(dir, { name: 'a' });
    const b = await writeRoot(dir, { name: 'b' });
    const first = await CertificateAuthority.open({ directory: caDir, clock, root: { kind: 'files', ...a } });
    const oldLeaf = await first.getWorkloadCertificate(id);
    first.close();
    const second = await CertificateAuthority.open({ directory: caDir, clock, root: { kind: 'files', ...b } });
    const bundle = second.trustBundle();
    expect(bundle.roots.map((r) => r.status)).toEqual(['active', 'retiring']);
    expect(bundle.roots[1]!.id).toBe(oldLeaf.rootId);
    const roots = certs(bundle.pem);
    const inter = certs(oldLeaf.certificateChainPem)[1]!;
    expect(roots.some((r) => inter.verify(r.publicKey))).toBe(true);
    // Once every leaf the old root could have signed has expired, it leaves the bundle.
    clock.advance(25 * 3600_000);
    await new Promise((r) => setImmediate(r));
    expect(second.trustBundle().roots.map((r) => r.status)).toEqual(['active']);
    second.close();
  });

  it('switching from a supplied root to a generated one makes a new root and retires the supplied one', async () => {
    const caDir = join(dir, 'ca');
    const a = await writeRoot(dir, { name: 'a' });
    const first = await CertificateAuthority.open({ directory: caDir, root: { kind: 'files', ...a } });
    const suppliedId = first.trustBundle().roots[0]!.id;
    first.close();
    const second = await CertificateAuthority.open({ directory: caDir });
    const roots = second.trustBundle().roots;
    expect(roots[0]!.id).not.toBe(suppliedId);
    expect(roots.map((r) => [r.id === suppliedId, r.status])).toEqual([[false, 'active'], [true, 'retiring']]);
    second.close();
    // And the generated root is then the one reused.
    const third = await CertificateAuthority.open({ directory: caDir });
    expect(third.trustBundle().roots[0]!.id).toBe(roots[0]!.id);
    third.close();
  });
});
