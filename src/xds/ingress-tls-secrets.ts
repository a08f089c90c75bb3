/**
 * Ingress gateways' serving certificates over SDS. A `Gateway` of type Ingress with `tls` names a
 * certificate chain and key file; the control plane reads them (so the paths need exist only where
 * crossmesh runs, and Envoy never needs file permissions on them) and publishes them as the secret
 * `ingress-tls~<ns>~<name>` in the secret group of the gateway workload's identity: only a stream
 * that owns that identity is ever sent the key.
 *
 * The files are checked (PEM, parseable, key matches the certificate) and re-read when they change
 * (stat polled every few seconds: cert-manager and similar tools replace them in place). A file that
 * is missing or broken keeps the last good pair serving; the error is logged once per change and
 * shown by `status()` — never the key itself.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { spiffeIdOf, type WorkloadIdentity } from '../ca/identity.js';
import { log } from '../log.js';
import type { MeshSnapshot } from '../model/snapshot.js';
import { objectKey, type Gateway } from '../model/types.js';
import { ingressTlsSecretName, tlsCertificateSecret } from '../translate/secrets.js';
import { nodeWorkloadIdentity } from './auth/binding.js';
import type { SecretPublisher } from './secret-publisher.js';
import { CoalescedRun } from '../coalesced-run.js';

export interface IngressTlsSecretsOptions {
  readonly mesh: () => MeshSnapshot | undefined;
  readonly publisher: Pick<SecretPublisher, 'setExtraSecrets'>;
  /** How often the files are checked for changes (default 2 s; 0 = only on `refresh()`). */
  readonly pollMs?: number;
}

/** What `/debug/ingress-tls` shows for one gateway. */
export interface IngressTlsStatus {
  readonly gateway: string;
  readonly secret: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The identity whose streams receive the secret (`<cluster>/<spiffe id>`), if the gateway's workload is known. */
  readonly identity?: string;
  /** A good pair is being served (possibly an older one, when `error` is set too). */
  readonly serving: boolean;
  /** The served certificate's subject and expiry. */
  readonly subject?: string;
  readonly notAfter?: string;
  readonly error?: string;
}

interface Pair {
  /** size, mtime and inode of both files when they were read. */
  readonly stamp: string;
  readonly certificateChainPem: string;
  readonly privateKey: string;
  readonly subject: string;
  readonly notAfter: string;
}

/** Reads and checks a certificate/key pair; throws with a message naming the file and the problem (never the key). */
async function readPair(certFile: string, keyFile: string, stamp: string): Promise<Pair> {
  const [chain, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  if (!chain.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${certFile}: no PEM certificate in it`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) throw new Error(`${keyFile}: no PEM private key in it`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chain);
  } catch (e) {
    throw new Error(`${certFile}: not a valid certificate (${(e as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new Error(`${keyFile}: not a valid private key`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new Error(`${keyFile}: the key does not belong to the certificate in ${certFile}`);
  return { stamp, certificateChainPem: chain, privateKey: key, subject: leaf.subject.replace(/\n/g, ', '), notAfter: new Date(leaf.validTo).toISOString() };
}

/** size/mtime/inode of both files, or the error of the first that cannot be stat'ed. */
async function stampOf(certFile: string, keyFile: string): Promise<string> {
  const [c, k] = await Promise.all([stat(certFile, { bigint: true }), stat(keyFile, { bigint: true })]);
  return `${c.size}:${c.mtimeNs}:${c.ino}|${k.size}:${k.mtimeNs}:${k.ino}`;
}

/** Keeps every Ingress gateway's TLS pair published to its identity's secret group. */
export class IngressTlsSecrets {
  private readonly pairs = new Map<string, Pair>();
  /** Secret → why its files could not be loaded (the last good pair, if any, keeps serving). */
  private readonly errors = new Map<string, string>();
  /** Secret → why no proxy may receive it (its gateway's workload is unknown). */
  private readonly unbound = new Map<string, string>();
  /** Secret → the file stamp a read failed on (not retried until the files change). */
  private readonly failedStamps = new Map<string, string>();
  /** Identity key → (identity, the secrets last handed to the publisher, as a comparable string). */
  private readonly published = new Map<string, { identity: WorkloadIdentity; content: string }>();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly refreshes = new CoalescedRun(() => this.once(), () => this.closed);
  private closed = false;

  constructor(private readonly o: IngressTlsSecretsOptions) {
    const pollMs = o.pollMs ?? 2000;
    if (pollMs > 0) {
      this.timer = setInterval(() => void this.refresh(), pollMs);
      this.timer.unref();
    }
  }

  /** Re-reads changed files and republishes what changed; calls made while one runs are folded into one more run. */
  refresh(): Promise<void> {
    return this.refreshes.run();
  }

  /** One line per Ingress gateway with TLS. */
  status(): IngressTlsStatus[] {
    const mesh = this.o.mesh();
    if (!mesh) return [];
    return tlsGateways(mesh).map((g) => {
      const secret = ingressTlsSecretName(g.namespace, g.name);
      const identity = nodeWorkloadIdentity(mesh, objectKey({ cluster: g.cluster, namespace: g.namespace, name: g.workload }));
      const pair = this.pairs.get(secret);
      const error = this.unbound.get(secret) ?? this.errors.get(secret);
      return {
        gateway: objectKey(g),
        secret,
        certFile: g.tls.certFile,
        keyFile: g.tls.keyFile,
        ...(identity ? { identity: `${identity.cluster}/${spiffeIdOf(identity)}` } : {}),
        serving: pair !== undefined && identity !== undefined,
        ...(pair ? { subject: pair.subject, notAfter: pair.notAfter } : {}),
        ...(error ? { error } : {}),
      };
    });
  }

  /** Stops polling; what was published stays. */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  private async once(): Promise<void> {
    const mesh = this.o.mesh();
    if (!mesh || this.closed) return;
    const byIdentity = new Map<string, { identity: WorkloadIdentity; secrets: Record<string, Record<string, unknown>>; content: string[] }>();
    const wanted = new Set<string>();
    for (const g of tlsGateways(mesh)) {
      const secret = ingressTlsSecretName(g.namespace, g.name);
      wanted.add(secret);
      await this.load(secret, g.tls.certFile, g.tls.keyFile);
      const pair = this.pairs.get(secret);
      const identity = nodeWorkloadIdentity(mesh, objectKey({ cluster: g.cluster, namespace: g.namespace, name: g.workload }));
      if (!identity) {
        const why = `gateway ${objectKey(g)}: its workload ${g.workload} is not in the mesh, so no proxy may receive its certificate`;
        if (this.unbound.get(secret) !== why) log.error({ secret, error: why }, 'ingress TLS certificate not served');
        this.unbound.set(secret, why);
        continue;
      }
      this.unbound.delete(secret);
      if (!pair) continue;
      const key = `${identity.cluster}\u0000${spiffeIdOf(identity)}`;
      const entry = byIdentity.get(key) ?? { identity, secrets: {}, content: [] };
      entry.secrets[secret] = tlsCertificateSecret(pair, secret);
      entry.content.push(`${secret}\u0000${pair.stamp}\u0000${pair.certificateChainPem}`);
      byIdentity.set(key, entry);
    }
    for (const name of [...this.pairs.keys()]) if (!wanted.has(name)) this.pairs.delete(name);
    for (const m of [this.errors, this.unbound, this.failedStamps]) for (const name of [...m.keys()]) if (!wanted.has(name)) m.delete(name);
    for (const [key, e] of byIdentity) {
      const content = e.content.sort().join('\u0001');
      if (this.published.get(key)?.content === content) continue;
      this.o.publisher.setExtraSecrets(e.identity, e.secrets);
      this.published.set(key, { identity: e.identity, content });
    }
    for (const [key, p] of [...this.published]) {
      if (byIdentity.has(key)) continue;
      this.o.publisher.setExtraSecrets(p.identity, {});
      this.published.delete(key);
    }
  }

  /** Reads the pair if its files changed since the last good read; a failure keeps the last good pair. */
  private async load(secret: string, certFile: string, keyFile: string): Promise<void> {
    let stamp: string;
    try {
      stamp = await stampOf(certFile, keyFile);
    } catch (e) {
      this.fail(secret, `cannot read the certificate or key file: ${(e as Error).message}`);
      return;
    }
    // Unchanged since the last read, good or bad: nothing to do.
    if (this.pairs.get(secret)?.stamp === stamp || this.failedStamps.get(secret) === stamp) return;
    try {
      const pair = await readPair(certFile, keyFile, stamp);
      this.pairs.set(secret, pair);
      this.errors.delete(secret);
      this.failedStamps.delete(secret);
      log.info({ secret, subject: pair.subject, notAfter: pair.notAfter }, 'ingress TLS certificate loaded');
    } catch (e) {
      this.failedStamps.set(secret, stamp);
      this.fail(secret, (e as Error).message);
    }
  }

  private fail(secret: string, message: string): void {
    if (this.errors.get(secret) === message) return;
    this.errors.set(secret, message);
    log.error({ secret, error: message, serving: this.pairs.has(secret) ? 'the last good certificate' : 'nothing' }, 'ingress TLS certificate not loaded');
  }
}

/** Ingress gateways that terminate TLS, in a stable order. */
function tlsGateways(mesh: MeshSnapshot): (Gateway & { readonly tls: NonNullable<Gateway['tls']> })[] {
  return [...mesh.gateways.values()]
    .filter((g): g is Gateway & { readonly tls: NonNullable<Gateway['tls']> } => g.type === 'Ingress' && g.tls !== undefined)
    .sort((a, b) => objectKey(a).localeCompare(objectKey(b)));
}
