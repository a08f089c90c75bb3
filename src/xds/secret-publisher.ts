/**
 * SDS content in the snapshot cache. Each workload identity has its own secret group holding
 * `default` (its chain and key) and `ROOTCA`; one shared group holds only `ROOTCA` (authenticated
 * clients that do not own the node), and one is empty (unauthenticated clients). Identity groups
 * are filled lazily: the certificate is issued the first time a stream of that identity is
 * resolved, never for the whole mesh at start-up. Rotated leaves and trust-bundle changes are
 * pushed as the CA reports them; identities no stream has used for a while are released.
 * An identity's group can also carry extra secrets that belong to it (an ingress gateway's
 * serving certificate, see ingress-tls-secrets.ts): only streams that own the identity see them.
 */
import type { CaEvent, CertificateAuthority, WorkloadCertificate } from '../ca/authority.js';
import { spiffeIdOf, type WorkloadIdentity } from '../ca/identity.js';
import { log } from '../log.js';
import { tlsCertificateSecret, trustBundleSecret, DEFAULT_SECRET, ROOTCA_SECRET } from '../translate/secrets.js';
import type { SnapshotCache } from './cache.js';
import { SECRET_TYPE } from './types.js';

/** Secret group of authenticated clients that do not own the node: `ROOTCA` only. */
export const ROOTCA_ONLY_GROUP = 'sds:rootca';
/** Secret group of unauthenticated clients: no secrets at all. */
export const NO_SECRETS_GROUP = 'sds:none';

export interface SecretPublisherOptions {
  readonly cache: SnapshotCache;
  readonly ca: CertificateAuthority;
  /** An identity no stream has used for this long is released (default 10 min). */
  readonly idleReleaseMs?: number;
  /** How often unused identities are looked for (default 60 s). */
  readonly sweepIntervalMs?: number;
}

interface Entry {
  readonly group: string;
  readonly identity: WorkloadIdentity;
  lastUsed: number;
  filled: boolean;
  retry: NodeJS.Timeout | undefined;
  failures: number;
}

/** Key of an identity: cluster + SPIFFE ID (the CA issues per cluster intermediate). */
function keyOf(cluster: string, spiffeId: string): string {
  return `${cluster}\u0000${spiffeId}`;
}

/** Fills and maintains the secret groups of the snapshot cache from the CA. */
export class SecretPublisher {
  private readonly entries = new Map<string, Entry>();
  /** Identity key → extra secrets (name → Secret) published beside `default` and `ROOTCA`. */
  private readonly extras = new Map<string, Readonly<Record<string, Record<string, unknown>>>>();
  private readonly idleReleaseMs: number;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private usage: (() => Iterable<string | undefined>) | undefined;
  private closed = false;

  constructor(private readonly o: SecretPublisherOptions) {
    this.idleReleaseMs = o.idleReleaseMs ?? 10 * 60_000;
    const bundle = o.ca.trustBundle().pem;
    o.cache.setResources(ROOTCA_ONLY_GROUP, SECRET_TYPE, { [ROOTCA_SECRET]: trustBundleSecret(bundle) });
    o.cache.setResources(NO_SECRETS_GROUP, SECRET_TYPE, {});
    this.unsubscribe = o.ca.onChange((e) => this.onCaEvent(e));
    this.sweepTimer = setInterval(() => this.sweep(), o.sweepIntervalMs ?? 60_000);
    this.sweepTimer.unref();
  }

  /**
   * Tells the publisher which secret groups open streams use (e.g.
   * `() => xds.activeStreams().map((s) => s.groups?.get(SECRET_TYPE))`); without it nothing is released.
   */
  trackUsage(groupsInUse: () => Iterable<string | undefined>): void {
    this.usage = groupsInUse;
  }

  /** The secret group of `identity`, starting its certificate's issuance on first use. Throws on an invalid identity. */
  groupFor(identity: WorkloadIdentity): string {
    const spiffeId = spiffeIdOf(identity);
    const key = keyOf(identity.cluster, spiffeId);
    let e = this.entries.get(key);
    if (!e) {
      e = { group: `sds:${identity.cluster}:${spiffeId}`, identity: { ...identity }, lastUsed: Date.now(), filled: false, retry: undefined, failures: 0 };
      this.entries.set(key, e);
      this.fill(e);
    }
    e.lastUsed = Date.now();
    return e.group;
  }

  /**
   * Sets the extra secrets `identity`'s group carries (replacing earlier ones; empty removes them)
   * and republishes the group if it is in use. Names must not be `default` or `ROOTCA`.
   */
  setExtraSecrets(identity: WorkloadIdentity, secrets: Readonly<Record<string, Record<string, unknown>>>): void {
    for (const name of Object.keys(secrets)) if (name === DEFAULT_SECRET || name === ROOTCA_SECRET) throw new Error(`extra secret may not be named ${name}`);
    const key = keyOf(identity.cluster, spiffeIdOf(identity));
    if (Object.keys(secrets).length === 0) this.extras.delete(key);
    else this.extras.set(key, secrets);
    const e = this.entries.get(key);
    if (!e?.filled) return;
    const cert = this.o.ca.currentWorkloadCertificate(e.identity);
    if (cert) this.publish(e, cert);
  }

  /** Identity groups currently held (diagnostics and tests). */
  groups(): string[] {
    return [...this.entries.values()].map((e) => e.group).sort();
  }

  /** Releases identities that no stream uses and that were last resolved more than the idle time ago. */
  sweep(now: number = Date.now()): void {
    if (!this.usage || this.closed) return;
    const inUse = new Set<string>();
    for (const g of this.usage()) if (g !== undefined) inUse.add(g);
    for (const [key, e] of this.entries) {
      if (inUse.has(e.group)) {
        e.lastUsed = now;
        continue;
      }
      if (now - e.lastUsed < this.idleReleaseMs) continue;
      this.entries.delete(key);
      if (e.retry) clearTimeout(e.retry);
      this.o.ca.releaseWorkloadCertificate(e.identity);
      this.o.cache.deleteGroup(e.group);
      log.info({ group: e.group }, 'released workload identity no proxy uses any more');
    }
  }

  /** Stops listening to the CA and the sweep timer; groups stay in the cache. */
  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.unsubscribe();
    for (const e of this.entries.values()) if (e.retry) clearTimeout(e.retry);
  }

  private fill(e: Entry): void {
    this.o.ca.getWorkloadCertificate(e.identity).then(
      (cert) => {
        if (this.closed || this.entries.get(keyOf(e.identity.cluster, cert.spiffeId)) !== e) return;
        e.failures = 0;
        this.publish(e, cert);
      },
      (err: unknown) => {
        if (this.closed || !this.entries.has(keyOf(e.identity.cluster, spiffeIdOf(e.identity)))) return;
        e.failures++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(e.failures, 6));
        log.error({ group: e.group, err: (err as Error).message, retryInMs: delay }, 'cannot issue workload certificate for SDS');
        e.retry = setTimeout(() => {
          e.retry = undefined;
          this.fill(e);
        }, delay);
        e.retry.unref();
      },
    );
  }

  private publish(e: Entry, cert: WorkloadCertificate): void {
    try {
      this.o.cache.setResources(e.group, SECRET_TYPE, {
        ...this.extras.get(keyOf(e.identity.cluster, cert.spiffeId)),
        [DEFAULT_SECRET]: tlsCertificateSecret(cert),
        [ROOTCA_SECRET]: trustBundleSecret(this.o.ca.trustBundle().pem),
      });
      e.filled = true;
    } catch (err) {
      log.error({ group: e.group, err: (err as Error).message }, 'cannot publish SDS secrets');
    }
  }

  private onCaEvent(ev: CaEvent): void {
    if (this.closed) return;
    if (ev.kind === 'certificate') {
      const e = this.entries.get(keyOf(ev.certificate.cluster, ev.certificate.spiffeId));
      if (e) this.publish(e, ev.certificate);
      return;
    }
    const rootca = trustBundleSecret(ev.bundle.pem);
    this.o.cache.setResources(ROOTCA_ONLY_GROUP, SECRET_TYPE, { [ROOTCA_SECRET]: rootca });
    for (const e of this.entries.values()) {
      if (!e.filled) continue;
      const cert = this.o.ca.currentWorkloadCertificate(e.identity);
      if (cert) this.publish(e, cert);
    }
  }
}
