/** Leaf rotation at 2/3 of the lifetime and root rotation with a two-root trust bundle, on a fake clock. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority, type CaEvent, type WorkloadIdentity } from '../../src/ca/index.js';
import { FakeClock } from './fake-clock.js';
import { certs, tempDir, waitFor } from './helpers.js';

const HOUR = 3600_000;
const a: WorkloadIdentity = { cluster: 'cluster1', trustDomain: 'cluster1', namespace: 'default', serviceAccount: 'frontend' };
const b: WorkloadIdentity = { cluster: 'cluster2', trustDomain: 'cluster2', namespace: 'default', serviceAccount: 'backend' };

/** Does `chainPem` (leaf + intermediate) verify up to one of the roots in `bundlePem`, at `at`? */
function chainsTo(chainPem: string, bundlePem: string, at: number): boolean {
  const [leaf, inter] = certs(chainPem);
  const valid = (c: { validFrom: string; validTo: string }) => Date.parse(c.validFrom) <= at && at <= Date.parse(c.validTo);
  if (!leaf || !inter || !valid(leaf) || !valid(inter) || !leaf.verify(inter.publicKey)) return false;
  return certs(bundlePem).some((root) => valid(root) && inter.checkIssued(root) && inter.verify(root.publicKey));
}

describe('rotation', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let clock: FakeClock;
  let ca: CertificateAuthority;
  let events: CaEvent[];

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    clock = new FakeClock(Date.now());
    ca = await CertificateAuthority.open({ directory: dir, clock });
    events = [];
    ca.onChange((e) => events.push(e));
  });
  afterEach(async () => {
    ca.close();
    await cleanup();
  });

  const certEvents = (reason: string) => events.filter((e): e is Extract<CaEvent, { kind: 'certificate' }> => e.kind === 'certificate' && e.reason === reason);

  it('reissues a leaf at 2/3 of its lifetime, before it expires, and tells listeners', async () => {
    const first = await ca.getWorkloadCertificate(a);
    expect(certEvents('issued').map((e) => e.certificate.serial)).toEqual([first.serial]);

    clock.advance(16 * HOUR - 1000);
    await new Promise((r) => setImmediate(r));
    expect(certEvents('rotated')).toHaveLength(0);
    expect(await ca.getWorkloadCertificate(a)).toBe(first);

    clock.advance(1000);
    await waitFor(() => certEvents('rotated').length === 1);
    const second = certEvents('rotated')[0]!.certificate;
    expect(second.serial).not.toBe(first.serial);
    expect(clock.now()).toBeLessThan(first.notAfter.getTime()); // replaced well before expiry
    expect(second.notAfter.getTime() - first.notAfter.getTime()).toBeGreaterThanOrEqual(16 * HOUR - 1000);
    expect(await ca.getWorkloadCertificate(a)).toBe(second);
    expect(ca.listIssued().map((i) => i.serial)).toEqual([second.serial]);
    expect(chainsTo(second.certificateChainPem, ca.trustBundle().pem, clock.now())).toBe(true);

    // And again, one lifetime later: a workload served continuously is never without a valid certificate.
    clock.advance(16 * HOUR);
    await waitFor(() => certEvents('rotated').length === 2);
    const third = certEvents('rotated')[1]!.certificate;
    expect(clock.now()).toBeLessThan(second.notAfter.getTime());
    expect(chainsTo(third.certificateChainPem, ca.trustBundle().pem, clock.now())).toBe(true);
  });

  it('stops rotating released identities, and close() cancels every timer', async () => {
    await ca.getWorkloadCertificate(a);
    await ca.getWorkloadCertificate(b);
    ca.releaseWorkloadCertificate(a);
    expect(ca.currentWorkloadCertificate(a)).toBeUndefined();
    clock.advance(17 * HOUR);
    await waitFor(() => certEvents('rotated').length === 1);
    await new Promise((r) => setImmediate(r));
    expect(certEvents('rotated').map((e) => e.certificate.spiffeId)).toEqual(['spiffe://cluster2/ns/default/sa/backend']);
    expect(clock.pending).toBe(1);
    ca.close();
    expect(clock.pending).toBe(0);
    await expect(ca.getWorkloadCertificate(a)).rejects.toThrow(/closed/);
  });

  it('honours a configured lifetime', async () => {
    const { dir: d2, cleanup: c2 } = await tempDir();
    const short = await CertificateAuthority.open({ directory: d2, clock, leafLifetimeMs: HOUR, backdateMs: 0 });
    try {
      const wc = await short.getWorkloadCertificate(a);
      expect(wc.notAfter.getTime() - wc.notBefore.getTime()).toBeLessThanOrEqual(HOUR);
      expect(wc.notAfter.getTime() - wc.notBefore.getTime()).toBeGreaterThan(HOUR - 1000);
      expect(wc.rotateAt.getTime() - clock.now()).toBe(40 * 60_000);
    } finally {
      short.close();
      await c2();
    }
    await expect(CertificateAuthority.open({ directory: d2, leafLifetimeMs: -5 })).rejects.toThrow(/leafLifetimeMs must be a number/);
  });

  it('rotates the root keeping both roots trusted until every old leaf is reissued, then drops the old one', async () => {
    const oldA = await ca.getWorkloadCertificate(a);
    const oldB = await ca.getWorkloadCertificate(b);
    const oldRoot = ca.trustBundle().roots[0]!.id;

    await ca.rotateRoot();
    const bundle = ca.trustBundle();
    expect(bundle.roots.map((r) => r.status)).toEqual(['active', 'retiring']);
    expect(bundle.roots[1]!.id).toBe(oldRoot);
    const newRoot = bundle.roots[0]!.id;
    // The bundle change is announced before any leaf under the new root exists.
    expect(events.filter((e) => e.kind !== 'certificate' || e.reason !== 'issued').map((e) => e.kind)).toEqual(['trustBundle']);
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));
    expect(state.activeRoot).toBe(newRoot);
    expect(state.retiring.map((r: { id: string }) => r.id)).toEqual([oldRoot]);

    // Old leaves still verify against the bundle; a new workload gets a leaf under the new root.
    expect(chainsTo(oldA.certificateChainPem, bundle.pem, clock.now())).toBe(true);
    expect(chainsTo(oldB.certificateChainPem, bundle.pem, clock.now())).toBe(true);
    const fresh = await ca.getWorkloadCertificate({ ...a, serviceAccount: 'newcomer' });
    expect(fresh.rootId).toBe(newRoot);
    expect(chainsTo(fresh.certificateChainPem, bundle.pem, clock.now())).toBe(true);
    expect(ca.currentWorkloadCertificate(a)).toBe(oldA); // not yet: the bundle needs time to reach every proxy

    // After the grace period, every old leaf is reissued under the new root.
    clock.advance(60_000);
    await waitFor(() => certEvents('root-rotated').length === 2);
    expect(certEvents('root-rotated').map((e) => e.certificate.rootId)).toEqual([newRoot, newRoot]);
    expect(ca.listIssued().every((i) => i.rootId === newRoot)).toBe(true);
    // Both roots stay until the new leaves have had time to reach their proxies.
    expect(ca.trustBundle().roots).toHaveLength(2);
    expect(chainsTo(oldA.certificateChainPem, ca.trustBundle().pem, clock.now())).toBe(true);

    clock.advance(60_000);
    await waitFor(() => ca.trustBundle().roots.length === 1);
    expect(ca.trustBundle().roots[0]!.id).toBe(newRoot);
    const last = events.at(-1)!;
    expect(last.kind).toBe('trustBundle');
    expect(chainsTo(oldA.certificateChainPem, ca.trustBundle().pem, clock.now())).toBe(false);
    expect(chainsTo(ca.currentWorkloadCertificate(a)!.certificateChainPem, ca.trustBundle().pem, clock.now())).toBe(true);
    // The state write follows the event: poll the file until it reflects the drop.
    const deadline = Date.now() + 5000;
    let retiring: unknown[] = [oldRoot];
    while (retiring.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      retiring = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).retiring;
    }
    expect(retiring).toEqual([]);
  });

  it('keeps the retiring root across a restart in the middle of a root rotation', async () => {
    const old = await ca.getWorkloadCertificate(a);
    await ca.rotateRoot();
    ca.close();
    const reopened = await CertificateAuthority.open({ directory: dir, clock });
    try {
      const bundle = reopened.trustBundle();
      expect(bundle.roots.map((r) => r.status)).toEqual(['active', 'retiring']);
      expect(chainsTo(old.certificateChainPem, bundle.pem, clock.now())).toBe(true);
      const now = await reopened.getWorkloadCertificate(a);
      expect(now.rootId).toBe(bundle.roots[0]!.id);
      // This process cannot know which old leaves are still out there: it keeps the old root until they must have expired.
      clock.advance(23 * HOUR);
      await new Promise((r) => setImmediate(r));
      expect(reopened.trustBundle().roots).toHaveLength(2);
      clock.advance(2 * HOUR);
      await waitFor(() => reopened.trustBundle().roots.length === 1);
    } finally {
      reopened.close();
    }
  });

  it('refuses a rotation of the other kind (a restart would undo it)', async () => {
    const first = await ca.getWorkloadCertificate(a);
    const { rootPaths } = await import('../../src/ca/ca-store.js');
    const paths = rootPaths(dir, first.rootId);
    await expect(ca.rotateRoot({ kind: 'files', certFile: paths.cert, keyFile: paths.key })).rejects.toThrow(/uses a generated root/);
    expect(ca.trustBundle().roots).toHaveLength(1);
  });

  it('rotates a supplied-root CA to another supplied root, refusing the active one', async () => {
    // Two generated CAs stand in for the user's old and new root files.
    const { dir: d1, cleanup: c1 } = await tempDir();
    const { dir: d2, cleanup: c2 } = await tempDir();
    const { rootPaths } = await import('../../src/ca/ca-store.js');
    const makeRoot = async (d: string) => {
      const tmp = await CertificateAuthority.open({ directory: d, clock });
      const id = tmp.trustBundle().roots[0]!.id;
      tmp.close();
      const p = rootPaths(d, id);
      return { kind: 'files' as const, certFile: p.cert, keyFile: p.key };
    };
    const oldRoot = await makeRoot(d1);
    const newRoot = await makeRoot(d2);
    const { dir: caDir, cleanup: c3 } = await tempDir();
    const supplied = await CertificateAuthority.open({ directory: caDir, clock, root: oldRoot });
    try {
      const leaf = await supplied.getWorkloadCertificate(a);
      await expect(supplied.rotateRoot(oldRoot)).rejects.toThrow(/already the active root/);
      await expect(supplied.rotateRoot()).rejects.toThrow(/uses a supplied root/);
      await supplied.rotateRoot(newRoot);
      const bundle = supplied.trustBundle();
      expect(bundle.roots.map((r) => r.status)).toEqual(['active', 'retiring']);
      expect(chainsTo(leaf.certificateChainPem, bundle.pem, clock.now())).toBe(true);
      expect((await supplied.getWorkloadCertificate(b)).rootId).toBe(bundle.roots[0]!.id);
    } finally {
      supplied.close();
      await c1();
      await c2();
      await c3();
    }
  });
});

