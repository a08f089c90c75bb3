#!/usr/bin/env node
/**
 * The in-namespace driver: `ip netns exec NS node dist/src/netsim/driver-main.js --socket PATH`.
 * A test controls traffic from inside a simulated pod without a process per request: this
 * program listens on a unix socket (a file path, reachable from the host namespace) and performs
 * the HTTP requests, TCP connects and name look-ups it is asked for from its own namespace.
 */
import * as dns from 'node:dns/promises';
import { rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ConnectResult, ConnectSpec, RequestResult, RequestsSpec, ResolveResult } from './driver-protocol.js';

const MAX_COUNT = 100_000;

function errorCode(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message ?? String(err);
}

function oneRequest(spec: RequestsSpec, agent: http.Agent | false): Promise<RequestResult> {
  const started = performance.now();
  const timeoutMs = spec.timeoutMs ?? 2000;
  const maxBody = spec.maxBodyBytes ?? 4096;
  const url = new URL(spec.url);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: Omit<RequestResult, 'latencyMs'>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...r, latencyMs: Math.round((performance.now() - started) * 1000) / 1000 });
    };
    const req = mod.request(url, {
      method: spec.method ?? 'GET',
      headers: spec.headers ?? {},
      agent,
      ...(spec.tls ?? {}),
    });
    const timer = setTimeout(() => {
      finish({ error: 'timeout' });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => finish({ error: errorCode(err) }));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      res.on('data', (chunk: Buffer) => {
        if (size < maxBody) chunks.push(chunk.subarray(0, maxBody - size));
        if (size + chunk.length > maxBody) truncated = true;
        size += chunk.length;
      });
      res.on('error', (err) => finish({ status: res.statusCode ?? 0, error: errorCode(err) }));
      res.on('end', () => finish({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), truncated }));
    });
    req.end(spec.body);
  });
}

async function runRequests(spec: RequestsSpec): Promise<RequestResult[]> {
  const count = spec.count ?? 1;
  const concurrency = Math.max(1, Math.min(spec.concurrency ?? 1, count));
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) throw new Error(`count must be an integer 1..${MAX_COUNT}`);
  const isHttps = new URL(spec.url).protocol === 'https:';
  const agent = spec.keepAlive ? new (isHttps ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: concurrency }) : false;
  const results: RequestResult[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      results[i] = await oneRequest(spec, agent);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (agent) agent.destroy();
  return results;
}

function connect(spec: ConnectSpec): Promise<ConnectResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host: spec.host, port: spec.port });
    const finish = (error?: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: error === undefined, latencyMs: Math.round(performance.now() - started), ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish('timeout'), spec.timeoutMs ?? 2000);
    socket.once('connect', () => finish());
    socket.once('error', (err) => finish(errorCode(err)));
  });
}

async function resolveName(name: string): Promise<ResolveResult> {
  try {
    const answers = await dns.lookup(name, { all: true });
    return { addresses: answers.map((a) => a.address) };
  } catch (err) {
    return { addresses: [], error: errorCode(err) };
  }
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {});
      } catch (err) {
        reject(err);
      }
    });
  });
}

async function handle(req: http.IncomingMessage): Promise<unknown> {
  const url = new URL(req.url ?? '/', 'http://driver');
  if (req.method === 'GET' && url.pathname === '/health') return { ok: true, pid: process.pid };
  if (req.method === 'GET' && url.pathname === '/resolve') return resolveName(url.searchParams.get('name') ?? '');
  if (req.method === 'POST' && url.pathname === '/requests') return { results: await runRequests((await readBody(req)) as RequestsSpec) };
  if (req.method === 'POST' && url.pathname === '/connect') return connect((await readBody(req)) as ConnectSpec);
  throw Object.assign(new Error(`no such driver endpoint: ${req.method} ${url.pathname}`), { status: 404 });
}

function main(): void {
  const i = process.argv.indexOf('--socket');
  const socketPath = i > 0 ? process.argv[i + 1] : undefined;
  if (!socketPath) {
    process.stderr.write('usage: driver-main --socket PATH\n');
    process.exit(2);
  }
  rmSync(socketPath, { force: true });
  const server = http.createServer((req, res) => {
    handle(req).then(
      (answer) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      },
      (err: unknown) => {
        res.writeHead((err as { status?: number }).status ?? 400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
      },
    );
  });
  server.listen(socketPath, () => process.stdout.write(`driver ${process.pid} listening on ${socketPath}\n`));
  const stop = (): void => {
    server.close();
    rmSync(socketPath, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
