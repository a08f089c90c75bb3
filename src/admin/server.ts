/**
 * The admin HTTP server (default port 18080): health, readiness, Prometheus metrics and the xDS
 * debug endpoints. Other stages add pages with `addRoute` (e.g. the dashboard at `/`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { collectDefaultMetrics, register } from 'prom-client';
import type { ConfigDump } from '../xds/config-dump.js';
import type { ProxyStatus, StreamRefusal } from '../xds/stream.js';
import { log } from '../log.js';
import { dashboardRoutes } from './dashboard.js';

/** What the admin server reads from the xDS server. */
export interface XdsIntrospection {
  proxies(): ProxyStatus[];
  /** Streams refused at authentication (wrong or missing credentials, unknown node), most recent first. */
  refusals(): readonly StreamRefusal[];
  configDump(nodeId: string): ConfigDump | undefined;
}

/** A route handler; `url` has the parsed query. Return nothing after writing `res`. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly xds: XdsIntrospection;
  /** Ready once the first mesh snapshot has been set. */
  readonly isReady: () => boolean;
  /**
   * Host names (besides localhost, IP literals and `host`) that requests may name in their Host
   * header, e.g. a Service DNS name the admin port is reached by (`serve --admin-allowed-host`).
   */
  readonly allowedHosts?: readonly string[];
}

export interface AdminServer {
  readonly host: string;
  readonly port: number;
  /** Base URL, e.g. http://127.0.0.1:18080 */
  readonly url: string;
  /** Adds or replaces the GET handler of an exact path. */
  addRoute(path: string, handler: AdminHandler): void;
  close(): Promise<void>;
}

/**
 * The host part of a Host header, lower-cased and without port or IPv6 brackets; undefined if it
 * does not parse.
 */
function hostName(header: string): string | undefined {
  try {
    return new URL(`http://${header}/`).hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  } catch {
    return undefined;
  }
}

/**
 * Whether a request's Host header names this server. A page on another site can make a browser
 * send requests here by resolving its own name to 127.0.0.1 (DNS rebinding); those requests carry
 * the attacker's name in Host, so only names this server is known by are answered. IP literals
 * cannot be rebound, `localhost` and `*.localhost` resolve to loopback in browsers, and requests
 * without Host (HTTP/1.0) do not come from a browser.
 */
function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (header === undefined) return true;
  const name = hostName(header);
  if (name === undefined) return false;
  return isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || allowed.has(name);
}

/** Collects Node's process metrics (CPU, memory, event-loop lag, GC, handles) once per process, in the default registry. */
function collectProcessMetrics(): void {
  if (register.getSingleMetric('process_cpu_user_seconds_total')) return;
  collectDefaultMetrics();
}

/** Writes a JSON body with a status code. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body.endsWith('\n') ? body : body + '\n');
}

/** Starts the admin server and resolves once it listens. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  collectProcessMetrics();
  const allowedHosts = new Set([options.host, ...(options.allowedHosts ?? [])].map((h) => h.toLowerCase().replace(/^\[(.*)\]$/, '$1')));
  const routes = new Map<string, AdminHandler>();
  for (const [path, handler] of dashboardRoutes()) routes.set(path, handler);
  routes.set('/healthz', (_req, res) => sendText(res, 200, 'ok'));
  routes.set('/readyz', (_req, res) =>
    options.isReady() ? sendText(res, 200, 'ready') : sendText(res, 503, 'not ready: no mesh snapshot has been set yet'),
  );
  routes.set('/metrics', async (_req, res) => {
    const body = await register.metrics();
    res.writeHead(200, { 'content-type': register.contentType });
    res.end(body);
  });
  routes.set('/debug/proxies', (_req, res) => {
    const proxies = options.xds.proxies().sort((a, b) => a.nodeId.localeCompare(b.nodeId) || a.streamId - b.streamId);
    sendJson(res, 200, { proxies, refused: options.xds.refusals() });
  });
  routes.set('/debug/config_dump', (_req, res, url) => {
    const node = url.searchParams.get('node');
    if (node === null || node === '') {
      sendJson(res, 400, { error: 'query parameter "node" is required, e.g. /debug/config_dump?node=cluster1/default/reviews-v1-0' });
      return;
    }
    const dump = options.xds.configDump(node);
    if (!dump) {
      sendJson(res, 404, { error: `no proxy with node id ${JSON.stringify(node)} is connected` });
      return;
    }
    sendJson(res, 200, dump);
  });

  const server: Server = createServer((req, res) => {
    // Every answer, whatever writes it: browsers must not guess a type other than the one given.
    res.setHeader('x-content-type-options', 'nosniff');
    if (!hostAllowed(req.headers.host, allowedHosts)) {
      const host = String(req.headers.host).slice(0, 256);
      sendJson(res, 421, {
        error: `Host ${JSON.stringify(host)} is not a name of this admin server (accepted: localhost, IP addresses${allowedHosts.size ? ', ' + [...allowedHosts].join(', ') : ''}); add it with serve --admin-allowed-host`,
      });
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin.invalid');
    } catch {
      sendJson(res, 400, { error: 'malformed request URL' });
      return;
    }
    const handler = routes.get(url.pathname);
    if (!handler) {
      sendJson(res, 404, { error: `no such admin endpoint: ${url.pathname}`, endpoints: [...routes.keys()].sort() });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendJson(res, 405, { error: `${req.method} not allowed on ${url.pathname}; use GET` });
      return;
    }
    Promise.resolve(handler(req, res, url)).catch((e: unknown) => {
      log.error({ err: e, path: url.pathname }, 'admin handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot listen for admin HTTP on ${options.host}:${options.port}: ${e.message}`)));
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    host: options.host,
    port,
    url: `http://${hostPart}:${port}`,
    addRoute(path, handler) {
      routes.set(path, handler);
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
