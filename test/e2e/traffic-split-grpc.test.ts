/**
 * A real xDS client (@grpc/grpc-js-xds) follows the weighted split crossmesh's TrafficPolicy
 * translation produced for the seed's "simple" policy (slide 45: reviews 75 % v3 in kind3, 15 % v1,
 * 10 % v2): the route configuration's routes and the three subset clusters are the translator's
 * output for productpage in kind2, served over ADS. Test-only parts: the api_listener (proxyless
 * clients ask for a Listener named as their target), the virtual host wrapper (domain `*`), and
 * the endpoints, which are this test's three gRPC servers on loopback. The clusters keep their
 * mesh mTLS (SDS) until grpc-js-xds is seen NACKing it — it takes certificate providers, not SDS —
 * and only then are served without transport socket. Own file: one bootstrap per process.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { resolveProxy, translateProxy } from '../../src/translate/index.js';
import type { Resource } from '../../src/translate/resources.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, apiListener, cla } from '../support/xds-resources.js';
import { seedFile, seedStore } from '../translate/policy-seed-mesh.js';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString()),
};
const SAY = '/crossmesh.test.Reviews/Get';
const NODE = 'kind2/default/productpage-v1-0';
const RPCS = 2000;

let plane: ControlPlane;
const backends = new Map<string, grpc.Server>();
let client: grpc.Client | undefined;

async function backend(id: string): Promise<number> {
  const server = new grpc.Server();
  server.addService(
    { Get: { path: SAY, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } },
    { Get: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { from: id }) },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  backends.set(id, server);
  return port;
}

function get(c: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(SAY, json.serialize, json.deserialize as (b: Buffer) => { from: string }, {}, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!.from)));
  });
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

let routes: Resource[];
let clusters: Map<string, Resource>;

beforeAll(async () => {
  const { store } = await seedStore(['01-virtual-mesh.yaml', '03-access-productpage.yaml', '05-traffic-policy-simple.yaml'].map(seedFile));
  const proxy = resolveProxy(store.current, NODE, 'sidecar');
  if (proxy instanceof Error) throw proxy;
  const r = translateProxy(store.current, proxy);
  // Sidecars get one route configuration per HTTP port, named by it.
  const vh = ((r.routes.get('9080') as Resource).virtual_hosts as Resource[]).find((v) => v.name === 'reviews.default.svc.cluster.local:9080')!;
  routes = vh.routes as Resource[];
  const names = ((routes[0]!.route as Resource).weighted_clusters as { clusters: { name: string }[] }).clusters.map((c) => c.name);
  clusters = new Map(names.map((n) => [n, r.clusters.get(n)!]));
  plane = await startControlPlane({ xdsPort: 0, adminPort: 0, debounceMs: 10 });
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: plane.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: NODE, cluster: 'kind2', locality: { region: 'us-east', zone: 'us-east-1a' }, metadata: { role: 'proxyless' } },
  });
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();
}, 20_000);

afterAll(async () => {
  client?.close();
  for (const s of backends.values()) s.forceShutdown();
  await plane?.close();
});

it('follows the seed 75/15/10 split within 5 points over 2,000 RPCs', { timeout: 60_000 }, async () => {
  expect([...clusters.keys()]).toEqual(['outbound|9080|version-v3|reviews.default.svc.kind3.global', 'outbound|9080|version-v1|reviews.default.svc.cluster.local', 'outbound|9080|version-v2|reviews.default.svc.cluster.local']);
  const ids = ['v3', 'v1', 'v2'];
  const ports = await Promise.all(ids.map(backend));
  const assignments = Object.fromEntries([...clusters.keys()].map((n, i) => [n, cla(n, [['127.0.0.1', ports[i]!]])]));
  const rc = { name: 'reviews-routes', virtual_hosts: [{ name: 'reviews', domains: ['*'], routes }] };
  plane.cache.setSnapshot('default', {
    [LISTENER_TYPE]: { reviews: apiListener('reviews', 'reviews-routes') },
    [ROUTE_TYPE]: { 'reviews-routes': rc },
    [CLUSTER_TYPE]: Object.fromEntries(clusters),
    [ENDPOINT_TYPE]: assignments,
  });
  client = new grpc.Client('xds:///reviews', grpc.credentials.createInsecure());
  void get(client).catch(() => undefined);
  // The translated clusters carry SDS-based mesh mTLS, which grpc-js-xds cannot load: it NACKs CDS.
  const cdsNack = () => plane.xds.proxies().find((p) => p.nodeId === NODE)?.types.cds?.lastNack ?? null;
  await until(() => cdsNack() !== null, 10_000);
  expect(JSON.stringify(cdsNack())).toMatch(/transport|tls|sds|secret|certificate/i);
  // Only now: the same clusters without transport socket.
  plane.cache.setResources('default', CLUSTER_TYPE, Object.fromEntries([...clusters].map(([n, c]) => { const { transport_socket: _t, ...plain } = c; return [n, plain]; })));
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await get(client);
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const tally: Record<string, number> = { v3: 0, v1: 0, v2: 0 };
  for (let i = 0; i < RPCS; i += 100) {
    const batch = await Promise.all(Array.from({ length: 100 }, () => get(client!)));
    for (const from of batch) tally[from]!++;
  }
  const pct = (k: string) => (tally[k]! * 100) / RPCS;
  expect(Math.abs(pct('v3') - 75), JSON.stringify(tally)).toBeLessThanOrEqual(5);
  expect(Math.abs(pct('v1') - 15), JSON.stringify(tally)).toBeLessThanOrEqual(5);
  expect(Math.abs(pct('v2') - 10), JSON.stringify(tally)).toBeLessThanOrEqual(5);
});
