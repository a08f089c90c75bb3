/**
 * `serve --xds-socket`: the xDS server also listens on a unix socket, with the same TLS,
 * authentication, streams and cache as its TCP port. A token holder is served over the socket and
 * shows up on the same server as TCP clients; an anonymous client is refused; a stale socket file
 * is replaced, a live one or a regular file is refused, and the file is gone after close. Then a
 * real Envoy, bootstrapped by `crossmesh bootstrap --xds-address unix:... --admin-address unix:...`,
 * connects over the socket with TLS and its token and ACKs its clusters (skipped without Envoy,
 * except in CI).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CertificateAuthority } from '../../src/ca/index.js';
import { buildBootstrapForNode } from '../../src/cli/bootstrap.js';
import { meshLoader } from '../../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { envoyMissingMessage, findEnvoy } from '../../src/envoy/binary.js';
import { issueToken } from '../../src/xds/auth/tokens.js';
import { startXdsSecurity, type XdsSecurity } from '../../src/xds/auth/security.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { CLUSTER_TYPE, TYPE_SHORT_NAME } from '../../src/xds/types.js';
import { Client, CLUSTER, until } from '../auth/support.js';

const NODE = 'cluster1/default/productpage-v1-0';
let dir: string;
let ca: CertificateAuthority;
let security: XdsSecurity;
let plane: ControlPlane;
let socket: string;
const clients: Client[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cmsock-'));
  socket = join(dir, 'xds.sock');
  ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
  const cache = new SnapshotCache({ debounceMs: 5 });
  security = await startXdsSecurity({ ca, cache, insecure: false, tokenReviewer: false });
  plane = await startControlPlane({ cache, security, xdsPort: 0, adminPort: 0, xdsSocket: socket, loadMesh: meshLoader(), configPaths: [] });
}, 30_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await plane?.close();
  ca?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('xDS on a unix socket', () => {
  it('serves a token holder over TLS on the socket, from the same server as the TCP port, and refuses anonymous clients', async () => {
    expect(plane.xdsSocketAddress).toBe(`unix:${socket}`);
    const { token } = await issueToken(security.keyring, { kind: 'node', nodeId: NODE }, 60_000);
    const c = new Client(`unix:${socket}`, { rootPem: ca.trustBundle().pem });
    clients.push(c);
    const st = c.open(undefined, token);
    st.send({ typeUrl: CLUSTER, node: { id: NODE } });
    expect((await st.nextOf(CLUSTER)).resources.length).toBeGreaterThan(0);
    expect(plane.xds.proxies().map((p) => p.nodeId)).toContain(NODE);

    const anonymous = new Client(`unix:${socket}`, { rootPem: ca.trustBundle().pem });
    clients.push(anonymous);
    const refused = anonymous.open();
    refused.send({ typeUrl: CLUSTER, node: { id: NODE } });
    expect((await refused.endsWithin(5000))?.code).toBe(grpc.status.UNAUTHENTICATED);

    const plain = new Client(`unix:${socket}`);
    clients.push(plain);
    const p = plain.open(undefined, token);
    p.send({ typeUrl: CLUSTER, node: { id: NODE } });
    expect((await p.endsWithin(5000))?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('replaces a stale socket file, refuses a live socket or a regular file, and removes its socket on close', async () => {
    const stale = join(dir, 'stale.sock');
    // A socket file nobody listens on, as a killed server leaves it.
    const made = spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`], { timeout: 5000 });
    expect(made.status, String(made.stderr)).toBe(0);
    expect(existsSync(stale)).toBe(true);
    const cache = new SnapshotCache({ debounceMs: 5 });
    const second = await startControlPlane({ cache, xdsPort: 0, adminPort: 0, xdsSocket: stale, xdsCredentials: grpc.ServerCredentials.createInsecure() });
    expect(second.xdsSocketAddress).toBe(`unix:${stale}`);
    const c = new Client(`unix:${stale}`);
    const st = c.open();
    st.send({ typeUrl: CLUSTER, node: { id: NODE } });
    await until(() => second.xds.activeStreams().length === 1, 5000, 'a stream over the replaced socket');
    c.close();
    await second.close();
    expect(existsSync(stale)).toBe(false);

    const regular = join(dir, 'regular');
    writeFileSync(regular, 'not a socket');
    await expect(startControlPlane({ cache: new SnapshotCache(), xdsPort: 0, adminPort: 0, xdsSocket: regular })).rejects.toThrow(`cannot use ${regular} as the xDS socket: it exists and is not a socket (a file)`);
    expect(existsSync(regular)).toBe(true);

    await expect(startControlPlane({ cache: new SnapshotCache(), xdsPort: 0, adminPort: 0, xdsSocket: socket })).rejects.toThrow(`cannot use ${socket} as the xDS socket: another process is listening on it`);
    const other = join(dir, 'other.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(other, resolve));
    try {
      await expect(startControlPlane({ cache: new SnapshotCache(), xdsPort: 0, adminPort: 0, xdsSocket: other })).rejects.toThrow('another process is listening on it');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

const envoy = findEnvoy();

/** GET on Envoy's admin unix socket (5 s bound). */
function adminGet(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`admin ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!envoy && !process.env.CI)(`real Envoy over the unix socket${envoy ? '' : ` (skipped: ${envoyMissingMessage()})`}`, () => {
  let proc: ChildProcess | undefined;
  let output = '';
  afterAll(() => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  });

  it('connects with TLS and its token, ACKs its clusters, and answers on its admin socket', async () => {
    expect(envoy, envoyMissingMessage()).toBeDefined();
    const adminSocket = join(dir, 'admin.sock');
    const { bootstrap } = await buildBootstrapForNode({ node: NODE, role: 'sidecar', config: [], tokenTtl: '1h', caDir: join(dir, 'ca'), namespace: 'crossmesh-system', xdsAddress: `unix:${socket}`, adminAddress: `unix:${adminSocket}`, adsApi: 'delta' });
    const file = join(dir, 'envoy.yaml');
    writeFileSync(file, stringify(bootstrap, { lineWidth: 0 }));
    proc = spawn(envoy!.path, ['-c', file, '--use-dynamic-base-id', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const acked = (): boolean => plane.xds.proxies().some((p) => p.nodeId === NODE && p.mode === 'delta' && (p.types[TYPE_SHORT_NAME[CLUSTER_TYPE]]?.ackedVersion ?? '') !== '' && p.identity !== null);
    await until(() => acked() || proc!.exitCode !== null, 20_000, 'Envoy to ACK its clusters over the unix socket').catch((e: Error) => {
      throw new Error(`${e.message}; streams: ${JSON.stringify(plane.xds.proxies())}; refusals: ${JSON.stringify(plane.xds.refusals())}; Envoy said:\n${output}`);
    });
    expect(proc.exitCode, output).toBeNull();
    expect(acked()).toBe(true);
    const info = await adminGet(adminSocket, '/server_info');
    expect(info.status).toBe(200);
    expect(JSON.parse(info.body).command_line_options.config_path).toBe(file);
    // A CDS ACK comes before the cluster is warm: Envoy lists an EDS cluster on /clusters only once
    // its endpoints have arrived, which can be a moment after the ACK.
    let clusters = await adminGet(adminSocket, '/clusters');
    await until(async () => (clusters = await adminGet(adminSocket, '/clusters')).body.includes('outbound|9080||reviews.default.svc.cluster.local'), 10_000, 'the outbound cluster warm on /clusters').catch(() => undefined);
    expect(clusters.body).toContain('outbound|9080||reviews.default.svc.cluster.local');
  }, 40_000);
});
