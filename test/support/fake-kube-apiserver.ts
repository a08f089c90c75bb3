/**
 * An in-test Kubernetes API server on 127.0.0.1 speaking the list/watch endpoints that discovery
 * uses for Services, EndpointSlices, Pods and Nodes (all namespaces): paged lists with a
 * resourceVersion, and watches streaming newline-delimited JSON events (ADDED, MODIFIED, DELETED,
 * BOOKMARK, ERROR with a 410 Status) resumed from a resourceVersion. Tests mutate objects (pushing
 * watch events) and break things: a 410 on the next watch, compacted history, dropped watch
 * connections, the whole server down and back on the same port, slow or hanging responses.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type FakeKind = 'services' | 'endpointslices' | 'pods' | 'nodes';

const PATHS: Record<string, FakeKind> = {
  '/api/v1/services': 'services',
  '/apis/discovery.k8s.io/v1/endpointslices': 'endpointslices',
  '/api/v1/pods': 'pods',
  '/api/v1/nodes': 'nodes',
};

const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';

const LIST_KIND: Record<FakeKind, { apiVersion: string; kind: string }> = {
  services: { apiVersion: 'v1', kind: 'ServiceList' },
  endpointslices: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSliceList' },
  pods: { apiVersion: 'v1', kind: 'PodList' },
  nodes: { apiVersion: 'v1', kind: 'NodeList' },
};

export interface RecordedRequest {
  readonly kind: FakeKind | undefined;
  readonly path: string;
  readonly watch: boolean;
  readonly query: Readonly<Record<string, string>>;
  readonly authorization: string | undefined;
  readonly at: number;
}

/** Any Kubernetes object in wire (JSON) form. */
export interface KubeJson {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

interface HistoryEntry {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: KubeJson;
}

interface ActiveWatch {
  readonly kind: FakeKind;
  readonly res: http.ServerResponse;
  readonly bookmarks: boolean;
}

function keyOf(o: KubeJson): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

function clone<T>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

function status(code: number, reason: string, message: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export interface FakeKubeApiServerOptions {
  /** Loopback address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Bearer token clients must send (default: a fixed test token). */
  readonly token?: string;
}

export class FakeKubeApiServer {
  readonly requests: RecordedRequest[] = [];
  /** Called before a list page is served (tests use it to change the world between pages). */
  beforeList: ((kind: FakeKind, query: Readonly<Record<string, string>>) => void) | undefined;
  readonly token: string;
  readonly host: string;
  private server: http.Server;
  private port = 0;
  private rv = 1000;
  private readonly objects: Record<FakeKind, Map<string, KubeJson>> = {
    services: new Map(),
    endpointslices: new Map(),
    pods: new Map(),
    nodes: new Map(),
  };
  private readonly history: Record<FakeKind, HistoryEntry[]> = { services: [], endpointslices: [], pods: [], nodes: [] };
  /** Watches asking to resume from before this resourceVersion get 410 Gone. */
  private compactedRv = 0;
  private readonly force410 = new Set<FakeKind>();
  private readonly watches = new Set<ActiveWatch>();
  private readonly sockets = new Set<Socket>();
  private delayMs = 0;
  private delayKinds: ReadonlySet<FakeKind> | undefined;
  private readonly failing = new Map<FakeKind, number>();
  private up = false;
  private readonly pendingTimers = new Set<NodeJS.Timeout>();
  /** Bearer tokens TokenReview knows: token → the service account and audiences it was issued for. */
  private readonly serviceAccountTokens = new Map<string, { namespace: string; serviceAccount: string; audiences: readonly string[] }>();

  private constructor(options: FakeKubeApiServerOptions) {
    this.token = options.token ?? 'fake-token-for-tests';
    this.host = options.host ?? '127.0.0.1';
    this.server = this.createServer();
  }

  /** Starts a server on a free port of the loopback address. */
  static async start(options: FakeKubeApiServerOptions = {}): Promise<FakeKubeApiServer> {
    const s = new FakeKubeApiServer(options);
    await s.listen(0);
    return s;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Current resourceVersion of the whole store. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Creates or replaces an object (ADDED or MODIFIED watch event); returns the stored copy. */
  apply(kind: FakeKind, object: KubeJson): KubeJson {
    const stored = clone(object);
    const key = keyOf(stored);
    const type = this.objects[kind].has(key) ? 'MODIFIED' : 'ADDED';
    stored.metadata.resourceVersion = String(++this.rv);
    this.objects[kind].set(key, stored);
    this.record(kind, { rv: this.rv, type, object: stored });
    return clone(stored);
  }

  /** Deletes an object (DELETED watch event); false if it did not exist. */
  delete(kind: FakeKind, name: string, namespace?: string): boolean {
    const key = namespace ? `${namespace}/${name}` : name;
    const old = this.objects[kind].get(key);
    if (!old) return false;
    this.objects[kind].delete(key);
    const tomb = clone(old);
    tomb.metadata.resourceVersion = String(++this.rv);
    this.record(kind, { rv: this.rv, type: 'DELETED', object: tomb });
    return true;
  }

  /** The stored object, or undefined. */
  get(kind: FakeKind, name: string, namespace?: string): KubeJson | undefined {
    const o = this.objects[kind].get(namespace ? `${namespace}/${name}` : name);
    return o ? clone(o) : undefined;
  }

  /** The next watch of these kinds (default: all) is answered with an ERROR event carrying a 410 Status. */
  fail410OnNextWatch(kinds: readonly FakeKind[] = ['services', 'endpointslices', 'pods', 'nodes']): void {
    for (const k of kinds) this.force410.add(k);
  }

  /** Forgets the event history (like etcd compaction): resuming from any older resourceVersion gets 410. */
  compactHistory(): void {
    this.compactedRv = this.rv;
    for (const k of Object.keys(this.history) as FakeKind[]) this.history[k] = [];
  }

  /** The next `count` list and watch requests of `kind` get HTTP `code` (default 500). */
  failRequests(kind: FakeKind, count: number): void {
    this.failing.set(kind, count);
  }

  /** Ends (`end`: clean close) or resets (`reset`: socket destroyed) every open watch. */
  dropWatches(mode: 'end' | 'reset' = 'reset'): number {
    const n = this.watches.size;
    for (const w of [...this.watches]) {
      this.watches.delete(w);
      if (mode === 'end') w.res.end();
      else w.res.socket?.destroy();
    }
    return n;
  }

  /** Open watch streams, optionally of one kind. */
  activeWatches(kind?: FakeKind): number {
    let n = 0;
    for (const w of this.watches) if (!kind || w.kind === kind) n++;
    return n;
  }

  /** TCP connections currently open to the server. */
  openConnections(): number {
    return this.sockets.size;
  }

  /** Sends a BOOKMARK at the current resourceVersion on every watch that asked for bookmarks. */
  sendBookmarks(): void {
    for (const w of this.watches) {
      if (w.bookmarks) this.write(w.res, { type: 'BOOKMARK', object: { kind: 'Bookmark', metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  /** Delays every response (headers included) by `ms`; Infinity hangs them until the server goes down. Optionally only some kinds. */
  setDelay(ms: number, kinds?: readonly FakeKind[]): void {
    this.delayMs = ms;
    this.delayKinds = kinds ? new Set(kinds) : undefined;
  }

  /** Stops listening and destroys every connection: clients see resets, then connection refused. */
  async goDown(): Promise<void> {
    if (!this.up) return;
    this.up = false;
    this.watches.clear();
    for (const t of this.pendingTimers) clearTimeout(t);
    this.pendingTimers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Listens again on the same port, with the same objects. */
  async comeUp(): Promise<void> {
    if (this.up) return;
    this.server = this.createServer();
    await this.listen(this.port);
  }

  /** Writes a kubeconfig for this server into a new temp dir (or `dir`) and returns its path. */
  writeKubeconfig(options: { dir?: string; context?: string; token?: string; fileName?: string } = {}): string {
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'crossmesh-kube-'));
    const context = options.context ?? 'fake';
    const file = join(dir, options.fileName ?? 'kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: ${context}-cluster`,
        '  cluster:',
        `    server: ${this.url}`,
        '    insecure-skip-tls-verify: true',
        'users:',
        `- name: ${context}-user`,
        '  user:',
        `    token: ${options.token ?? this.token}`,
        'contexts:',
        `- name: ${context}`,
        '  context:',
        `    cluster: ${context}-cluster`,
        `    user: ${context}-user`,
        `current-context: ${context}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return file;
  }

  /**
   * Makes TokenReview (`POST /apis/authentication.k8s.io/v1/tokenreviews`) authenticate `token` as
   * `system:serviceaccount:<namespace>:<serviceAccount>`, for the given audiences (default: the
   * API server's own, "https://kubernetes.default.svc").
   */
  addServiceAccountToken(token: string, sa: { namespace: string; serviceAccount: string; audiences?: readonly string[] }): void {
    this.serviceAccountTokens.set(token, { namespace: sa.namespace, serviceAccount: sa.serviceAccount, audiences: sa.audiences ?? ['https://kubernetes.default.svc'] });
  }

  /** TokenReview requests received so far. */
  tokenReviews(): RecordedRequest[] {
    return this.requests.filter((r) => r.path === TOKEN_REVIEW_PATH);
  }

  /** Requests recorded so far for a kind, optionally only watches or only lists. */
  requestsFor(kind: FakeKind, filter?: { watch?: boolean }): RecordedRequest[] {
    return this.requests.filter((r) => r.kind === kind && (filter?.watch === undefined || r.watch === filter.watch));
  }

  /** Shuts down for good. */
  async close(): Promise<void> {
    await this.goDown();
  }

  private createServer(): http.Server {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return server;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.host, () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        this.up = true;
        resolve();
      });
    });
  }

  private record(kind: FakeKind, entry: HistoryEntry): void {
    this.history[kind].push(entry);
    for (const w of this.watches) if (w.kind === kind) this.write(w.res, { type: entry.type, object: entry.object });
  }

  private write(res: http.ServerResponse, event: object): void {
    if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(event) + '\n');
  }

  private json(res: http.ServerResponse, code: number, body: object): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const kind = PATHS[url.pathname];
    const query = Object.fromEntries(url.searchParams.entries());
    const watch = query.watch === 'true' || query.watch === '1';
    this.requests.push({ kind, path: url.pathname, watch, query, authorization: req.headers.authorization, at: Date.now() });

    const respond = (): void => {
      if (!this.up || res.destroyed) return;
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        this.json(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
        return;
      }
      if (req.method === 'POST' && url.pathname === TOKEN_REVIEW_PATH) {
        this.serveTokenReview(req, res);
        return;
      }
      if (req.method !== 'GET' || !kind) {
        this.json(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${req.method} ${url.pathname})`));
        return;
      }
      const failures = this.failing.get(kind) ?? 0;
      if (failures > 0) {
        this.failing.set(kind, failures - 1);
        this.json(res, 500, status(500, 'InternalError', 'injected failure'));
        return;
      }
      if (watch) this.serveWatch(kind, query, res);
      else this.serveList(kind, query, res);
    };

    const delayed = this.delayMs > 0 && (!this.delayKinds || (kind !== undefined && this.delayKinds.has(kind)));
    if (!delayed) {
      respond();
    } else if (Number.isFinite(this.delayMs)) {
      const t = setTimeout(() => {
        this.pendingTimers.delete(t);
        respond();
      }, this.delayMs);
      this.pendingTimers.add(t);
    }
    // An infinite delay never answers; goDown()/close() destroys the socket.
  }

  /** TokenReview as the real API server answers it, including audience intersection. */
  private serveTokenReview(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      let review: { spec?: { token?: string; audiences?: string[] } };
      try {
        review = JSON.parse(body) as typeof review;
      } catch {
        this.json(res, 400, status(400, 'BadRequest', 'malformed TokenReview'));
        return;
      }
      const token = review.spec?.token ?? '';
      const wanted = review.spec?.audiences?.length ? review.spec.audiences : ['https://kubernetes.default.svc'];
      const sa = this.serviceAccountTokens.get(token);
      const base = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { creationTimestamp: null }, spec: review.spec };
      if (!sa) {
        this.json(res, 201, { ...base, status: { user: {}, error: '[invalid bearer token, square/go-jose: error in cryptographic primitive]' } });
        return;
      }
      const audiences = wanted.filter((a) => sa.audiences.includes(a));
      if (audiences.length === 0) {
        this.json(res, 201, { ...base, status: { user: {}, error: `[invalid bearer token, token audiences ${JSON.stringify(sa.audiences)} is invalid for the target audiences ${JSON.stringify(wanted)}]` } });
        return;
      }
      const username = `system:serviceaccount:${sa.namespace}:${sa.serviceAccount}`;
      this.json(res, 201, {
        ...base,
        status: { authenticated: true, audiences, user: { username, uid: `uid-${sa.serviceAccount}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'] } },
      });
    });
  }

  private serveList(kind: FakeKind, query: Record<string, string>, res: http.ServerResponse): void {
    this.beforeList?.(kind, query);
    const limit = query.limit ? Number(query.limit) : 0;
    let offset = 0;
    let snapshotRv = this.rv;
    if (query.continue) {
      const token = JSON.parse(Buffer.from(query.continue, 'base64').toString('utf8')) as { rv: number; offset: number };
      if (token.rv < this.compactedRv) {
        this.json(res, 410, status(410, 'Expired', 'The provided continue parameter is too old'));
        return;
      }
      offset = token.offset;
      snapshotRv = token.rv;
    }
    const all = [...this.objects[kind].values()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    const end = limit > 0 ? Math.min(all.length, offset + limit) : all.length;
    const items = all.slice(offset, end);
    const metadata: Record<string, string> = { resourceVersion: String(snapshotRv) };
    if (end < all.length) metadata.continue = Buffer.from(JSON.stringify({ rv: snapshotRv, offset: end })).toString('base64');
    this.json(res, 200, { ...LIST_KIND[kind], metadata, items });
  }

  private serveWatch(kind: FakeKind, query: Record<string, string>, res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // Like the real API server: headers go out at once, before any event.
    res.flushHeaders();
    const fromRv = query.resourceVersion ? Number(query.resourceVersion) : undefined;
    if (this.force410.delete(kind) || (fromRv !== undefined && fromRv !== 0 && fromRv < this.compactedRv)) {
      this.write(res, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${query.resourceVersion} (${this.rv})`) });
      res.end();
      return;
    }
    if (fromRv === undefined || fromRv === 0) {
      for (const o of this.objects[kind].values()) this.write(res, { type: 'ADDED', object: o });
    } else {
      for (const e of this.history[kind]) if (e.rv > fromRv) this.write(res, { type: e.type, object: e.object });
    }
    const w: ActiveWatch = { kind, res, bookmarks: query.allowWatchBookmarks === 'true' };
    this.watches.add(w);
    const timeoutSeconds = query.timeoutSeconds ? Number(query.timeoutSeconds) : 0;
    let timer: NodeJS.Timeout | undefined;
    if (timeoutSeconds > 0) {
      timer = setTimeout(() => {
        this.watches.delete(w);
        res.end();
      }, timeoutSeconds * 1000);
      this.pendingTimers.add(timer);
    }
    res.on('close', () => {
      this.watches.delete(w);
      if (timer) {
        clearTimeout(timer);
        this.pendingTimers.delete(timer);
      }
    });
  }
}
