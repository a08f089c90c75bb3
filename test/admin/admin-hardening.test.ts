/** Issue 16, items 6 and 8: process metrics on /metrics; Host checked against the server's names; nosniff on every answer (real HTTP on 127.0.0.1). */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer, type XdsIntrospection } from '../../src/admin/server.js';

const xds: XdsIntrospection = { proxies: () => [], refusals: () => [], configDump: () => undefined };
let admin: AdminServer | undefined;
afterEach(async () => {
  await admin?.close();
  admin = undefined;
});

/** A GET with an exact Host header (fetch cannot set one). */
function get(port: number, path: string, host: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', setHost: false, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('admin hardening', () => {
  it('/metrics carries Node process metrics next to crossmesh metrics', async () => {
    admin = await startAdminServer({ host: '127.0.0.1', port: 0, xds, isReady: () => true });
    const r = await get(admin.port, '/metrics', `127.0.0.1:${admin.port}`);
    expect(r.status).toBe(200);
    for (const m of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_gc_duration_seconds']) {
      expect(r.body).toMatch(new RegExp(`^# TYPE ${m} `, 'm'));
    }
    // A second admin server in the same process (tests, `demo`) does not register them twice.
    const second = await startAdminServer({ host: '127.0.0.1', port: 0, xds, isReady: () => true });
    expect((await get(second.port, '/metrics', 'localhost')).status).toBe(200);
    await second.close();
  });

  it('a Host that is not a name of the server gets 421 (DNS rebinding); its own names, IP literals and configured names are answered', async () => {
    admin = await startAdminServer({ host: '127.0.0.1', port: 0, xds, isReady: () => true, allowedHosts: ['crossmesh.crossmesh-system.svc'] });
    const p = admin.port;
    for (const host of ['evil.example:' + p, 'evil.example', 'localhost.evil.example', '127.0.0.1.nip.io:' + p, 'crossmesh.crossmesh-system.svc.evil.example']) {
      const r = await get(p, '/debug/proxies', host);
      expect(r.status, host).toBe(421);
      expect(JSON.parse(r.body).error).toContain('--admin-allowed-host');
      expect(r.body).not.toContain('"proxies"');
    }
    for (const host of [`localhost:${p}`, 'LOCALHOST', `127.0.0.1:${p}`, `[::1]:${p}`, '10.1.2.3', 'app.localhost', `crossmesh.crossmesh-system.svc:${p}`, 'CrossMesh.crossmesh-system.svc']) {
      const r = await get(p, '/debug/proxies', host);
      expect(r.status, String(host)).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ proxies: [], refused: [] });
    }
  });

  it('the bound host name is accepted', async () => {
    admin = await startAdminServer({ host: 'localhost', port: 0, xds, isReady: () => true });
    expect((await get(admin.port, '/healthz', `localhost:${admin.port}`)).status).toBe(200);
    expect((await get(admin.port, '/healthz', 'example.com')).status).toBe(421);
  });

  it('every answer says X-Content-Type-Options: nosniff (JSON, text, metrics, errors, refusals)', async () => {
    admin = await startAdminServer({ host: '127.0.0.1', port: 0, xds, isReady: () => false });
    const p = admin.port;
    const cases: [string, string, number][] = [
      ['/debug/proxies', 'localhost', 200],
      ['/debug/config_dump', 'localhost', 400],
      ['/readyz', 'localhost', 503],
      ['/healthz', 'localhost', 200],
      ['/metrics', 'localhost', 200],
      ['/nope', 'localhost', 404],
      ['/', 'localhost', 200],
      ['/healthz', 'evil.example', 421],
    ];
    for (const [path, host, status] of cases) {
      const r = await get(p, path, host);
      expect(r.status, path).toBe(status);
      expect(r.headers['x-content-type-options'], path).toBe('nosniff');
    }
  });
});
