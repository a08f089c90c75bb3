/**
 * The certificate agent behind `crossmesh agent`, for workloads whose client cannot speak SDS
 * (proxyless gRPC reads certificates from files). It opens a real SDS stream
 * (`SecretDiscoveryService/StreamSecrets`, Envoy protos) over TLS to crossmesh, authenticated
 * with a bearer token, asks for `default` and `ROOTCA`, and writes `cert.pem`, `key.pem` (0600)
 * and `ca.pem` atomically whenever either changes. It ACKs every response and reconnects with
 * backoff; a token given as a file is re-read on every connection.
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ensurePrivateDir, writeFileAtomic } from '../../ca/atomic-file.js';
import { log } from '../../log.js';
import { DEFAULT_SECRET, ROOTCA_SECRET } from '../../translate/secrets.js';
import { messageType } from '../protos.js';
import { SECRET_TYPE } from '../types.js';

const SDS_PATH = '/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets';

export interface SdsAgentOptions {
  readonly nodeId: string;
  /** host:port of crossmesh's xDS server. */
  readonly xdsAddress: string;
  /** The token, or a function reading it (e.g. from a file that may be refreshed). */
  readonly token: string | (() => Promise<string>);
  /** PEM trust bundle for the xDS server's certificate; undefined = plaintext (development only). */
  readonly caPem: string | undefined;
  /** TLS name to check the server certificate against (default: the host of xdsAddress). */
  readonly serverName?: string;
  readonly outDir: string;
  /** node.metadata.role to claim (default proxyless). */
  readonly role?: string;
  /** Called after each successful write (tests, `--once`). */
  readonly onWrite?: (w: AgentWrite) => void;
  /** Called when a stream ends with an error (the agent retries unless stopped). */
  readonly onError?: (e: { code: grpc.status; details: string }) => void;
  /** Backoff bounds between reconnections (default 1 s → 30 s). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** What one write put on disk. */
export interface AgentWrite {
  readonly serial: string;
  readonly notAfter: Date;
  readonly spiffeId: string;
  readonly files: { readonly cert: string; readonly key: string; readonly ca: string };
}

interface SecretJson {
  name?: string;
  tls_certificate?: { certificate_chain?: { inline_bytes?: Uint8Array }; private_key?: { inline_bytes?: Uint8Array } };
  validation_context?: { trusted_ca?: { inline_bytes?: Uint8Array } };
}

/** A running agent; `stop()` ends the stream and any pending reconnection. */
export class SdsAgent {
  private client: grpc.Client | undefined;
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private failures = 0;
  private chain: string | undefined;
  private key: string | undefined;
  private bundle: string | undefined;
  private written = '';
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly o: SdsAgentOptions) {}

  /** Connects (and keeps reconnecting) until `stop()`. */
  start(): void {
    void this.connect();
  }

  /** Ends the stream and stops reconnecting; resolves after any write in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.call?.cancel();
    this.client?.close();
    await this.writing.catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let token: string;
    try {
      token = typeof this.o.token === 'string' ? this.o.token : await this.o.token();
    } catch (e) {
      this.fail(grpc.status.UNAUTHENTICATED, `cannot read the token: ${(e as Error).message}`);
      return;
    }
    if (this.stopped) return;
    if (!this.client) {
      const creds = this.o.caPem ? grpc.credentials.createSsl(Buffer.from(this.o.caPem)) : grpc.credentials.createInsecure();
      const options: grpc.ChannelOptions = this.o.serverName ? { 'grpc.ssl_target_name_override': this.o.serverName, 'grpc.default_authority': this.o.serverName } : {};
      this.client = new grpc.Client(this.o.xdsAddress, creds, options);
    }
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token.trim()}`);
    const raw = (b: Buffer): Buffer => b;
    const call = this.client.makeBidiStreamRequest(SDS_PATH, raw, raw, md);
    this.call = call;
    let ended = false;
    call.on('data', (buf: Buffer) => this.onResponse(call, buf));
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => {
      if (ended) return;
      ended = true;
      if (this.call === call) this.call = undefined;
      if (this.stopped) return;
      this.fail(s.code, s.details || grpc.status[s.code] || 'stream ended');
    });
    this.send(call, { version: '', nonce: '', first: true });
  }

  private fail(code: grpc.status, details: string): void {
    this.o.onError?.({ code, details });
    if (this.stopped) return;
    this.failures++;
    const min = this.o.minBackoffMs ?? 1000;
    const max = this.o.maxBackoffMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** Math.min(this.failures - 1, 10));
    log.warn({ node: this.o.nodeId, code: grpc.status[code], details, retryInMs: delay }, 'SDS stream ended; reconnecting');
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, delay);
  }

  private send(call: grpc.ClientDuplexStream<Buffer, Buffer>, r: { version: string; nonce: string; first?: boolean; error?: string }): void {
    const t = messageType('envoy.service.discovery.v3.DiscoveryRequest');
    const msg = t.fromObject({
      type_url: SECRET_TYPE,
      resource_names: [DEFAULT_SECRET, ROOTCA_SECRET],
      version_info: r.version,
      response_nonce: r.nonce,
      ...(r.first ? { node: { id: this.o.nodeId, cluster: this.o.nodeId.split('/')[0] ?? '', user_agent_name: 'crossmesh-agent', metadata: { fields: { role: { stringValue: this.o.role ?? 'proxyless' } } } } } : {}),
      ...(r.error ? { error_detail: { code: grpc.status.INVALID_ARGUMENT, message: r.error } } : {}),
    });
    call.write(Buffer.from(t.encode(msg).finish()));
  }

  private onResponse(call: grpc.ClientDuplexStream<Buffer, Buffer>, buf: Buffer): void {
    const rt = messageType('envoy.service.discovery.v3.DiscoveryResponse');
    const st = messageType('envoy.extensions.transport_sockets.tls.v3.Secret');
    let res: { version_info?: string; nonce?: string; resources?: { type_url: string; value: Uint8Array }[] };
    try {
      res = rt.toObject(rt.decode(buf), { defaults: false }) as typeof res;
    } catch (e) {
      log.error({ err: (e as Error).message }, 'malformed SDS response');
      return;
    }
    let chain = this.chain;
    let key = this.key;
    let bundle = this.bundle;
    let error: string | undefined;
    try {
      for (const any of res.resources ?? []) {
        if (any.type_url !== SECRET_TYPE) continue;
        const s = st.toObject(st.decode(any.value), { defaults: false }) as SecretJson;
        if (s.name === DEFAULT_SECRET) {
          const c = s.tls_certificate?.certificate_chain?.inline_bytes;
          const k = s.tls_certificate?.private_key?.inline_bytes;
          if (!c || !k) throw new Error('secret default lacks an inline certificate chain or private key');
          chain = Buffer.from(c).toString('utf8');
          key = Buffer.from(k).toString('utf8');
        } else if (s.name === ROOTCA_SECRET) {
          const b = s.validation_context?.trusted_ca?.inline_bytes;
          if (!b) throw new Error('secret ROOTCA lacks an inline trusted CA');
          bundle = Buffer.from(b).toString('utf8');
        }
      }
      if (chain && key) checkPair(chain, key);
    } catch (e) {
      error = (e as Error).message;
    }
    if (error) {
      log.error({ node: this.o.nodeId, error }, 'rejected SDS response');
      this.send(call, { version: '', nonce: res.nonce ?? '', error });
      return;
    }
    this.failures = 0;
    this.chain = chain;
    this.key = key;
    this.bundle = bundle;
    this.send(call, { version: res.version_info ?? '', nonce: res.nonce ?? '' });
    if (chain && key && bundle) {
      const c = chain;
      const k = key;
      const b = bundle;
      this.writing = this.writing.catch(() => undefined).then(() => this.write(c, k, b));
    }
  }

  private async write(chain: string, key: string, bundle: string): Promise<void> {
    const fingerprint = `${chain}\u0000${bundle}`;
    if (fingerprint === this.written || this.stopped) return;
    const files = { cert: join(this.o.outDir, 'cert.pem'), key: join(this.o.outDir, 'key.pem'), ca: join(this.o.outDir, 'ca.pem') };
    try {
      await writeAllAtomic([
        [files.key, key, 0o600],
        [files.cert, chain, 0o644],
        [files.ca, bundle, 0o644],
      ]);
    } catch (e) {
      log.error({ dir: this.o.outDir, err: (e as Error).message }, 'cannot write certificate files');
      return;
    }
    this.written = fingerprint;
    const leaf = new X509Certificate(chain);
    const spiffeId = (leaf.subjectAltName ?? '').replace(/^URI:/, '');
    const w: AgentWrite = { serial: leaf.serialNumber.toUpperCase(), notAfter: new Date(leaf.validTo), spiffeId, files };
    log.info({ node: this.o.nodeId, spiffeId, serial: w.serial, notAfter: w.notAfter.toISOString(), dir: this.o.outDir }, 'wrote workload certificate files');
    this.o.onWrite?.(w);
  }
}

/** Throws unless `key` is the private key of the first certificate of `chain`. */
function checkPair(chain: string, key: string): void {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chain);
  } catch (e) {
    throw new Error(`secret default: certificate chain does not parse (${(e as Error).message})`);
  }
  let k;
  try {
    k = createPrivateKey(key);
  } catch {
    throw new Error('secret default: private key does not parse');
  }
  if (!leaf.checkPrivateKey(k)) throw new Error('secret default: private key does not match the certificate');
}

/**
 * Writes every file to a temp name first (fsynced, final mode), then renames them back to back,
 * key first: readers never see a half-written file and the window in which cert and key differ
 * is two renames long.
 */
async function writeAllAtomic(files: readonly (readonly [string, string, number])[]): Promise<void> {
  const staged: [string, string][] = [];
  try {
    for (const [path, data, mode] of files) {
      const dir = join(path, '..');
      await ensurePrivateDir(dir);
      const tmp = join(dir, `.${path.slice(dir.length + 1)}.${randomBytes(6).toString('hex')}.new`);
      await writeFileAtomic(tmp, data, mode);
      staged.push([tmp, path]);
    }
    for (const [tmp, path] of staged) await rename(tmp, path);
  } catch (e) {
    for (const [tmp] of staged) await rm(tmp, { force: true });
    throw e;
  }
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** A `--token` argument: the token itself (JWT-shaped), or the path of a file holding it (`@path` forces a file). */
export async function readTokenArgument(value: string): Promise<string> {
  const v = value.trim();
  if (!v.startsWith('@') && JWT_SHAPE.test(v)) return v;
  const path = v.startsWith('@') ? v.slice(1) : v;
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (e) {
    throw new Error(`--token: "${path}" is neither a token nor a readable file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (text === '') throw new Error(`token file ${path} is empty`);
  return text;
}
