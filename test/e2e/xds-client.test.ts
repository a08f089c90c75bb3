/**
 * A real xDS client (@grpc/grpc-js-xds) resolves `xds:///echo` through this server's LDS → RDS →
 * CDS → EDS over ADS and makes RPCs to real gRPC servers on 127.0.0.1; an EDS change moves traffic.
 * Runs in its own file: grpc-js-xds reads its bootstrap from the environment once per process.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, apiListener, cla, edsCluster, routeTo } from '../support/xds-resources.js';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString()),
};
const SAY = '/crossmesh.test.Echo/Say';

let plane: ControlPlane;
const backends: { server: grpc.Server; port: number }[] = [];
let channelClient: grpc.Client | undefined;

async function startBackend(id: string): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(
    { Say: { path: SAY, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } },
    { Say: (call: grpc.ServerUnaryCall<{ msg: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { from: id, echo: call.request.msg }) },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { server, port };
}

function say(client: grpc.Client, msg: string): Promise<{ from: string; echo: string }> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(SAY, json.serialize, json.deserialize as (b: Buffer) => { from: string; echo: string }, { msg }, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

beforeAll(async () => {
  plane = await startControlPlane({ xdsPort: 0, adminPort: 0, debounceMs: 10 });
  backends.push(await startBackend('backend-1'), await startBackend('backend-2'));
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: plane.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'c1/default/echo-client-0', cluster: 'c1', locality: { region: 'us-east', zone: 'us-east-1a' }, metadata: { role: 'proxyless' } },
  });
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();
});

afterAll(async () => {
  channelClient?.close();
  for (const b of backends) b.server.forceShutdown();
  await plane.close();
});

it('grpc-js-xds makes RPCs through listener, route, cluster and endpoints served over ADS, and follows an EDS change', { timeout: 30_000 }, async () => {
  plane.cache.setSnapshot('default', {
    [LISTENER_TYPE]: { echo: apiListener('echo', 'echo-routes') },
    [ROUTE_TYPE]: { 'echo-routes': routeTo('echo-routes', '*', 'outbound|50051||echo.default.svc.cluster.local') },
    [CLUSTER_TYPE]: { 'outbound|50051||echo.default.svc.cluster.local': edsCluster('outbound|50051||echo.default.svc.cluster.local') },
    [ENDPOINT_TYPE]: { 'outbound|50051||echo.default.svc.cluster.local': cla('outbound|50051||echo.default.svc.cluster.local', [['127.0.0.1', backends[0]!.port]]) },
  });
  channelClient = new grpc.Client('xds:///echo', grpc.credentials.createInsecure());
  const first = await say(channelClient, 'hello');
  expect(first).toEqual({ from: 'backend-1', echo: 'hello' });

  // The proxyless client is visible with every type ACKed.
  const p = plane.xds.proxies().find((x) => x.nodeId === 'c1/default/echo-client-0')!;
  expect(p.role).toBe('proxyless');
  for (const t of ['lds', 'rds', 'cds', 'eds']) {
    expect(p.types[t]!.lastNack).toBeNull();
    expect(p.types[t]!.ackedVersion).toBe(p.types[t]!.lastSentVersion);
  }

  plane.cache.setResources('default', ENDPOINT_TYPE, {
    'outbound|50051||echo.default.svc.cluster.local': cla('outbound|50051||echo.default.svc.cluster.local', [['127.0.0.1', backends[1]!.port]]),
  });
  const deadline = Date.now() + 10_000;
  let from = first.from;
  while (from !== 'backend-2' && Date.now() < deadline) {
    from = (await say(channelClient, 'again')).from;
    if (from !== 'backend-2') await new Promise((r) => setTimeout(r, 50));
  }
  expect(from).toBe('backend-2');
});
