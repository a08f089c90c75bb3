/**
 * Three simulated clusters on loopback, fed only by crossmesh: a topology file (clusters with
 * regions/zones, services, workloads on 127.0.<cluster>.x), crossmesh started in-process the way
 * `serve --insecure-xds` wires it (config watch → discovery → model → translate → cache, CA on
 * disk), real grpc-js-xds `XdsServer`s and `xds:///` clients, each with its own bootstrap (node id,
 * locality, certificate providers over files the CA wrote).
 *
 * Cross-network: grpc-js clients send the target host as SNI, not crossmesh's
 * `outbound_.<port>_...` name, so an east-west gateway cannot route them; the simulated clusters
 * share one network (net1) and reach each other directly. grpc-js-xds servers bind their port on
 * every local address, so each workload listens on its own port (Workload.spec.ports) next to its
 * own address.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { meshLoader } from '../../../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../../../src/cli/serve.js';
import { writeWorkloadCertFiles } from '../../../src/demo/cert-files.js';
import { callWho, type WhoAnswer } from '../../../src/demo/echo.js';
import { proxylessClient, startProxylessServer, type ProxylessServer } from '../../../src/demo/proxyless-workload.js';
import { buildProxylessBootstrap, type ProxylessBootstrap } from '../../../src/translate/proxyless-bootstrap.js';
import { SnapshotCache } from '../../../src/xds/cache.js';
import type { ProxyStatus } from '../../../src/xds/stream.js';
import { ExternalClient, ExternalXdsServer, writeBootstrap, type ExternalImpl, type ExternalResult } from '../../../bench/proxyless-clients.js';
import { startXdsSecurity, type XdsSecurity } from '../../../src/xds/auth/security.js';

/** A simulated cluster: its region and default zone. */
export interface SimCluster {
  readonly name: string;
  readonly region: string;
  readonly zone: string;
}

/** The three clusters: cluster1 and cluster2 in us-east (different zones), cluster3 in eu-west. */
export const CLUSTERS: readonly SimCluster[] = [
  { name: 'cluster1', region: 'us-east', zone: 'us-east-1a' },
  { name: 'cluster2', region: 'us-east', zone: 'us-east-1c' },
  { name: 'cluster3', region: 'eu-west', zone: 'eu-west-1a' },
];

/** A workload of the simulation; `app` set = it serves that service on port 9080 (its own target port). */
export interface SimWorkload {
  readonly cluster: string;
  readonly name: string;
  readonly address: string;
  readonly zone?: string;
  readonly app?: string;
  readonly version?: string;
  readonly serviceAccount: string;
}

export const NS = 'default';

/** Whose certificate a simulated workload holds instead of its own. */
export interface CertOverride {
  readonly serviceAccount?: string;
  readonly ca?: CertificateAuthority;
}
export const SERVICE_PORT = 9080;

export interface SimOptions {
  readonly workloads: readonly SimWorkload[];
  /** Extra YAML documents (policies) written to their own file, hot-reloadable with `writePolicies`. */
  readonly policies?: string;
  readonly globalAccessPolicy?: boolean;
}

function regionOf(cluster: string): SimCluster {
  const c = CLUSTERS.find((x) => x.name === cluster);
  if (!c) throw new Error(`unknown simulated cluster ${cluster}`);
  return c;
}

/**
 * A TCP port free on every local address right now, below the kernel's ephemeral range: the
 * servers bind it a moment later (grpc-js-xds on every address), and a port from listen(0) is an
 * ephemeral one that any outbound connection on the machine (the clients' own processes, other
 * work) may take meanwhile.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const s = createServer();
    const ok = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      // No host: every address, IPv6 and IPv4 where there is IPv6, as grpc-js-xds binds it.
      s.listen(port, () => r(true));
    });
    if (ok) {
      await new Promise<void>((r) => s.close(() => r()));
      return port;
    }
  }
  throw new Error('no free TCP port found in 20000-31999');
}

function yamlTopology(workloads: readonly SimWorkload[], ports: ReadonlyMap<string, number>, globalAccessPolicy: boolean): string {
  const docs: string[] = [];
  for (const c of CLUSTERS) {
    docs.push(`apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: ${c.name}}
spec: {network: net1, trustDomain: ${c.name}, locality: {region: ${c.region}, zone: ${c.zone}}}`);
  }
  const services = new Set(workloads.filter((w) => w.app).map((w) => `${w.cluster}|${w.app}`));
  for (const s of [...services].sort()) {
    const [cluster, app] = s.split('|');
    docs.push(`apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: ${app}, namespace: ${NS}, cluster: ${cluster}, labels: {app: ${app}, service: ${app}}}
spec: {selector: {app: ${app}}, ports: [{name: grpc, port: ${SERVICE_PORT}, protocol: GRPC}]}`);
  }
  for (const w of workloads) {
    const c = regionOf(w.cluster);
    const labels = w.app ? `{app: ${w.app}, version: ${w.version ?? 'v1'}}` : `{app: ${w.name}}`;
    const port = ports.get(w.name);
    docs.push(`apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: ${w.name}, namespace: ${NS}, cluster: ${w.cluster}}
spec:
  address: ${w.address}
  labels: ${labels}
  serviceAccount: ${w.serviceAccount}
  locality: {region: ${c.region}, zone: ${w.zone ?? c.zone}}${port ? `\n  ports: {"${SERVICE_PORT}": ${port}}` : ''}`);
  }
  docs.push(`apiVersion: networking.smh.solo.io/v1alpha2
kind: VirtualMesh
metadata: {name: sim, namespace: crossmesh-system}
spec:
  mtlsConfig: {shared: {rootCertificateAuthority: {generated: {}}}}
  globalAccessPolicy: ${globalAccessPolicy ? 'ENABLED' : 'DISABLED'}
  meshes: [{name: cluster1}, {name: cluster2}, {name: cluster3}]`);
  return docs.join('\n---\n') + '\n';
}

/** The running simulation. */
export class Sim {
  plane!: ControlPlane;
  ca!: CertificateAuthority;
  private security: XdsSecurity | undefined;
  private xdsPort = 0;
  readonly servers = new Map<string, ProxylessServer>();
  private readonly clients: grpc.Client[] = [];
  private readonly external: ExternalClient[] = [];
  readonly externalServers = new Map<string, ExternalXdsServer>();
  readonly ports = new Map<string, number>();

  private constructor(
    readonly dir: string,
    readonly options: SimOptions,
  ) {}

  /** Writes the topology, opens the CA and starts crossmesh. */
  static async start(options: SimOptions): Promise<Sim> {
    const sim = new Sim(await mkdtemp(join(tmpdir(), 'crossmesh-sim-')), options);
    try {
      for (const w of options.workloads) if (w.app) sim.ports.set(w.name, await freePort());
      await mkdir(sim.configDir, { recursive: true });
      await writeFile(join(sim.configDir, 'topology.yaml'), yamlTopology(options.workloads, sim.ports, options.globalAccessPolicy ?? false));
      await writeFile(join(sim.configDir, 'policies.yaml'), options.policies ?? '');
      sim.ca = await CertificateAuthority.open({ directory: join(sim.dir, 'ca') });
      await sim.startPlane();
    } catch (e) {
      await sim.close();
      throw e;
    }
    return sim;
  }

  get configDir(): string {
    return join(this.dir, 'config');
  }

  /** Starts crossmesh (the same xDS port after a restart, so clients reconnect to it). */
  async startPlane(): Promise<void> {
    const cache = new SnapshotCache({ debounceMs: 20 });
    this.security = await startXdsSecurity({ ca: this.ca, cache, insecure: true, tokenReviewer: false });
    this.plane = await startControlPlane({
      cache,
      security: this.security,
      xdsPort: this.xdsPort,
      adminPort: 0,
      loadMesh: meshLoader({ reloadDebounceMs: 30 }),
      configPaths: [this.configDir],
    });
    this.xdsPort = Number(this.plane.xdsAddress.split(':').pop());
  }

  /** Stops crossmesh (servers and clients keep running on what they have). */
  async stopPlane(): Promise<void> {
    await this.plane.close();
  }

  /** Closes the CA and opens it again from its directory (what a process restart does). */
  async reopenCa(): Promise<void> {
    this.ca.close();
    this.ca = await CertificateAuthority.open({ directory: join(this.dir, 'ca') });
  }

  workload(name: string): SimWorkload {
    const w = this.options.workloads.find((x) => x.name === name);
    if (!w) throw new Error(`no simulated workload ${name}`);
    return w;
  }

  certDir(w: SimWorkload): string {
    return join(this.dir, 'certs', w.cluster, w.name);
  }

  /**
   * Writes the workload's certificate files and returns its bootstrap. `certs` overrides whose
   * certificate it holds (an impostor's service account, or another CA entirely).
   */
  async bootstrapFor(name: string, certs: CertOverride = {}): Promise<ProxylessBootstrap> {
    const w = this.workload(name);
    const ca = certs.ca ?? this.ca;
    await writeWorkloadCertFiles(ca, { cluster: w.cluster, trustDomain: w.cluster, namespace: NS, serviceAccount: certs.serviceAccount ?? w.serviceAccount }, this.certDir(w));
    // A foreign-root client still trusts the mesh root, so only its own certificate is foreign.
    if (certs.ca) await writeFile(join(this.certDir(w), 'ca.pem'), this.ca.trustBundle().pem);
    const c = regionOf(w.cluster);
    return buildProxylessBootstrap({
      nodeId: `${w.cluster}/${NS}/${w.name}`,
      xdsAddress: this.plane.xdsAddress,
      certDir: this.certDir(w),
      locality: { region: c.region, zone: w.zone ?? c.zone, subzone: '' },
      refreshInterval: '1s',
    });
  }

  /** Starts the workload's XdsServer on its address and own port. */
  async startServer(name: string, certs: CertOverride = {}): Promise<void> {
    const w = this.workload(name);
    const port = this.ports.get(name);
    if (!port || !w.app) throw new Error(`${name} serves nothing`);
    const server = await startProxylessServer({
      bootstrap: await this.bootstrapFor(name, certs),
      address: w.address,
      port,
      answer: { cluster: w.cluster, zone: w.zone ?? regionOf(w.cluster).zone, workload: w.name, version: w.version ?? 'v1' },
    });
    this.servers.set(name, server);
  }

  stopServer(name: string): void {
    this.servers.get(name)?.close();
    this.servers.delete(name);
  }

  /** A client running as workload `name`, calling `xds:///<target>`. */
  async client(name: string, target = `echo.${NS}.svc.cluster.local:${SERVICE_PORT}`, certs: CertOverride = {}): Promise<grpc.Client> {
    const c = proxylessClient(target, await this.bootstrapFor(name, certs));
    this.clients.push(c);
    return c;
  }

  /** Writes the workload's bootstrap (and certificates) to a file, for a GRPC_XDS_BOOTSTRAP. */
  async bootstrapFile(name: string, certs: CertOverride = {}): Promise<string> {
    const w = this.workload(name);
    return writeBootstrap(join(this.certDir(w), 'bootstrap.json'), await this.bootstrapFor(name, certs));
  }

  /** A client of another implementation (its own process) running as workload `name`. */
  async externalClient(impl: ExternalImpl, name: string, target = `echo.${NS}.svc.cluster.local:${SERVICE_PORT}`, certs: CertOverride = {}): Promise<ExternalClient> {
    const c = ExternalClient.start(impl, target, await this.bootstrapFile(name, certs));
    this.external.push(c);
    return c;
  }

  /** Runs the workload as another library's xDS server (its own process) on its address and own port. */
  async startExternalServer(impl: ExternalImpl, name: string): Promise<void> {
    const w = this.workload(name);
    const port = this.ports.get(name);
    if (!port || !w.app) throw new Error(`${name} serves nothing`);
    const answer = { cluster: w.cluster, zone: w.zone ?? regionOf(w.cluster).zone, workload: w.name, version: w.version ?? 'v1' };
    this.externalServers.set(name, await ExternalXdsServer.start(impl, { bootstrapPath: await this.bootstrapFile(name), address: w.address, port, answer }));
  }

  /** The xDS streams connected now, as /debug/proxies shows them (user agent, ACK/NACK per type). */
  proxies(): ProxyStatus[] {
    return this.plane.xds.activeStreams().map((st) => st.status());
  }

  /** Replaces the hot-reloaded policy file. */
  async writePolicies(yaml: string): Promise<void> {
    await writeFile(join(this.configDir, 'policies.yaml'), yaml);
  }

  /** Closes every client and server, crossmesh, the CA, and removes the directory. */
  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    await Promise.all([...this.external.map((c) => c.close()), ...[...this.externalServers.values()].map((s) => s.close())]);
    this.externalServers.clear();
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
    await this.plane?.close();
    this.ca?.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Outcome of one RPC: who answered, or the gRPC status code. */
export type Outcome = { readonly ok: true; readonly answer: WhoAnswer } | { readonly ok: false; readonly code: number; readonly details: string };

/** A grpc-js client in this process, or another implementation's in its own. */
export type Caller = grpc.Client | ExternalClient;

function outcomeOf(r: ExternalResult): Outcome {
  return r.ok ? { ok: true, answer: r.answer } : { ok: false, code: r.code, details: r.details };
}

/** One call, as an outcome. */
export async function call(client: Caller, timeoutMs = 2000): Promise<Outcome> {
  if (client instanceof ExternalClient) return outcomeOf(await client.call(timeoutMs));
  try {
    return { ok: true, answer: await callWho(client, timeoutMs) };
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { ok: false, code: err.code ?? -1, details: err.details ?? String(e) };
  }
}

/** `n` calls, `concurrency` at a time. */
export async function calls(client: Caller, n: number, concurrency = 16): Promise<Outcome[]> {
  if (client instanceof ExternalClient) return (await client.calls(n, concurrency)).map(outcomeOf);
  const out: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        next++;
        out.push(await call(client));
      }
    }),
  );
  return out;
}

/** Counts answers by workload ("error:<code>" for failures). */
export function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    const k = o.ok ? o.answer.workload : `error:${o.code}`;
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}

/**
 * Calls until `window` consecutive calls all satisfy `accept`; resolves with the time it took, or
 * rejects after `timeoutMs` with the last window's tally.
 */
export async function until(client: Caller, accept: (o: Outcome) => boolean, timeoutMs: number, window = 20): Promise<number> {
  const start = Date.now();
  let streak = 0;
  const recent: Outcome[] = [];
  while (Date.now() - start < timeoutMs) {
    const o = await call(client, 1000);
    recent.push(o);
    if (recent.length > window) recent.shift();
    streak = accept(o) ? streak + 1 : 0;
    if (streak >= window) return Date.now() - start;
    if (!o.ok) await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not reached within ${timeoutMs} ms; last calls: ${JSON.stringify(tally(recent))}`);
}

/** Accepts answers from exactly these workloads. */
export function from(...names: string[]): (o: Outcome) => boolean {
  return (o) => o.ok && names.includes(o.answer.workload);
}
