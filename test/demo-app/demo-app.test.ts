/**
 * The demo app over real HTTP on 127.0.0.1. In a pod, an app calls
 * `http://<svc>.<ns>.svc.cluster.local:<port>/<svc>` directly and transparent capture hands the
 * connection to its sidecar; here each calling app's `connectTo` points its calls at a fake
 * sidecar standing in for that: it routes by Host header (as the sidecar's `0.0.0.0_<port>`
 * listener does over RDS) and, like the callee's inbound sidecar, tells the callee who called in
 * x-forwarded-client-cert. The apps report what answered and who called them.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { demoAppOptions, register } from '../../src/cli/demo-app.js';
import { parseUpstreams, startDemoApp, type DemoAnswer, type DemoApp, type DemoAppOptions, type DemoUpstream } from '../../src/demo-app/server.js';

interface Seen {
  /** The request target as the sidecar received it (origin form: the app does not know a proxy). */
  url: string;
  host: string;
  endUser?: string;
}

/**
 * A fake sidecar of the pod whose SPIFFE ID is `identity`: requests are routed by Host to
 * `routes[host]` (a port on 127.0.0.1) with x-forwarded-client-cert naming `identity` as the
 * caller, or answered by `refuse[host]` as Envoy would refuse them.
 */
async function fakeSidecar(identity: string, routes: Record<string, number>, refuse: Record<string, { status: number; body: string } | 'hang'> = {}): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const host = req.headers.host ?? '';
    seen.push({ url: req.url ?? '', host, ...(req.headers['end-user'] ? { endUser: String(req.headers['end-user']) } : {}) });
    const r = refuse[host];
    if (r === 'hang') return;
    if (r) return void res.writeHead(r.status, { 'content-type': 'text/plain' }).end(r.body);
    const port = routes[host];
    // Envoy's answer when no virtual host matches.
    if (port === undefined) return void res.writeHead(404).end();
    const headers = { ...req.headers, 'x-forwarded-client-cert': `By=spiffe://callee/ns/default/sa/callee;Hash=0123abcd;URI=${identity}` };
    const up = http.request({ host: '127.0.0.1', port, path: req.url, headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.writeHead(503).end('upstream connect error'));
    up.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function app(o: DemoAppOptions): Promise<DemoApp> {
  const a = await startDemoApp({ port: 0, ...o });
  closers.push(() => a.close());
  return a;
}

async function sidecar(...args: Parameters<typeof fakeSidecar>): ReturnType<typeof fakeSidecar> {
  const s = await fakeSidecar(...args);
  closers.push(() => s.close());
  return s;
}

/** `connectTo` sending every call of an app to `port` on 127.0.0.1 (what capture does with the connection). */
function via(port: number, calls: { u: DemoUpstream; namespace: string }[] = []): DemoAppOptions['connectTo'] {
  return (u, namespace) => {
    calls.push({ u, namespace });
    return { host: '127.0.0.1', port };
  };
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

const spiffe = (cluster: string, sa: string, ns = 'default') => `spiffe://${cluster}/ns/${ns}/sa/${sa}`;

describe('demo app', () => {
  it('answers with its service, version, cluster, pod and caller, and the answers of the apps it called by name', async () => {
    // Free ports are only known after listening, so the sidecars' routes are filled in afterwards.
    const routes: Record<string, number> = {};
    const productpageSidecar = await sidecar(spiffe('cluster1', 'bookinfo-productpage'), routes);
    const reviewsSidecar = await sidecar(spiffe('cluster2', 'bookinfo-reviews'), routes);
    const ratings = await app({ name: 'ratings', version: 'v1', cluster: 'cluster2', pod: 'ratings-v1-0' });
    const reviews = await app({ name: 'reviews', version: 'v3', cluster: 'cluster2', pod: 'reviews-v3-0', upstreams: [{ service: 'ratings', port: 9080 }], connectTo: via(reviewsSidecar.port) });
    const details = await app({ name: 'details', version: 'v1', cluster: 'cluster1' });
    routes['ratings.default.svc.cluster.local:9080'] = ratings.port;
    routes['reviews.default.svc.cluster.local:9080'] = reviews.port;
    routes['details.default.svc.cluster.local:9080'] = details.port;
    const asked: { u: DemoUpstream; namespace: string }[] = [];
    const productpage = await app({ name: 'productpage', version: 'v1', cluster: 'cluster1', pod: 'productpage-v1-0', upstreams: parseUpstreams('details,reviews'), connectTo: via(productpageSidecar.port, asked) });

    // As the ingress gateway's call arrives through productpage's inbound sidecar.
    const ingress = spiffe('cluster1', 'ingress-gateway', 'crossmesh-system');
    const xfcc = `By=${spiffe('cluster1', 'bookinfo-productpage')};Hash=9f86d081884c7d65;URI=${ingress}`;
    const r = await get(`${productpage.url}/productpage`, { 'end-user': 'jason', 'x-forwarded-client-cert': xfcc });
    expect(r.status).toBe(200);
    const a = JSON.parse(r.body) as DemoAnswer;
    expect(a).toMatchObject({ service: 'productpage', version: 'v1', cluster: 'cluster1', pod: 'productpage-v1-0', caller: ingress });
    expect(a.chain).toEqual(['productpage v1 (cluster1)', 'details v1 (cluster1)', 'reviews v3 (cluster2)', 'ratings v1 (cluster2)']);
    const det = a.upstreams.details!;
    expect(det.ok && det.answer.caller).toBe(spiffe('cluster1', 'bookinfo-productpage'));
    const rev = a.upstreams.reviews!;
    expect(rev.ok && rev.answer.pod).toBe('reviews-v3-0');
    expect(rev.ok && rev.answer.caller).toBe(spiffe('cluster1', 'bookinfo-productpage'));
    const rat = rev.ok ? rev.answer.upstreams.ratings : undefined;
    expect(rat?.ok && rat.answer.caller).toBe(spiffe('cluster2', 'bookinfo-reviews'));

    // The app asked where to connect for each upstream by service, port and namespace ...
    expect(asked.map((c) => `${c.u.service}:${c.u.port} ${c.namespace}`).sort()).toEqual(['details:9080 default', 'reviews:9080 default']);
    // ... and sent plain requests naming the mesh host in Host (what the sidecar routes by), carrying end-user.
    const seen = [...productpageSidecar.seen, ...reviewsSidecar.seen];
    expect(seen.map((s) => `${s.host} ${s.url}`).sort()).toEqual([
      'details.default.svc.cluster.local:9080 /details',
      'ratings.default.svc.cluster.local:9080 /ratings',
      'reviews.default.svc.cluster.local:9080 /reviews',
    ]);
    for (const s of seen) expect(s.endUser).toBe('jason');
  });

  it('has no caller without x-forwarded-client-cert, and takes the last hop of a chained one', async () => {
    const a = await app({ name: 'details', version: 'v1', cluster: 'cluster1' });
    expect((JSON.parse((await get(`${a.url}/details`)).body) as DemoAnswer).caller).toBeNull();
    const two = `By=spiffe://c1/ns/default/sa/gw;Hash=aa;URI=spiffe://c1/ns/default/sa/first,By=spiffe://c1/ns/default/sa/details;Hash=bb;URI=spiffe://c1/ns/default/sa/x`;
    expect((JSON.parse((await get(`${a.url}/details`, { 'x-forwarded-client-cert': two })).body) as DemoAnswer).caller).toBe('spiffe://c1/ns/default/sa/x');
  });

  it("reports a refusal by the sidecar (Envoy's status and body) in the chain instead of failing", async () => {
    const s = await sidecar(spiffe('cluster1', 'bookinfo-reviews'), {}, { 'ratings.default.svc.cluster.local:9080': { status: 403, body: 'RBAC: access denied' } });
    const reviews = await app({ name: 'reviews', version: 'v2', cluster: 'cluster1', upstreams: [{ service: 'ratings', port: 9080 }, { service: 'nothing', port: 9080 }], connectTo: via(s.port) });
    const a = JSON.parse((await get(`${reviews.url}/reviews`)).body) as DemoAnswer;
    expect(a.chain).toEqual(['reviews v2 (cluster1)', 'ratings failed: HTTP 403 RBAC: access denied', 'nothing failed: HTTP 404']);
    expect(a.upstreams.ratings).toEqual({ ok: false, status: 403, error: 'HTTP 403 RBAC: access denied' });
  });

  it('says capture may be missing when the connection is refused, and gives up on a silent sidecar after the timeout', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const lonely = await app({ name: 'productpage', version: 'v1', cluster: 'cluster1', upstreams: [{ service: 'details', port: 9080 }], connectTo: via(deadPort) });
    const a = JSON.parse((await get(`${lonely.url}/productpage`)).body) as DemoAnswer;
    expect(a.chain[1]).toBe("details failed: connection to details.default.svc.cluster.local:9080 refused (ECONNREFUSED): is the sidecar's capture in place?");

    const s = await sidecar(spiffe('cluster1', 'bookinfo-productpage'), {}, { 'details.default.svc.cluster.local:9080': 'hang' });
    const slow = await app({ name: 'productpage', version: 'v1', cluster: 'cluster1', upstreams: [{ service: 'details', port: 9080 }], connectTo: via(s.port), timeoutMs: 200 });
    const t0 = Date.now();
    const b = JSON.parse((await get(`${slow.url}/productpage`)).body) as DemoAnswer;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(b.chain[1]).toBe('details failed: no answer within 200 ms');
  });

  it('answers /healthz without calling anything', async () => {
    const s = await sidecar(spiffe('cluster1', 'bookinfo-productpage'), {});
    const a = await app({ name: 'productpage', version: 'v1', cluster: 'cluster1', upstreams: [{ service: 'details', port: 9080 }], connectTo: via(s.port) });
    expect(await get(`${a.url}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    expect(s.seen).toEqual([]);
  });

  it('--request-log appends one JSON line per request served', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crossmesh-demo-app-log-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const log = join(dir, 'requests.jsonl');
    const o = demoAppOptions({ name: 'ratings', version: 'v1', namespace: 'default', listen: '127.0.0.1', port: '0', calls: '', timeout: '3s', requestLog: log }, { CROSSMESH_CLUSTER: 'cluster2' });
    const a = await app(o);
    const t0 = Date.now();
    await get(`${a.url}/ratings`);
    await get(`${a.url}/ratings?x=1`, { 'x-forwarded-client-cert': 'By=spiffe://c2/ns/default/sa/ratings;Hash=00;URI=spiffe://c2/ns/default/sa/reviews' });
    await get(`${a.url}/healthz`);
    // The line is written once the answer is sent.
    const deadline = Date.now() + 2000;
    const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
    while (lines().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const entries = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.map((e) => `${e.method} ${e.path} ${e.status} ${e.peer}`)).toEqual(['GET /ratings 200 127.0.0.1', 'GET /ratings?x=1 200 127.0.0.1', 'GET /healthz 200 127.0.0.1']);
    for (const e of entries) expect(e.at as number).toBeGreaterThanOrEqual(t0 - 1000);
    // The caller's SPIFFE ID, as in the answer.
    expect(entries.map((e) => e.caller)).toEqual([null, 'spiffe://c2/ns/default/sa/reviews', null]);
  });

  it('rejects bad flags with a message naming the flag', async () => {
    const base = { name: 'reviews', version: 'v3', namespace: 'default', listen: '127.0.0.1', port: '9080', calls: '', timeout: '3s' };
    expect(() => parseUpstreams('ratings,Bad_Name')).toThrow('--calls: "Bad_Name" must be <service>[:<port>]');
    expect(() => parseUpstreams('ratings:70000')).toThrow('--calls: "ratings:70000"');
    expect(parseUpstreams('details, reviews:9081')).toEqual([{ service: 'details', port: 9080 }, { service: 'reviews', port: 9081 }]);
    expect(() => demoAppOptions(base, {})).toThrow('--cluster is required (or set CROSSMESH_CLUSTER)');
    const o = demoAppOptions(base, { CROSSMESH_CLUSTER: 'cluster2', HOSTNAME: 'c2-reviews' });
    expect(o).toMatchObject({ cluster: 'cluster2', pod: 'c2-reviews', namespace: 'default', host: '127.0.0.1', port: 9080, upstreams: [], timeoutMs: 3000 });
    // Calls go to the mesh names (no proxy address to configure), and nothing is logged unless asked.
    expect(o.connectTo).toBeUndefined();
    expect(o.onRequest).toBeUndefined();
    expect(() => demoAppOptions({ ...base, name: 'Reviews' }, { CROSSMESH_CLUSTER: 'c' })).toThrow('--name must be a DNS label');
    expect(() => demoAppOptions({ ...base, namespace: 'a.b' }, { CROSSMESH_CLUSTER: 'c' })).toThrow('--namespace must be a DNS label');
    expect(() => demoAppOptions({ ...base, port: '70000' }, { CROSSMESH_CLUSTER: 'c' })).toThrow('--port must be a port number, got "70000"');
    expect(() => demoAppOptions({ ...base, timeout: 'soon' }, { CROSSMESH_CLUSTER: 'c' })).toThrow('--timeout: invalid duration "soon"');
    expect(() => demoAppOptions({ ...base, calls: 'x:0' }, { CROSSMESH_CLUSTER: 'c' })).toThrow('--calls: "x:0"');
    // The explicit proxy is gone: capture hands the calls to the sidecar.
    const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    register(program);
    await expect(program.parseAsync(['node', 'crossmesh', 'demo-app', '--name', 'reviews', '--version', 'v3', '--sidecar', '127.0.0.1:15001'])).rejects.toThrow("unknown option '--sidecar'");
  });
});

describe('crossmesh demo-app (the built CLI)', () => {
  const main = join(import.meta.dirname, '../../dist/src/cli/main.js');

  it.skipIf(!existsSync(main))('serves until SIGTERM, then exits 0, with a request log line per request', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crossmesh-demo-app-cli-'));
    const log = join(dir, 'requests.jsonl');
    const child = spawn(process.execPath, [main, 'demo-app', '--name', 'ratings', '--version', 'v1', '--port', '0', '--request-log', log], { env: { ...process.env, CROSSMESH_CLUSTER: 'cluster2', HOSTNAME: 'ratings-v1-0' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let err = '';
        // Loading the whole CLI takes seconds on a busy machine.
        const timer = setTimeout(() => reject(new Error(`demo-app did not start within 20 s: ${err}`)), 20_000);
        child.stderr!.on('data', (c: Buffer) => {
          err += c.toString();
          const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
      });
      const a = JSON.parse((await get(`${url}/ratings`)).body) as DemoAnswer;
      expect(a).toMatchObject({ service: 'ratings', version: 'v1', cluster: 'cluster2', pod: 'ratings-v1-0', caller: null, chain: ['ratings v1 (cluster2)'] });
      await get(`${url}/healthz`);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { path: string; status: number });
      expect(lines.map((l) => `${l.path} ${l.status}`)).toEqual(['/ratings 200', '/healthz 200']);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
