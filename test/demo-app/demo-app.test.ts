/**
 * The demo app over real HTTP on 127.0.0.1: apps call each other through a fake sidecar (an HTTP
 * proxy routing by Host header, as the sidecar's 15001 listener does), and report what answered.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { demoAppOptions } from '../../src/cli/demo-app.js';
import { parseUpstreams, startDemoApp, type DemoAnswer, type DemoApp } from '../../src/demo-app/server.js';

interface Seen {
  url: string;
  host: string;
  endUser?: string;
}

/** A fake sidecar: absolute-form requests, routed by Host to `routes[host]` or answered by `refuse[host]`. */
async function fakeSidecar(routes: Record<string, number>, refuse: Record<string, { status: number; body: string } | 'hang'> = {}): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const host = req.headers.host ?? '';
    seen.push({ url: req.url ?? '', host, ...(req.headers['end-user'] ? { endUser: String(req.headers['end-user']) } : {}) });
    const r = refuse[host];
    if (r === 'hang') return;
    if (r) return void res.writeHead(r.status, { 'content-type': 'text/plain' }).end(r.body);
    const port = routes[host];
    if (port === undefined) return void res.writeHead(404).end('no route');
    const path = new URL(req.url ?? '/').pathname;
    const up = http.request({ host: '127.0.0.1', port, path, headers: req.headers }, (ur) => {
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

async function app(o: Parameters<typeof startDemoApp>[0]): Promise<DemoApp> {
  const a = await startDemoApp({ port: 0, ...o });
  closers.push(() => a.close());
  return a;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

describe('demo app', () => {
  it('answers with its service, version, cluster and pod, and the answers of the apps it called through the sidecar', async () => {
    // Free ports are only known after listening, so the sidecar's routes are filled in afterwards.
    const routes: Record<string, number> = {};
    const sidecar = await fakeSidecar(routes);
    closers.push(() => sidecar.close());
    const proxy = { host: '127.0.0.1', port: sidecar.port };
    const ratings = await app({ name: 'ratings', version: 'v1', cluster: 'cluster2', pod: 'ratings-v1-0' });
    const reviews = await app({ name: 'reviews', version: 'v3', cluster: 'cluster2', pod: 'reviews-v3-0', upstreams: [{ service: 'ratings', port: 9080 }], proxy });
    const details = await app({ name: 'details', version: 'v1', cluster: 'cluster1' });
    routes['ratings.default.svc.cluster.local:9080'] = ratings.port;
    routes['reviews.default.svc.cluster.local:9080'] = reviews.port;
    routes['details.default.svc.cluster.local:9080'] = details.port;
    const productpage = await app({ name: 'productpage', version: 'v1', cluster: 'cluster1', pod: 'productpage-v1-0', upstreams: parseUpstreams('details,reviews'), proxy });

    const r = await get(`${productpage.url}/productpage`, { 'end-user': 'jason' });
    expect(r.status).toBe(200);
    const a = JSON.parse(r.body) as DemoAnswer;
    expect(a).toMatchObject({ service: 'productpage', version: 'v1', cluster: 'cluster1', pod: 'productpage-v1-0' });
    expect(a.chain).toEqual(['productpage v1 (cluster1)', 'details v1 (cluster1)', 'reviews v3 (cluster2)', 'ratings v1 (cluster2)']);
    const rev = a.upstreams.reviews!;
    expect(rev.ok && rev.answer.pod).toBe('reviews-v3-0');
    expect(rev.ok && rev.answer.upstreams.ratings?.ok).toBe(true);
    // Every call went to the sidecar in absolute form with the mesh host name, and carried end-user.
    expect(sidecar.seen.map((s) => s.url).sort()).toEqual([
      'http://details.default.svc.cluster.local:9080/details',
      'http://ratings.default.svc.cluster.local:9080/ratings',
      'http://reviews.default.svc.cluster.local:9080/reviews',
    ]);
    for (const s of sidecar.seen) {
      expect(s.url).toContain(s.host);
      expect(s.endUser).toBe('jason');
    }
  });

  it("reports a refusal from the sidecar (Envoy's status and body) in the chain instead of failing", async () => {
    const sidecar = await fakeSidecar({}, { 'ratings.default.svc.cluster.local:9080': { status: 403, body: 'RBAC: access denied' } });
    closers.push(() => sidecar.close());
    const reviews = await app({ name: 'reviews', version: 'v2', cluster: 'cluster1', upstreams: [{ service: 'ratings', port: 9080 }], proxy: { host: '127.0.0.1', port: sidecar.port } });
    const a = JSON.parse((await get(`${reviews.url}/reviews`)).body) as DemoAnswer;
    expect(a.chain).toEqual(['reviews v2 (cluster1)', 'ratings failed: HTTP 403 RBAC: access denied']);
    expect(a.upstreams.ratings).toEqual({ ok: false, status: 403, error: 'HTTP 403 RBAC: access denied' });
  });

  it('names the missing sidecar when nothing listens on the proxy address, and gives up on a silent one after the timeout', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const lonely = await app({ name: 'productpage', version: 'v1', cluster: 'cluster1', upstreams: [{ service: 'details', port: 9080 }], proxy: { host: '127.0.0.1', port: deadPort } });
    const a = JSON.parse((await get(`${lonely.url}/productpage`)).body) as DemoAnswer;
    expect(a.chain[1]).toBe(`details failed: no sidecar proxy at 127.0.0.1:${deadPort} (ECONNREFUSED)`);

    const sidecar = await fakeSidecar({}, { 'details.default.svc.cluster.local:9080': 'hang' });
    closers.push(() => sidecar.close());
    const slow = await app({ name: 'productpage', version: 'v1', cluster: 'cluster1', upstreams: [{ service: 'details', port: 9080 }], proxy: { host: '127.0.0.1', port: sidecar.port }, timeoutMs: 200 });
    const t0 = Date.now();
    const b = JSON.parse((await get(`${slow.url}/productpage`)).body) as DemoAnswer;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(b.chain[1]).toBe('details failed: no answer within 200 ms');
  });

  it('answers /healthz without calling anything', async () => {
    const sidecar = await fakeSidecar({});
    closers.push(() => sidecar.close());
    const a = await app({ name: 'productpage', version: 'v1', cluster: 'cluster1', upstreams: [{ service: 'details', port: 9080 }], proxy: { host: '127.0.0.1', port: sidecar.port } });
    expect(await get(`${a.url}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    expect(sidecar.seen).toEqual([]);
  });

  it('rejects bad flags with a message naming the flag', () => {
    const base = { name: 'reviews', version: 'v3', namespace: 'default', listen: '127.0.0.1', port: '9080', calls: '', sidecar: '127.0.0.1:15001', timeout: '3s' };
    expect(() => parseUpstreams('ratings,Bad_Name')).toThrow('--calls: "Bad_Name" must be <service>[:<port>]');
    expect(() => parseUpstreams('ratings:70000')).toThrow('--calls: "ratings:70000"');
    expect(parseUpstreams('details, reviews:9081')).toEqual([{ service: 'details', port: 9080 }, { service: 'reviews', port: 9081 }]);
    expect(() => demoAppOptions(base, {})).toThrow('--cluster is required (or set CROSSMESH_CLUSTER)');
    expect(demoAppOptions(base, { CROSSMESH_CLUSTER: 'cluster2', HOSTNAME: 'c2-reviews' })).toMatchObject({ cluster: 'cluster2', pod: 'c2-reviews', port: 9080, proxy: { host: '127.0.0.1', port: 15001 }, timeoutMs: 3000 });
    expect(() => demoAppOptions({ ...base, name: 'Reviews' }, { CROSSMESH_CLUSTER: 'c' })).toThrow('--name must be a DNS label');
    expect(() => demoAppOptions({ ...base, sidecar: 'localhost' }, { CROSSMESH_CLUSTER: 'c' })).toThrow('--sidecar must be host:port');
    expect(() => demoAppOptions({ ...base, timeout: 'soon' }, { CROSSMESH_CLUSTER: 'c' })).toThrow('--timeout: invalid duration "soon"');
  });
});

describe('crossmesh demo-app (the built CLI)', () => {
  const main = join(import.meta.dirname, '../../dist/src/cli/main.js');

  it.skipIf(!existsSync(main))('serves until SIGTERM, then exits 0', async () => {
    const child = spawn(process.execPath, [main, 'demo-app', '--name', 'ratings', '--version', 'v1', '--port', '0'], { env: { ...process.env, CROSSMESH_CLUSTER: 'cluster2', HOSTNAME: 'ratings-v1-0' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let err = '';
        const timer = setTimeout(() => reject(new Error(`demo-app did not start: ${err}`)), 10_000);
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
      expect(a).toMatchObject({ service: 'ratings', version: 'v1', cluster: 'cluster2', pod: 'ratings-v1-0', chain: ['ratings v1 (cluster2)'] });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
