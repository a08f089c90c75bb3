/**
 * Credentials that outlive their token, on real Envoy. Tokens live 5 s, leaves 6 s (renewed at
 * 4 s), and crossmesh ends every xDS connection at 4 s of age (then 10 s of grace), so every
 * Envoy reconnects several times after its bootstrap token has expired.
 *
 * Durable mode (`MeshSim xdsCredentials: 'certificate'`): each pod runs `crossmesh agent
 * --envoy-sds` as uid 1337, bootstrapped once with the 5 s token and renewing over its own SDS
 * stream authenticated by its current certificate; the Envoy bootstrap (`--xds-client-cert-dir`)
 * carries no token and its xds-grpc cluster presents that certificate through file-based SDS.
 * Over about six leaf lifetimes every Envoy must stay connected, take a configuration change
 * pushed late in the run, hold renewed leaves (same process), lose no request, and be shown on
 * `/debug/proxies` as authenticated by certificate.
 *
 * Negative, in the same run: an Envoy bootstrapped the old way (a 5 s token in `initial_metadata`)
 * is admitted once and then refused (`expired_token`) on its reconnect, and stays disconnected.
 * crossmesh honours a token for 30 s past its `exp` (clock skew), so that refusal comes at the
 * first reconnect after 35 s; the run lasts long enough for it.
 *
 * Keepalive: crossmesh is frozen (SIGSTOP); the Envoys' HTTP/2 pings on the xds-grpc cluster must
 * notice the dead connection within seconds, and they reconnect once it is thawed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildBootstrapForNode } from '../../src/cli/bootstrap.js';
import type { EnvoyAdmin } from '../../src/envoy/admin.js';
import type { EnvoyProcess } from '../../src/envoy/process.js';
import { startMeshSim, type MeshPod, type MeshSim } from '../../src/meshsim/index.js';
import type { Driver } from '../../src/netsim/index.js';
import { XDS_CLIENT_CERT_SECRET, XDS_HTTP2_KEEPALIVE } from '../../src/translate/bootstrap.js';
import { COMPOSE_TOPOLOGY, STEPS, envoySuite, policyDir } from './support.js';
import { leafSerials, nacks, proxies, sleep, startStrayEnvoy, steadyTraffic, waitFor } from './steady.js';

const TOKEN_TTL_S = 5;
const LEAF_TTL_S = 6;
const MAX_AGE_S = 4;
/** How long traffic runs under the short lifetimes: eight leaf lifetimes (past the tokens' 5 s + 30 s tolerance). */
const RUN_MS = 8 * LEAF_TTL_S * 1000;
/** When, in the run, the configuration change is written (after six leaf lifetimes, all tokens expired). */
const CHANGE_AT_MS = 6 * LEAF_TTL_S * 1000;

/** The workshop's VirtualMesh (step 1) with short-lived leaves (`spec.ca.leafTtl`). */
const VIRTUAL_MESH = readFileSync(join(STEPS, 'virtual-mesh.yaml'), 'utf8').replace(/^spec:\n/m, `spec:\n  ca:\n    leafTtl: ${LEAF_TTL_S}s\n`);

/** The change pushed late in the run: productpage's route to reviews gets a 7 s timeout. */
const TIMEOUT_POLICY = `apiVersion: networking.smh.solo.io/v1alpha2
kind: TrafficPolicy
metadata:
  namespace: crossmesh-system
  name: reviews-timeout
spec:
  destinationSelector:
  - kubeServiceRefs:
      services:
        - clusterName: cluster1
          name: reviews
          namespace: default
  requestTimeout: 7s
`;

/** The pods of the run: cluster1's ingress and every workload behind it (a workload without its pod would be a dead endpoint). */
const inCluster1Path = (p: MeshPod): boolean => p.cluster === 'cluster1' && p.role !== 'gateway';
/** The token-mode Envoy of the negative: a node whose pod does not run (cluster2's, reached only on failover), started in the client namespace. */
const STATIC_NODE = 'cluster2/default/reviews-v3-0';

/** The serial of the certificate Envoy's xds-grpc cluster presents (the file-based SDS secret), from its config dump. */
async function xdsClientSerial(admin: EnvoyAdmin): Promise<string | undefined> {
  const dump = await admin.configDump({ includeEds: false, resource: 'dynamic_active_secrets' });
  const s = (dump.configs as { name?: string; secret?: { tls_certificate?: { certificate_chain?: { inline_string?: string; inline_bytes?: string } } } }[]).find((c) => c.name === XDS_CLIENT_CERT_SECRET);
  const chain = s?.secret?.tls_certificate?.certificate_chain;
  const pem = chain?.inline_string ?? (chain?.inline_bytes ? Buffer.from(chain.inline_bytes, 'base64').toString('utf8') : undefined);
  if (!pem) return undefined;
  const { X509Certificate } = await import('node:crypto');
  return new X509Certificate(pem).serialNumber.toUpperCase().replace(/^0+/, '');
}

async function stat(admin: EnvoyAdmin, name: string): Promise<number> {
  return (await admin.stats(`^${name.replace(/[.]/g, '\\.')}$`)).get(name) ?? 0;
}

/** True when some route of Envoy's RDS holds a `timeout` of `value` (e.g. "7s"). */
async function hasRouteTimeout(admin: EnvoyAdmin, value: string): Promise<boolean> {
  const dump = await admin.configDump({ includeEds: false, resource: 'dynamic_route_configs' });
  return JSON.stringify(dump.configs).includes(`"timeout":"${value}"`);
}

envoySuite(`durable xDS credentials: tokens of ${TOKEN_TTL_S} s, leaves of ${LEAF_TTL_S} s, connections ended at ${MAX_AGE_S} s`, () => {
  let mesh: MeshSim | undefined;
  let client: Driver;
  let url: string;
  let stray: EnvoyProcess | undefined;
  const policies = policyDir();

  beforeAll(async () => {
    writeFileSync(join(policies.dir, 'virtual-mesh.yaml'), VIRTUAL_MESH);
    mesh = await startMeshSim({
      topology: [COMPOSE_TOPOLOGY],
      policyDir: policies.dir,
      only: inCluster1Path,
      xdsCredentials: 'certificate',
      tokenTtl: `${TOKEN_TTL_S}s`,
      serveArgs: ['--max-connection-age', String(MAX_AGE_S)],
      adsApi: (p) => (p.name === 'cluster1-productpage-v1-0' ? 'delta' : 'sotw'),
    });
    try {
      await mesh.allConverged(30_000);
      client = await mesh.client();
      url = mesh.ingressUrl();
      await client.waitForHttp(url, { timeoutMs: 15_000 });
    } catch (e) {
      // What crossmesh refused and said, for a start that failed (afterAll closes the mesh).
      const refused = await proxies(mesh).then((p) => JSON.stringify(p.refused), (err: Error) => err.message);
      throw new Error(`${(e as Error).message}\nrefused: ${refused}\n--- crossmesh log ---\n${mesh.controlPlane.logTail(30)}`);
    }
  }, 240_000);

  afterAll(async () => {
    await stray?.stop(1000).catch(() => undefined);
    await mesh?.close();
    policies.dispose();
  }, 30_000);

  it('Envoys keep configuration, renewed leaves and traffic for six leaf lifetimes after their token expired; a static-token Envoy is refused', async () => {
    const m = mesh!;
    const watched = [...m.pods.values()];
    const pids = new Map(watched.map((p) => [p.pod.name, p.envoy.pid]));
    // The old way beside it: a bootstrap token of the same 5 s in initial_metadata.
    const { bootstrap } = await buildBootstrapForNode({
      node: STATIC_NODE,
      role: 'sidecar',
      config: [COMPOSE_TOPOLOGY, policies.dir],
      caDir: join(m.sim.workDir, 'mesh', 'ca'),
      xdsAddress: m.controlPlane.xdsAddress,
      tokenTtl: `${TOKEN_TTL_S}s`,
      namespace: 'crossmesh-system',
    });
    stray = startStrayEnvoy(m, 'client', 'static-token', bootstrap);
    await stray.waitReady(20_000);
    // Admitted at first, by its token.
    await waitFor('the static-token Envoy admitted', 10_000, async () => ((await proxies(m)).proxies.some((s) => s.nodeId === STATIC_NODE && (s as unknown as { identity: string }).identity.startsWith('token:')) ? true : 'no stream yet'));

    const defaults = new Map<string, string[]>(watched.map((p) => [p.pod.name, []]));
    const clientCerts = new Map<string, string[]>(watched.map((p) => [p.pod.name, []]));
    const cx0 = new Map<string, number>();
    for (const p of watched) cx0.set(p.pod.name, await stat(p.envoy.admin, 'cluster.xds-grpc.upstream_cx_total'));
    const disconnected: string[] = [];
    const sample = async (): Promise<void> => {
      for (const p of watched) {
        const admin = p.envoy.admin;
        const [serials, xdsSerial, connected] = await Promise.all([leafSerials(admin), xdsClientSerial(admin), stat(admin, 'control_plane.connected_state')]);
        const d = defaults.get(p.pod.name)!;
        for (const s of serials) if (!d.includes(s)) d.push(s);
        const c = clientCerts.get(p.pod.name)!;
        if (xdsSerial && !c.includes(xdsSerial)) c.push(xdsSerial);
        if (connected !== 1) disconnected.push(`${p.pod.name} at ${new Date().toISOString()}`);
      }
    };

    const started = Date.now();
    const traffic = steadyTraffic(client, url, { batch: 10, concurrency: 2 });
    let changed = false;
    while (Date.now() - started < RUN_MS) {
      await sample();
      if (!changed && Date.now() - started >= CHANGE_AT_MS) {
        changed = true;
        policies.write('reviews-timeout.yaml', TIMEOUT_POLICY);
      }
      await sleep(500);
    }
    // The change written after six lifetimes must be in force on every Envoy (verify.ts compares dumps).
    await m.settle(['virtual-mesh.yaml', 'reviews-timeout.yaml'], 20_000);
    const t = await traffic.stop();
    await sample();
    const productpage = m.pod('cluster1-productpage-v1-0').envoy.admin;
    expect(await hasRouteTimeout(productpage, '7s'), 'productpage holds the 7 s timeout pushed after six lifetimes').toBe(true);

    const cx = new Map<string, number>();
    for (const p of watched) cx.set(p.pod.name, (await stat(p.envoy.admin, 'cluster.xds-grpc.upstream_cx_total')) - cx0.get(p.pod.name)!);
    // Between two connections a stream is briefly absent: wait until every Envoy's is listed.
    await waitFor('every Envoy listed on /debug/proxies', 10_000, async () => {
      const listed = new Set((await proxies(m)).proxies.filter((s) => (s as unknown as { userAgent: string }).userAgent.startsWith('envoy')).map((s) => s.nodeId));
      return watched.every((w) => listed.has(w.pod.nodeId)) ? true : `listed: ${[...listed].join(', ')}`;
    });
    const p = await proxies(m);
    // /debug/proxies also lists each pod's agent (user agent crossmesh-agent) under the same node id.
    const envoyStreams = (p.proxies as unknown as { nodeId: string; userAgent: string; identity: string | null }[]).filter((s) => s.userAgent.startsWith('envoy'));
    const report = JSON.stringify({
      requests: t.total,
      failed: t.failures.length,
      failures: t.failures.slice(0, 5),
      defaultSerials: Object.fromEntries(defaults),
      xdsClientSerials: Object.fromEntries(clientCerts),
      xdsReconnects: Object.fromEntries(cx),
      disconnectedSamples: disconnected.length,
      streams: envoyStreams.map((s) => `${s.nodeId} ${s.identity}`),
    });
    console.info(report);

    for (const pod of watched) {
      const name = pod.pod.name;
      // ~48 s of 6 s leaves renewed at 4 s: about twelve leaves; at least six (five changes) under load.
      expect(defaults.get(name)!.length, `${name} default leaves: ${report}`).toBeGreaterThanOrEqual(6);
      expect(clientCerts.get(name)!.length, `${name} xDS client certificates: ${report}`).toBeGreaterThanOrEqual(6);
      // Reconnected well after every token expired (4 s age + 10 s grace: a new connection every ~14 s).
      expect(cx.get(name)!, `${name} xds-grpc connections: ${report}`).toBeGreaterThanOrEqual(3);
      expect(pod.envoy.pid, name).toBe(pids.get(name));
      expect(pod.envoy.process.exitStatus(), `${name} exited:\n${pod.envoy.logTail(10)}`).toBeUndefined();
      // The Envoy's own stream (not its agent's) is authenticated by the workload certificate.
      const mine = envoyStreams.filter((s) => s.nodeId === pod.pod.nodeId);
      expect(mine.length, `${name}: ${report}`).toBe(1);
      expect(mine[0]!.identity, `${name}: ${report}`).toMatch(/^cert:spiffe:\/\/cluster1\/ns\/[^/]+\/sa\//);
    }
    expect(t.total, report).toBeGreaterThan(100);
    expect(t.failures, report).toEqual([]);
    expect(await nacks(m)).toEqual([]);
    // No mesh node was refused at any point: every reconnect after the tokens' expiry was admitted.
    const meshNodes = new Set(watched.map((w) => w.pod.nodeId));
    expect(p.refused.filter((r) => meshNodes.has(r.nodeId)), report).toEqual([]);
    // The agents bootstrapped with the token, then renewed over certificate-authenticated streams.
    for (const pod of watched) {
      const log = readFileSync(join(m.sim.workDir, 'mesh', 'pods', pod.pod.name, 'agent.log'), 'utf8');
      expect(log, pod.pod.name).toMatch(/received over a stream authenticated by certificate/);
      expect(log, pod.pod.name).not.toMatch(/PRIVATE KEY/);
    }

    // The negative: the static-token Envoy was admitted once, then refused as expired, and is disconnected.
    await waitFor('the static-token Envoy refused on a reconnect', 30_000, async () => ((await proxies(m)).refused.some((r) => r.nodeId === STATIC_NODE) ? true : 'not refused yet'));
    const after = await proxies(m);
    const refusedStatic = after.refused.filter((r) => r.nodeId === STATIC_NODE);
    expect(refusedStatic.length, JSON.stringify(after.refused)).toBeGreaterThanOrEqual(1);
    expect(refusedStatic.every((r) => r.code === 'UNAUTHENTICATED' && /expired/.test(r.reason)), JSON.stringify(refusedStatic)).toBe(true);
    expect(after.proxies.some((s) => s.nodeId === STATIC_NODE), 'the static-token Envoy still has a stream').toBe(false);
    expect(await stat(stray!.admin, 'control_plane.connected_state')).toBe(0);
  }, 200_000);
});

/**
 * Keepalive on the xds-grpc cluster, with everyday lifetimes (24 h tokens and leaves) in
 * certificate mode: crossmesh frozen with SIGSTOP keeps its sockets open but answers nothing, as
 * a dead host or a blackholed path would. Envoy's HTTP/2 pings must notice within interval
 * (+15 % jitter) + timeout, and Envoy must reconnect, by certificate, once crossmesh runs again.
 * (With the 6 s leaves above, a freeze longer than a leaf's remaining life leaves every agent
 * with an expired certificate and an expired token: see docs/security.md.)
 */
envoySuite('xds-grpc keepalive notices a frozen control plane', () => {
  let frozenMesh: MeshSim | undefined;
  const policies = policyDir();

  beforeAll(async () => {
    frozenMesh = await startMeshSim({ topology: [COMPOSE_TOPOLOGY], policyDir: policies.dir, only: (p) => p.name === 'cluster1-productpage-v1-0' || p.name === 'cluster1-details-v1-0', xdsCredentials: 'certificate' });
    await frozenMesh.allConverged(30_000);
  }, 120_000);

  afterAll(async () => {
    await frozenMesh?.close();
    policies.dispose();
  }, 30_000);

  it(`a frozen crossmesh is noticed by the HTTP/2 keepalive within ${XDS_HTTP2_KEEPALIVE.interval} + ${XDS_HTTP2_KEEPALIVE.timeout} and Envoy reconnects once it runs again`, async () => {
    const m = frozenMesh!;
    const pid = m.controlPlane.pid!;
    const admins = [...m.pods.values()].map((p) => ({ name: p.pod.name, admin: p.envoy.admin }));
    await waitFor('every Envoy connected', 20_000, async () => ((await Promise.all(admins.map((a) => stat(a.admin, 'control_plane.connected_state')))).every((v) => v === 1) ? true : 'not all connected'));
    const stoppedAt = Date.now();
    process.kill(pid, 'SIGSTOP');
    const noticed = new Map<string, number>();
    try {
      await waitFor('every Envoy noticing the frozen xDS server', 30_000, async () => {
        for (const a of admins) {
          if (noticed.has(a.name)) continue;
          if ((await stat(a.admin, 'control_plane.connected_state')) === 0) noticed.set(a.name, Date.now() - stoppedAt);
        }
        return noticed.size === admins.length ? true : `noticed: ${JSON.stringify(Object.fromEntries(noticed))}`;
      });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    console.info(JSON.stringify({ noticedMs: Object.fromEntries(noticed) }));
    const bound = (parseInt(XDS_HTTP2_KEEPALIVE.interval, 10) * 1.15 + parseInt(XDS_HTTP2_KEEPALIVE.timeout, 10) + 2) * 1000;
    for (const [name, ms] of noticed) expect(ms, name).toBeLessThan(bound);
    await waitFor('every Envoy connected again', 30_000, async () => {
      const states = await Promise.all(admins.map(async (a) => `${a.name}=${await stat(a.admin, 'control_plane.connected_state')}`));
      return states.every((s) => s.endsWith('=1')) ? true : states.join(' ');
    });
    await m.allConverged(20_000);
    const streams = (await proxies(m)).proxies as unknown as { userAgent: string; identity: string }[];
    expect(streams.filter((x) => x.userAgent.startsWith('envoy')).map((x) => x.identity.split(':')[0])).toEqual(['cert', 'cert']);
  }, 90_000);
});
