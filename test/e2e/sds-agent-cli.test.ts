/**
 * The credential CLIs against a real secured server: `crossmesh token` prints a token the server
 * accepts; `crossmesh bootstrap` prints a bootstrap that parses as envoy.config.bootstrap.v3.Bootstrap,
 * carries a working token and trusts the mesh root; `crossmesh agent` writes cert/key/ca files
 * over SDS and rewrites them when the leaf rotates.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgent } from '../../src/cli/agent.js';
import { runBootstrap } from '../../src/cli/bootstrap.js';
import { runToken } from '../../src/cli/token.js';
import { validateEncoded } from '../../src/translate/validate.js';
import { verifyToken } from '../../src/xds/auth/tokens.js';
import { fromProtoJson } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { Client, SECRET, node, startSecureServer, until, type SecureServer } from '../auth/support.js';

const X = 'cluster1/default/reviews-v1-0';
const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

describe('credential CLIs', () => {
  let s: SecureServer;
  let work: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    s = await startSecureServer({ ca: { leafLifetimeMs: 4000 } });
    work = await mkdtemp(join(tmpdir(), 'crossmesh-cli-'));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await s?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const connectWith = async (token: string, nodeId: string) => {
    const c = new Client(s.address, { rootPem: s.rootPem });
    clients.push(c);
    const st = c.open(undefined, token);
    st.send({ typeUrl: SECRET, names: ['default'], node: node(nodeId) });
    return st;
  };

  it('crossmesh token prints only the token on stdout; the server accepts it for that node', async () => {
    const c = capture();
    expect(await runToken({ node: X, ttl: '2h', caDir: s.caDir, config: [] }, c.io)).toBe(0);
    expect(c.out).toHaveLength(1);
    const token = c.out[0]!.trim();
    expect(token.split('.')).toHaveLength(3);
    expect(c.err.join('')).toMatch(/^token for node:cluster1\/default\/reviews-v1-0, expires \d{4}-/);
    expect(c.err.join('')).not.toContain(token);
    const v = await verifyToken(s.security.keyring, token);
    if (v instanceof Error) throw v;
    expect(v.expiresAt.getTime() - Date.now()).toBeGreaterThan(7_100_000);
    const st = await connectWith(token, X);
    expect((await st.nextOf(SECRET)).resources.map((r) => r.name)).toEqual(['default']);
    st.close();
  });

  it('crossmesh token refuses a bad ttl and a missing subject', async () => {
    await expect(runToken({ node: X, ttl: 'soon', caDir: s.caDir, config: [] }, capture().io)).rejects.toThrow(/--ttl: invalid duration/);
    const c = capture();
    expect(await runToken({ ttl: '1h', caDir: s.caDir, config: [] }, c.io)).toBe(2);
    expect(c.err.join('')).toMatch(/exactly one of --node/);
  });

  it('crossmesh bootstrap: a valid Envoy bootstrap that carries a working token and trusts the mesh root', async () => {
    const c = capture();
    const flags = { node: X, role: 'sidecar', xdsAddress: s.address, config: [], tokenTtl: '24h', caDir: s.caDir, namespace: 'crossmesh-system', adminPort: '15000' };
    expect(await runBootstrap(flags, c.io)).toBe(0);
    const json = parse(c.out.join('')) as Record<string, unknown>;
    const msg = fromProtoJson(BOOTSTRAP, json);
    const bytes = messageType(BOOTSTRAP).encode(msg).finish();
    expect(validateEncoded(BOOTSTRAP, bytes)).toEqual([]);

    const b = json as {
      node: { id: string; locality: { region: string; zone: string } };
      dynamic_resources: { ads_config: { grpc_services: { initial_metadata: { key: string; value: string }[] }[] } };
      static_resources: { clusters: { name: string; transport_socket: { typed_config: { sni: string; common_tls_context: { validation_context: { trusted_ca: { inline_string: string }; match_typed_subject_alt_names: unknown[] } } } } }[] };
    };
    expect(b.node.id).toBe(X);
    expect(b.node.locality).toMatchObject({ region: 'us-east', zone: 'us-east-1a' });
    const md = b.dynamic_resources.ads_config.grpc_services[0]!.initial_metadata;
    expect(md).toHaveLength(1);
    expect(md[0]!.key).toBe('authorization');
    const token = md[0]!.value.replace(/^Bearer /, '');
    const tls = b.static_resources.clusters.find((x) => x.name === 'xds-grpc')!.transport_socket.typed_config;
    expect(tls.common_tls_context.validation_context.trusted_ca.inline_string).toBe(s.ca.trustBundle().pem);
    expect(tls.common_tls_context.validation_context.match_typed_subject_alt_names).toEqual([{ san_type: 'DNS', matcher: { exact: 'crossmesh.crossmesh-system.svc' } }]);
    expect(tls.sni).toBe('crossmesh.crossmesh-system.svc');
    // The root it trusts is the one the xDS server's certificate chains to.
    const serverCert = new X509Certificate(s.security.serverTls!.certificatePem);
    expect(serverCert.verify(new X509Certificate(tls.common_tls_context.validation_context.trusted_ca.inline_string).publicKey)).toBe(true);
    expect(serverCert.subjectAltName).toContain('DNS:crossmesh.crossmesh-system.svc');
    // The token only goes into the bootstrap, never into the summary line.
    expect(c.err.join('')).not.toContain(token);
    const st = await connectWith(token, X);
    expect((await st.nextOf(SECRET)).resources.map((r) => r.name)).toEqual(['default']);
    st.close();
  });

  it('crossmesh bootstrap names an unknown node clearly', async () => {
    const flags = { node: 'cluster1/default/nope', role: 'sidecar', xdsAddress: s.address, config: [], tokenTtl: '24h', caDir: s.caDir, namespace: 'crossmesh-system', adminPort: '15000' };
    await expect(runBootstrap(flags, capture().io)).rejects.toThrow(/--node cluster1\/default\/nope names no Workload/);
  });

  it('crossmesh agent --once writes cert.pem, key.pem (0600) and ca.pem', async () => {
    const out = join(work, 'once');
    const tokenFile = join(work, 'token');
    const c = capture();
    expect(await runToken({ node: X, ttl: '1h', caDir: s.caDir, config: [] }, c.io)).toBe(0);
    await writeFile(tokenFile, c.out[0]!, { mode: 0o600 });
    const caFile = join(work, 'root.pem');
    await writeFile(caFile, s.rootPem);
    const a = capture();
    expect(await runAgent({ node: X, xdsAddress: s.address, token: tokenFile, caFile, out, once: true, onceTimeoutMs: 10_000 }, a.io)).toBe(0);
    const cert = await readFile(join(out, 'cert.pem'), 'utf8');
    const key = await readFile(join(out, 'key.pem'), 'utf8');
    expect(new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(new X509Certificate(cert).subjectAltName).toBe('URI:spiffe://cluster1/ns/default/sa/bookinfo-reviews');
    expect(await readFile(join(out, 'ca.pem'), 'utf8')).toBe(s.ca.trustBundle().pem);
    expect((await stat(join(out, 'key.pem'))).mode & 0o777).toBe(0o600);
    expect(a.err.join('')).not.toMatch(/PRIVATE KEY/);
  });

  it('crossmesh agent --once with a token for another node exits 1 with PERMISSION_DENIED', async () => {
    const c = capture();
    expect(await runToken({ node: 'cluster1/default/ratings-v1-0', ttl: '1h', caDir: s.caDir, config: [] }, c.io)).toBe(0);
    const caFile = join(work, 'root.pem');
    const a = capture();
    const code = await runAgent({ node: X, xdsAddress: s.address, token: c.out[0]!.trim(), caFile, out: join(work, 'denied'), once: true, onceTimeoutMs: 10_000 }, a.io);
    expect(code).toBe(1);
    expect(a.err.join('')).toContain('PERMISSION_DENIED');
    await expect(stat(join(work, 'denied', 'key.pem'))).rejects.toThrow();
  });

  it('crossmesh agent rewrites the files when the leaf rotates, and stops on abort', async () => {
    const out = join(work, 'rotating');
    const c = capture();
    expect(await runToken({ node: X, ttl: '1h', caDir: s.caDir, config: [] }, c.io)).toBe(0);
    const caFile = join(work, 'root.pem');
    const stop = new AbortController();
    const a = capture();
    const done = runAgent({ node: X, xdsAddress: s.address, token: c.out[0]!.trim(), caFile, out }, a.io, stop.signal);
    const serialOnDisk = async (): Promise<string | undefined> => {
      try {
        return new X509Certificate(await readFile(join(out, 'cert.pem'))).serialNumber;
      } catch {
        return undefined;
      }
    };
    await until(async () => (await serialOnDisk()) !== undefined, 5000, 'first write');
    const first = (await serialOnDisk())!;
    await until(async () => {
      const now = await serialOnDisk();
      return now !== undefined && now !== first;
    }, 8000, 'rewrite after rotation');
    // The rewritten pair still matches.
    const cert = await readFile(join(out, 'cert.pem'), 'utf8');
    const key = await readFile(join(out, 'key.pem'), 'utf8');
    expect(new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))).toBe(true);
    stop.abort();
    expect(await done).toBe(0);
    expect(a.err.filter((l) => l.startsWith('wrote ')).length).toBeGreaterThanOrEqual(2);
  }, 20_000);
});
