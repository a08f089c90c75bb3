/**
 * A secured xDS server on 127.0.0.1 for auth/SDS tests: a temp CA, the security layer, a real
 * XdsServer and admin server, a mesh model from the embedded default mesh, and a simple mesh
 * resolver of our own (every known workload gets group "mesh", which holds one CDS cluster).
 * Plus a minimal TLS-capable xDS client that decodes responses with the Envoy protos.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { log } from '../../src/log.js';
import { CertificateAuthority, type CertificateAuthorityOptions } from '../../src/ca/index.js';
import { loadConfig } from '../../src/config/loader.js';
import { defaultMeshDir } from '../../src/config/default-mesh.js';
import { staticEvents } from '../../src/discovery/static/static-discovery.js';
import { ModelStore } from '../../src/model/store.js';
import { startAdminServer, type AdminServer } from '../../src/admin/server.js';
import { SnapshotCache, type GroupResolver } from '../../src/xds/cache.js';
import { XdsServer } from '../../src/xds/server.js';
import { messageType } from '../../src/xds/protos.js';
import { CLUSTER_TYPE } from '../../src/xds/types.js';
import { startXdsSecurity, type XdsSecurity, type XdsSecurityOptions } from '../../src/xds/auth/security.js';

export const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
export const SDS = '/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets';
export const SECRET = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
export const CLUSTER = CLUSTER_TYPE;

/** The embedded default mesh as a ModelStore. */
export async function defaultMeshStore(): Promise<ModelStore> {
  const r = await loadConfig([defaultMeshDir()]);
  if (!r.config) throw new Error(`default mesh does not load: ${JSON.stringify(r.errors)}`);
  const c = r.config;
  return new ModelStore({ declarations: { clusters: c.clusters, gateways: c.gateways, policies: c.policies }, events: staticEvents(c).events });
}

export interface SecureServer {
  readonly ca: CertificateAuthority;
  readonly caDir: string;
  readonly cache: SnapshotCache;
  readonly xds: XdsServer;
  readonly admin: AdminServer;
  readonly security: XdsSecurity;
  readonly store: ModelStore;
  readonly address: string;
  /** The trust bundle PEM clients verify the server with. */
  readonly rootPem: string;
  close(): Promise<void>;
}

/** A resolver of our own: known workloads share group "mesh"; unknown nodes get an error. */
export function meshResolver(store: ModelStore): GroupResolver {
  return (node) => (store.current.workloads.has(node.id) ? 'mesh' : new Error(`node ${node.id} names no known workload`));
}

/** Starts the secured server. */
export async function startSecureServer(
  o: { ca?: CertificateAuthorityOptions; security?: Partial<Omit<XdsSecurityOptions, 'ca' | 'cache'>>; store?: ModelStore } = {},
): Promise<SecureServer> {
  const caDir = await mkdtemp(join(tmpdir(), 'crossmesh-auth-'));
  const ca = await CertificateAuthority.open({ directory: caDir, ...o.ca });
  const cache = new SnapshotCache({ debounceMs: 5 });
  const store = o.store ?? (await defaultMeshStore());
  const security = await startXdsSecurity({ ca, cache, insecure: false, tokenReviewer: false, ...o.security });
  security.setMesh(() => store.current);
  cache.setResolver(security.withSecretGroups(meshResolver(store)));
  cache.setResources('mesh', CLUSTER_TYPE, { 'outbound|9080||reviews.default.svc.cluster.local': { name: 'outbound|9080||reviews.default.svc.cluster.local', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, connect_timeout: { seconds: 1 } } });
  const xds = new XdsServer({ cache, authenticate: security.authenticate });
  const port = await xds.listen('127.0.0.1', 0, security.credentials);
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0, xds, isReady: () => cache.isReady() });
  security.attach({ xds, admin });
  return {
    ca,
    caDir,
    cache,
    xds,
    admin,
    security,
    store,
    address: `127.0.0.1:${port}`,
    rootPem: ca.trustBundle().pem,
    async close() {
      await xds.close(100);
      await admin.close();
      security.close();
      cache.close();
      ca.close();
      await rm(caDir, { recursive: true, force: true });
    },
  };
}

/** A decoded resource. */
export interface Resource {
  readonly name: string;
  readonly json: Record<string, unknown>;
}

export interface Response {
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly resources: Resource[];
}

const conv = { longs: String, enums: String, bytes: String, defaults: false, arrays: true };

function decode(buf: Buffer): Response {
  const t = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const m = t.toObject(t.decode(buf), { defaults: false }) as { version_info?: string; type_url?: string; nonce?: string; resources?: { type_url: string; value: Uint8Array }[] };
  const resources = (m.resources ?? []).map((a) => {
    const rt = messageType(a.type_url.slice(a.type_url.lastIndexOf('/') + 1));
    const json = rt.toObject(rt.decode(a.value), conv) as Record<string, unknown>;
    return { name: String(json.name ?? ''), json };
  });
  return { typeUrl: m.type_url ?? '', version: m.version_info ?? '', nonce: m.nonce ?? '', resources };
}

/** One SotW stream with a response queue and the final status. */
export class Stream {
  private readonly queue: Response[] = [];
  private waiters: ((r: Response) => void)[] = [];
  readonly status: Promise<grpc.StatusObject>;

  constructor(private readonly call: grpc.ClientDuplexStream<Buffer, Response>) {
    call.on('data', (r: Response) => {
      const w = this.waiters.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    call.on('error', () => undefined);
    this.status = new Promise((resolve) => call.on('status', resolve));
  }

  send(r: { typeUrl: string; names?: string[]; node?: Record<string, unknown>; nonce?: string; version?: string }): void {
    const t = messageType('envoy.service.discovery.v3.DiscoveryRequest');
    const msg = t.fromObject({ type_url: r.typeUrl, resource_names: r.names ?? [], response_nonce: r.nonce ?? '', version_info: r.version ?? '', ...(r.node ? { node: r.node } : {}) });
    this.call.write(Buffer.from(t.encode(msg).finish()));
  }

  /** Next response, or rejects after `ms`. */
  next(ms = 5000): Promise<Response> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no xDS response within ${ms} ms`));
      }, ms);
      const waiter = (r: Response): void => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(waiter);
    });
  }

  /** The next response of `typeUrl`, skipping others. */
  async nextOf(typeUrl: string, ms = 5000): Promise<Response> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await this.next(Math.max(1, deadline - Date.now()));
      if (r.typeUrl === typeUrl) return r;
    }
  }

  /** Resolves with the status if the stream ends within `ms`, else undefined. */
  async endsWithin(ms: number): Promise<grpc.StatusObject | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.status, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
    clearTimeout(timer);
    return r;
  }

  close(): void {
    this.call.cancel();
  }
}

/** A node as Envoy sends it. */
export function node(id: string, role = 'sidecar'): Record<string, unknown> {
  return { id, cluster: id.split('/')[0], metadata: { fields: { role: { stringValue: role } } }, user_agent_name: 'auth-test' };
}

export interface ClientCredentialsInit {
  /** Trust bundle for the server (undefined: plaintext). */
  readonly rootPem?: string;
  /** Client certificate chain + key (mTLS). */
  readonly certChainPem?: string;
  readonly keyPem?: string;
}

/** A gRPC connection (TLS when rootPem is given). */
export class Client {
  readonly client: grpc.Client;
  private readonly streams: Stream[] = [];

  constructor(address: string, c: ClientCredentialsInit = {}) {
    const creds = c.rootPem
      ? grpc.credentials.createSsl(Buffer.from(c.rootPem), c.keyPem ? Buffer.from(c.keyPem) : null, c.certChainPem ? Buffer.from(c.certChainPem) : null)
      : grpc.credentials.createInsecure();
    this.client = new grpc.Client(address, creds);
  }

  /** Opens a SotW stream; `token` goes into `authorization: Bearer`. */
  open(path = ADS, token?: string): Stream {
    const md = new grpc.Metadata();
    if (token !== undefined) md.set('authorization', `Bearer ${token}`);
    const raw = (b: Buffer): Buffer => b;
    const s = new Stream(this.client.makeBidiStreamRequest(path, raw, decode, md));
    this.streams.push(s);
    return s;
  }

  close(): void {
    for (const s of this.streams) s.close();
    this.client.close();
  }
}

/** Polls `cond` until true or throws after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Captures every log line (at debug level) until `restore()`; the logger is silent under vitest otherwise. */
export function captureLogs(): { readonly lines: string[]; restore(): void } {
  const target = log as unknown as Record<symbol, unknown>;
  const sym = pino.symbols.streamSym;
  const previousStream = target[sym];
  const previousLevel = log.level;
  const lines: string[] = [];
  target[sym] = { write: (line: string) => void lines.push(line) };
  log.level = 'debug';
  return {
    lines,
    restore() {
      target[sym] = previousStream;
      log.level = previousLevel;
    },
  };
}
