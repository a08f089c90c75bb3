/**
 * Leader election over a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it:
 *
 * - try every `retryPeriod`: create the Lease if it is missing; renew it while we hold it; take it
 *   over once its holder has not renewed it for `leaseDuration`;
 * - expiry is judged by *our own clock since we last saw the Lease change* (its resourceVersion
 *   and renewTime), never by comparing the holder's timestamps with ours, so clock skew between
 *   replicas cannot make two of them leaders;
 * - a leader that cannot renew within `renewDeadline` (< leaseDuration) stops leading before any
 *   other replica may take over;
 * - every write is an optimistic update on the resourceVersion read: of two replicas racing for an
 *   expired Lease, the API server lets exactly one win (409 for the other);
 * - stopping releases the Lease (empty holder, 1 s duration) so a successor need not wait.
 */
import type * as k8s from '@kubernetes/client-node';
import { log } from '../../log.js';
import { kubeRequest, kubeStatusMessage } from './kube-request.js';

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  /** This replica's holderIdentity (e.g. pod name + random suffix); unique per process. */
  readonly identity: string;
  /** How long a holder's lease lasts without renewal (default 15 s, as client-go's examples). */
  readonly leaseDurationMs?: number;
  /** A leader unable to renew for this long stops leading (default 10 s; less than leaseDuration). */
  readonly renewDeadlineMs?: number;
  /** Time between attempts (default 2 s). */
  readonly retryPeriodMs?: number;
  /** Called whenever this replica starts or stops leading. */
  readonly onChange?: (leading: boolean) => void;
}

interface LeaseObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** MicroTime as the API server writes it (RFC 3339 with microseconds). */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Holds or waits for one Lease; `leading` says whether this replica may act as leader now. */
export class LeaderElector {
  private leadingNow = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** The Lease as last read, and when (our clock) its content last changed. */
  private observed: { resourceVersion: string; holder: string; renew: string; at: number } | undefined;
  private lastRenewedAt = 0;
  private lastError = '';
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly path: string;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly options: LeaderElectionOptions,
  ) {
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs) throw new Error(`lease: renewDeadline (${this.renewDeadlineMs} ms) must be less than leaseDuration (${this.leaseDurationMs} ms)`);
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/leases`;
  }

  /**
   * Whether this replica holds the Lease now. False as soon as the last successful renewal is
   * older than the renew deadline, even while a renewal request still hangs: a leader cut off
   * from the API server stops acting before any other replica can take over.
   */
  get leading(): boolean {
    return this.leadingNow && Date.now() - this.lastRenewedAt <= this.renewDeadlineMs;
  }

  /** The current holder as last observed, and the last error, for status pages. */
  status(): { identity: string; leading: boolean; holder: string; lastError: string } {
    return { identity: this.options.identity, leading: this.leading, holder: this.observed?.holder ?? '', lastError: this.lastError };
  }

  /** Starts trying to acquire (and then renew) the Lease in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops; a leader releases the Lease so another replica can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
    if (this.leadingNow) {
      await this.release().catch((err: unknown) => log.warn({ err: (err as Error).message, lease: this.options.name }, 'releasing the lease failed; it expires by itself'));
      this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leadingNow) return;
    this.leadingNow = leading;
    log.info({ lease: `${this.options.namespace}/${this.options.name}`, identity: this.options.identity, leading }, leading ? 'became leader' : 'stopped leading');
    try {
      this.options.onChange?.(leading);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'leader change handler failed');
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      // When the attempt started: what a successful renewal proves (the time written as renewTime).
      const attemptAt = Date.now();
      try {
        const ok = await this.tryAcquireOrRenew();
        if (ok) {
          this.lastRenewedAt = attemptAt;
          this.lastError = '';
        }
        this.setLeading(ok);
      } catch (err) {
        this.lastError = (err as Error).message;
        log.warn({ err: this.lastError, lease: this.options.name }, 'lease request failed');
        // A leader that has not renewed within the deadline steps down before anyone may take over.
        if (this.leadingNow && Date.now() - this.lastRenewedAt > this.renewDeadlineMs) this.setLeading(false);
      }
      if (this.stopped) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, this.retryPeriodMs);
      });
      this.wake = undefined;
    }
  }

  /** One attempt; true when this replica holds the Lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    const timeoutMs = Math.max(1000, Math.min(this.renewDeadlineMs, this.retryPeriodMs * 2));
    const got = await kubeRequest<LeaseObject>(this.kc, { method: 'GET', path: `${this.path}/${encodeURIComponent(this.options.name)}`, timeoutMs });
    const mine = {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.leaseDurationMs / 1000)),
      renewTime: microTime(now),
    };
    if (got.status === 404) {
      const created = await kubeRequest<LeaseObject>(this.kc, {
        method: 'POST',
        path: this.path,
        timeoutMs,
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.options.name, namespace: this.options.namespace }, spec: { ...mine, acquireTime: microTime(now), leaseTransitions: 0 } },
      });
      if (created.status === 409) return false; // another replica created it first
      if (created.status !== 201) throw new Error(`create lease ${this.options.namespace}/${this.options.name}: HTTP ${created.status}: ${kubeStatusMessage(created.body)}`);
      this.observe(created.body!, now);
      return true;
    }
    if (got.status !== 200 || !got.body) throw new Error(`get lease ${this.options.namespace}/${this.options.name}: HTTP ${got.status}: ${kubeStatusMessage(got.body)}`);
    const lease = got.body;
    this.observe(lease, now);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const held = holder !== '' && holder !== this.options.identity;
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.leaseDurationMs / 1000)) * 1000;
    if (held && now - this.observed!.at < durationMs) return false; // someone else holds a live lease
    const takingOver = holder !== this.options.identity;
    const updated = await kubeRequest<LeaseObject>(this.kc, {
      method: 'PUT',
      path: `${this.path}/${encodeURIComponent(this.options.name)}`,
      timeoutMs,
      body: {
        ...lease,
        spec: {
          ...spec,
          ...mine,
          acquireTime: takingOver ? microTime(now) : (spec.acquireTime ?? microTime(now)),
          leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver ? 1 : 0),
        },
      },
    });
    if (updated.status === 409) return false; // someone else wrote it since we read it: re-read next time
    if (updated.status !== 200) throw new Error(`update lease ${this.options.namespace}/${this.options.name}: HTTP ${updated.status}: ${kubeStatusMessage(updated.body)}`);
    this.observe(updated.body!, now);
    return true;
  }

  /** Records the Lease as read; the expiry clock restarts only when its content changed. */
  private observe(lease: LeaseObject, now: number): void {
    const rv = lease.metadata?.resourceVersion ?? '';
    const holder = lease.spec?.holderIdentity ?? '';
    const renew = lease.spec?.renewTime ?? '';
    if (!this.observed || this.observed.resourceVersion !== rv || this.observed.holder !== holder || this.observed.renew !== renew) {
      this.observed = { resourceVersion: rv, holder, renew, at: now };
    }
  }

  /** Gives the Lease up: empty holder and a 1 s duration, as client-go's ReleaseOnCancel. */
  private async release(): Promise<void> {
    const path = `${this.path}/${encodeURIComponent(this.options.name)}`;
    const got = await kubeRequest<LeaseObject>(this.kc, { method: 'GET', path, timeoutMs: 2000 });
    if (got.status !== 200 || got.body?.spec?.holderIdentity !== this.options.identity) return;
    await kubeRequest(this.kc, {
      method: 'PUT',
      path,
      timeoutMs: 2000,
      body: { ...got.body, spec: { ...got.body.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(Date.now()) } },
    });
  }
}
