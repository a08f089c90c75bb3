/**
 * The federated CA: one root (generated or supplied), one intermediate per member cluster, and
 * SPIFFE workload certificates issued lazily on first request, cached, and reissued at 2/3 of
 * their lifetime. Listeners hear about every new leaf and every trust bundle change, which is
 * what the SDS stage pushes. A root rotation keeps old + new root in the bundle until every
 * leaf issued under the old root has been replaced.
 */
import type { X509Certificate } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { log } from '../log.js';
import { ensurePrivateDir } from './atomic-file.js';
import { DEFAULT_CA_DIRECTORY, readState, writeState, type RetiringRoot } from './ca-store.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { spiffeIdOf, type WorkloadIdentity } from './identity.js';
import { deriveIntermediate, loadOrCreateIntermediate, type Intermediate } from './intermediate.js';
import { deriveP256, deriveSerial, issuanceSecret } from './deterministic.js';
import type { IssuingCa } from './issuing-ca.js';
import { generateEcP256, generateRsa2048, type KeyAlgorithm } from './keys.js';
import { certificatesIssued, issueFailures, trustBundleRoots, workloadCertificates } from './metrics.js';
import { toPem } from './pem.js';
import { generateRoot, loadGeneratedRoot, loadPemRoot, loadRootCertificate, loadSuppliedRoot, parseTrustAnchors, randomSerial, type RootSource } from './root.js';
import { ROOT_SECRET_CERT_KEY, ROOT_SECRET_KEY_KEY, ROOT_SECRET_TRUST_KEY } from './root-secret-format.js';
import { certificateId } from './issuing-ca.js';
import { issueServerCertificate as signServerCertificate, type ServerCertificate } from './server-certificate.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/** How the CA is set up. Every field has a default. */
export interface CertificateAuthorityOptions {
  /** CA directory (state, roots, intermediates). Default `.crossmesh/ca`. */
  readonly directory?: string;
  /** Default: generated (created once, then reused from `directory`). */
  readonly root?: RootSource;
  /** Key type of generated roots, intermediates and leaves. Default ECDSA_P256. */
  readonly keyAlgorithm?: KeyAlgorithm;
  /** Workload certificate lifetime. Default 24 h. Reissued at 2/3 of it. */
  readonly leafLifetimeMs?: number;
  /** notBefore is set this far in the past to tolerate clock skew between hosts. Default 5 min. */
  readonly backdateMs?: number;
  /** Intermediate lifetime. Default 365 days (capped by the root's notAfter). */
  readonly intermediateLifetimeMs?: number;
  /** Lifetime of generated roots. Default 10 years. */
  readonly rootLifetimeMs?: number;
  /**
   * Root rotation: how long a new trust bundle is given to reach every proxy before leaves are
   * reissued under the new root, and again before the old root is dropped. Default 60 s.
   */
  readonly rootRotationGraceMs?: number;
  /**
   * Shared issuance (replicas that share a root, e.g. from a Kubernetes Secret): intermediates and
   * leaves are derived from the root key and aligned time windows, so every replica issues
   * byte-identical certificates for the same identity in the same window (see deterministic.ts).
   * Leaves then rotate at fixed window ends (every 2/3 of their lifetime) rather than 2/3 after
   * their own issuance. ECDSA P-256 only; with RSA_2048 it is off (with a warning).
   */
  readonly sharedIssuance?: boolean;
  readonly clock?: Clock;
}

/** A workload's current certificate. `privateKey` is non-enumerable: JSON/log serialisation never includes it. */
export interface WorkloadCertificate {
  readonly spiffeId: string;
  readonly cluster: string;
  /** Upper-case hex, as `X509Certificate.serialNumber` prints it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** When the CA will replace it (2/3 of the lifetime after issuance). */
  readonly rotateAt: Date;
  readonly keyAlgorithm: KeyAlgorithm;
  /** Id of the root it chains to. */
  readonly rootId: string;
  /** PEM: the leaf, then its cluster's intermediate. */
  readonly certificateChainPem: string;
  /** PEM private key of the leaf (SEC1 for ECDSA, PKCS#8 for RSA). */
  readonly privateKey: string;
}

/** What `/debug/certs` shows of an issued certificate: never key material. */
export type IssuedCertificateInfo = Omit<WorkloadCertificate, 'certificateChainPem' | 'privateKey'>;

/** A root in the trust bundle. */
export interface TrustBundleRoot {
  readonly id: string;
  readonly subject: string;
  readonly notAfter: Date;
  /** `trusted`: an additional trust anchor the root's Secret lists in `ca.crt` (a root rotation in progress). */
  readonly status: 'active' | 'retiring' | 'trusted';
}

/** The roots every workload must trust: PEM list, active root first. */
export interface TrustBundle {
  readonly pem: string;
  readonly roots: readonly TrustBundleRoot[];
}

/** A change the SDS stage must push. */
export type CaEvent =
  | { readonly kind: 'certificate'; readonly reason: 'issued' | 'rotated' | 'root-rotated'; readonly certificate: WorkloadCertificate }
  | { readonly kind: 'trustBundle'; readonly bundle: TrustBundle };

interface Entry {
  readonly key: string;
  readonly identity: WorkloadIdentity;
  readonly spiffeId: string;
  current?: WorkloadCertificate;
  inflight?: Promise<WorkloadCertificate>;
  timer?: TimerHandle;
}

interface Retiring {
  readonly id: string;
  readonly cert: X509Certificate;
  readonly certPem: string;
  readonly keepUntil: number;
  /** Set once this process has reissued the leaves of this root; only then may it be dropped early. */
  swept: boolean;
  timers: TimerHandle[];
  dropScheduled: boolean;
}

interface Settings {
  readonly directory: string;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly leafLifetimeMs: number;
  readonly backdateMs: number;
  readonly intermediateLifetimeMs: number;
  readonly rootLifetimeMs: number;
  readonly graceMs: number;
  readonly sharedIssuance: boolean;
  readonly clock: Clock;
}

function positive(value: number | undefined, fallback: number, name: string, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min) throw new Error(`CA option ${name} must be a number ≥ ${min} ms, got ${String(value)}`);
  return v;
}

function settingsOf(o: CertificateAuthorityOptions): Settings {
  const leafLifetimeMs = positive(o.leafLifetimeMs, DAY, 'leafLifetimeMs', 1000);
  const intermediateLifetimeMs = positive(o.intermediateLifetimeMs, 365 * DAY, 'intermediateLifetimeMs');
  if (intermediateLifetimeMs < 3 * leafLifetimeMs) {
    throw new Error(`CA option intermediateLifetimeMs (${intermediateLifetimeMs}) must be at least 3x leafLifetimeMs (${leafLifetimeMs})`);
  }
  const keyAlgorithm = o.keyAlgorithm ?? 'ECDSA_P256';
  if (keyAlgorithm !== 'ECDSA_P256' && keyAlgorithm !== 'RSA_2048') throw new Error(`CA option keyAlgorithm must be ECDSA_P256 or RSA_2048, got ${String(keyAlgorithm)}`);
  return {
    directory: o.directory ?? DEFAULT_CA_DIRECTORY,
    keyAlgorithm,
    leafLifetimeMs,
    backdateMs: positive(o.backdateMs, 5 * 60 * 1000, 'backdateMs', 0),
    intermediateLifetimeMs,
    rootLifetimeMs: positive(o.rootLifetimeMs, 3650 * DAY, 'rootLifetimeMs'),
    graceMs: positive(o.rootRotationGraceMs, 60 * 1000, 'rootRotationGraceMs', 0),
    sharedIssuance: o.sharedIssuance === true && keyAlgorithm === 'ECDSA_P256',
    clock: o.clock ?? systemClock(),
  };
}

/** The federated certificate authority. Create with `CertificateAuthority.open`. */
export class CertificateAuthority {
  private readonly entries = new Map<string, Entry>();
  private readonly intermediates = new Map<string, Intermediate>();
  private readonly intermediateInflight = new Map<string, Promise<Intermediate>>();
  private readonly listeners = new Set<(event: CaEvent) => void>();
  private readonly retiring = new Map<string, Retiring>();
  /** Current leaves per root id, so root retirement checks are O(1) per issuance. */
  private readonly leavesByRoot = new Map<string, number>();
  private currentCount = 0;
  /** Additional trust anchors (a Secret root's `ca.crt`), by id; fixed for the life of the process. */
  private readonly anchors = new Map<string, { readonly cert: X509Certificate; readonly certPem: string }>();
  /** Shared issuance: the derivation secret of each root (by id). */
  private readonly issuanceSecrets = new Map<string, Buffer>();
  private stateWrites: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly s: Settings,
    private active: IssuingCa,
    private readonly rootKind: RootSource['kind'],
  ) {}

  /**
   * Opens the CA in `options.directory`: loads the persisted root (or the supplied one), creating
   * and persisting a root on first use. Issues nothing: leaves are created when first asked for.
   */
  static async open(options: CertificateAuthorityOptions = {}): Promise<CertificateAuthority> {
    const s = settingsOf(options);
    if (options.sharedIssuance && !s.sharedIssuance) log.warn({ keyAlgorithm: s.keyAlgorithm }, 'shared issuance needs ECDSA_P256 keys; each replica issues its own certificates');
    const source = options.root ?? { kind: 'generated' };
    const now = s.clock.now();
    await ensurePrivateDir(s.directory);
    const state = await readState(s.directory);
    let active: IssuingCa;
    const retiring: RetiringRoot[] = [...(state?.retiring ?? [])];
    if (source.kind === 'generated') {
      if (state?.activeRootKind === 'generated') {
        active = await loadGeneratedRoot(s.directory, state.activeRoot);
      } else {
        active = await generateRoot(s.directory, s.keyAlgorithm, s.rootLifetimeMs, now);
        log.info({ root: active.id, directory: s.directory, notAfter: active.notAfter.toISOString() }, 'generated a new root CA');
      }
    } else if (source.kind === 'files') {
      active = await loadSuppliedRoot(s.directory, source.certFile, source.keyFile, now);
    } else {
      active = await loadPemRoot(s.directory, source.certPem, source.keyPem, `secret ${source.secret} key ${ROOT_SECRET_CERT_KEY}`, `secret ${source.secret} key ${ROOT_SECRET_KEY_KEY}`, now);
    }
    if (state && state.activeRoot !== active.id) {
      // The configured root changed (new supplied files, or supplied → generated): trust the previous
      // root until every leaf it may have signed has expired.
      retiring.push({ id: state.activeRoot, keepUntil: now + s.leafLifetimeMs + s.backdateMs + s.graceMs });
      log.warn({ previous: state.activeRoot, root: active.id }, 'root CA changed; keeping the previous root in the trust bundle until its leaves expire');
    }
    const ca = new CertificateAuthority(s, active, source.kind);
    for (const r of retiring) {
      if (r.id === active.id || r.keepUntil <= now || ca.retiring.has(r.id)) continue;
      const cert = await loadRootCertificate(s.directory, r.id);
      if (!cert) {
        log.warn({ root: r.id }, 'retiring root certificate missing from the CA directory; dropping it from the trust bundle');
        continue;
      }
      ca.addRetiring(r.id, cert, r.keepUntil);
    }
    if (source.kind === 'secret' && source.trustPem !== undefined) {
      for (const cert of parseTrustAnchors(source.trustPem, `secret ${source.secret} key ${ROOT_SECRET_TRUST_KEY}`, now)) {
        const id = certificateId(cert);
        if (id !== active.id && !ca.anchors.has(id)) ca.anchors.set(id, { cert, certPem: toPem(cert.raw) });
      }
      if (ca.anchors.size) log.info({ roots: [...ca.anchors.keys()] }, `trusting the additional roots of secret ${source.secret} key ${ROOT_SECRET_TRUST_KEY}`);
    }
    await ca.persistState();
    if (Date.parse(active.cert.validTo) - now < s.leafLifetimeMs * 3) {
      log.warn({ root: active.id, notAfter: active.cert.validTo }, 'root CA expires soon; rotate it or supply a new root (see docs/identity.md)');
    }
    trustBundleRoots.set(1 + ca.retiring.size + ca.anchors.size);
    return ca;
  }

  /** The CA directory in use. */
  get directory(): string {
    return this.s.directory;
  }

  /**
   * The current certificate of `identity`, issuing it on first request and reusing it until its
   * rotation time. Concurrent first requests share one issuance. Rejects with a clear message on
   * an invalid identity.
   */
  async getWorkloadCertificate(identity: WorkloadIdentity): Promise<WorkloadCertificate> {
    this.assertOpen();
    const spiffeId = spiffeIdOf(identity);
    const key = `${identity.cluster}\u0000${spiffeId}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { key, spiffeId, identity: { cluster: identity.cluster, trustDomain: identity.trustDomain, namespace: identity.namespace, serviceAccount: identity.serviceAccount } };
      this.entries.set(key, entry);
    }
    const current = entry.current;
    if (current && this.s.clock.now() < current.rotateAt.getTime()) return current;
    // A late timer (host asleep, loop blocked) must not hand out an expiring certificate: renew now.
    return this.renew(entry, current ? 'rotated' : 'issued');
  }

  /** The cached certificate of `identity` without issuing one (undefined if never requested). */
  currentWorkloadCertificate(identity: WorkloadIdentity): WorkloadCertificate | undefined {
    return this.entries.get(`${identity.cluster}\u0000${spiffeIdOf(identity)}`)?.current;
  }

  /** Stops rotating `identity`'s certificate (its workloads are gone); a later request issues a new one. */
  releaseWorkloadCertificate(identity: WorkloadIdentity): void {
    const key = `${identity.cluster}\u0000${spiffeIdOf(identity)}`;
    const entry = this.entries.get(key);
    if (!entry) return;
    if (entry.timer) this.s.clock.clearTimer(entry.timer);
    this.entries.delete(key);
    this.setCurrent(entry, undefined);
    this.checkRetiring();
  }

  /** The trust bundle (ROOTCA): the active root first, then roots still retiring after a rotation. */
  trustBundle(): TrustBundle {
    const roots: TrustBundleRoot[] = [{ id: this.active.id, subject: oneLine(this.active.cert.subject), notAfter: this.active.notAfter, status: 'active' }];
    let pem = this.active.certPem;
    for (const r of [...this.retiring.values()].sort((a, b) => a.keepUntil - b.keepUntil)) {
      roots.push({ id: r.id, subject: oneLine(r.cert.subject), notAfter: new Date(r.cert.validTo), status: 'retiring' });
      pem += r.certPem;
    }
    for (const [id, a] of this.anchors) {
      if (this.retiring.has(id) || id === this.active.id) continue;
      roots.push({ id, subject: oneLine(a.cert.subject), notAfter: new Date(a.cert.validTo), status: 'trusted' });
      pem += a.certPem;
    }
    return { pem, roots };
  }

  /** Every certificate currently held for rotation, by SPIFFE ID then cluster. No key material. */
  listIssued(): IssuedCertificateInfo[] {
    const out: IssuedCertificateInfo[] = [];
    for (const e of this.entries.values()) {
      const c = e.current;
      if (!c) continue;
      out.push({ spiffeId: c.spiffeId, cluster: c.cluster, serial: c.serial, notBefore: c.notBefore, notAfter: c.notAfter, rotateAt: c.rotateAt, keyAlgorithm: c.keyAlgorithm, rootId: c.rootId });
    }
    return out.sort((a, b) => (a.spiffeId < b.spiffeId ? -1 : a.spiffeId > b.spiffeId ? 1 : a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
  }

  /** Intermediates in memory (created or loaded since start): cluster, trust domain, root, expiry. */
  listIntermediates(): { cluster: string; trustDomain: string; rootId: string; id: string; notAfter: Date }[] {
    return [...this.intermediates.values()].map((i) => ({ cluster: i.cluster, trustDomain: i.trustDomain, rootId: i.rootId, id: i.id, notAfter: i.notAfter }));
  }

  /** Subscribes to certificate and trust bundle changes; returns the unsubscribe function. */
  onChange(listener: (event: CaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Rotates the root: a new generated root (generated CAs, no argument) or the given supplied root
   * (supplied CAs; point the config at the same files so a restart keeps it) becomes active at once
   * (new leaves chain to it) and the trust bundle becomes new + old. After the grace period the
   * leaves issued under the old root are reissued; once none is left, and another grace period
   * has passed, the old root leaves the bundle (at the latest when its last leaf has expired).
   */
  async rotateRoot(source: RootSource = { kind: 'generated' }): Promise<void> {
    this.assertOpen();
    if (this.rootKind === 'secret' || source.kind === 'secret') {
      // Every replica reads the Secret at start-up: rotating one process alone would split the mesh.
      throw new Error('root rotation: this CA\'s root comes from a Kubernetes Secret shared by every replica; replace tls.crt and tls.key in that Secret and restart the replicas (docs/kubernetes.md, "Root CA in a Secret")');
    }
    if (source.kind !== this.rootKind) {
      // Otherwise the next restart, still configured the old way, would quietly undo the rotation.
      throw new Error(
        this.rootKind === 'files'
          ? 'root rotation: this CA uses a supplied root; rotate by supplying the new root (certFile, keyFile) and update the VirtualMesh config to the same files'
          : 'root rotation: this CA uses a generated root; to switch to a supplied root, change the VirtualMesh config and restart',
      );
    }
    const now = this.s.clock.now();
    const next =
      source.kind === 'files'
        ? await loadSuppliedRoot(this.s.directory, source.certFile, source.keyFile, now)
        : await generateRoot(this.s.directory, this.s.keyAlgorithm, this.s.rootLifetimeMs, now);
    const old = this.active;
    if (next.id === old.id) throw new Error(`root rotation: root ${next.id} is already the active root`);
    // Leaves issued until now live at most this long; past it the old root cannot be needed.
    const keepUntil = now + this.s.leafLifetimeMs + this.s.backdateMs + 2 * this.s.graceMs;
    const previous = this.retiring.get(next.id);
    if (previous) this.forgetRetiring(previous);
    this.active = next;
    const r = this.addRetiring(old.id, old.cert, keepUntil);
    try {
      await this.persistState();
    } catch (e) {
      this.active = old;
      this.forgetRetiring(r);
      throw e;
    }
    log.info({ previous: old.id, root: next.id }, 'root CA rotated; trust bundle now holds both roots');
    this.emit({ kind: 'trustBundle', bundle: this.trustBundle() });
    r.timers.push(this.s.clock.setTimer(() => void this.sweep(r), this.s.graceMs));
  }

  /** Issues a TLS server certificate (DNS/IP SANs, no SPIFFE ID) under the active root: the xDS server's own. */
  issueServerCertificate(hosts: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[]; readonly lifetimeMs: number }): Promise<ServerCertificate> {
    this.assertOpen();
    return signServerCertificate(this.active, { ...hosts, keyAlgorithm: this.s.keyAlgorithm, backdateMs: this.s.backdateMs }, this.s.clock.now());
  }

  /** Cancels every timer; the CA issues nothing afterwards. Files stay on disk. */
  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) if (e.timer) this.s.clock.clearTimer(e.timer);
    for (const r of this.retiring.values()) for (const t of r.timers) this.s.clock.clearTimer(t);
    this.listeners.clear();
  }

  // ---- issuance ----

  private renew(entry: Entry, reason: 'issued' | 'rotated' | 'root-rotated'): Promise<WorkloadCertificate> {
    if (entry.inflight) return entry.inflight;
    const p = this.issue(entry).then(
      (cert) => {
        entry.inflight = undefined;
        if (this.closed || this.entries.get(entry.key) !== entry) return cert; // released meanwhile
        this.setCurrent(entry, cert);
        if (entry.timer) this.s.clock.clearTimer(entry.timer);
        entry.timer = this.s.clock.setTimer(() => this.rotateOnTimer(entry), cert.rotateAt.getTime() - this.s.clock.now());
        certificatesIssued.inc({ reason, key_algorithm: cert.keyAlgorithm });
        log.debug({ spiffeId: cert.spiffeId, cluster: cert.cluster, serial: cert.serial, notAfter: cert.notAfter.toISOString(), reason }, 'issued workload certificate');
        this.emit({ kind: 'certificate', reason, certificate: cert });
        this.checkRetiring();
        return cert;
      },
      (err: unknown) => {
        entry.inflight = undefined;
        issueFailures.inc();
        throw err;
      },
    );
    entry.inflight = p;
    return p;
  }

  private rotateOnTimer(entry: Entry): void {
    entry.timer = undefined;
    if (this.closed || this.entries.get(entry.key) !== entry) return;
    this.renew(entry, 'rotated').catch((e: unknown) => {
      // Keep serving the current leaf and retry well before it expires.
      const left = (entry.current?.notAfter.getTime() ?? 0) - this.s.clock.now();
      const retryIn = Math.max(1000, Math.min(60_000, left / 4));
      log.error({ spiffeId: entry.spiffeId, cluster: entry.identity.cluster, err: (e as Error).message, retryInMs: retryIn }, 'workload certificate rotation failed');
      if (!this.closed && this.entries.get(entry.key) === entry) entry.timer = this.s.clock.setTimer(() => this.rotateOnTimer(entry), retryIn);
    });
  }

  private async issue(entry: Entry): Promise<WorkloadCertificate> {
    const { identity, spiffeId } = entry;
    for (let attempt = 0; ; attempt++) {
      const root = this.active;
      const inter = await this.intermediateFor(root, identity);
      if (inter.leafSecret) return this.deriveLeaf(entry, root, inter, inter.leafSecret);
      const key = this.s.keyAlgorithm === 'ECDSA_P256' ? generateEcP256() : await generateRsa2048();
      // A root rotation while we waited: issue under the new root so the sweep misses nobody.
      if (root !== this.active && attempt < 3) continue;
      const now = this.s.clock.now();
      const notBefore = new Date(Math.floor((now - this.s.backdateMs) / 1000) * 1000);
      const notAfter = new Date(Math.min(Math.floor((now + this.s.leafLifetimeMs) / 1000) * 1000, inter.notAfter.getTime()));
      const serial = randomSerial();
      const der = inter.template.build({ serial, notBefore, notAfter, uri: spiffeId, key });
      return workloadCertificate(
        {
          spiffeId,
          cluster: identity.cluster,
          serial: serial.toString('hex').toUpperCase(),
          notBefore,
          notAfter,
          rotateAt: new Date(now + Math.floor((this.s.leafLifetimeMs * 2) / 3)),
          keyAlgorithm: key.algorithm,
          rootId: root.id,
          certificateChainPem: toPem(der) + inter.certPem,
        },
        key.privateKeyPem,
      );
    }
  }

  /**
   * Shared issuance: the leaf of `entry` for the current window, as every replica computes it.
   * Windows last 2/3 of the leaf lifetime; a leaf is valid from its window's start (less the
   * backdating) for one lifetime and is replaced when the next window starts, so it always has at
   * least a third of its lifetime left, as with random issuance.
   */
  private deriveLeaf(entry: Entry, root: IssuingCa, inter: Intermediate, secret: Buffer): WorkloadCertificate {
    const windowMs = Math.floor((this.s.leafLifetimeMs * 2) / 3);
    // A timer firing a little early must not reissue the window that is ending.
    const t = Math.max(this.s.clock.now(), entry.current?.rootId === root.id ? entry.current.rotateAt.getTime() : 0);
    const start = Math.floor(t / windowMs) * windowMs;
    const label = `leaf\u0000${entry.identity.cluster}\u0000${entry.spiffeId}\u0000${start}`;
    const key = deriveP256(secret, label);
    const serial = deriveSerial(secret, label);
    const notBefore = new Date(Math.floor((start - this.s.backdateMs) / 1000) * 1000);
    const notAfter = new Date(Math.min(Math.floor((start + this.s.leafLifetimeMs) / 1000) * 1000, inter.notAfter.getTime()));
    const der = inter.template.build({ serial, notBefore, notAfter, uri: entry.spiffeId, key });
    return workloadCertificate(
      {
        spiffeId: entry.spiffeId,
        cluster: entry.identity.cluster,
        serial: serial.toString('hex').toUpperCase(),
        notBefore,
        notAfter,
        rotateAt: new Date(start + windowMs),
        keyAlgorithm: key.algorithm,
        rootId: root.id,
        certificateChainPem: toPem(der) + inter.certPem,
      },
      key.privateKeyPem,
    );
  }

  private async intermediateFor(root: IssuingCa, identity: WorkloadIdentity): Promise<Intermediate> {
    const key = `${root.id}/${identity.cluster}`;
    const now = this.s.clock.now();
    const minRemainingMs = this.s.leafLifetimeMs * 2;
    const have = this.intermediates.get(key);
    if (have && have.trustDomain === identity.trustDomain && have.notAfter.getTime() - now >= minRemainingMs) return have;
    if (this.s.sharedIssuance) {
      let secret = this.issuanceSecrets.get(root.id);
      if (!secret) this.issuanceSecrets.set(root.id, (secret = issuanceSecret(root.signer.key)));
      const derived = deriveIntermediate(root, secret, identity.cluster, identity.trustDomain, { algorithm: this.s.keyAlgorithm, lifetimeMs: this.s.intermediateLifetimeMs, minRemainingMs }, now);
      this.intermediates.set(key, derived);
      return derived;
    }
    let inflight = this.intermediateInflight.get(key);
    if (!inflight) {
      inflight = loadOrCreateIntermediate(
        this.s.directory,
        root,
        identity.cluster,
        identity.trustDomain,
        { algorithm: this.s.keyAlgorithm, lifetimeMs: this.s.intermediateLifetimeMs, minRemainingMs },
        now,
      ).finally(() => this.intermediateInflight.delete(key));
      this.intermediateInflight.set(key, inflight);
    }
    const made = await inflight;
    this.intermediates.set(key, made);
    return made;
  }

  // ---- root rotation ----

  private addRetiring(id: string, cert: X509Certificate, keepUntil: number): Retiring {
    const r: Retiring = { id, cert, certPem: toPem(cert.raw), keepUntil, swept: false, timers: [], dropScheduled: false };
    this.retiring.set(id, r);
    r.timers.push(this.s.clock.setTimer(() => void this.dropRetiring(r, 'its last leaf has expired'), keepUntil - this.s.clock.now()));
    trustBundleRoots.set(this.trustBundle().roots.length);
    return r;
  }

  private forgetRetiring(r: Retiring): void {
    for (const t of r.timers) this.s.clock.clearTimer(t);
    this.retiring.delete(r.id);
  }

  /** Reissues every cached leaf that does not chain to the active root. */
  private async sweep(r: Retiring): Promise<void> {
    const stale = [...this.entries.values()].filter((e) => e.current && e.current.rootId !== this.active.id);
    log.info({ root: r.id, leaves: stale.length }, 'reissuing leaves of the retiring root');
    for (let i = 0; i < stale.length; i++) {
      if (this.closed) return;
      const e = stale[i]!;
      if (this.entries.get(e.key) !== e || e.current?.rootId === this.active.id) continue;
      if (e.timer) this.s.clock.clearTimer(e.timer);
      e.timer = undefined;
      try {
        await this.renew(e, 'root-rotated');
      } catch (err) {
        log.error({ spiffeId: e.spiffeId, err: (err as Error).message }, 'reissue under the new root failed; retrying on the rotation timer');
        e.timer = this.s.clock.setTimer(() => this.rotateOnTimer(e), 1000);
      }
      if (i % 64 === 63) await yieldToEventLoop(); // long sweeps must not starve the xDS streams
    }
    r.swept = true;
    this.checkRetiring();
  }

  /** Schedules dropping each swept retiring root no current leaf chains to any more. */
  private checkRetiring(): void {
    if (this.retiring.size === 0) return;
    for (const r of this.retiring.values()) {
      if (!r.swept || r.dropScheduled || (this.leavesByRoot.get(r.id) ?? 0) > 0) continue;
      r.dropScheduled = true;
      // The replacement leaves need time to reach their proxies before peers stop trusting the old root.
      r.timers.push(this.s.clock.setTimer(() => void this.dropRetiring(r, 'every leaf has been reissued'), this.s.graceMs));
    }
  }

  private async dropRetiring(r: Retiring, why: string): Promise<void> {
    if (this.closed || this.retiring.get(r.id) !== r) return;
    this.forgetRetiring(r);
    trustBundleRoots.set(this.trustBundle().roots.length);
    log.info({ root: r.id, reason: why }, 'dropped retired root from the trust bundle');
    this.emit({ kind: 'trustBundle', bundle: this.trustBundle() });
    try {
      await this.persistState();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'cannot persist CA state; the retired root stays listed on disk until it expires');
    }
  }

  private persistState(): Promise<void> {
    const state = {
      version: 1 as const,
      activeRoot: this.active.id,
      activeRootKind: this.rootKind,
      retiring: [...this.retiring.values()].map((r) => ({ id: r.id, keepUntil: r.keepUntil })),
    };
    // Writes are chained so an older state can never land after a newer one.
    const write = this.stateWrites.catch(() => undefined).then(() => writeState(this.s.directory, state));
    this.stateWrites = write;
    return write;
  }

  private emit(event: CaEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (e) {
        log.error({ err: (e as Error).message, event: event.kind }, 'CA change listener threw');
      }
    }
  }

  /** Replaces an entry's current leaf, keeping the per-root and total counts in step. */
  private setCurrent(entry: Entry, cert: WorkloadCertificate | undefined): void {
    const before = entry.current;
    if (before) {
      this.leavesByRoot.set(before.rootId, (this.leavesByRoot.get(before.rootId) ?? 1) - 1);
      this.currentCount--;
    }
    entry.current = cert;
    if (cert) {
      this.leavesByRoot.set(cert.rootId, (this.leavesByRoot.get(cert.rootId) ?? 0) + 1);
      this.currentCount++;
    }
    workloadCertificates.set(this.currentCount);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the certificate authority is closed');
  }
}

function oneLine(subject: string | undefined): string {
  return (subject ?? '').split('\n').join(', ');
}

function workloadCertificate(fields: Omit<WorkloadCertificate, 'privateKey'>, privateKey: string): WorkloadCertificate {
  const cert = { ...fields } as WorkloadCertificate;
  Object.defineProperty(cert, 'privateKey', { value: privateKey, enumerable: false });
  return Object.freeze(cert);
}
