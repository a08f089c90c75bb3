/**
 * `crossmesh agent` renewing with its own certificate over a real gRPC SDS stream: a secured xDS
 * server whose connections end at 1.5 s of age (so the agent reconnects every ~2 s) and whose
 * leaves live 4 s. The token bootstraps the agent once; every later connection must be
 * authenticated by the certificate (the token source turns to garbage after its first use, so a
 * token connection would be refused), and the files keep being renewed. Also: a restarted agent
 * with no token picks its still-valid certificate up from disk; the Envoy SDS file is a valid
 * Secret holding the same pair, owner-only; no token and no certificate is a clear error.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../src/admin/server.js';
import { CertificateAuthority } from '../../src/ca/index.js';
import { runAgent } from '../../src/cli/agent.js';
import { XDS_CLIENT_CERT_SDS_FILE, XDS_CLIENT_CERT_SECRET } from '../../src/translate/bootstrap.js';
import { validateEncoded } from '../../src/translate/validate.js';
import { SdsAgent, type AgentWrite } from '../../src/xds/auth/sds-agent.js';
import { startXdsSecurity, type XdsSecurity } from '../../src/xds/auth/security.js';
import { issueToken } from '../../src/xds/auth/tokens.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { fromProtoJson } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { XdsServer } from '../../src/xds/server.js';
import { defaultMeshStore, meshResolver, until } from '../auth/support.js';

const X = 'cluster1/default/reviews-v1-0';
const SECRET_TYPE = 'envoy.extensions.transport_sockets.tls.v3.Secret';

function capture() {
  const err: string[] = [];
  return { io: { out: (t: string) => void err.push(t), err: (t: string) => void err.push(t) }, err };
}

describe('crossmesh agent renews with its certificate', () => {
  let ca: CertificateAuthority;
  let caDir: string;
  let cache: SnapshotCache;
  let security: XdsSecurity;
  let xds: XdsServer;
  let admin: AdminServer;
  let address: string;
  let work: string;
  let caFile: string;

  beforeAll(async () => {
    caDir = await mkdtemp(join(tmpdir(), 'crossmesh-agent-cert-'));
    ca = await CertificateAuthority.open({ directory: caDir, leafLifetimeMs: 4000 });
    cache = new SnapshotCache({ debounceMs: 5 });
    const store = await defaultMeshStore();
    security = await startXdsSecurity({ ca, cache, insecure: false, tokenReviewer: false });
    security.setMesh(() => store.current);
    cache.setResolver(security.withSecretGroups(meshResolver(store)));
    cache.setResources('mesh', 'type.googleapis.com/envoy.config.cluster.v3.Cluster', {});
    // Connections end at 1.5 s (+0.3 s grace): the agent reconnects every ~2 s.
    xds = new XdsServer({ cache, authenticate: security.authenticate, maxConnectionAgeMs: 1500, maxConnectionAgeGraceMs: 300 });
    address = `127.0.0.1:${await xds.listen('127.0.0.1', 0, security.credentials)}`;
    admin = await startAdminServer({ host: '127.0.0.1', port: 0, xds, isReady: () => cache.isReady() });
    security.attach({ xds, admin });
    work = await mkdtemp(join(tmpdir(), 'crossmesh-agent-out-'));
    caFile = join(work, 'root.pem');
    await writeFile(caFile, ca.trustBundle().pem);
  });
  afterAll(async () => {
    await xds?.close(100);
    await admin?.close();
    security?.close();
    cache?.close();
    ca?.close();
    await rm(caDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  it('bootstraps with the token once, then every reconnection is authenticated by its certificate and renewals keep coming', async () => {
    const out = join(work, 'renew');
    const good = (await issueToken(security.keyring, { kind: 'node', nodeId: X }, 60_000)).token;
    let tokenReads = 0;
    const writes: AgentWrite[] = [];
    const errors: string[] = [];
    const agent = new SdsAgent({
      nodeId: X,
      xdsAddress: address,
      // After its first use the token is garbage: a connection that sent it would be refused.
      token: async () => (tokenReads++ === 0 ? good : 'not.a.token'),
      caPem: ca.trustBundle().pem,
      serverName: 'localhost',
      outDir: out,
      envoySds: true,
      minBackoffMs: 100,
      onWrite: (w) => void writes.push(w),
      onError: (e) => void errors.push(`${e.credential} ${e.code} ${e.details}`),
    });
    agent.start();
    try {
      // ~9 s: two leaf lifetimes and about four connections.
      await until(() => writes.filter((w) => w.via === 'certificate').length >= 3 && new Set(writes.map((w) => w.serial)).size >= 3, 25_000, 'three renewals over certificate streams').catch((e: Error) => {
        throw new Error(`${e.message}; writes ${JSON.stringify(writes.map((w) => [w.via, w.serial]))}, errors ${JSON.stringify(errors)}`);
      });
      await until(() => errors.length >= 3, 10_000, 'three connections ended by their age');
    } finally {
      await agent.stop();
    }
    expect(tokenReads).toBe(1);
    expect(writes[0]!.via).toBe('token');
    expect(errors.every((e) => e.startsWith('certificate ') || e.startsWith('token ')), JSON.stringify(errors)).toBe(true);
    // Only the first connection used the token; none was refused.
    expect(errors.filter((e) => e.startsWith('token ')).length, JSON.stringify(errors)).toBeLessThanOrEqual(1);
    expect(errors.filter((e) => /UNAUTHENTICATED|PERMISSION_DENIED|\b16\b|\b7\b/.test(e.split(' ')[1]!)), JSON.stringify(errors)).toEqual([]);
    // The files hold the latest pair.
    const cert = await readFile(join(out, 'cert.pem'), 'utf8');
    const key = await readFile(join(out, 'key.pem'), 'utf8');
    expect(new X509Certificate(cert).serialNumber.toUpperCase()).toBe(writes.at(-1)!.serial);
    expect(new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))).toBe(true);
    // The server saw certificate admissions.
    const refused = xds.refusals().filter((r) => r.nodeId === X);
    expect(refused).toEqual([]);
  }, 45_000);

  it('writes the Envoy SDS file: one valid Secret named xds_client_cert with the same pair inline, 0600', async () => {
    const out = join(work, 'renew');
    const path = join(out, XDS_CLIENT_CERT_SDS_FILE);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const doc = JSON.parse(await readFile(path, 'utf8')) as { resources: Record<string, unknown>[] };
    expect(doc.resources).toHaveLength(1);
    const { '@type': type, ...secret } = doc.resources[0] as { '@type': string } & Record<string, unknown>;
    expect(type).toBe(`type.googleapis.com/${SECRET_TYPE}`);
    const msg = fromProtoJson(SECRET_TYPE, secret);
    expect(validateEncoded(SECRET_TYPE, messageType(SECRET_TYPE).encode(msg).finish())).toEqual([]);
    const s = secret as { name: string; tls_certificate: { certificate_chain: { inline_string: string }; private_key: { inline_string: string } } };
    expect(s.name).toBe(XDS_CLIENT_CERT_SECRET);
    expect(s.tls_certificate.certificate_chain.inline_string).toBe(await readFile(join(out, 'cert.pem'), 'utf8'));
    expect(s.tls_certificate.private_key.inline_string).toBe(await readFile(join(out, 'key.pem'), 'utf8'));
  });

  it('a restarted agent without a token authenticates with the certificate it wrote before', async () => {
    // A fresh bootstrap whose leaf still has most of its 4 s ahead.
    const out = join(work, 'restart');
    const token = (await issueToken(security.keyring, { kind: 'node', nodeId: X }, 60_000)).token;
    const first = capture();
    expect(await runAgent({ node: X, xdsAddress: address, token, caFile, out, serverName: 'localhost', once: true, onceTimeoutMs: 10_000 }, first.io)).toBe(0);
    expect(first.err.join('')).toMatch(/authenticated by token/);
    const again = capture();
    expect(await runAgent({ node: X, xdsAddress: address, caFile, out, serverName: 'localhost', once: true, onceTimeoutMs: 10_000 }, again.io)).toBe(0);
    expect(again.err.join(''), again.err.join('')).toMatch(/authenticated by certificate/);
    expect(again.err.join('')).not.toMatch(/PRIVATE KEY/);
  }, 20_000);

  it('without a token and without a certificate in --out it says what is missing', async () => {
    await expect(runAgent({ node: X, xdsAddress: address, caFile, out: join(work, 'empty') }, capture().io)).rejects.toThrow(/--token <token\|file> is required to bootstrap: .*empty holds no certificate yet/);
  });

  it('an expired certificate is not presented: with only a garbage token left the agent is refused, never admitted by the old certificate', async () => {
    // The "restart" directory's leaf (4 s) has expired by now or will within the wait.
    const out = join(work, 'restart');
    await until(async () => Date.parse(new X509Certificate(await readFile(join(out, 'cert.pem'))).validTo) < Date.now() - 500, 10_000, 'the written leaf to expire');
    const c = capture();
    const code = await runAgent({ node: X, xdsAddress: address, token: 'not.a.token', caFile, out, serverName: 'localhost', once: true, onceTimeoutMs: 10_000 }, c.io);
    expect(code).toBe(1);
    expect(c.err.join('')).toMatch(/SDS stream \(token\) ended: UNAUTHENTICATED/);
  }, 20_000);
});
