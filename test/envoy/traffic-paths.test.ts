/**
 * Paths through real Envoy that the workshop does not take: TCP services through capture (same
 * network) and through the other cluster's east-west gateway; two replicas of one workload, one on
 * delta ADS and one on state-of-the-world, holding the same configuration; and the ingress edge
 * (prefixes on a segment boundary, every caller external), and an ingress terminating TLS with a
 * certificate served over SDS. The compose mesh plus test/envoy/fixtures/traffic-paths (TCP
 * services, the two replicas) and a TLS ingress gateway written by this file, with the virtual
 * mesh applied.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EnvoyAdmin } from '../../src/envoy/admin.js';
import { repoRoot } from '../../src/envoy/binary.js';
import type { Driver } from '../../src/netsim/index.js';
import { startMeshSim, type MeshSim } from '../../src/meshsim/index.js';
import { COMPOSE_TOPOLOGY, envoySuite, policyDir, statSum } from './support.js';

const FIXTURE = join(repoRoot(), 'test', 'envoy', 'fixtures', 'traffic-paths');
const PODS = new Set([
  'cluster1-sleep-v1-0',
  'cluster1-sleep-v1-1',
  'cluster1-echo-local-v1-0',
  'cluster1-productpage-v1-0',
  'cluster1-ingress-gateway-0',
  'cluster2-echo-v1-0',
  'cluster2-east-west-gateway-0',
  'cluster1-ingress-tls-0',
]);
const TLS_POD = 'cluster1-ingress-tls-0';
const EDGE = 'cluster1-ingress-gateway-0';
const TLS_HOST = 'shop.example.com';

/** A TLS ingress gateway beside the compose one: its certificate files readable by root only (Envoy runs as 1337). */
const TLS_GATEWAY = `apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: ingress-tls-0, namespace: crossmesh-system, cluster: cluster1}
spec: {address: 172.30.1.23, labels: {app: ingress-tls}, serviceAccount: ingress-tls}
---
apiVersion: crossmesh.io/v1alpha1
kind: Gateway
metadata: {name: ingress-tls, namespace: crossmesh-system, cluster: cluster1}
spec:
  type: Ingress
  workload: ingress-tls-0
  port: 8443
  hosts: ["${TLS_HOST}"]
  routes:
  - pathPrefix: /productpage
    service: {name: productpage, namespace: default, port: 9080}
  tls: {certFile: certs/tls.crt, keyFile: certs/tls.key}
`;

/** Writes a new self-signed certificate and key for TLS_HOST into `dir` (each file renamed into place); returns the certificate PEM. */
function writeSelfSigned(dir: string, cn: string): string {
  const tmp = join(dir, '.new');
  mkdirSync(tmp, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${TLS_HOST}`, '-keyout', join(tmp, 'tls.key'), '-out', join(tmp, 'tls.crt')], { stdio: 'pipe' });
  execFileSync('chmod', ['600', join(tmp, 'tls.key'), join(tmp, 'tls.crt')]);
  renameSync(join(tmp, 'tls.key'), join(dir, 'tls.key'));
  renameSync(join(tmp, 'tls.crt'), join(dir, 'tls.crt'));
  return readFileSync(join(dir, 'tls.crt'), 'utf8');
}
const DELTA = 'cluster1-sleep-v1-0';

type Obj = Record<string, unknown>;

/** What an Envoy holds, per xDS type and resource name, without versions and times (which differ by protocol and moment). */
async function heldConfiguration(admin: EnvoyAdmin): Promise<Record<string, Record<string, unknown>>> {
  const dump = await admin.configDump({ includeEds: true });
  const out: Record<string, Record<string, unknown>> = { clusters: {}, listeners: {}, routes: {}, endpoints: {}, secrets: {} };
  const list = (o: unknown, k: string): Obj[] => ((o as Obj)[k] as Obj[] | undefined) ?? [];
  for (const c of dump.configs) {
    const t = String(c['@type'] ?? '');
    if (t.endsWith('ClustersConfigDump')) for (const x of list(c, 'dynamic_active_clusters')) out.clusters![String((x.cluster as Obj).name)] = x.cluster;
    if (t.endsWith('ListenersConfigDump')) for (const x of list(c, 'dynamic_listeners')) out.listeners![String(x.name)] = (x.active_state as Obj | undefined)?.listener;
    if (t.endsWith('RoutesConfigDump')) for (const x of list(c, 'dynamic_route_configs')) out.routes![String((x.route_config as Obj).name)] = x.route_config;
    if (t.endsWith('EndpointsConfigDump')) for (const x of list(c, 'dynamic_endpoint_configs')) out.endpoints![String((x.endpoint_config as Obj).cluster_name)] = x.endpoint_config;
    if (t.endsWith('SecretsConfigDump')) for (const x of list(c, 'dynamic_active_secrets')) out.secrets![String(x.name)] = x.secret;
  }
  return out;
}

/** The ADS flavour an Envoy was started with, from its own bootstrap. */
async function adsApiType(admin: EnvoyAdmin): Promise<string> {
  const dump = await admin.configDump({ resource: '' });
  const boot = dump.configs.find((c) => String(c['@type']).endsWith('BootstrapConfigDump')) as { bootstrap?: { dynamic_resources?: { ads_config?: { api_type?: string } } } } | undefined;
  return boot?.bootstrap?.dynamic_resources?.ads_config?.api_type ?? '';
}

envoySuite('traffic paths on real Envoy: TCP through capture and the east-west gateway, delta beside SotW, the ingress edge', () => {
  let mesh: MeshSim;
  let sleep: Driver;
  let client: Driver;
  const policies = policyDir();
  const tlsDir = mkdtempSync(join(tmpdir(), 'crossmesh-ingress-tls-'));
  const certs = join(tlsDir, 'certs');
  let firstCert: string;

  beforeAll(async () => {
    policies.apply('virtual-mesh.yaml');
    mkdirSync(certs, { mode: 0o700 });
    firstCert = writeSelfSigned(certs, 'first');
    writeFileSync(join(tlsDir, 'ingress-tls.yaml'), TLS_GATEWAY);
    mesh = await startMeshSim({ topology: [COMPOSE_TOPOLOGY, FIXTURE, tlsDir], policyDir: policies.dir, only: (p) => PODS.has(p.name), adsApi: (p) => (p.name === DELTA ? 'delta' : 'sotw') });
    sleep = await mesh.sim.driver(DELTA);
    client = await mesh.client();
  }, 90_000);

  afterAll(async () => {
    await sleep?.close().catch(() => undefined);
    await mesh?.close();
    policies.dispose();
    rmSync(tlsDir, { recursive: true, force: true });
  }, 30_000);

  it('a TCP service in the same network: the captured connection crosses both sidecars (tcp_proxy, mTLS) and reaches the app', async () => {
    const results = await sleep.requests({ url: 'http://echo-local.default.svc.cluster.local:9000/over-tcp', count: 20, concurrency: 4, timeoutMs: 5000 });
    expect(results.map((r) => r.status ?? r.error)).toEqual(Array(20).fill(200));
    const answer = JSON.parse(results[0]!.body!) as { chain: string[]; caller: string | null };
    expect(answer.chain[0]).toBe('echo-local v1 (cluster1)');
    // Bytes, not HTTP, crossed the sidecars: no HTTP filter added a client-certificate header.
    expect(answer.caller).toBeNull();
    const client = mesh.pod(DELTA).envoy.admin;
    expect(await statSum(client, /^tcp\..*echo-local.*\.downstream_cx_total$/)).toBeGreaterThanOrEqual(20);
    expect(await statSum(client, /^cluster\.outbound\|9000\|\|echo-local\.default\.svc\.cluster\.local\.upstream_cx_total$/)).toBeGreaterThanOrEqual(20);
    const server = mesh.pod('cluster1-echo-local-v1-0').envoy.admin;
    expect(await statSum(server, /^listener\..*\.ssl\.handshake$/)).toBeGreaterThanOrEqual(20);
    expect(await statSum(server, /^cluster\.inbound\|9000\|\|\.upstream_cx_total$/)).toBeGreaterThanOrEqual(20);
  }, 30_000);

  it('a TCP service only in cluster2: the connection goes through cluster2\'s east-west gateway by SNI', async () => {
    const results = await sleep.requests({ url: 'http://echo.default.svc.cluster.local:9000/over-the-gateway', count: 20, concurrency: 4, timeoutMs: 5000 });
    expect(results.map((r) => r.status ?? r.error)).toEqual(Array(20).fill(200));
    expect((JSON.parse(results[0]!.body!) as { chain: string[] }).chain[0]).toBe('echo v1 (cluster2)');
    const gw = mesh.pod('cluster2-east-west-gateway-0').envoy.admin;
    expect(await statSum(gw, /^cluster\.outbound\|9000\|\|echo\.default\.svc\.cluster\.local\.upstream_cx_total$/)).toBeGreaterThanOrEqual(20);
    expect(await statSum(mesh.pod('cluster2-echo-v1-0').envoy.admin, /^listener\..*\.ssl\.handshake$/)).toBeGreaterThanOrEqual(20);
  }, 30_000);

  it('two replicas of one workload, one on delta ADS and one on state-of-the-world, hold the same configuration', async () => {
    const delta = mesh.pod(DELTA).envoy.admin;
    const sotw = mesh.pod('cluster1-sleep-v1-1').envoy.admin;
    expect(await adsApiType(delta)).toBe('DELTA_GRPC');
    expect(await adsApiType(sotw)).toBe('GRPC');
    const a = await heldConfiguration(delta);
    const b = await heldConfiguration(sotw);
    for (const t of ['clusters', 'listeners', 'routes', 'endpoints', 'secrets']) expect(Object.keys(a[t]!).length, t).toBeGreaterThan(0);
    expect(Object.keys(a.clusters!)).toContain('outbound|9000||echo.default.svc.cluster.local');
    expect(a).toEqual(b);
  }, 30_000);

  it('the ingress matches a prefix on a path segment boundary: /productpage/x is routed, /productpagex is not', async () => {
    const [sub] = await client.requests({ url: mesh.ingressUrl('/productpage/reviews', EDGE), timeoutMs: 5000, maxBodyBytes: 65536 });
    expect(sub!.headers?.['x-demo-pod']).toBe('productpage-v1-0');
    const [other] = await client.requests({ url: mesh.ingressUrl('/productpagex', EDGE), timeoutMs: 5000 });
    expect(other!.status).toBe(404);
    expect(other!.headers?.['x-demo-pod']).toBeUndefined();
  }, 30_000);

  it('the ingress treats a caller from a private address as external: its x-envoy-* headers are dropped, its address is recorded', async () => {
    const [r] = await client.requests({
      url: mesh.ingressUrl('/productpage', EDGE),
      timeoutMs: 5000,
      maxBodyBytes: 65536,
      headers: { 'x-demo-echo': '1', 'x-envoy-internal': 'true', 'x-envoy-external-address': '6.6.6.6', 'x-forwarded-for': '6.6.6.6' },
    });
    const seen = (JSON.parse(r!.body!) as { headers: Record<string, string | undefined> }).headers;
    const xff = (seen['x-forwarded-for'] ?? '').split(',').map((s) => s.trim());
    const caller = xff[xff.length - 1]!;
    // The client namespace sits on the wan (172.30.0.0/24, RFC 1918): Envoy's old default would have called it internal.
    expect(caller).toMatch(/^172\.30\.0\.\d+$/);
    expect(seen['x-envoy-internal']).toBeUndefined();
    expect(seen['x-envoy-external-address']).toBe(caller);
  }, 30_000);

  it('an ingress terminates TLS with the certificate served over SDS (files Envoy cannot read), to its own identity only; a renewed pair is picked up, a broken one keeps the last good', async () => {
    const url = `https://${mesh.pod(TLS_POD).pod.wanAddress}:8443/productpage`;
    const get = async (ca: string) => (await client.requests({ url, timeoutMs: 5000, maxBodyBytes: 65536, headers: { host: TLS_HOST }, tls: { ca, servername: TLS_HOST } }))[0]!;
    const first = await get(firstCert);
    expect(first.status, first.error).toBe(200);
    expect(first.headers?.['x-demo-pod']).toBe('productpage-v1-0');
    // Only the gateway's own Envoy holds the secret; a sidecar is never sent it.
    const secretsOf = async (pod: string) => Object.keys((await heldConfiguration(mesh.pod(pod).envoy.admin)).secrets!);
    expect(await secretsOf(TLS_POD)).toContain('ingress-tls~crossmesh-system~ingress-tls');
    expect(await secretsOf(DELTA)).not.toContain('ingress-tls~crossmesh-system~ingress-tls');

    // Renewed in place (as cert-manager does): new handshakes present the new certificate within seconds.
    const second = writeSelfSigned(certs, 'second');
    const deadline = Date.now() + 15_000;
    let r = await get(second);
    while (r.status !== 200 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 250));
      r = await get(second);
    }
    expect(r.status, r.error).toBe(200);
    expect((await get(firstCert)).error).toBeDefined();

    // A broken key file: the error shows on /debug/ingress-tls, the renewed pair keeps serving.
    writeFileSync(join(certs, 'tls.key'), 'not a key\n', { mode: 0o600 });
    let status: { secret: string; serving: boolean; error?: string; subject?: string }[] = [];
    for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((res) => setTimeout(res, 250))) {
      status = await mesh.controlPlane.adminJson('/debug/ingress-tls');
      if (status[0]?.error) break;
    }
    expect(status).toHaveLength(1);
    expect(status[0]).toMatchObject({ secret: 'ingress-tls~crossmesh-system~ingress-tls', serving: true, subject: 'CN=second' });
    expect(status[0]!.error).toMatch(/tls\.key: no PEM private key/);
    expect((await get(second)).status).toBe(200);
  }, 60_000);
});
