/**
 * Two `crossmesh serve` processes (the built CLI with the Deployment's own arguments) against one real
 * kube-apiserver, each with its own CA directory, both given the install base's ServiceAccount as
 * the management cluster and a VirtualMesh whose root CA is the Secret crossmesh-system/crossmesh-root-ca:
 *
 * - they start together: exactly one creates the Secret, the other reads the winner's root, and
 *   both serve that root (probes on the Deployment's paths answer);
 * - a proxy (ServiceAccount token, TokenReview against the real server) takes its configuration
 *   and its certificate from replica A, then reconnects to replica B with the version_info A gave
 *   it: B sends nothing at all, for CDS, EDS, LDS, RDS or SDS (`default` + `ROOTCA`), and holds the
 *   proxy as up to date at A's versions;
 * - no certificate is reissued: with shared issuance (src/ca/deterministic.ts) B computes the very
 *   leaf A issued (same bytes, serial and window; same intermediate), so its `/debug/certs` equals
 *   A's, and a proxy that never saw A is served that same certificate by B; it passes a mutual TLS
 *   handshake against either replica's ROOTCA;
 * - serve and validate (built CLI) refuse a Secret root without a management cluster, naming file,
 *   VirtualMesh and field; validate with one finds and checks the Secret.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { messageType } from '../../src/xds/protos.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../src/xds/types.js';
import { ADS, Client, node, type Response, type Stream } from '../auth/support.js';
import { kubeApiServerSuite, useKubeApiServer } from '../support/kube-apiserver.js';
import { createEndpointSlice, createNode, createPod, createService } from '../discovery/kubernetes/real-kube-fixtures.js';
import { collectionPath, one, renderBase } from './install-base.js';

const CLI = join(process.cwd(), 'dist/src/cli/main.js');
const NS = 'crossmesh-system';
const NODE = 'cluster1/bookinfo/reviews-v1-0';
const SPIFFE = 'spiffe://cluster1/ns/bookinfo/sa/reviews';
const objects = renderBase();
const container = one(objects, 'Deployment', 'crossmesh').spec.template.spec.containers[0];

interface Replica {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly xds: string;
  readonly admin: string;
  readonly logs: () => string;
}

function startReplica(name: string, args: string[]): Promise<Replica> {
  const proc = spawn(process.execPath, [CLI, 'serve', ...args], { env: { ...process.env, CROSSMESH_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  return new Promise<Replica>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica ${name} did not start within 60 s:\n${stderr}`)), 60_000);
    proc.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /xDS on (\S+) \(TLS, [^)]*\), admin on (\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        // Bound to 0.0.0.0 as in the pod; reached on 127.0.0.1 (in the server certificate).
        const local = (a: string): string => a.replace('0.0.0.0', '127.0.0.1');
        resolve({ name, proc, xds: local(m[1]!), admin: local(m[2]!), logs: () => stderr });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`replica ${name} exited with ${code}:\n${stderr}`));
    });
  });
}

/** Base64 of an SDS secret's inline bytes, as the test client decodes them, to text. */
function inline(v: unknown): string {
  return Buffer.from(String(v), 'base64').toString('utf8');
}

function secretOf(r: Response, name: string): Record<string, any> {
  const s = r.resources.find((x) => x.name === name);
  if (!s) throw new Error(`no secret ${name} in ${r.resources.map((x) => x.name).join(', ')}`);
  return s.json as Record<string, any>;
}

/** Subscribes (a change of subscription carries the last answer's version and nonce, as Envoy's do), waits for the answer, ACKs it. */
async function fetchAndAck(s: Stream, typeUrl: string, names: string[], o: { withNode?: boolean; previous?: Response } = {}): Promise<Response> {
  s.send({ typeUrl, names, ...(o.withNode ? { node: node(NODE) } : {}), ...(o.previous ? { version: o.previous.version, nonce: o.previous.nonce } : {}) });
  const r = await s.nextOf(typeUrl, 20_000).catch((e: Error) => {
    throw new Error(`${typeUrl} ${JSON.stringify(names)}: ${e.message}`);
  });
  s.send({ typeUrl, names, version: r.version, nonce: r.nonce });
  return r;
}

/** The RDS names the listeners' HTTP connection managers ask for (their typed_config is packed in an Any). */
function routeConfigNames(lds: Response): string[] {
  const names = new Set<string>();
  const hcm = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.type_url === 'string' && o.type_url.endsWith(`/${hcm}`) && typeof o.value === 'string') {
        const t = messageType(hcm);
        const m = t.toObject(t.decode(Buffer.from(o.value, 'base64')), { defaults: false }) as { rds?: { route_config_name?: string } };
        if (m.rds?.route_config_name) names.add(m.rds.route_config_name);
        return;
      }
      Object.values(o).forEach(walk);
    }
  };
  walk(lds.resources.map((r) => r.json));
  return [...names].sort();
}

async function certs(r: Replica): Promise<any> {
  return (await fetch(`${r.admin}/debug/certs`)).json();
}

kubeApiServerSuite('two crossmesh replicas sharing the root CA Secret', () => {
  const api = useKubeApiServer();
  let dir: string;
  let a: Replica;
  let b: Replica;
  let saKubeconfig = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'crossmesh-replicas-'));
    for (const o of objects) await api().request('POST', collectionPath(o), o);
    saKubeconfig = api().tokenKubeconfig(await api().serviceAccountToken(NS, 'crossmesh', { expirationSeconds: 3600 }), 'crossmesh-sa');
    // One workload for the proxy to be: a pod of bookinfo/reviews, listed by its service's slice.
    await createNode(api(), 'node-a', { 'topology.kubernetes.io/region': 'region1', 'topology.kubernetes.io/zone': 'zone-a' });
    await createPod(api(), { name: 'reviews-v1-0', namespace: 'bookinfo', ip: '10.1.0.5', node: 'node-a', labels: { app: 'reviews', version: 'v1' }, serviceAccount: 'reviews', ready: true });
    await createService(api(), { name: 'reviews', namespace: 'bookinfo', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] });
    await createEndpointSlice(api(), { name: 'reviews-1', namespace: 'bookinfo', service: 'reviews', ports: [{ name: 'http', port: 9080 }], endpoints: [{ ip: '10.1.0.5', pod: 'reviews-v1-0', ready: true }] });
    // The install base's mesh, with this cluster's discovery reached through the same ServiceAccount.
    const mesh = (one(objects, 'ConfigMap', 'crossmesh-config').data['mesh.yaml'] as string).replace('discovery: {kubernetes: {}}', `discovery: {kubernetes: {kubeconfig: ${JSON.stringify(saKubeconfig)}}}`);
    const config = join(dir, 'mesh.yaml');
    writeFileSync(config, mesh);
    // The Deployment's own arguments, with what the pod would provide (its namespace, the in-cluster
    // ServiceAccount, the mounted config, the emptyDir) pointed at this test's files, on free ports.
    const args = (ca: string): string[] => [
      ...(container.args as string[]).slice(1).map((a) =>
        a
          .replaceAll('$(POD_NAMESPACE)', NS)
          .replace(/^--config=.*/, `--config=${config}`)
          .replace(/^--ca-dir=.*/, `--ca-dir=${join(dir, ca)}`)
          .replace(/^--management-kubeconfig=in-cluster$/, `--management-kubeconfig=${saKubeconfig}`)
          .replace(/^--policies-kubeconfig=in-cluster$/, `--policies-kubeconfig=${saKubeconfig}`),
      ),
      '--xds-port=0',
      '--admin-port=0',
    ];
    [a, b] = await Promise.all([startReplica('A', args('ca-a')), startReplica('B', args('ca-b'))]);
  }, 150_000);

  afterAll(() => {
    for (const r of [a, b]) if (r && r.proc.exitCode === null) r.proc.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts both: one creates the Secret, the other reads it, both serve that root and answer the Deployment probes', async () => {
    const created = [a, b].filter((r) => r.logs().includes('created the root CA Secret with a new root'));
    const read = [a, b].filter((r) => r.logs().includes('read the root CA from its Secret'));
    expect(created.length, 'replicas that created the Secret').toBe(1);
    expect(read.length, 'replicas that read it').toBe(1);
    const secret = (await api().request('GET', `/api/v1/namespaces/${NS}/secrets/crossmesh-root-ca`)).body;
    const secretRoot = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
    const id = secretRoot.fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase();
    for (const r of [a, b]) {
      const c = await certs(r);
      expect(c.trustBundle.map((x: { id: string }) => x.id), r.name).toEqual([id]);
      expect(c.xdsServer.rootId, r.name).toBe(id);
      expect(c.xdsServer.dnsNames, r.name).toContain('crossmesh.crossmesh-system.svc');
    }
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
      for (const r of [a, b]) {
        const deadline = Date.now() + 30_000;
        let status = 0;
        while ((status = (await fetch(`${r.admin}${probe.httpGet.path}`)).status) !== 200 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
        expect(status, `${r.name} ${probe.httpGet.path}`).toBe(200);
      }
    }
  });

  it('sends a proxy that moves from A to B with its versions nothing new, its certificate included, and reissues nothing', async () => {
    const rootPem = Buffer.from((await api().request('GET', `/api/v1/namespaces/${NS}/secrets/crossmesh-root-ca`)).body.data['tls.crt'], 'base64').toString();
    const token = await api().serviceAccountToken('bookinfo', 'reviews', { audiences: ['crossmesh'] });
    // Wait until both replicas have discovered the workload (the proxy's node id names it).
    for (const r of [a, b]) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const t = (await (await fetch(`${r.admin}/debug/discovery`)).json()) as unknown;
        if (JSON.stringify(t).includes('"pods":1')) break;
        if (Date.now() > deadline) throw new Error(`replica ${r.name} did not discover the pod: ${JSON.stringify(t)}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    }

    // On A: everything a sidecar subscribes to, each answer ACKed.
    const clientA = new Client(a.xds, { rootPem });
    const sa = clientA.open(ADS, token);
    const cds = await fetchAndAck(sa, CLUSTER_TYPE, [], { withNode: true });
    const edsNames = cds.resources.filter((r) => r.json.type === 'EDS').map((r) => String((r.json.eds_cluster_config as { service_name?: string } | undefined)?.service_name || r.name));
    expect(edsNames.length).toBeGreaterThan(0);
    const eds = await fetchAndAck(sa, ENDPOINT_TYPE, edsNames);
    const lds = await fetchAndAck(sa, LISTENER_TYPE, []);
    const rdsNames = routeConfigNames(lds);
    expect(rdsNames.length).toBeGreaterThan(0);
    const rds = await fetchAndAck(sa, ROUTE_TYPE, rdsNames);
    const withDefaultA = await fetchAndAck(sa, SECRET_TYPE, ['default', 'ROOTCA']);
    const leafA = inline(secretOf(withDefaultA, 'default').tls_certificate.certificate_chain.inline_bytes);
    const keyA = inline(secretOf(withDefaultA, 'default').tls_certificate.private_key.inline_bytes);
    const issuedOnA = (await certs(a)).issued;
    expect(issuedOnA.map((c: { identity: string }) => c.identity)).toEqual([SPIFFE]);
    clientA.close();

    // On B: the same subscriptions, each first request carrying the version A gave, as Envoy sends
    // them after a reconnect (SDS: one subscription to default + ROOTCA).
    const clientB = new Client(b.xds, { rootPem });
    const sb = clientB.open(ADS, token);
    const seen: Response[] = [];
    const collect = async (ms: number): Promise<void> => {
      const end = Date.now() + ms;
      for (;;) {
        const left = end - Date.now();
        if (left <= 0) return;
        try {
          seen.push(await sb.next(left));
        } catch {
          return;
        }
      }
    };
    sb.send({ typeUrl: CLUSTER_TYPE, names: [], version: cds.version, node: node(NODE) });
    sb.send({ typeUrl: ENDPOINT_TYPE, names: edsNames, version: eds.version });
    sb.send({ typeUrl: LISTENER_TYPE, names: [], version: lds.version });
    sb.send({ typeUrl: ROUTE_TYPE, names: rdsNames, version: rds.version });
    sb.send({ typeUrl: SECRET_TYPE, names: ['default', 'ROOTCA'], version: withDefaultA.version });
    // B holds the proxy as up to date on every type, at A's versions (once it has authenticated the
    // stream and taken each hint: polled, the machine may be loaded), and sent it nothing.
    const want = { cds: cds.version, eds: eds.version, lds: lds.version, rds: rds.version, sds: withDefaultA.version };
    let acked: Record<string, string> = {};
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { proxies } = (await (await fetch(`${b.admin}/debug/proxies`)).json()) as { proxies: { nodeId: string; types: Record<string, { ackedVersion: string }> }[] };
      acked = Object.fromEntries(Object.entries(proxies.find((p) => p.nodeId === NODE)?.types ?? {}).map(([t, v]) => [t, v.ackedVersion]));
      if (Object.entries(want).every(([t, v]) => acked[t] === v)) break;
      if (Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(acked).toMatchObject(want);
    await collect(2000);
    expect(seen.map((r) => r.typeUrl), 'B re-sent what the proxy already had').toEqual([]);
    // No certificate was reissued: B computed the very leaf A issued (same serial, same window).
    const issuedOnB = (await certs(b)).issued;
    expect(issuedOnB).toEqual(issuedOnA);
    expect((await certs(a)).issued).toEqual(issuedOnA);
    expect((await certs(b)).intermediates).toEqual((await certs(a)).intermediates);
    clientB.close();

    // A proxy that never talked to A gets from B the same certificate A gave (by bytes).
    const clientB2 = new Client(b.xds, { rootPem });
    const sb2 = clientB2.open(ADS, token);
    const withDefaultB = await fetchAndAck(sb2, SECRET_TYPE, ['default', 'ROOTCA'], { withNode: true });
    expect(withDefaultB.version).toBe(withDefaultA.version);
    const leafB = inline(secretOf(withDefaultB, 'default').tls_certificate.certificate_chain.inline_bytes);
    const keyB = inline(secretOf(withDefaultB, 'default').tls_certificate.private_key.inline_bytes);
    expect(leafB).toBe(leafA);
    clientB2.close();

    // The certificate is trusted with either replica's ROOTCA: a real mutual TLS handshake.
    const rootFromB = inline(secretOf(withDefaultB, 'ROOTCA').validation_context.trusted_ca.inline_bytes);
    const rootFromA = inline(secretOf(withDefaultA, 'ROOTCA').validation_context.trusted_ca.inline_bytes);
    const server = tls.createServer({ cert: leafA, key: keyA, ca: rootFromA, requestCert: true, rejectUnauthorized: true }, (socket) => {
      socket.end(`peer ${socket.getPeerCertificate().subjectaltname}`);
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as { port: number }).port;
    try {
      const answer = await new Promise<string>((res, rej) => {
        const c = tls.connect({ host: '127.0.0.1', port, cert: leafB, key: keyB, ca: rootFromB, checkServerIdentity: () => undefined }, () => {
          expect(c.authorized).toBe(true);
          expect(c.getPeerCertificate().subjectaltname).toBe(`URI:${SPIFFE}`);
        });
        let text = '';
        c.on('data', (d: Buffer) => (text += d.toString()));
        c.on('end', () => res(text));
        c.on('error', rej);
      });
      expect(answer).toBe(`peer URI:${SPIFFE}`);
    } finally {
      server.close();
    }
  });

  it('serve and validate refuse a Secret root without a management cluster, naming the file, the VirtualMesh and the field', () => {
    const config = join(dir, 'mesh.yaml');
    const run = (extra: string[]) => spawnSync(process.execPath, [CLI, 'serve', '--xds-port', '0', '--admin-port', '0', '--config', config, '--ca-dir', join(dir, 'ca-c'), ...extra], { encoding: 'utf8', timeout: 60_000 });
    const without = run([]);
    expect(without.status).toBe(1);
    expect(without.stderr).toContain(
      `crossmesh: ${config}:9: VirtualMesh crossmesh-system/virtual-mesh: spec.mtlsConfig.shared.rootCertificateAuthority.secret (crossmesh-system/crossmesh-root-ca) is read from a Kubernetes management cluster, and none was given: add --management-kubeconfig <kubeconfig file|in-cluster>`,
    );
    const missing = run(['--management-kubeconfig', join(dir, 'nope.kubeconfig')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`crossmesh: --management-kubeconfig: kubeconfig file ${join(dir, 'nope.kubeconfig')} does not exist`);
    // validate, built CLI: the same message without the flag; with it, the Secret is found and checked.
    const validate = (extra: string[]) => spawnSync(process.execPath, [CLI, 'validate', '--config', config, ...extra], { encoding: 'utf8', timeout: 60_000 });
    const invalid = validate([]);
    expect(invalid.status).toBe(1);
    expect(invalid.stderr).toContain(`${config}:9: VirtualMesh crossmesh-system/virtual-mesh: spec.mtlsConfig.shared.rootCertificateAuthority.secret (crossmesh-system/crossmesh-root-ca) is read from a Kubernetes management cluster`);
    const valid = validate(['--management-kubeconfig', saKubeconfig]);
    expect(valid.status, valid.stderr).toBe(0);
    expect(valid.stdout).toMatch(/root CA: secret crossmesh-system\/crossmesh-root-ca holds root [0-9a-f]{16}/);
    const notInPod = run(['--management-kubeconfig', 'in-cluster']);
    expect(notInPod.status).toBe(1);
    expect(notInPod.stderr).toContain('crossmesh: --management-kubeconfig in-cluster: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)');
  });
});
