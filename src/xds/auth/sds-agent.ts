/**
 * The certificate agent behind `crossmesh agent`, for workloads whose client cannot speak SDS
 * (proxyless gRPC reads certificates from files) and for an Envoy whose xDS connection
 * authenticates with the workload's own certificate. It opens a real SDS stream
 * (`SecretDiscoveryService/StreamSecrets`, Envoy protos) over TLS to crossmesh, asks for
 * `default` and `ROOTCA`, and writes `cert.pem`, `key.pem` (0600) and `ca.pem` atomically
 * whenever either changes (with `envoySds`, also `xds-client-cert.json`, a file-based SDS
 * resource Envoy's xDS cluster presents as its client certificate). It ACKs every response and
 * reconnects with backoff.
 *
 * Credentials: a bearer token bootstraps it; once it holds a certificate that is still well
 * within its lifetime, every later connection authenticates with that certificate (mTLS) and
 * sends no token, so the token's expiry stops mattering: the server pushes each rotated leaf on
 * the open stream and its connection age makes the agent reconnect with the newest one. The
 * token (a file is re-read on every connection) is used again only when the certificate is close
 * to expiry or was refused. On start it picks up the certificate it wrote before, if still valid.
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ensurePrivateDir, writeFileAtomic } from '../../ca/atomic-file.js';
import { log } from '../../log.js';
import { XDS_CLIENT_CERT_SDS_FILE, XDS_CLIENT_CERT_SECRET } from '../../translate/bootstrap.js';
import { DEFAULT_SECRET, ROOTCA_SECRET } from '../../translate/secrets.js';
import { messageType } from '../protos.js';
import { SECRET_TYPE } from '../types.js';

const SDS_PATH = '/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets';

export interface SdsAgentOptions {
  readonly nodeId: string;
  /** host:port of crossmesh's xDS server. */
  readonly xdsAddress: string;
  /**
   * The token, or a function reading it (e.g. from a file that may be refreshed). Needed only to
   * bootstrap: without a usable certificate (none yet, close to expiry, or refused).
   */
  readonly token?: string | (() => Promise<string>);
  /** Authenticate with the current certificate once there is one (default true); false = always the token. */
  readonly renewWithCertificate?: boolean;
  /** Also write `xds-client-cert.json` (file-based SDS of the client certificate, for Envoy's xDS cluster). */
  readonly envoySds?: boolean;
  /**
   * Key files 0640 and the directory 0750 instead of 0600/0700, for a reader of another uid that
   * shares the agent's group (e.g. a Kubernetes fsGroup). Default: owner only (run the agent as
   * the uid of the reader, Envoy's 1337).
   */
  readonly groupReadable?: boolean;
  readonly now?: () => number;
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
  readonly onError?: (e: { code: grpc.status; details: string; credential: AgentCredential }) => void;
  /** Backoff bounds between reconnections (default 1 s → 30 s). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** How a connection of the agent authenticated. */
export type AgentCredential = 'token' | 'certificate';

/** What one write put on disk. */
export interface AgentWrite {
  readonly serial: string;
  readonly notAfter: Date;
  readonly spiffeId: string;
  /** The credential of the stream that delivered this certificate. */
  readonly via: AgentCredential;
  readonly files: { readonly cert: string; readonly key: string; readonly ca: string; readonly envoySds?: string };
}

/**
 * A certificate is used to authenticate only while more than this share of the time it had left
 * when it arrived remains (and at least CERT_MARGIN_MIN_MS): a connection must be established and authenticated
 * well before notAfter. Not a share of notAfter - notBefore: leaves are backdated 5 minutes.
 */
const CERT_MARGIN = 0.1;
/** Floor of that margin: the server checks notAfter when the stream opens, a moment after we decide. */
const CERT_MARGIN_MIN_MS = 250;
/** Delay before reconnecting after a stream that had answered ended (not a failure: no backoff). */
const ROUTINE_RECONNECT_MS = 50;

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
  /** When the current chain arrived (or, read from disk, when it was written). */
  private chainSince = 0;
  private written = '';
  private writing: Promise<void> = Promise.resolve();
  /** What the current client channel was built with: `token`, or `cert:<serial>`. */
  private clientKey = '';
  /** The credential of the stream in progress (or the last one). */
  private current: AgentCredential | undefined;
  /** The serial whose certificate the server refused; it is not presented again. */
  private refusedSerial: string | undefined;

  constructor(private readonly o: SdsAgentOptions) {}

  /** Connects (and keeps reconnecting) until `stop()`; first picks up a still-valid certificate it wrote before. */
  start(): void {
    void this.loadPrevious().then(() => this.connect());
  }

  /** How the stream in progress (or the last one) authenticated. */
  get credential(): AgentCredential | undefined {
    return this.current;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** The files of an earlier run, if they hold a matching pair that can still authenticate. */
  private async loadPrevious(): Promise<void> {
    if (this.o.renewWithCertificate === false) return;
    try {
      const [chain, key, bundle] = await Promise.all(['cert.pem', 'key.pem', 'ca.pem'].map((f) => readFile(join(this.o.outDir, f), 'utf8')));
      checkPair(chain!, key!);
      this.chainSince = (await stat(join(this.o.outDir, 'cert.pem'))).mtimeMs;
      this.chain = chain;
      this.key = key;
      this.bundle = bundle;
      // The first response rewrites the files anyway (same content): `--once` sees a write, and an
      // Envoy SDS file missing from an earlier run without it appears.
      if (this.usableCertificate()) {
        log.info({ node: this.o.nodeId, serial: new X509Certificate(chain!).serialNumber.toUpperCase(), dir: this.o.outDir }, 'authenticating with the certificate already in the output directory');
      }
    } catch {
      // Nothing usable there (first start, or files damaged): bootstrap with the token.
    }
  }

  /** The current leaf, when it may authenticate a new connection (not refused, enough lifetime left). */
  private usableCertificate(): X509Certificate | undefined {
    if (this.o.renewWithCertificate === false || !this.chain || !this.key) return undefined;
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(this.chain);
    } catch {
      return undefined;
    }
    if (leaf.serialNumber === this.refusedSerial) return undefined;
    const to = Date.parse(leaf.validTo);
    return to - this.now() > Math.max(CERT_MARGIN_MIN_MS, (to - this.chainSince) * CERT_MARGIN) ? leaf : undefined;
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
    // A certificate needs TLS to be presented; over plaintext (development) only a token works.
    const leaf = this.o.caPem ? this.usableCertificate() : undefined;
    const md = new grpc.Metadata();
    if (!leaf) {
      if (this.o.token === undefined) {
        this.fail(grpc.status.UNAUTHENTICATED, 'no certificate that can still authenticate and no token to bootstrap with', 'token');
        return;
      }
      let token: string;
      try {
        token = typeof this.o.token === 'string' ? this.o.token : await this.o.token();
      } catch (e) {
        this.fail(grpc.status.UNAUTHENTICATED, `cannot read the token: ${(e as Error).message}`, 'token');
        return;
      }
      md.set('authorization', `Bearer ${token.trim()}`);
    }
    if (this.stopped) return;
    // Channel credentials are fixed per client: a new certificate (or a switch back to the token) needs a new one.
    const key = leaf ? `cert:${leaf.serialNumber}` : 'token';
    if (!this.client || key !== this.clientKey) {
      this.client?.close();
      const creds = !this.o.caPem
        ? grpc.credentials.createInsecure()
        : leaf
          ? grpc.credentials.createSsl(Buffer.from(this.o.caPem), Buffer.from(this.key!), Buffer.from(this.chain!))
          : grpc.credentials.createSsl(Buffer.from(this.o.caPem));
      const options: grpc.ChannelOptions = this.o.serverName ? { 'grpc.ssl_target_name_override': this.o.serverName, 'grpc.default_authority': this.o.serverName } : {};
      this.client = new grpc.Client(this.o.xdsAddress, creds, options);
      this.clientKey = key;
    }
    const credential: AgentCredential = leaf ? 'certificate' : 'token';
    this.current = credential;
    const serial = leaf?.serialNumber;
    const raw = (b: Buffer): Buffer => b;
    const call = this.client.makeBidiStreamRequest(SDS_PATH, raw, raw, md);
    this.call = call;
    let ended = false;
    let answered = false;
    call.on('data', (buf: Buffer) => {
      answered = true;
      this.onResponse(call, buf, credential);
    });
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => {
      if (ended) return;
      ended = true;
      if (this.call === call) this.call = undefined;
      if (this.stopped) return;
      // Refused although the certificate verified locally (e.g. its root left the server's bundle): fall back to the token.
      if (serial && (s.code === grpc.status.UNAUTHENTICATED || s.code === grpc.status.PERMISSION_DENIED)) this.refusedSerial = serial;
      this.fail(s.code, s.details || grpc.status[s.code] || 'stream ended', credential, answered);
    });
    this.send(call, { version: '', nonce: '', first: true });
  }

  private fail(code: grpc.status, details: string, credential: AgentCredential, answered = false): void {
    this.o.onError?.({ code, details, credential });
    if (this.stopped) return;
    const min = this.o.minBackoffMs ?? 1000;
    const max = this.o.maxBackoffMs ?? 30_000;
    // A stream that worked and ended (the server's connection age) is routine: reconnect at once,
    // while the certificate in hand is still valid (it may be near the end of its life if the
    // rotation push was due just after the connection ended). Anything else backs off.
    const routine = answered && code !== grpc.status.UNAUTHENTICATED && code !== grpc.status.PERMISSION_DENIED;
    if (!routine) this.failures++;
    const delay = routine ? ROUTINE_RECONNECT_MS : Math.min(max, min * 2 ** Math.min(this.failures - 1, 10));
    const fields = { node: this.o.nodeId, code: grpc.status[code], details, credential, retryInMs: delay };
    if (routine) log.info(fields, 'SDS stream ended; reconnecting');
    else log.warn(fields, 'SDS stream ended; reconnecting');
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

  private onResponse(call: grpc.ClientDuplexStream<Buffer, Buffer>, buf: Buffer, via: AgentCredential): void {
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
    if (chain !== this.chain) this.chainSince = this.now();
    this.chain = chain;
    this.key = key;
    this.bundle = bundle;
    this.send(call, { version: res.version_info ?? '', nonce: res.nonce ?? '' });
    if (chain && key && bundle) {
      const c = chain;
      const k = key;
      const b = bundle;
      this.writing = this.writing.catch(() => undefined).then(() => this.write(c, k, b, via));
    }
  }

  private async write(chain: string, key: string, bundle: string, via: AgentCredential): Promise<void> {
    const fingerprint = `${chain}\u0000${bundle}`;
    if (fingerprint === this.written || this.stopped) return;
    const secretMode = this.o.groupReadable ? 0o640 : 0o600;
    const files = {
      cert: join(this.o.outDir, 'cert.pem'),
      key: join(this.o.outDir, 'key.pem'),
      ca: join(this.o.outDir, 'ca.pem'),
      ...(this.o.envoySds ? { envoySds: join(this.o.outDir, XDS_CLIENT_CERT_SDS_FILE) } : {}),
    };
    try {
      await ensurePrivateDir(this.o.outDir);
      if (this.o.groupReadable) await chmod(this.o.outDir, 0o750);
      // Key first and the SDS file last: Envoy reloads the SDS file on every rename into the
      // directory, and it holds the pair inline, so it is consistent whenever it is read.
      await writeAllAtomic([
        [files.key, key, secretMode],
        [files.cert, chain, 0o644],
        [files.ca, bundle, 0o644],
        ...(files.envoySds ? [[files.envoySds, envoySdsFile(chain, key), secretMode] as const] : []),
      ]);
    } catch (e) {
      log.error({ dir: this.o.outDir, err: (e as Error).message }, 'cannot write certificate files');
      return;
    }
    this.written = fingerprint;
    const leaf = new X509Certificate(chain);
    const spiffeId = (leaf.subjectAltName ?? '').replace(/^URI:/, '');
    if (leaf.serialNumber !== this.refusedSerial) this.refusedSerial = undefined;
    const w: AgentWrite = { serial: leaf.serialNumber.toUpperCase(), notAfter: new Date(leaf.validTo), spiffeId, via, files };
    log.info({ node: this.o.nodeId, spiffeId, serial: w.serial, notAfter: w.notAfter.toISOString(), via, dir: this.o.outDir }, 'wrote workload certificate files');
    this.o.onWrite?.(w);
  }
}

/**
 * The file-based SDS resource of the xDS client certificate (a DiscoveryResponse, as Envoy's
 * `path_config_source` reads it), with chain and key inline so one rename swaps both at once.
 */
export function envoySdsFile(chain: string, key: string): string {
  const secret = {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
    name: XDS_CLIENT_CERT_SECRET,
    tls_certificate: { certificate_chain: { inline_string: chain }, private_key: { inline_string: key } },
  };
  return `${JSON.stringify({ resources: [secret] }, null, 2)}\n`;
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
