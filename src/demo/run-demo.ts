/**
 * `crossmesh demo`: crossmesh serving the embedded default mesh (three clusters, two networks,
 * the seed's 75/15/10 TrafficPolicy) to a real grpc-js-xds client, with every workload of the mesh
 * running as a gRPC server on its own loopback address (mTLS with certificates from crossmesh's
 * CA) and cluster2's east-west gateway simulated by an SNI passthrough forwarder. It prints, each
 * second, which cluster/version answered and in what share; stops the reviews of cluster1's zone
 * (traffic fails over to cluster3, same region), restarts them (traffic comes back), and exits.
 *
 * The backends are plain grpc-js servers: grpc-js-xds's XdsServer binds its port on every address,
 * so the mesh's workloads, which all listen on 9080, cannot each run one on one host.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../ca/authority.js';
import { loadMeshConfig } from '../cli/token.js';
import { meshLoader } from '../cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../cli/serve.js';
import type { MeshConfig } from '../config/mesh-config.js';
import { objectKey, type Workload } from '../model/types.js';
import { buildProxylessBootstrap } from '../translate/proxyless-bootstrap.js';
import { SnapshotCache } from '../xds/cache.js';
import { startXdsSecurity } from '../xds/auth/security.js';
import { writeWorkloadCertFiles } from './cert-files.js';
import { callWho, echoImplementation, echoService } from './echo.js';
import { proxylessClient } from './proxyless-workload.js';
import { startSniGateway, type SniGateway } from './sni-gateway.js';

export interface DemoOptions {
  readonly durationMs: number;
  /** RPCs per second the client sends (default 50). */
  readonly rate?: number;
  readonly xdsPort?: number;
  readonly adminPort?: number;
  /** Receives each output line (no trailing newline). */
  readonly out: (line: string) => void;
  /** Aborting ends the demo early (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/** What the demo saw, for its last lines and its test. */
export interface DemoSummary {
  readonly rpcs: number;
  readonly errors: number;
  /** Answers per `<workload>@<cluster> (<version>)` over the whole run. */
  readonly answers: Readonly<Record<string, number>>;
  readonly gatewayConnections: number;
}

const CLIENT_NODE = 'cluster1/default/productpage-v1-0';
const TARGET = 'reviews.default.svc.cluster.local:9080';
/** The locality the demo stops and restarts: cluster1's zone, where its reviews run. */
const STOP = { cluster: 'cluster1', app: 'reviews' };

interface Backend {
  readonly workload: Workload;
  readonly port: number;
  server?: grpc.Server;
}

function servicePortsOf(config: MeshConfig, w: Workload): number[] {
  const ports: number[] = [];
  for (const s of config.services) {
    if (s.cluster !== w.cluster || s.namespace !== w.namespace) continue;
    if (Object.keys(s.selector).length === 0 || !Object.entries(s.selector).every(([k, v]) => w.labels[k] === v)) continue;
    for (const p of s.ports) ports.push(w.ports?.[String(p.port)] ?? p.targetPort);
  }
  return [...new Set(ports)];
}

function label(w: { workload: string; cluster: string; version: string }): string {
  return `${w.workload}@${w.cluster} (${w.version})`;
}

function pct(n: number, total: number): string {
  return `${total ? Math.round((n / total) * 100) : 0}%`.padStart(4);
}

/** Runs the demo to its end (duration or abort); cleans up everything it started. */
export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const dir = await mkdtemp(join(tmpdir(), 'crossmesh-demo-'));
  const config = await loadMeshConfig([]);
  const ca = await CertificateAuthority.open({ directory: join(dir, 'ca') });
  let plane: ControlPlane | undefined;
  const backends: Backend[] = [];
  const gateways: SniGateway[] = [];
  let client: grpc.Client | undefined;
  const started = Date.now();
  const t = (): string => `[${String(Math.round((Date.now() - started) / 1000)).padStart(3)}s]`;
  try {
    const cache = new SnapshotCache({ debounceMs: 50 });
    const security = await startXdsSecurity({ ca, cache, insecure: true, tokenReviewer: false });
    plane = await startControlPlane({ cache, security, xdsPort: o.xdsPort ?? 0, adminPort: o.adminPort ?? 0, loadMesh: meshLoader(), configPaths: [] });

    const bundle = ca.trustBundle().pem;
    const startBackend = async (b: Backend): Promise<void> => {
      const w = b.workload;
      const cluster = config.clusters.find((c) => c.name === w.cluster)!;
      const cert = await ca.getWorkloadCertificate({ cluster: w.cluster, trustDomain: cluster.trustDomain, namespace: w.namespace, serviceAccount: w.serviceAccount });
      const server = new grpc.Server();
      server.addService(echoService, echoImplementation({ cluster: w.cluster, zone: w.locality.zone || cluster.locality.zone, workload: w.name, version: w.labels.version ?? '' }));
      const creds = grpc.ServerCredentials.createSsl(Buffer.from(bundle), [{ cert_chain: Buffer.from(cert.certificateChainPem), private_key: Buffer.from(cert.privateKey) }], true);
      await new Promise<void>((resolve, reject) => server.bindAsync(`${w.address}:${b.port}`, creds, (e) => (e ? reject(new Error(`${objectKey(w)} on ${w.address}:${b.port}: ${e.message}`)) : resolve())));
      b.server = server;
    };
    for (const w of config.workloads) for (const port of servicePortsOf(config, w)) backends.push({ workload: w, port });
    await Promise.all(backends.map(startBackend));

    // Another network's endpoints are reached through its gateway: stand one up per such cluster.
    const clientWorkload = config.workloads.find((w) => objectKey(w) === CLIENT_NODE)!;
    const clientCluster = config.clusters.find((c) => c.name === clientWorkload.cluster)!;
    for (const c of config.clusters) {
      if (!c.gateway || c.network === clientCluster.network) continue;
      let next = 0;
      gateways.push(
        await startSniGateway(c.gateway.address, c.gateway.port, (host) => {
          const candidates = backends.filter((b) => b.server && b.workload.cluster === c.name && host.startsWith(`${b.workload.labels.app}.${b.workload.namespace}.`));
          return candidates.length ? { address: candidates[next++ % candidates.length]!.workload.address, port: candidates[0]!.port } : undefined;
        }),
      );
    }

    const certDir = join(dir, 'certs', 'client');
    await writeWorkloadCertFiles(ca, { cluster: clientCluster.name, trustDomain: clientCluster.trustDomain, namespace: clientWorkload.namespace, serviceAccount: clientWorkload.serviceAccount }, certDir);
    const locality = clientWorkload.locality.region ? clientWorkload.locality : clientCluster.locality;
    // Short reconnect backoff so a restarted locality is noticed within the demo's seconds.
    client = proxylessClient(TARGET, buildProxylessBootstrap({ nodeId: CLIENT_NODE, xdsAddress: plane.xdsAddress, certDir, locality }), {
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 1000,
    });

    o.out(`crossmesh demo: xDS ${plane.xdsAddress} (admin ${plane.adminUrl}), ${backends.length} gRPC workloads in ${config.clusters.length} clusters on loopback, ${gateways.length} east-west gateway(s)`);
    o.out(`client ${CLIENT_NODE} (${locality.region}/${locality.zone}) calls xds:///${TARGET}; TrafficPolicy "simple": 75% v3 (cluster2, via its gateway), 15% v1, 10% v2`);

    const total: Record<string, number> = {};
    let window: Record<string, number> = {};
    let rpcs = 0;
    let errors = 0;
    let windowErrors = 0;
    let inflight = 0;
    const fire = (): void => {
      if (inflight >= 64 || !client) return;
      inflight++;
      callWho(client, 2000).then(
        (a) => {
          const k = label(a);
          total[k] = (total[k] ?? 0) + 1;
          window[k] = (window[k] ?? 0) + 1;
          rpcs++;
        },
        () => {
          errors++;
          windowErrors++;
          rpcs++;
        },
      ).finally(() => inflight--);
    };
    const rate = o.rate ?? 50;
    const sender = setInterval(fire, Math.max(1, Math.round(1000 / rate)));
    const printer = setInterval(() => {
      const n = Object.values(window).reduce((s, x) => s + x, 0) + windowErrors;
      const parts = Object.entries(window).sort(([, a], [, b]) => b - a).map(([k, v]) => `${k} ${pct(v, n)}`);
      o.out(`${t()} ${parts.join(' | ') || 'waiting for configuration'}${windowErrors ? ` | errors ${pct(windowErrors, n)}` : ''}`);
      window = {};
      windowErrors = 0;
    }, 1000);

    const stopAt = Math.round(o.durationMs * 0.4);
    const restartAt = Math.round(o.durationMs * 0.7);
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        if (o.signal?.aborted || ms <= 0) return resolve();
        const timer = setTimeout(resolve, ms);
        o.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    const stopped = backends.filter((b) => b.workload.cluster === STOP.cluster && b.workload.labels.app === STOP.app);
    await sleep(stopAt);
    if (!o.signal?.aborted) {
      o.out(`${t()} >>> stopping ${stopped.map((b) => b.workload.name).join(', ')} in ${STOP.cluster} (${stopped[0]?.workload.locality.zone}): their subsets fail over to the next locality`);
      for (const b of stopped) {
        b.server?.forceShutdown();
        delete b.server;
      }
      await sleep(restartAt - stopAt);
    }
    if (!o.signal?.aborted) {
      o.out(`${t()} >>> restarting them: traffic returns to the closest locality`);
      await Promise.all(stopped.map(startBackend));
      await sleep(o.durationMs - restartAt);
    }
    clearInterval(sender);
    clearInterval(printer);
    const end = Date.now() + 2500;
    while (inflight > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    o.out(`${o.signal?.aborted ? 'interrupted' : 'done'}: ${rpcs} RPCs, ${errors} errors; answers: ${Object.entries(total).sort(([, a], [, b]) => b - a).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    return { rpcs, errors, answers: total, gatewayConnections: gateways.reduce((s, g) => s + g.connections, 0) };
  } finally {
    client?.close();
    for (const b of backends) b.server?.forceShutdown();
    await Promise.all(gateways.map((g) => g.close()));
    await plane?.close();
    ca.close();
    await rm(dir, { recursive: true, force: true });
  }
}
