/**
 * The Envoy convergence benchmark's mesh: `crossmesh serve` (a child process) watching a generated
 * one-cluster topology in a temp directory, with a service `echo` of K endpoint pods and N client
 * pods (each its own service account), every pod a network namespace with real Envoy as its
 * sidecar (src/meshsim). Each client pod sends paced requests to
 * `http://echo.default.svc.cluster.local:9080/echo` through its sidecar (the netsim driver inside
 * the pod, one request per call, so each is timed on its own); every endpoint's app logs each
 * request it serves with the caller's SPIFFE ID (from the XFCC header its sidecar sets). Taking an
 * endpoint out rewrites the topology file without its Workload (temp file + rename), which is what
 * crossmesh's file watcher reloads.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startMeshSim, type MeshSim, type RunningPod } from '../src/meshsim/index.js';
import type { MeshPod } from '../src/meshsim/index.js';
import { forEachLimited, type Driver, type RequestResult } from '../src/netsim/index.js';

const CLUSTER = 'cluster1';
const TRUST_DOMAIN = 'cluster1';
/** The pods' network (/24) and the wan the layout insists on (no gateway pod is started). */
const NET = '10.31.0';
const WAN_GATEWAY = '10.32.0.11';
const ENDPOINT_BASE = 10;
const CLIENT_BASE = 50;
export const MAX_CLIENTS = 254 - CLIENT_BASE;
export const MAX_ENDPOINTS = CLIENT_BASE - ENDPOINT_BASE;
const URL = 'http://echo.default.svc.cluster.local:9080/echo';
/** Bound of one request. */
const REQUEST_TIMEOUT_MS = 2000;
/** Pods started at once. */
const START_PARALLELISM = 3;

export interface EnvoyMeshOptions {
  readonly clients: number;
  readonly endpoints: number;
  readonly debounceMs: number;
  /** Pause between one client's requests. */
  readonly pacingMs: number;
  /** ADS flavour per pod (default: state-of-the-world for every one). */
  readonly adsApi?: (pod: MeshPod) => 'sotw' | 'delta';
}

/** One request a client sent (wall-clock ms). */
export interface Sent {
  readonly start: number;
  readonly end: number;
  /** The endpoint workload that answered; '' when the request failed. */
  readonly pod: string;
  readonly status?: number;
  readonly error?: string;
}

/** One request an endpoint app served, from its request log. */
export interface Arrival {
  readonly at: number;
  readonly caller: string | null;
  readonly status: number;
}

function endpointName(i: number): string {
  return `echo-${i}`;
}

function clientName(i: number): string {
  return `client-${i}`;
}

/** The SPIFFE ID client `i`'s sidecar presents (its own service account). */
export function clientIdentity(i: number): string {
  return `spiffe://${TRUST_DOMAIN}/ns/default/sa/${clientName(i)}`;
}

export function clientNodeId(i: number): string {
  return `${CLUSTER}/default/${clientName(i)}`;
}

/** The topology file: the cluster, `echo`, its endpoints (but `without`) and the clients. */
function topology(o: EnvoyMeshOptions, without?: number): string {
  const docs = [
    `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: ${CLUSTER}}
spec:
  network: net1
  trustDomain: ${TRUST_DOMAIN}
  locality: {region: us-east, zone: us-east-1a}
  gateway: {address: ${WAN_GATEWAY}, port: 15443}`,
    `apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: echo, namespace: default, cluster: ${CLUSTER}}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 9080, targetPort: 9080}]`,
  ];
  for (let i = 0; i < o.endpoints; i++) {
    if (i === without) continue;
    docs.push(`apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: ${endpointName(i)}, namespace: default, cluster: ${CLUSTER}}
spec: {address: ${NET}.${ENDPOINT_BASE + i}, labels: {app: echo, version: v1}, serviceAccount: echo}`);
  }
  for (let i = 0; i < o.clients; i++) {
    docs.push(`apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: ${clientName(i)}, namespace: default, cluster: ${CLUSTER}}
spec: {address: ${NET}.${CLIENT_BASE + i}, labels: {app: client, version: v1}, serviceAccount: ${clientName(i)}}`);
  }
  return `${docs.join('\n---\n')}\n`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every `everyMs` until it holds, or throws naming `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`envoy-convergence: ${what} not reached within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** Reads a growing JSON-lines file from where the last read stopped. */
class LogTail {
  private offset = 0;
  private rest = '';
  readonly entries: Arrival[] = [];
  constructor(private readonly file: string) {}

  read(): void {
    let buf: Buffer;
    try {
      buf = readFileSync(this.file);
    } catch {
      return; // not written yet
    }
    if (buf.length <= this.offset) return;
    const text = this.rest + buf.subarray(this.offset).toString('utf8');
    this.offset = buf.length;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const l of lines) {
      if (!l) continue;
      const r = JSON.parse(l) as { at: number; caller?: string | null; status: number };
      this.entries.push({ at: r.at, caller: r.caller ?? null, status: r.status });
    }
  }
}

/** VmRSS of a process in bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Per-type status of a stream on crossmesh's /debug/proxies. */
export interface ProxyTypeStatus {
  readonly lastSentVersion: string;
  readonly lastSentAt: string | null;
  readonly ackedVersion: string;
  readonly ackedAt: string | null;
  readonly lastNack: unknown;
}

export interface ProxyStatus {
  readonly nodeId: string;
  readonly resolverError: string | null;
  readonly types: Readonly<Record<string, ProxyTypeStatus>>;
}

/** The running benchmark mesh. */
export class EnvoyConvergenceMesh {
  private running = false;
  private loops: Promise<void>[] = [];
  /** Per client, every request it sent. */
  readonly sent: Sent[][] = [];
  private readonly tails: LogTail[] = [];
  private readonly drivers: Driver[] = [];

  private constructor(
    readonly mesh: MeshSim,
    readonly options: EnvoyMeshOptions,
    private readonly topologyDir: string,
    private readonly policyDir: string,
    private readonly probeOut: string,
    /** Memory of `crossmesh serve` before any Envoy connected. */
    readonly withoutEnvoys: Memory,
    /** Memory of `crossmesh serve` with only the endpoints' Envoys connected (no client yet). */
    readonly withEndpointsOnly: Memory,
  ) {}

  /** Starts crossmesh alone (measuring its RSS), then every pod; undoes everything on failure. */
  static async start(o: EnvoyMeshOptions): Promise<EnvoyConvergenceMesh> {
    if (o.clients < 1 || o.clients > MAX_CLIENTS) throw new Error(`clients must be 1..${MAX_CLIENTS}`);
    if (o.endpoints < 2 || o.endpoints > MAX_ENDPOINTS) throw new Error(`endpoints must be 2..${MAX_ENDPOINTS}`);
    const topologyDir = mkdtempSync(join(tmpdir(), 'crossmesh-envoy-convergence-'));
    const policyDir = mkdtempSync(join(tmpdir(), 'crossmesh-envoy-convergence-policies-'));
    writeFileSync(join(topologyDir, 'mesh.yaml'), topology(o));
    let mesh: MeshSim | undefined;
    try {
      // crossmesh alone, with the GC probe preloaded (only it: no pod starts in this call).
      const probeOut = join(topologyDir, 'gc-probe.jsonl');
      const saved = { options: process.env.NODE_OPTIONS, out: process.env.CROSSMESH_BENCH_GC_PROBE_OUT };
      process.env.NODE_OPTIONS = `${saved.options ?? ''} --import ${pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'gc-probe.js')).href}`.trim();
      process.env.CROSSMESH_BENCH_GC_PROBE_OUT = probeOut;
      try {
        mesh = await startMeshSim({ topology: [topologyDir], policyDir, debounceMs: o.debounceMs, calls: () => '', only: () => false, ...(o.adsApi ? { adsApi: o.adsApi } : {}) });
      } finally {
        restoreEnv('NODE_OPTIONS', saved.options);
        restoreEnv('CROSSMESH_BENCH_GC_PROBE_OUT', saved.out);
      }
      const pid = mesh.controlPlane.pid;
      if (pid === undefined) throw new Error('crossmesh serve is not running');
      await sleep(1000);
      const rss0 = await sampleMemory(pid, probeOut);
      // Endpoints first (so clients find them when they start), then RSS again, then the clients.
      const isEndpoint = (p: MeshPod): boolean => p.app?.name === 'echo';
      await forEachLimited(mesh.layout.pods.filter(isEndpoint), START_PARALLELISM, async (p: MeshPod) => {
        await mesh!.startPod(p);
      });
      await sleep(1000);
      const rssK = await sampleMemory(pid, probeOut);
      const m = new EnvoyConvergenceMesh(mesh, o, topologyDir, policyDir, probeOut, rss0, rssK);
      await forEachLimited(mesh.layout.pods.filter((p) => !isEndpoint(p)), START_PARALLELISM, async (p: MeshPod) => {
        await mesh!.startPod(p);
      });
      for (let i = 0; i < o.endpoints; i++) {
        const log = m.endpointPod(i).requestLog;
        if (!log) throw new Error(`${endpointName(i)} has no request log`);
        m.tails.push(new LogTail(log));
      }
      for (let i = 0; i < o.clients; i++) m.drivers.push(await mesh.sim.driver(m.clientPod(i).pod.name));
      return m;
    } catch (e) {
      await mesh?.close().catch(() => undefined);
      rmSync(topologyDir, { recursive: true, force: true });
      rmSync(policyDir, { recursive: true, force: true });
      throw e;
    }
  }

  endpointPod(i: number): RunningPod {
    return this.mesh.pod(`${CLUSTER}-${endpointName(i)}`);
  }

  clientPod(i: number): RunningPod {
    return this.mesh.pod(`${CLUSTER}-${clientName(i)}`);
  }

  /** Memory of `crossmesh serve` now. */
  async controlPlaneMemory(): Promise<Memory> {
    const pid = this.mesh.controlPlane.pid;
    if (pid === undefined) throw new Error('crossmesh serve is not running');
    return sampleMemory(pid, this.probeOut);
  }

  /** Starts every client's paced request loop; each stops at `stopTraffic()` or after `maxMs`. */
  startTraffic(maxMs: number): void {
    if (this.running) return;
    this.running = true;
    const until = Date.now() + maxMs;
    this.loops = this.drivers.map(async (d, c) => {
      const log: Sent[] = (this.sent[c] ??= []);
      // Spread the clients over the pacing interval.
      await sleep((c * this.options.pacingMs) / this.drivers.length);
      while (this.running && Date.now() < until) {
        const start = Date.now();
        let r: RequestResult;
        try {
          r = await d.request(URL, { timeoutMs: REQUEST_TIMEOUT_MS });
        } catch (e) {
          r = { latencyMs: Date.now() - start, error: e instanceof Error ? e.message : String(e) };
        }
        let pod = '';
        if (r.status === 200 && r.body) {
          try {
            pod = String((JSON.parse(r.body) as { pod?: string }).pod ?? '');
          } catch {
            // not the demo app's answer: counted as failed below
          }
        }
        log.push({ start, end: Date.now(), pod, ...(r.status !== undefined ? { status: r.status } : {}), ...(r.error ? { error: r.error } : {}) });
        await sleep(this.options.pacingMs);
      }
    });
  }

  async stopTraffic(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Arrivals at endpoint `i` so far (its request log read up to now). */
  arrivals(i: number): readonly Arrival[] {
    const t = this.tails[i]!;
    t.read();
    return t.entries;
  }

  /** Resolves once every client has been answered by every endpoint. */
  async warmUp(timeoutMs: number): Promise<void> {
    await waitFor(() => this.sent.length === this.options.clients && this.sent.every((l) => new Set(l.map((s) => s.pod).filter((p) => p)).size === this.options.endpoints), timeoutMs, 'every client answered by every endpoint', 100);
  }

  /** Rewrites the topology file (temp + rename) without endpoint `without` (or with every one); returns Date.now() right after the rename. */
  writeTopology(without?: number): number {
    const file = join(this.topologyDir, 'mesh.yaml');
    const temp = join(this.topologyDir, '.mesh.yaml.tmp');
    writeFileSync(temp, topology(this.options, without));
    renameSync(temp, file);
    return Date.now();
  }

  /** crossmesh's /debug/proxies. */
  async proxies(): Promise<ProxyStatus[]> {
    return (await this.mesh.controlPlane.adminJson<{ proxies: ProxyStatus[] }>('/debug/proxies')).proxies;
  }

  /** When the configuration in force was loaded (crossmesh's /debug/config), ms since the epoch. */
  async configLoadedAt(): Promise<number | undefined> {
    const st = await this.mesh.controlPlane.adminJson<{ lastGood: { loadedAt: string } | null }>('/debug/config');
    return st.lastGood ? Date.parse(st.lastGood.loadedAt) : undefined;
  }

  /** Raw /config_dump of a pod's Envoy (endpoints included when `eds`). */
  async configDump(pod: RunningPod, eds: boolean): Promise<string> {
    return pod.envoy.admin.get(eds ? '/config_dump?include_eds' : '/config_dump');
  }

  /** Stops the traffic, every pod and crossmesh, and removes the namespaces and temp directories. */
  async close(): Promise<void> {
    try {
      await this.stopTraffic();
    } finally {
      try {
        await this.mesh.close();
      } finally {
        rmSync(this.topologyDir, { recursive: true, force: true });
        rmSync(this.policyDir, { recursive: true, force: true });
      }
    }
  }
}

/** What `crossmesh serve` holds: RSS as the kernel counts it, and the V8 heap in use after a full GC. */
export interface Memory {
  /** VmRSS, median of 5 samples 200 ms apart (bytes). */
  readonly rss: number;
  /** heapUsed right after a full GC the GC probe ran (bytes). */
  readonly heapUsedAfterGc: number;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/** Asks the GC probe in `pid` for a full GC and reads the heap it reports, then samples RSS. */
async function sampleMemory(pid: number, probeOut: string): Promise<Memory> {
  const lines = (): string[] => {
    try {
      return readFileSync(probeOut, 'utf8').split('\n').filter((l) => l);
    } catch {
      return [];
    }
  };
  const before = lines().length;
  process.kill(pid, 'SIGUSR2');
  await waitFor(() => lines().length > before, 5000, 'the GC probe in crossmesh serve answering', 50);
  const heapUsedAfterGc = (JSON.parse(lines().at(-1)!) as { heapUsed: number }).heapUsed;
  const xs: number[] = [];
  for (let k = 0; k < 5; k++) {
    xs.push(rssBytes(pid));
    await sleep(200);
  }
  xs.sort((a, b) => a - b);
  return { rss: xs[2]!, heapUsedAfterGc };
}
