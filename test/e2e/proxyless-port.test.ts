/**
 * The plaintext proxyless port next to the TLS xDS port: grpc-js-xds clients (whose bootstraps
 * cannot use TLS) are configured through it and make RPCs; any other role, or any credential sent
 * in cleartext, is refused and listed on /debug/proxies. Runs in its own file: grpc-js-xds reads
 * its bootstrap from the environment once per process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { startXdsSecurity } from '../../src/xds/auth/security.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { testNode, XdsTestClient } from '../support/xds-client.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, apiListener, cla, edsCluster, routeTo } from '../support/xds-resources.js';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString()),
};
const SAY = '/crossmesh.test.Echo/Say';
const ECHO = 'outbound|50051||echo.default.svc.cluster.local';

let dir: string;
let ca: CertificateAuthority;
let plane: ControlPlane;
let backend: grpc.Server;
let backendPort = 0;
const clients: (XdsTestClient | grpc.Client)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'crossmesh-proxyless-port-'));
  ca = await CertificateAuthority.open({ directory: dir });
  const cache = new SnapshotCache({ debounceMs: 10 });
  const security = await startXdsSecurity({ ca, cache, insecure: false, tokenReviewer: false });
  plane = await startControlPlane({ cache, security, xdsPort: 0, adminPort: 0, proxylessXdsPort: 0 });
  backend = new grpc.Server();
  backend.addService(
    { Say: { path: SAY, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } },
    { Say: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { from: 'backend' }) },
  );
  backendPort = await new Promise<number>((resolve, reject) => backend.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  plane.cache.setSnapshot('default', {
    [LISTENER_TYPE]: { echo: apiListener('echo', 'echo-routes') },
    [ROUTE_TYPE]: { 'echo-routes': routeTo('echo-routes', '*', ECHO) },
    [CLUSTER_TYPE]: { [ECHO]: edsCluster(ECHO) },
    [ENDPOINT_TYPE]: { [ECHO]: cla(ECHO, [['127.0.0.1', backendPort]]) },
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  backend?.forceShutdown();
  await plane?.close();
  ca?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('configures a real grpc-js-xds client through the plaintext port while xDS proper stays TLS', { timeout: 30_000 }, async () => {
  expect(plane.proxylessXdsAddress).toBeDefined();
  expect(plane.proxylessXdsAddress).not.toBe(plane.xdsAddress);
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: plane.proxylessXdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'c1/default/echo-client-0', cluster: 'c1', locality: { region: 'r1', zone: 'z1' }, metadata: { role: 'proxyless' } },
  });
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();
  const client = new grpc.Client('xds:///echo', grpc.credentials.createInsecure());
  clients.push(client);
  const answer = await new Promise<{ from: string }>((resolve, reject) =>
    client.makeUnaryRequest(SAY, json.serialize, json.deserialize as (b: Buffer) => { from: string }, {}, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r!))),
  );
  expect(answer.from).toBe('backend');
  const { proxies } = (await (await fetch(`${plane.adminUrl}/debug/proxies`)).json()) as { proxies: { nodeId: string; identity: string | null }[] };
  expect(proxies.find((p) => p.nodeId === 'c1/default/echo-client-0')).toBeDefined();
});

it('refuses other roles and cleartext credentials on the plaintext port, and says why', async () => {
  const raw = new XdsTestClient(plane.proxylessXdsAddress!);
  clients.push(raw);
  const sidecar = raw.sotw();
  sidecar.send({ typeUrl: CLUSTER_TYPE, node: testNode('c1/default/web-0') });
  const s1 = await sidecar.status;
  expect(s1.code).toBe(grpc.status.PERMISSION_DENIED);
  expect(s1.details).toContain('serves only role=proxyless nodes');

  const md = new grpc.Metadata();
  md.set('authorization', 'Bearer some-token');
  const withToken = raw.sotw(undefined, md);
  withToken.send({ typeUrl: CLUSTER_TYPE, node: testNode('c1/default/echo-client-1', { role: 'proxyless' }) });
  const s2 = await withToken.status;
  expect(s2.code).toBe(grpc.status.UNAUTHENTICATED);
  expect(s2.details).toContain('credentials must not be sent over the plaintext xDS port');

  const { refused } = (await (await fetch(`${plane.adminUrl}/debug/proxies`)).json()) as { refused: { nodeId: string; code: string }[] };
  expect(refused.map((r) => `${r.nodeId} ${r.code}`)).toEqual(expect.arrayContaining(['c1/default/web-0 PERMISSION_DENIED', 'c1/default/echo-client-1 UNAUTHENTICATED']));
});
