/**
 * A real xDS-enabled gRPC server (@grpc/grpc-js-xds `XdsServer`) enforces the RBAC crossmesh's
 * AccessPolicy translation produced. The seed's policy "reviews" (slide 48) lets bookinfo-reviews
 * of kind2 and kind3 call ratings; the RBAC HTTP filter comes from `inboundPolicyFilters` for
 * ratings' inbound port in kind2, unchanged. The server Listener around it (address, raw_buffer
 * chain, inline non-forwarding route, certificate-provider mTLS) is this test's own wrapper in the
 * shape grpc-js-xds servers take. Certificates are issued by crossmesh's CertificateAuthority, so
 * the principals are real SPIFFE IDs: bookinfo-reviews gets through, bookinfo-productpage gets
 * PERMISSION_DENIED. Runs in its own file: grpc-js-xds reads its bootstrap once per process.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { startControlPlane, type ControlPlane } from '../../src/cli/serve.js';
import { MeshView, resolveProxy } from '../../src/translate/index.js';
import { inboundPolicyFilters } from '../../src/translate/inbound-policy.js';
import { inboundPorts } from '../../src/translate/sidecar.js';
import { LISTENER_TYPE } from '../support/xds-resources.js';
import { seedFile, seedStore } from '../translate/policy-seed-mesh.js';

// grpc-js-xds registers its RBAC filter only when this is set before it loads.
process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString()),
};
const RATE = '/crossmesh.test.Ratings/Rate';
const SERVER_IP = '127.0.2.14'; // ratings-v1-0 in kind2

let plane: ControlPlane;
let ca: CertificateAuthority;
let dir: string;
let server: grpc.Server | undefined;
const clients: grpc.Client[] = [];

async function pemFiles(name: string, sa: string, cluster: string): Promise<{ cert: string; key: string }> {
  const c = await ca.getWorkloadCertificate({ cluster, trustDomain: cluster, namespace: 'default', serviceAccount: sa });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await writeFile(cert, c.certificateChainPem);
  await writeFile(key, c.privateKey, { mode: 0o600 });
  return { cert, key };
}

function rate(client: grpc.Client): Promise<{ ok: true; body: unknown } | { ok: false; code: number; details: string }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(RATE, json.serialize, json.deserialize, { stars: 5 }, { deadline: Date.now() + 5000 }, (err, res) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, body: res }));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crossmesh-rbac-e2e-'));
  ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
  const serverFiles = await pemFiles('ratings', 'bookinfo-ratings', 'kind2');
  const rootFile = join(dir, 'root.pem');
  await writeFile(rootFile, ca.trustBundle().pem);

  // The server Listener: the wrapper is the test's; the HTTP filters (RBAC, router) are the translator's.
  const { store } = await seedStore(['01-virtual-mesh.yaml', '06-access-reviews-two-clusters.yaml'].map(seedFile));
  const view = new MeshView(store.current);
  const proxy = resolveProxy(store.current, 'kind2/default/ratings-v1-0', 'sidecar');
  if (proxy instanceof Error) throw proxy;
  const port = inboundPorts(view, proxy)[0]!;
  const policy = inboundPolicyFilters(view, 'kind2', port);
  expect(policy.network).toEqual([]);
  expect(policy.http.map((f) => f.name)).toEqual(['envoy.filters.http.rbac']);

  plane = await startControlPlane({ xdsPort: 0, adminPort: 0, debounceMs: 10 });
  const probe = new grpc.Server();
  const serverPort = await new Promise<number>((resolve, reject) => probe.bindAsync(`${SERVER_IP}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  probe.forceShutdown();
  const listenerName = `grpc/server?xds.resource.listening_address=${SERVER_IP}:${serverPort}`;
  plane.cache.setSnapshot('default', {
    [LISTENER_TYPE]: {
      [listenerName]: {
        name: listenerName,
        address: { socket_address: { address: SERVER_IP, port_value: serverPort } },
        filter_chains: [{
          filter_chain_match: { transport_protocol: 'raw_buffer' },
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
              common_tls_context: { tls_certificate_provider_instance: { instance_name: 'default' }, validation_context: { ca_certificate_provider_instance: { instance_name: 'ROOTCA' } } },
              require_client_certificate: { value: true },
            },
          },
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'ratings',
              route_config: { name: 'inbound', virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ match: { prefix: '' }, non_forwarding_action: {} }] }] },
              http_filters: [...policy.http, { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
            },
          }],
        }],
      },
    },
  });
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: plane.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'kind2/default/ratings-v1-0', cluster: 'kind2', locality: {}, metadata: { role: 'proxyless' } },
    server_listener_resource_name_template: 'grpc/server?xds.resource.listening_address=%s',
    certificate_providers: {
      default: { plugin_name: 'file_watcher', config: { certificate_file: serverFiles.cert, private_key_file: serverFiles.key, refresh_interval: '600s' } },
      ROOTCA: { plugin_name: 'file_watcher', config: { ca_certificate_file: rootFile, refresh_interval: '600s' } },
    },
  });
  const xds = await import('@grpc/grpc-js-xds');
  xds.register();
  const s = new xds.XdsServer();
  s.addService(
    { Rate: { path: RATE, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } },
    { Rate: (call: grpc.ServerUnaryCall<{ stars: number }, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { rated: call.request.stars }) },
  );
  await new Promise<void>((resolve, reject) => s.bindAsync(`${SERVER_IP}:${serverPort}`, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (e) => (e ? reject(e) : resolve())));
  server = s;

  const root = ca.trustBundle().pem;
  for (const [sa, cluster] of [['bookinfo-reviews', 'kind3'], ['bookinfo-productpage', 'kind2']] as const) {
    const c = await ca.getWorkloadCertificate({ cluster, trustDomain: cluster, namespace: 'default', serviceAccount: sa });
    const creds = grpc.credentials.createSsl(Buffer.from(root), Buffer.from(c.privateKey), Buffer.from(c.certificateChainPem), { checkServerIdentity: () => undefined });
    clients.push(new grpc.Client(`${SERVER_IP}:${serverPort}`, creds));
  }
}, 25_000);

afterAll(async () => {
  for (const c of clients) c.close();
  server?.forceShutdown();
  await plane?.close();
  ca?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('the allowed identity (bookinfo-reviews of kind3) gets through; another (bookinfo-productpage) gets PERMISSION_DENIED', { timeout: 20_000 }, async () => {
  const [reviews, productpage] = clients as [grpc.Client, grpc.Client];
  // The server starts serving once its Listener arrives over xDS; wait for the first answer.
  const deadline = Date.now() + 12_000;
  let first = await rate(reviews);
  while (!first.ok && first.code === grpc.status.UNAVAILABLE && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    first = await rate(reviews);
  }
  expect(first).toEqual({ ok: true, body: { rated: 5 } });
  const denied = await rate(productpage);
  expect(denied).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
  for (let i = 0; i < 5; i++) expect((await rate(reviews)).ok).toBe(true);
});
