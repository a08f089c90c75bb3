/**
 * The demo HTTP app of the docker-compose simulation: one process plays one bookinfo workload
 * (productpage, details, reviews, ratings). It answers every request with JSON naming its service,
 * version, cluster and pod, after calling its downstream services through the local sidecar, which
 * it uses as an HTTP proxy (127.0.0.1:15001 by default): the request goes to the sidecar with the
 * service's mesh host name in the request line and the Host header, and the sidecar routes it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A downstream service this app calls: `http://<service>.<namespace>.svc.cluster.local:<port>/<service>`. */
export interface DemoUpstream {
  readonly service: string;
  readonly port: number;
}

export interface DemoAppOptions {
  /** Service name this app plays (e.g. `reviews`). */
  readonly name: string;
  readonly version: string;
  readonly cluster: string;
  /** Pod/workload name shown in answers (default: `<name>-<version>`). */
  readonly pod?: string;
  /** Namespace of the app and its upstreams (default `default`). */
  readonly namespace?: string;
  /** Address to listen on (default 127.0.0.1: only the sidecar in the same network namespace reaches it). */
  readonly host?: string;
  /** Port to listen on (default 9080; 0 picks a free one). */
  readonly port?: number;
  readonly upstreams?: readonly DemoUpstream[];
  /** The sidecar's outbound HTTP proxy (default 127.0.0.1:15001). */
  readonly proxy?: { readonly host: string; readonly port: number };
  /** Deadline of each upstream call (default 3000 ms). */
  readonly timeoutMs?: number;
}

/** What one upstream call gave: the upstream's own answer, or why there is none. */
export type UpstreamResult =
  | { readonly ok: true; readonly status: number; readonly answer: DemoAnswer }
  | { readonly ok: false; readonly status?: number; readonly error: string };

/** The JSON every demo app answers with. */
export interface DemoAnswer {
  readonly service: string;
  readonly version: string;
  readonly cluster: string;
  readonly pod: string;
  /** One line per app that took part, depth first, e.g. `reviews v3 (cluster2)`, or `reviews failed: HTTP 403 RBAC: access denied`. */
  readonly chain: readonly string[];
  readonly upstreams: Readonly<Record<string, UpstreamResult>>;
}

/** A running demo app. */
export interface DemoApp {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Headers passed on to upstream calls, so tracing and header-matching policies (`end-user`) see them. */
const PROPAGATED = ['x-request-id', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'b3', 'traceparent', 'tracestate', 'end-user', 'user-agent'];
const MAX_BODY = 64 * 1024;

/** The mesh host name an app uses for an upstream. */
export function upstreamHost(u: DemoUpstream, namespace: string): string {
  return `${u.service}.${namespace}.svc.cluster.local:${u.port}`;
}

/** Parses `--calls details,reviews:9080` into upstreams (default port 9080); throws naming the bad entry. */
export function parseUpstreams(spec: string): DemoUpstream[] {
  if (spec.trim() === '') return [];
  return spec.split(',').map((raw) => {
    const entry = raw.trim();
    const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?::(\d{1,5}))?$/.exec(entry);
    const port = m?.[3] === undefined ? 9080 : Number(m[3]);
    if (!m || port < 1 || port > 65535) throw new Error(`--calls: "${entry}" must be <service>[:<port>] (a DNS label, port 1-65535)`);
    return { service: m[1]!, port };
  });
}

function call(o: Required<Pick<DemoAppOptions, 'namespace' | 'timeoutMs' | 'proxy'>>, u: DemoUpstream, incoming: http.IncomingHttpHeaders): Promise<UpstreamResult> {
  const host = upstreamHost(u, o.namespace);
  const headers: http.OutgoingHttpHeaders = { host, accept: 'application/json' };
  for (const h of PROPAGATED) if (incoming[h] !== undefined) headers[h] = incoming[h];
  return new Promise((resolve) => {
    // Absolute-form request line, as any client configured with an HTTP proxy sends it.
    const req = http.request({ host: o.proxy.host, port: o.proxy.port, method: 'GET', path: `http://${host}/${u.service}`, headers, agent: false });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ECONNREFUSED' ? `no sidecar proxy at ${o.proxy.host}:${o.proxy.port} (${e.code})` : e.message;
      resolve({ ok: false, error: why });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        resolve({ ok: false, status: res.statusCode ?? 0, error: e.message });
      });
      res.on('end', () => {
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString('utf8');
        if (status >= 200 && status < 300) {
          try {
            const answer = JSON.parse(body) as DemoAnswer;
            if (typeof answer.service === 'string' && Array.isArray(answer.chain)) return resolve({ ok: true, status, answer });
          } catch {
            // not a demo app: reported below
          }
          return resolve({ ok: false, status, error: `HTTP ${status} but not a demo app answer: ${body.slice(0, 200)}` });
        }
        // Envoy's own refusals are short bodies such as "RBAC: access denied" or "no healthy upstream".
        resolve({ ok: false, status, error: `HTTP ${status} ${body.trim().slice(0, 200)}`.trim() });
      });
    });
    req.end();
  });
}

/** Builds this app's answer after calling every upstream (in parallel). */
async function answer(o: Required<Omit<DemoAppOptions, 'host' | 'port'>>, incoming: http.IncomingHttpHeaders): Promise<DemoAnswer> {
  const results = await Promise.all(o.upstreams.map((u) => call(o, u, incoming)));
  const chain = [`${o.name} ${o.version} (${o.cluster})`];
  const upstreams: Record<string, UpstreamResult> = {};
  o.upstreams.forEach((u, i) => {
    const r = results[i]!;
    upstreams[u.service] = r;
    if (r.ok) chain.push(...r.answer.chain);
    else chain.push(`${u.service} failed: ${r.error}`);
  });
  return { service: o.name, version: o.version, cluster: o.cluster, pod: o.pod, chain, upstreams };
}

/** Starts the demo app; resolves once it listens. */
export async function startDemoApp(options: DemoAppOptions): Promise<DemoApp> {
  const o = {
    name: options.name,
    version: options.version,
    cluster: options.cluster,
    pod: options.pod ?? `${options.name}-${options.version}`,
    namespace: options.namespace ?? 'default',
    upstreams: options.upstreams ?? [],
    proxy: options.proxy ?? { host: '127.0.0.1', port: 15001 },
    timeoutMs: options.timeoutMs ?? 3000,
  };
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    answer(o, req.headers).then(
      (a) => res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(a, null, 2)}\n`),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`),
    );
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9080, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
