/**
 * The demo HTTP app of the docker-compose simulation: one process plays one bookinfo workload
 * (productpage, details, reviews, ratings). It answers every request with JSON naming its service,
 * version, cluster and pod, after calling its downstream services by their mesh host names
 * (`http://reviews.default.svc.cluster.local:9080/reviews`), as any app in a pod does: it knows
 * nothing of its sidecar, whose capture rules send the connection to Envoy.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { attemptOf, behaviourOf } from './behaviour.js';

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
  /** Deadline of each upstream call (default 3000 ms). */
  readonly timeoutMs?: number;
  /**
   * Where a call to an upstream connects (default: its mesh host name and port, which the pod's
   * hosts file resolves to the service address capture hands to the sidecar). Tests without a
   * network namespace point it at a stand-in for the sidecar.
   */
  readonly connectTo?: (u: DemoUpstream, namespace: string) => { readonly host: string; readonly port: number };
  /** Called once per request served (after the answer is sent): what request logs are made of. */
  readonly onRequest?: (r: ServedRequest) => void;
}

/** One request the app served. */
export interface ServedRequest {
  /** Wall-clock time the request arrived (ms since the epoch). */
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** The peer address as the app saw it (the sidecar's, behind capture). */
  readonly peer: string;
  /** The caller's SPIFFE ID from x-forwarded-client-cert (as in the answer); null without one. */
  readonly caller: string | null;
  /** The request's `x-request-id` (Envoy keeps it across retries and mirrors); null without one. */
  readonly requestId: string | null;
  /** Envoy's attempt number (`x-envoy-attempt-count`, 1 without it). */
  readonly attempt: number;
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
  /** The caller's SPIFFE ID, as the sidecar told it (`URI=` of x-forwarded-client-cert); null without one. */
  readonly caller: string | null;
  /** One line per app that took part, depth first, e.g. `reviews v3 (cluster2)`, or `reviews failed: HTTP 403 RBAC: access denied`. */
  readonly chain: readonly string[];
  readonly upstreams: Readonly<Record<string, UpstreamResult>>;
  /** The request headers as the app received them, when the request asked (`x-demo-echo: 1`). */
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
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

function meshAddress(u: DemoUpstream, namespace: string): { host: string; port: number } {
  return { host: `${u.service}.${namespace}.svc.cluster.local`, port: u.port };
}

function call(o: Required<Pick<DemoAppOptions, 'namespace' | 'timeoutMs' | 'connectTo'>>, u: DemoUpstream, incoming: http.IncomingHttpHeaders): Promise<UpstreamResult> {
  const host = upstreamHost(u, o.namespace);
  const headers: http.OutgoingHttpHeaders = { host, accept: 'application/json' };
  for (const h of PROPAGATED) if (incoming[h] !== undefined) headers[h] = incoming[h];
  return new Promise((resolve) => {
    const to = o.connectTo(u, o.namespace);
    const req = http.request({ host: to.host, port: to.port, method: 'GET', path: `/${u.service}`, headers, agent: false });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOTFOUND' ? `${host} does not resolve (${e.code})` : e.code === 'ECONNREFUSED' ? `connection to ${host} refused (${e.code}): is the sidecar's capture in place?` : e.message;
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

/** The `URI=` element of the last x-forwarded-client-cert entry (the hop that reached this app). */
export function callerIdentity(xfcc: string | string[] | undefined): string | null {
  const last = (Array.isArray(xfcc) ? xfcc.join(',') : (xfcc ?? '')).split(',').pop() ?? '';
  const m = /(?:^|;)URI=("?)([^;"]+)\1/.exec(last.trim());
  return m ? m[2]! : null;
}

/** Builds this app's answer after calling every upstream (in parallel). */
async function answer(o: Required<Omit<DemoAppOptions, 'host' | 'port' | 'onRequest'>>, incoming: http.IncomingHttpHeaders): Promise<DemoAnswer> {
  const results = await Promise.all(o.upstreams.map((u) => call(o, u, incoming)));
  const chain = [`${o.name} ${o.version} (${o.cluster})`];
  const upstreams: Record<string, UpstreamResult> = {};
  o.upstreams.forEach((u, i) => {
    const r = results[i]!;
    upstreams[u.service] = r;
    if (r.ok) chain.push(...r.answer.chain);
    else chain.push(`${u.service} failed: ${r.error}`);
  });
  return { service: o.name, version: o.version, cluster: o.cluster, pod: o.pod, caller: callerIdentity(incoming['x-forwarded-client-cert']), chain, upstreams };
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
    timeoutMs: options.timeoutMs ?? 3000,
    connectTo: options.connectTo ?? meshAddress,
  };
  const server = http.createServer((req, res) => {
    const at = Date.now();
    if (options.onRequest) {
      const onRequest = options.onRequest;
      const caller = callerIdentity(req.headers['x-forwarded-client-cert']);
      const requestId = (Array.isArray(req.headers['x-request-id']) ? req.headers['x-request-id'][0] : req.headers['x-request-id']) ?? null;
      const attempt = attemptOf(req.headers);
      res.once('finish', () => onRequest({ at, method: req.method ?? '', path: req.url ?? '', status: res.statusCode, peer: req.socket.remoteAddress ?? '', caller, requestId, attempt }));
    }
    // Every answer names the pod, so a caller (or a test) sees which host served it.
    res.setHeader('x-demo-pod', o.pod);
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const b = behaviourOf(req.headers, o.pod);
    const respond = (): void => {
      if (b.status !== 200) {
        res.writeHead(b.status, { 'content-type': 'text/plain' }).end(`${o.pod} answers ${b.status} (x-demo-status)\n`);
        return;
      }
      answer(o, req.headers).then(
        (a) => res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(b.echo ? { ...a, headers: req.headers } : a, null, 2)}\n`),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`),
      );
    };
    if (b.delayMs === 0) return respond();
    // A caller that gives up (a route or per-try timeout) closes the stream: stop waiting then.
    const timer = setTimeout(respond, b.delayMs);
    res.once('close', () => clearTimeout(timer));
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
