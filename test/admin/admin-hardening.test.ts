/** Issue 16, item 6: process metrics on /metrics (real HTTP on 127.0.0.1). */
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
});
