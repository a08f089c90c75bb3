/**
 * The whole product on one machine, with real Envoy: crossmesh (`crossmesh serve`, a child
 * process) serving a mesh configuration, and every Workload of it as a pod (a network namespace,
 * netsim) that runs what a Kubernetes pod with an injected sidecar runs:
 *
 * - sidecar pods: the capture rules (`crossmesh capture --apply`, as the init container would),
 *   the app (`crossmesh demo-app`, calling its upstreams by service name), and Envoy as uid 1337
 *   from `crossmesh bootstrap` (xDS over the control plane's unix socket, admin on a unix socket);
 *   with `xdsCredentials: 'certificate'` also `crossmesh agent --envoy-sds` as uid 1337, and the
 *   Envoy's xDS connection authenticates with the certificate the agent keeps fresh (no token);
 * - gateway pods (east-west, ingress): Envoy alone, with a second leg on the wan.
 *
 * Every start is bounded and a failure says which pod and shows its Envoy's log tail; `close()`
 * removes every process and namespace (call it in `finally`/`afterAll`).
 */
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildBootstrapForNode } from '../cli/bootstrap.js';
import { durationFlag, loadMeshConfig, mintToken, openCliCa } from '../cli/token.js';
import { loadConfig } from '../config/loader.js';
import type { MeshConfig } from '../config/mesh-config.js';
import { StaticDiscovery, applyConfig } from '../discovery/static/static-discovery.js';
import { repoRoot } from '../envoy/binary.js';
import { startEnvoy, type EnvoyProcess } from '../envoy/process.js';
import { ModelStore } from '../model/store.js';
import { forEachLimited, startSimulation, type Driver, type NsProcess, type Simulation } from '../netsim/index.js';
import { XDS_CLIENT_CERT_SDS_FILE } from '../translate/bootstrap.js';
import { MeshView } from '../translate/mesh-view.js';
import { ControlPlaneProcess } from './control-plane.js';
import { waitConverged } from './verify.js';
import { bookinfoCalls, layoutMesh, type CallsOf, type MeshLayout, type MeshPod } from './layout.js';

/** The uid Envoy runs as: the capture rules let its own traffic through (Istio's 1337). */
export const ENVOY_UID = 1337;

/**
 * How a mesh Envoy should drain: when a listener changes (an AccessPolicy adds RBAC to a chain),
 * connections accepted on the old chain keep its behaviour until they are drained, for
 * `--drain-time-s` (Envoy's default: 600 s, a ten-minute window in which a revoked caller keeps
 * its connection). Five seconds, all at once, bounds that window (docs/capture.md).
 */
export const ENVOY_DRAIN_ARGS: readonly string[] = ['--drain-time-s', '5', '--drain-strategy', 'immediate'];

export interface MeshSimOptions {
  /** Topology `--config` paths (read at start to lay the pods out). */
  readonly topology: readonly string[];
  /** A directory of policies the control plane watches (tests copy steps into it). */
  readonly policyDir: string;
  /** ADS flavour of the Envoys: `sotw` (default) or `delta`; per pod with a function. */
  readonly adsApi?: 'sotw' | 'delta' | ((pod: MeshPod) => 'sotw' | 'delta');
  readonly calls?: CallsOf;
  readonly debounceMs?: number;
  /** Extra flags for `crossmesh serve`. */
  readonly serveArgs?: readonly string[];
  /** Only these pods are started (by name); default all. */
  readonly only?: (pod: MeshPod) => boolean;
  /** Envoy log level (default warning). */
  readonly envoyLogLevel?: string;
  /** Lifetime of the bootstrap tokens (`crossmesh bootstrap --token-ttl`, or the agent's `--token` in certificate mode), default 24h. */
  readonly tokenTtl?: string;
  /**
   * How each Envoy's xDS stream authenticates: `token` (default: a token in the bootstrap's
   * `initial_metadata`, valid for `tokenTtl`), or `certificate`: a `crossmesh agent --envoy-sds`
   * per pod (as uid 1337, bootstrapped once with a `tokenTtl` token, then renewing over mTLS)
   * writes the workload certificate, and the bootstrap (`--xds-client-cert-dir`) has Envoy present
   * it; no token in the bootstrap.
   */
  readonly xdsCredentials?: 'token' | 'certificate';
}

/** A pod's running parts. */
export interface RunningPod {
  readonly pod: MeshPod;
  readonly envoy: EnvoyProcess;
  readonly app?: NsProcess;
  /** `crossmesh agent` (certificate mode), and the directory it writes the certificate into. */
  readonly agent?: NsProcess;
  readonly certDir?: string;
  /** The app's request log (one JSON line per request served). */
  readonly requestLog?: string;
}

/** Bound of an app's start (a Node process loading the CLI, on a loaded 2-core machine). */
const APP_READY_MS = 20_000;

/** The name the xDS server's certificate carries (`crossmesh.<namespace>.svc`, namespace crossmesh-system). */
const XDS_SERVER_NAME = 'crossmesh.crossmesh-system.svc';

/** Resolves once the demo app says it listens (its first log line), or throws with its log. */
async function waitForApp(pod: MeshPod, app: NsProcess): Promise<void> {
  const deadline = Date.now() + APP_READY_MS;
  while (!/ on http:\/\//.test(app.logTail(5))) {
    if (app.exitStatus()) throw new Error(`pod ${pod.name}: the app ended before listening (${app.describeExit()}):\n${app.logTail()}`);
    if (Date.now() > deadline) throw new Error(`pod ${pod.name}: the app did not listen within ${APP_READY_MS} ms:\n${app.logTail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A running mesh simulation. */
export class MeshSim {
  private readonly running = new Map<string, RunningPod>();
  /** Pods of workloads outside the mesh (`role: outside`): their app alone, by pod name. */
  private readonly outside = new Map<string, NsProcess>();
  /** The configuration version the last settle() saw (at start: none). */
  private settledVersion = '';
  /** The model snapshot the last settle() saw published. */
  private settledSnapshot = '';

  constructor(
    readonly sim: Simulation,
    readonly controlPlane: ControlPlaneProcess,
    readonly layout: MeshLayout,
    private readonly options: MeshSimOptions,
    private readonly configPaths: readonly string[],
    private readonly workDir: string,
  ) {}

  /** The running pods, by name. */
  get pods(): ReadonlyMap<string, RunningPod> {
    return this.running;
  }

  /** A running pod by name, or an error listing them. */
  pod(name: string): RunningPod {
    const p = this.running.get(name);
    if (!p) throw new Error(`no running pod ${name}; pods: ${[...this.running.keys()].join(', ')}`);
    return p;
  }

  /** The in-namespace HTTP driver of the `client` namespace (outside the mesh, on the wan). */
  client(): Promise<Driver> {
    return this.sim.driver('client');
  }

  /** An ingress gateway pod: the one named, or the first one. */
  ingress(name?: string): RunningPod {
    const p = [...this.running.values()].find((r) => r.pod.role === 'ingress' && (name === undefined || r.pod.name === name));
    if (!p) throw new Error(name ? `the mesh has no ingress gateway pod ${name}` : 'the mesh has no ingress gateway pod');
    return p;
  }

  /** The URL the `client` namespace reaches the ingress gateway's `path` at (the gateway named, or the first). */
  ingressUrl(path = '/productpage', gateway?: string): string {
    const { pod } = this.ingress(gateway);
    return `http://${pod.wanAddress}:${pod.port}${path}`;
  }

  /**
   * Starts the app of a pod outside the mesh, listening on the pod's own address (nothing captures
   * its traffic and no Envoy runs there); its request log is `<pod dir>/requests.jsonl`.
   */
  async startOutsidePod(pod: MeshPod): Promise<NsProcess> {
    if (pod.role !== 'outside' || !pod.app) throw new Error(`pod ${pod.name} is not outside the mesh`);
    if (this.outside.has(pod.name)) throw new Error(`pod ${pod.name} is already running`);
    const dir = join(this.workDir, 'pods', pod.name);
    mkdirSync(dir, { recursive: true });
    const app = this.sim.run(
      pod.name,
      process.execPath,
      [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), 'demo-app', '--name', pod.app.name, '--version', pod.app.version, '--cluster', pod.cluster, '--pod', pod.workload, '--namespace', pod.namespace, '--listen', pod.address, '--port', String(pod.app.port), '--calls', '', '--request-log', join(dir, 'requests.jsonl')],
      { logFile: join(dir, 'app.log') },
    );
    this.outside.set(pod.name, app);
    await waitForApp(pod, app);
    return app;
  }

  /** Starts one pod's processes (used at start and to bring a stopped pod back). */
  async startPod(pod: MeshPod): Promise<RunningPod> {
    if (this.running.has(pod.name)) throw new Error(`pod ${pod.name} is already running`);
    if (pod.role === 'outside') throw new Error(`pod ${pod.name} is outside the mesh: startOutsidePod runs it`);
    const dir = join(this.workDir, 'pods', pod.name);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    const envoyDir = join(dir, 'envoy');
    const adminSocket = join(envoyDir, 'admin.sock');
    const ads = typeof this.options.adsApi === 'function' ? this.options.adsApi(pod) : (this.options.adsApi ?? 'sotw');
    const agent = this.options.xdsCredentials === 'certificate' ? await this.startAgent(pod, dir) : undefined;
    // What `crossmesh bootstrap --node ... --xds-address unix:... --admin-address unix:... --ads-api ...` prints, built in-process.
    const { bootstrap } = await buildBootstrapForNode({
      node: pod.nodeId,
      role: pod.role,
      config: [...this.configPaths],
      caDir: join(this.workDir, 'ca'),
      xdsAddress: this.controlPlane.xdsAddress,
      adminAddress: `unix:${adminSocket}`,
      adsApi: ads,
      tokenTtl: this.options.tokenTtl ?? '24h',
      namespace: 'crossmesh-system',
      ...(agent ? { xdsClientCertDir: agent.certDir } : {}),
    });
    let app: NsProcess | undefined;
    let requestLog: string | undefined;
    if (pod.role === 'sidecar') {
      const capture = this.sim.run(pod.name, process.execPath, [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), 'capture', '--apply', '--proxy-uid', String(ENVOY_UID)], { logFile: join(dir, 'capture.log') });
      const status = await capture.exited;
      if (status.code !== 0) throw new Error(`pod ${pod.name}: crossmesh capture --apply failed (${capture.describeExit()}):\n${capture.logTail()}`);
      if (pod.app) {
        requestLog = join(dir, 'requests.jsonl');
        app = this.sim.run(
          pod.name,
          process.execPath,
          [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), 'demo-app', '--name', pod.app.name, '--version', pod.app.version, '--cluster', pod.cluster, '--pod', pod.workload, '--namespace', pod.namespace, '--listen', '127.0.0.1', '--port', String(pod.app.port), '--calls', pod.app.calls, '--request-log', requestLog],
          { logFile: join(dir, 'app.log') },
        );
      }
    }
    const envoy = startEnvoy({ bootstrap, workDir: envoyDir, netns: this.sim.namespace(pod.name), uid: ENVOY_UID, gid: ENVOY_UID, logLevel: this.options.envoyLogLevel ?? 'warning', extraArgs: ENVOY_DRAIN_ARGS });
    try {
      await envoy.waitReady();
    } catch (e) {
      await envoy.stop(500).catch(() => undefined);
      await app?.stop(500).catch(() => undefined);
      await agent?.process.stop(500).catch(() => undefined);
      throw new Error(`pod ${pod.name} (${pod.nodeId}, ${pod.role}): ${(e as Error).message}\n--- crossmesh log ---\n${this.controlPlane.logTail(15)}${agent ? `\n--- agent log ---\n${agent.process.logTail(10)}` : ''}`);
    }
    if (app) await waitForApp(pod, app);
    const running: RunningPod = { pod, envoy, ...(app ? { app } : {}), ...(agent ? { agent: agent.process, certDir: agent.certDir } : {}), ...(requestLog ? { requestLog } : {}) };
    this.running.set(pod.name, running);
    return running;
  }

  /**
   * Certificate mode: starts the pod's `crossmesh agent` as the Envoy uid (so the 0600 key it
   * writes is Envoy's) with a fresh node token of `tokenTtl`, and waits for its first write, as
   * an init container running `agent --once` would before Envoy starts.
   */
  private async startAgent(pod: MeshPod, dir: string): Promise<{ process: NsProcess; certDir: string }> {
    const certDir = join(dir, 'xds-cert');
    mkdirSync(certDir, { recursive: true, mode: 0o700 });
    chownSync(certDir, ENVOY_UID, ENVOY_UID);
    const config = await loadMeshConfig(this.configPaths);
    const ca = await openCliCa(join(this.workDir, 'ca'), config);
    let token: string;
    let rootPem: string;
    try {
      token = (await mintToken(ca, { kind: 'node', nodeId: pod.nodeId }, durationFlag(this.options.tokenTtl ?? '24h', 'tokenTtl'))).token;
      rootPem = ca.trustBundle().pem;
    } finally {
      ca.close();
    }
    const tokenFile = join(dir, 'agent-token');
    writeFileSync(tokenFile, token, { mode: 0o600 });
    chownSync(tokenFile, ENVOY_UID, ENVOY_UID);
    const rootFile = join(dir, 'mesh-root.pem');
    writeFileSync(rootFile, rootPem, { mode: 0o644 });
    const args = [join(repoRoot(), 'dist', 'src', 'cli', 'main.js'), 'agent', '--node', pod.nodeId, '--role', pod.role, '--xds-address', this.controlPlane.xdsAddress, '--server-name', XDS_SERVER_NAME, '--token', tokenFile, '--ca-file', rootFile, '--out', certDir, '--envoy-sds'];
    const agent = this.sim.run(pod.name, process.execPath, args, { uid: ENVOY_UID, gid: ENVOY_UID, logFile: join(dir, 'agent.log') });
    const deadline = Date.now() + APP_READY_MS;
    while (!existsSync(join(certDir, XDS_CLIENT_CERT_SDS_FILE))) {
      if (agent.exitStatus()) throw new Error(`pod ${pod.name}: crossmesh agent ended before writing the certificate (${agent.describeExit()}):\n${agent.logTail()}`);
      if (Date.now() > deadline) {
        await agent.stop(500).catch(() => undefined);
        throw new Error(`pod ${pod.name}: crossmesh agent wrote no certificate within ${APP_READY_MS} ms:\n${agent.logTail()}\n--- crossmesh log ---\n${this.controlPlane.logTail(10)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return { process: agent, certDir };
  }

  /**
   * Waits until crossmesh's configuration in force holds exactly these policy files (base names,
   * besides the topology) in a version other than the one the previous settle saw (the caller
   * changed something), and every running Envoy holds what crossmesh then serves it.
   */
  async settle(policyFiles: readonly string[], timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const want = [...policyFiles].sort().join(',');
    let seen = '';
    for (;;) {
      const st = await this.controlPlane.adminJson<{ lastGood: { version: string; files: string[] } | null; lastAttempt: { ok: boolean; errors: string[] } | null }>('/debug/config');
      seen = (st.lastGood?.files ?? []).filter((f) => f.startsWith(this.options.policyDir)).map((f) => basename(f)).sort().join(',');
      if (seen === want && st.lastGood && st.lastGood.version !== this.settledVersion) {
        this.settledVersion = st.lastGood.version;
        break;
      }
      if (Date.now() > deadline) throw new Error(`crossmesh did not load policies [${want}] within ${timeoutMs} ms (in force: [${seen}]; last attempt: ${JSON.stringify(st.lastAttempt)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Then the publisher must have translated that configuration and written every group it held back.
    for (;;) {
      const tr = await this.controlPlane.adminJson<{ snapshotVersion: string; held: number }>('/debug/translation');
      if (tr.snapshotVersion !== this.settledSnapshot && tr.held === 0) {
        this.settledSnapshot = tr.snapshotVersion;
        break;
      }
      if (Date.now() > deadline) throw new Error(`crossmesh did not publish configuration ${seen} within ${timeoutMs} ms (snapshot ${tr.snapshotVersion}, ${tr.held} groups held)`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.allConverged(Math.max(1000, deadline - Date.now()));
  }

  /** Waits until every running Envoy holds what crossmesh serves it (verify.ts), all at once. */
  async allConverged(timeoutMs: number): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => waitConverged(this.controlPlane, r.pod.nodeId, r.envoy.admin, timeoutMs)));
  }

  /** Takes the configuration and snapshot in force as settled (what the next settle() must see change). */
  async markSettled(): Promise<void> {
    this.settledVersion = (await this.controlPlane.adminJson<{ lastGood: { version: string } | null }>('/debug/config')).lastGood?.version ?? '';
    this.settledSnapshot = (await this.controlPlane.adminJson<{ snapshotVersion: string }>('/debug/translation')).snapshotVersion;
  }

  /** Stops a pod's app and Envoy (its namespace stays, as a pod's IP would until rescheduled). */
  async stopPod(name: string): Promise<MeshPod> {
    const r = this.pod(name);
    this.running.delete(name);
    await Promise.all([r.envoy.stop(2000), r.app?.stop(2000), r.agent?.stop(2000)]);
    // The capture rules stay: starting the pod again applies them again (idempotent).
    return r.pod;
  }

  /** Stops everything and removes every namespace and bridge. */
  async close(): Promise<void> {
    await Promise.allSettled([...[...this.running.values()].flatMap((r) => [r.envoy.stop(1000), r.app?.stop(1000), r.agent?.stop(1000)]), ...[...this.outside.values()].map((a) => a.stop(1000))]);
    this.running.clear();
    this.outside.clear();
    await this.controlPlane.kill('SIGTERM').catch(() => undefined);
    await this.sim.close();
  }
}

/** Loads the configuration the way `serve` will (for the layout and hosts files). */
async function meshOf(paths: readonly string[]): Promise<{ config: MeshConfig; view: MeshView }> {
  const loaded = await loadConfig(paths);
  if (!loaded.config) throw new Error(`the simulation's configuration does not load:\n${loaded.errors.map((e) => `${e.file}:${e.line}: ${e.message}`).join('\n')}`);
  const config = loaded.config as MeshConfig;
  const store = new ModelStore();
  applyConfig(store, new StaticDiscovery(config), config);
  return { config, view: new MeshView(store.current) };
}

/** Starts the control plane, builds the pods' namespaces and starts every pod; undoes everything on failure. */
export async function startMeshSim(options: MeshSimOptions): Promise<MeshSim> {
  const paths = [...options.topology, options.policyDir];
  const { config, view } = await meshOf(paths);
  const layout = layoutMesh(config, view, options.calls ?? bookinfoCalls);
  const sim = await startSimulation(layout.spec);
  let cp: ControlPlaneProcess | undefined;
  try {
    const workDir = join(sim.workDir, 'mesh');
    mkdirSync(join(workDir, 'ca'), { recursive: true });
    chmodSync(workDir, 0o755);
    cp = await ControlPlaneProcess.start({ config: paths, caDir: join(workDir, 'ca'), workDir, ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}), ...(options.serveArgs ? { extraArgs: options.serveArgs } : {}) });
    const mesh = new MeshSim(sim, cp, layout, options, paths, workDir);
    const pods = layout.pods.filter((p) => options.only?.(p) ?? true);
    try {
      await forEachLimited(pods, 3, (p) => (p.role === 'outside' ? mesh.startOutsidePod(p) : mesh.startPod(p)));
      await mesh.markSettled();
    } catch (e) {
      await mesh.close();
      throw e;
    }
    return mesh;
  } catch (e) {
    await cp?.kill('SIGKILL').catch(() => undefined);
    await sim.close().catch(() => undefined);
    throw e;
  }
}
