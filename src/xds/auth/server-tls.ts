/**
 * TLS for the xDS port. The server certificate is issued by crossmesh's own CA (SANs
 * `crossmesh.<namespace>.svc`, `localhost`, 127.0.0.1 and the configured host names/addresses) and
 * renewed at 2/3 of its lifetime; client certificates are requested, not required (token clients
 * have none), and verified against the current trust bundle, which follows root rotations.
 * Implemented as a grpc-js certificate provider so renewals reach the listening server without a
 * restart.
 */
import * as grpc from '@grpc/grpc-js';
import type { CertificateAuthority } from '../../ca/authority.js';
import { systemClock, type Clock, type TimerHandle } from '../../ca/clock.js';
import { classifyHosts, type ServerCertificate } from '../../ca/server-certificate.js';
import { log } from '../../log.js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaCertificateUpdateListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityCertificateUpdateListener = grpc.experimental.IdentityCertificateUpdateListener;

const DAY = 24 * 60 * 60 * 1000;

export interface XdsServerTlsOptions {
  readonly ca: CertificateAuthority;
  /** Namespace crossmesh runs in, for the `crossmesh.<namespace>.svc` SAN (default crossmesh-system). */
  readonly namespace?: string;
  /** Extra host names and IP addresses clients use to reach the xDS port. */
  readonly hosts?: readonly string[];
  /** Server certificate lifetime (default 30 days); renewed at 2/3 of it. */
  readonly lifetimeMs?: number;
  readonly clock?: Clock;
}

/** What `/debug/certs` shows of the server certificate: everything but the PEM and the key. */
export type ServerCertificateInfo = Omit<ServerCertificate, 'certificatePem' | 'privateKey'>;

/** The xDS server's certificate and the trust bundle, as a grpc-js certificate provider. */
export class XdsServerTls implements CertificateProvider {
  /** Pass to `XdsServer.listen` / `startControlPlane({ xdsCredentials })`. */
  readonly credentials: grpc.ServerCredentials;
  private cert!: ServerCertificate;
  private bundlePem: string;
  private readonly identityListeners = new Set<IdentityCertificateUpdateListener>();
  private readonly caListeners = new Set<CaCertificateUpdateListener>();
  private timer: TimerHandle | undefined;
  private readonly unsubscribe: () => void;
  private closed = false;
  private renewing: Promise<void> | undefined;

  private constructor(
    private readonly ca: CertificateAuthority,
    private readonly names: { dnsNames: string[]; ipAddresses: string[] },
    private readonly lifetimeMs: number,
    private readonly clock: Clock,
  ) {
    this.bundlePem = ca.trustBundle().pem;
    // Request a client certificate, verify it against the bundle, but do not require one.
    this.credentials = grpc.experimental.createCertificateProviderServerCredentials(this, this, false);
    this.unsubscribe = ca.onChange((e) => {
      if (e.kind !== 'trustBundle') return;
      this.bundlePem = e.bundle.pem;
      for (const l of this.caListeners) l({ caCertificate: Buffer.from(this.bundlePem) });
      // Once the root this certificate chains to has left the bundle, nobody can verify it: renew now.
      if (!e.bundle.roots.some((r) => r.id === this.cert.rootId)) void this.renew('its root left the trust bundle');
    });
  }

  /** Issues the first server certificate and returns the provider. */
  static async start(o: XdsServerTlsOptions): Promise<XdsServerTls> {
    const namespace = o.namespace ?? 'crossmesh-system';
    const names = classifyHosts([`crossmesh.${namespace}.svc`, 'localhost', '127.0.0.1', '::1', ...(o.hosts ?? [])]);
    const lifetimeMs = o.lifetimeMs ?? 30 * DAY;
    if (!Number.isFinite(lifetimeMs) || lifetimeMs < 3000) throw new Error(`xDS server certificate lifetime must be at least 3s, got ${String(o.lifetimeMs)} ms`);
    const tls = new XdsServerTls(o.ca, names, lifetimeMs, o.clock ?? systemClock());
    try {
      await tls.renew('start');
    } catch (e) {
      tls.close();
      throw e;
    }
    return tls;
  }

  /** The current server certificate (no key). */
  info(): ServerCertificateInfo {
    const c = this.cert;
    return { serial: c.serial, notBefore: c.notBefore, notAfter: c.notAfter, rootId: c.rootId, dnsNames: c.dnsNames, ipAddresses: c.ipAddresses };
  }

  /** PEM of the current server certificate. */
  get certificatePem(): string {
    return this.cert.certificatePem;
  }

  /** Stops renewing. */
  close(): void {
    this.closed = true;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.unsubscribe();
  }

  addCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    // grpc-js registers its own watcher only after adding provider listeners: deliver the first value later.
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener({ caCertificate: Buffer.from(this.bundlePem) });
    });
  }

  removeCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.cert && this.identityListeners.has(listener)) listener({ certificate: Buffer.from(this.cert.certificatePem), privateKey: Buffer.from(this.cert.privateKey) });
    });
  }

  removeIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }

  private renew(why: string): Promise<void> {
    this.renewing ??= this.issue(why).finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async issue(why: string): Promise<void> {
    if (this.closed) return;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    try {
      const cert = await this.ca.issueServerCertificate({ ...this.names, lifetimeMs: this.lifetimeMs });
      if (this.closed) return;
      this.cert = cert;
      for (const l of this.identityListeners) l({ certificate: Buffer.from(cert.certificatePem), privateKey: Buffer.from(cert.privateKey) });
      log.info({ serial: cert.serial, notAfter: cert.notAfter.toISOString(), dnsNames: cert.dnsNames, ipAddresses: cert.ipAddresses, reason: why }, 'issued xDS server certificate');
      const renewIn = Math.max(1000, (Math.min(cert.notAfter.getTime() - this.clock.now(), this.lifetimeMs) * 2) / 3);
      this.timer = this.clock.setTimer(() => void this.renew('2/3 of its lifetime passed'), renewIn);
    } catch (e) {
      if (!this.cert) throw e;
      // Keep serving the current certificate; retry well before it expires.
      const retryIn = Math.max(1000, Math.min(60_000, (this.cert.notAfter.getTime() - this.clock.now()) / 4));
      log.error({ err: (e as Error).message, retryInMs: retryIn }, 'xDS server certificate renewal failed');
      this.timer = this.clock.setTimer(() => void this.renew('retry'), retryIn);
    }
  }
}
