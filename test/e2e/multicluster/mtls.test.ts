/**
 * mTLS and identity between proxyless workloads: a client in cluster1 (certificate from cluster1's
 * intermediate) calls a server in cluster2 (cluster2's intermediate) over mTLS; the client refuses a
 * server holding another service account's certificate (secure naming); the server refuses a
 * client whose certificate comes from a foreign root. Then the production path in a child process:
 * `crossmesh bootstrap --role proxyless` + `crossmesh agent` files + GRPC_XDS_BOOTSTRAP.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { mintToken } from '../../../src/cli/token.js';
import { NS, SERVICE_PORT, Sim, calls, from, tally, until } from './harness.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist/src/cli/main.js');
let sim: Sim;
let foreign: CertificateAuthority;
let foreignDir: string;

beforeAll(async () => {
  sim = await Sim.start({
    workloads: [
      { cluster: 'cluster2', name: 'echo-2-0', address: '127.0.2.11', app: 'echo', serviceAccount: 'echo' },
      { cluster: 'cluster3', name: 'echo-3-0', address: '127.0.3.11', app: 'other', serviceAccount: 'other' },
      { cluster: 'cluster1', name: 'client-0', address: '127.0.1.50', serviceAccount: 'client' },
      { cluster: 'cluster1', name: 'client-foreign', address: '127.0.1.51', serviceAccount: 'client' },
      { cluster: 'cluster1', name: 'client-cli', address: '127.0.1.52', serviceAccount: 'client' },
    ],
  });
  foreignDir = await mkdtemp(join(tmpdir(), 'crossmesh-foreign-ca-'));
  foreign = await CertificateAuthority.open({ directory: foreignDir });
  await sim.startServer('echo-2-0');
}, 20_000);

afterAll(async () => {
  foreign?.close();
  await sim?.close();
  if (foreignDir) await rm(foreignDir, { recursive: true, force: true });
});

it('serves a client of another cluster over mTLS, the server presenting its SPIFFE identity', { timeout: 15_000 }, async () => {
  const client = await sim.client('client-0');
  await until(client, from('echo-2-0'), 8000, 5);
  expect(tally(await calls(client, 50))).toEqual({ 'echo-2-0': 50 });
});

it('refuses a client whose certificate chains to a foreign root', { timeout: 15_000 }, async () => {
  const client = await sim.client('client-foreign', `echo.${NS}.svc.cluster.local:${SERVICE_PORT}`, { ca: foreign });
  const outcomes = await calls(client, 10, 2);
  // Everything but the certificate is what client-0 uses successfully above; the handshake fails.
  expect(outcomes.every((o) => !o.ok && o.code === grpc.status.UNAVAILABLE)).toBe(true);
});

it('refuses a server whose certificate names another service account than the endpoints behind the cluster', { timeout: 20_000 }, async () => {
  // "other" runs in cluster3 holding the certificate of service account "impostor".
  await sim.startServer('echo-3-0', { serviceAccount: 'impostor' });
  const client = await sim.client('client-0', `other.${NS}.svc.cluster.local:${SERVICE_PORT}`);
  const outcomes = await calls(client, 10, 2);
  expect(outcomes.every((o) => !o.ok && o.code === grpc.status.UNAVAILABLE && /No matching subject alternative name/.test(o.details))).toBe(true);
  // Same server, certificate of the right identity: accepted.
  sim.stopServer('echo-3-0');
  await sim.startServer('echo-3-0');
  await until(client, from('echo-3-0'), 10_000, 5);
});

it('works the production way: bootstrap --role proxyless, agent-written certificates, GRPC_XDS_BOOTSTRAP in a child process', { timeout: 25_000 }, async () => {
  const node = `cluster1/${NS}/client-cli`;
  const certDir = join(sim.dir, 'agent-certs');
  const { stdout } = await run(process.execPath, [CLI, 'bootstrap', '--role', 'proxyless', '--node', node, '--config', sim.configDir, '--xds-address', sim.plane.xdsAddress, '--cert-dir', certDir], { timeout: 10_000 });
  const bootstrap = JSON.parse(stdout);
  expect(bootstrap.node).toMatchObject({ id: node, locality: { region: 'us-east', zone: 'us-east-1a' }, metadata: { role: 'proxyless' } });
  expect(bootstrap.certificate_providers.default.plugin_name).toBe('file_watcher');
  const bootstrapFile = join(sim.dir, 'bootstrap.json');
  await writeFile(bootstrapFile, stdout);
  const token = await mintToken(sim.ca, { kind: 'node', nodeId: node }, 3_600_000);
  await run(process.execPath, [CLI, 'agent', '--node', node, '--xds-address', sim.plane.xdsAddress, '--token', token.token, '--insecure-xds', '--out', certDir, '--once'], { timeout: 10_000 });

  const child = spawn(process.execPath, [join(process.cwd(), 'test/e2e/multicluster/worker.mjs'), `echo.${NS}.svc.cluster.local:${SERVICE_PORT}`, '20'], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrapFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}');
  expect(result['echo-2-0']).toBe(20);
  expect(code).toBe(0);
});
