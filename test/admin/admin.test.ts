/** Admin HTTP endpoints and the status/config-dump commands, against a real control plane on 127.0.0.1. */
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { register as registerStatus } from '../../src/cli/status.js';
import { register as registerConfigDump } from '../../src/cli/config-dump.js';
import { XdsTestClient, testNode, type SotwTestStream } from '../support/xds-client.js';
import { until } from '../support/xds-harness.js';
import { CLUSTER_TYPE, SECRET_TYPE, edsCluster, tlsSecret } from '../support/xds-resources.js';

let plane: ControlPlane;
let client: XdsTestClient;
let stream: SotwTestStream;

async function get(path: string, init?: RequestInit): Promise<{ status: number; text: string; type: string }> {
  const res = await fetch(plane.adminUrl + path, init);
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}

async function runCli(register: (p: Command) => void, args: string[]): Promise<{ out: string; err: string; code: number | undefined }> {
  const program = new Command().exitOverride();
  register(program);
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  const before = process.exitCode;
  try {
    await program.parseAsync(['node', 'crossmesh', ...args]);
  } catch (x) {
    err += x instanceof Error ? x.message : String(x);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  const code = process.exitCode as number | undefined;
  process.exitCode = before;
  return { out, err, code };
}

beforeAll(async () => {
  plane = await startControlPlane({ xdsPort: 0, adminPort: 0, debounceMs: 5 });
  client = new XdsTestClient(plane.xdsAddress);
});
afterAll(async () => {
  client.close();
  await plane.close();
});

describe('admin HTTP', () => {
  it('/healthz is ok; /readyz is 503 until the first snapshot is set', async () => {
    expect(await get('/healthz')).toMatchObject({ status: 200, text: 'ok\n' });
    const r = await get('/readyz');
    expect(r.status).toBe(503);
    expect(r.text).toContain('no mesh snapshot');
    plane.cache.setSnapshot('default', {
      [CLUSTER_TYPE]: { a: edsCluster('a') },
      [SECRET_TYPE]: { default: tlsSecret('default', '-----BEGIN PRIVATE KEY-----secret') },
    });
    expect((await get('/readyz')).status).toBe(200);
  });

  it('/debug/proxies shows node, role, mode, group and per-type sent/ACKed versions and the last NACK', async () => {
    stream = client.sotw();
    stream.send({ typeUrl: CLUSTER_TYPE, node: testNode('c1/default/web-0', { role: 'sidecar' }) });
    const c = await stream.next();
    stream.ack(c);
    stream.send({ typeUrl: SECRET_TYPE, names: ['default'] });
    const s = await stream.next();
    stream.send({ typeUrl: SECRET_TYPE, names: ['default'], nonce: s.nonce, error: 'bad secret' });
    await until(() => plane.xds.proxies()[0]?.types.sds?.lastNack != null && plane.xds.proxies()[0]?.types.cds?.ackedVersion !== '');
    const r = await get('/debug/proxies');
    expect(r.status).toBe(200);
    expect(r.type).toContain('application/json');
    const body = JSON.parse(r.text) as { proxies: Record<string, unknown>[] };
    expect(body.proxies).toHaveLength(1);
    const p = body.proxies[0] as { nodeId: string; role: string; mode: string; groups: Record<string, string>; types: Record<string, { ackedVersion: string; lastSentVersion: string; lastSentNonce: string; resources: number; lastNack: { error: string } | null }> };
    expect(p).toMatchObject({ nodeId: 'c1/default/web-0', role: 'sidecar', mode: 'sotw' });
    expect(p.groups.cds).toBe('default');
    expect(p.types.cds).toMatchObject({ ackedVersion: c.version_info, lastSentVersion: c.version_info, lastSentNonce: c.nonce, resources: 1, lastNack: null });
    expect(p.types.sds!.lastNack!.error).toBe('bad secret');
  });

  it('/debug/config_dump returns the decoded resources with private keys redacted', async () => {
    const r = await get(`/debug/config_dump?node=${encodeURIComponent('c1/default/web-0')}`);
    expect(r.status).toBe(200);
    const dump = JSON.parse(r.text) as { nodeId: string; types: Record<string, { resources: { name: string; resource: Record<string, unknown> }[] }> };
    expect(dump.nodeId).toBe('c1/default/web-0');
    expect(dump.types.cds!.resources[0]!.resource).toMatchObject({ name: 'a', type: 'EDS' });
    const secret = dump.types.sds!.resources[0]!.resource as { tls_certificate: { private_key: unknown; certificate_chain: unknown } };
    expect(secret.tls_certificate.private_key).toEqual({ inline_string: '[redacted]' });
    expect(secret.tls_certificate.certificate_chain).toEqual({ inline_string: 'CERT-default' });
    expect(r.text).not.toContain('BEGIN PRIVATE KEY');
  });

  it('bad parameters get 400, unknown nodes and paths 404, other methods 405', async () => {
    const missing = await get('/debug/config_dump');
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.text).error).toContain('"node" is required');
    const unknown = await get('/debug/config_dump?node=nobody');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text).error).toBe('no proxy with node id "nobody" is connected');
    const path = await get('/nope');
    expect(path.status).toBe(404);
    expect(path.text).toContain('no such admin endpoint: /nope');
    expect((await get('/healthz', { method: 'POST' })).status).toBe(405);
  });

  it('/metrics exposes connected streams, pushes and NACKs by type and the push latency histogram', async () => {
    plane.cache.setResources('default', CLUSTER_TYPE, { a: edsCluster('a'), b: edsCluster('b') });
    const next = await stream.next();
    stream.ack(next);
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/crossmesh_xds_connected_streams\{mode="sotw"\} 1/);
    expect(r.text).toMatch(/crossmesh_xds_pushes_total\{type="cds"\} [1-9]/);
    expect(r.text).toMatch(/crossmesh_xds_nacks_total\{type="sds"\} 1/);
    expect(r.text).toMatch(/crossmesh_xds_push_latency_seconds_count\{type="cds"\} [1-9]/);
  });
});

describe('CLI over the admin API', () => {
  it('crossmesh status prints a table with ACKed versions and the last NACK', async () => {
    const { out } = await runCli(registerStatus, ['status', '--admin', plane.adminUrl]);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+ROLE\s+MODE\s+GROUP\s+SDS\s+CDS\s+EDS\s+LDS\s+RDS\s+LAST NACK$/);
    expect(lines[1]).toContain('c1/default/web-0');
    const cdsVersion = plane.xds.proxies()[0]!.types.cds!.ackedVersion.slice(0, 8);
    expect(lines[1]).toContain(cdsVersion);
    expect(lines[1]).toContain('sds');
    expect(lines[1]).toContain('bad secret');
  });

  it('crossmesh config-dump prints JSON; an unknown node is a clear error', async () => {
    const ok = await runCli(registerConfigDump, ['config-dump', 'c1/default/web-0', '--admin', plane.adminUrl]);
    expect(JSON.parse(ok.out).types.cds.resources.map((r: { name: string }) => r.name)).toEqual(['a', 'b']);
    const bad = await runCli(registerConfigDump, ['config-dump', 'ghost', '--admin', plane.adminUrl]);
    expect(bad.err).toContain('no proxy with node id "ghost" is connected (HTTP 404)');
    const down = await runCli(registerStatus, ['status', '--admin', 'http://127.0.0.1:1']);
    expect(down.err).toContain('cannot reach the crossmesh admin server at http://127.0.0.1:1');
  });

});
