/**
 * Real-client acceptance: @grpc/grpc-js-xds takes a *sidecar's* CDS/EDS/RDS output for a GRPC
 * service, as `translateProxy` produces it for a small two-cluster mesh whose endpoints are real
 * gRPC servers on 127.0.x.y, and follows it: RPCs reach the priority-0 locality, move to the next
 * priority when those backends stop, and a FailoverService's aggregate cluster sends traffic to
 * its first backing service (even a farther one) and fails over to the second.
 *
 * What is the test's own, not the translator's: sidecars get no Listener a gRPC client can use
 * (grpc-js-xds asks for a Listener named by its target, an `api_listener`), so the test adds one
 * per target pointing at the sidecar's route configuration of the target's port (`50051`,
 * `50052`: sidecars get one per HTTP port). Everything else is served as translated, the capture
 * clusters (PassthroughCluster, BlackHoleCluster) included: grpc-js-xds validates only the
 * clusters it watches, so it never judges them; the only change, made only after grpc-js-xds NACKs it (asserted first),
 * is removing the clusters' SDS-based TLS transport socket, which gRPC does not support (it takes
 * certificate-provider instances; the proxyless role serves those).
 *
 * Runs in its own file: grpc-js-xds reads its bootstrap from the environment once per process.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { StaticDiscovery, applyConfig } from '../../src/discovery/static/static-discovery.js';
import { ModelStore } from '../../src/model/store.js';
import { resolveProxy, translateProxy, type ProxyResources, type Resource } from '../../src/translate/index.js';
import { guardResources } from '../../src/translate/semantics.js';
import { SnapshotCache } from '../../src/xds/cache.js';
import { XdsServer } from '../../src/xds/server.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, apiListener } from '../support/xds-resources.js';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString()),
};
const SAY = '/crossmesh.test.Echo/Say';
const ECHO_TARGET = 'echo.default.svc.cluster.local:50051';
const FAILOVER_TARGET = 'hello-failover.default.global:50052';

interface Backend {
  readonly id: string;
  readonly address: string;
  readonly server: grpc.Server;
  readonly port: number;
}

let xds: XdsServer;
let dir: string;
const backends = new Map<string, Backend>();
const clients: grpc.Client[] = [];
let resources: ProxyResources;

async function startBackend(id: string, address: string): Promise<void> {
  const server = new grpc.Server();
  server.addService(
    { Say: { path: SAY, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } },
    { Say: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { from: id }) },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${address}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  backends.set(id, { id, address, server, port });
}

function say(client: grpc.Client, deadlineMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(SAY, json.serialize, json.deserialize as (b: Buffer) => { from: string }, {}, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res!.from)));
  });
}

/** RPCs until one comes from a backend in `wanted` (or the deadline passes); returns who answered last. */
async function until(client: grpc.Client, wanted: readonly string[], ms = 10_000): Promise<string> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    try {
      last = await say(client, 1000);
      if (wanted.includes(last)) return last;
    } catch (e) {
      last = `error: ${(e as Error).message}`;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return last;
}

function workload(name: string, cluster: string, app: string, servicePort: number): string {
  const b = backends.get(name)!;
  return `---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: ${name}, namespace: default, cluster: ${cluster}}
spec: {address: ${b.address}, labels: {app: ${app}}, serviceAccount: ${app}, ports: {"${servicePort}": ${b.port}}}
`;
}

function meshYaml(): string {
  const cluster = (n: string, region: string) => `---
apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: ${n}}
spec: {network: net1, locality: {region: ${region}, zone: ${region}-a}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: echo, namespace: default, cluster: ${n}}
spec: {selector: {app: echo}, ports: [{name: grpc, port: 50051}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: hello, namespace: default, cluster: ${n}}
spec: {selector: {app: hello}, ports: [{name: grpc, port: 50052}]}
`;
  return `${cluster('c1', 'r1')}${cluster('c2', 'r2')}---
apiVersion: networking.smh.solo.io/v1alpha2
kind: VirtualMesh
metadata: {name: vm, namespace: crossmesh-system}
spec: {meshes: [{name: c1}, {name: c2}]}
---
apiVersion: networking.smh.solo.io/v1alpha2
kind: FailoverService
metadata: {name: hello-failover, namespace: crossmesh-system}
spec:
  hostname: hello-failover.default.global
  port: {number: 50052, protocol: grpc}
  backingServices:
  - kubeService: {name: hello, namespace: default, clusterName: c2}
  - kubeService: {name: hello, namespace: default, clusterName: c1}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: client-0, namespace: default, cluster: c1}
spec: {address: 127.0.1.50, labels: {app: client}}
${workload('echo-c1-a', 'c1', 'echo', 50051)}${workload('echo-c1-b', 'c1', 'echo', 50051)}${workload('echo-c2', 'c2', 'echo', 50051)}${workload('hello-c1', 'c1', 'hello', 50052)}${workload('hello-c2', 'c2', 'hello', 50052)}`;
}

function typeStatus(t: string): { lastNack: { error: string; version: string } | null; ackedVersion: string; lastSentVersion: string } | undefined {
  const p = xds.proxies().find((x) => x.nodeId === 'c1/default/client-0');
  return p?.types[t] as never;
}

async function waitFor<T>(what: string, probe: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The test's own api_listeners: one per target, loading the sidecar's route configuration of the target's port. */
function testListeners(): Record<string, object> {
  return { [ECHO_TARGET]: apiListener(ECHO_TARGET, '50051'), [FAILOVER_TARGET]: apiListener(FAILOVER_TARGET, '50052') };
}

function withoutTransportSockets(clusters: ReadonlyMap<string, Resource>): Map<string, Resource> {
  return new Map(
    [...clusters].map(([n, c]) => {
      const { transport_socket: _dropped, ...rest } = c;
      return [n, rest];
    }),
  );
}

beforeAll(async () => {
  await startBackend('echo-c1-a', '127.0.1.1');
  await startBackend('echo-c1-b', '127.0.1.2');
  await startBackend('echo-c2', '127.0.2.1');
  await startBackend('hello-c1', '127.0.1.3');
  await startBackend('hello-c2', '127.0.2.3');
  dir = await mkdtemp(join(tmpdir(), 'crossmesh-grpc-sidecar-'));
  await writeFile(join(dir, 'mesh.yaml'), meshYaml());
  const loaded = await loadConfig([dir]);
  if (!loaded.config) throw new Error(loaded.errors.map((e) => e.message).join('; '));
  const store = new ModelStore();
  applyConfig(store, new StaticDiscovery(loaded.config as MeshConfig), loaded.config as MeshConfig);
  const proxy = resolveProxy(store.current, 'c1/default/client-0', 'sidecar');
  if (proxy instanceof Error) throw proxy;
  resources = translateProxy(store.current, proxy);
  expect(guardResources(resources).rejected).toEqual([]);
  expect([...resources.routes.keys()].sort()).toEqual(['50051', '50052']);
  expect(resources.clusters.has('PassthroughCluster') && resources.clusters.has('BlackHoleCluster')).toBe(true);

  const cache = new SnapshotCache({ debounceMs: 5 });
  xds = new XdsServer({ cache });
  const port = await xds.listen('127.0.0.1', 0);
  cache.setSnapshot('default', {
    [LISTENER_TYPE]: testListeners(),
    [ROUTE_TYPE]: resources.routes,
    [CLUSTER_TYPE]: resources.clusters,
    [ENDPOINT_TYPE]: resources.endpoints,
  });
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'c1/default/client-0', cluster: 'c1', locality: { region: 'r1', zone: 'r1-a' }, metadata: { role: 'sidecar' } },
  });
  const xdsPkg = await import('@grpc/grpc-js-xds');
  xdsPkg.register();
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const b of backends.values()) b.server.forceShutdown();
  await xds?.close(100);
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('grpc-js-xds accepts the sidecar CDS/EDS/RDS (only the SDS TLS socket is NACKed) and follows locality priorities', { timeout: 30_000 }, async () => {
  const client = new grpc.Client(`xds:///${ECHO_TARGET}`, grpc.credentials.createInsecure());
  clients.push(client);
  await say(client, 2000).catch(() => undefined); // starts resolution; fails while CDS is refused

  // What grpc-js-xds rejects, exactly: SDS certificates (it needs certificate-provider instances).
  const nack = await waitFor('a CDS NACK', () => typeStatus('cds')?.lastNack ?? undefined);
  expect(nack.error).toContain('Cluster message validation failed');
  // The capture clusters are served too, but the client never asks for them.
  expect(nack.error).not.toMatch(/PassthroughCluster|BlackHoleCluster|ORIGINAL_DST/);
  const reasons = /validation failed: \[(.*)\]\]$/.exec(nack.error)?.[1]?.split(',');
  expect(reasons).toEqual([
    'UpstreamTlsContext.common_tls_contexttls_certificate_provider_instance unset but UpstreamTlsContext.common_tls_context.tls_certificates_sds_secret_config populated',
    'UpstreamTlsContext.common_tls_context.tls_params set',
    'ValidationContext.ca_certificate_provider_instance unset',
  ]);
  expect(typeStatus('rds')?.lastNack ?? null).toBeNull();

  // Same clusters without their transport socket; nothing else changes.
  xds.cache.setResources('default', CLUSTER_TYPE, withoutTransportSockets(resources.clusters));

  // Priority 0 is c1 (the client's region); every answer comes from there.
  expect(['echo-c1-a', 'echo-c1-b']).toContain(await until(client, ['echo-c1-a', 'echo-c1-b']));
  const seen = new Set<string>();
  for (let i = 0; i < 10; i++) seen.add(await say(client));
  expect([...seen].every((b) => b.startsWith('echo-c1-'))).toBe(true);

  for (const t of ['cds', 'eds', 'rds', 'lds']) {
    const st = typeStatus(t)!;
    expect(st.ackedVersion, `${t} acked`).toBe(st.lastSentVersion);
    if (t !== 'cds') expect(st.lastNack, `${t} never NACKed`).toBeNull();
  }
  expect(typeStatus('cds')!.lastNack!.version).not.toBe(typeStatus('cds')!.ackedVersion);

  // Priority 0 goes away: the next priority (c2) takes the RPCs, with no EDS change.
  backends.get('echo-c1-a')!.server.forceShutdown();
  backends.get('echo-c1-b')!.server.forceShutdown();
  expect(await until(client, ['echo-c2'])).toBe('echo-c2');
});

it('a FailoverService aggregate sends traffic to its first backing service and fails over to the next', { timeout: 30_000 }, async () => {
  const client = new grpc.Client(`xds:///${FAILOVER_TARGET}`, grpc.credentials.createInsecure());
  clients.push(client);
  // The declared order wins over closeness: hello in c2 first, although c1 is the client's region.
  expect(await until(client, ['hello-c2'])).toBe('hello-c2');
  for (let i = 0; i < 5; i++) expect(await say(client)).toBe('hello-c2');
  expect(typeStatus('cds')!.ackedVersion).toBe(typeStatus('cds')!.lastSentVersion);

  backends.get('hello-c2')!.server.forceShutdown();
  expect(await until(client, ['hello-c1'])).toBe('hello-c1');
});
