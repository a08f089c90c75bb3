/**
 * Helpers of the rotation, restart and refused suites: steady traffic through the ingress while
 * something happens to the control plane, what an Envoy holds (certificate serials, xDS update
 * counters), crossmesh's NACKs, and Envoys started by hand against the running crossmesh.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvoyAdmin } from '../../src/envoy/admin.js';
import { startEnvoy, type EnvoyProcess } from '../../src/envoy/process.js';
import { ENVOY_UID, startMeshSim, type MeshSim, type MeshSimOptions } from '../../src/meshsim/index.js';
import type { Driver, RequestResult } from '../../src/netsim/index.js';

/** What a stretch of steady traffic gave. */
export interface TrafficSummary {
  readonly total: number;
  /** One line per failed request: not a 200, or a 200 whose chain says an upstream call failed. */
  readonly failures: readonly string[];
  /** Answers by the reviews entry of their chain, e.g. `reviews v3 (cluster2)`. */
  readonly reviews: ReadonlyMap<string, number>;
  readonly durationMs: number;
}

export interface SteadyTraffic {
  /** Requests done so far. */
  readonly count: number;
  /** Ends the traffic after the batch in flight and sums it up. */
  stop(): Promise<TrafficSummary>;
}

function classify(r: RequestResult): { failure?: string; reviews?: string } {
  if (r.status !== 200) return { failure: `${r.status ?? r.error} after ${r.latencyMs} ms ${r.body?.slice(0, 160) ?? ''}` };
  let chain: string[];
  try {
    chain = (JSON.parse(r.body ?? '') as { chain: string[] }).chain;
  } catch {
    return { failure: `200 with an unreadable body: ${r.body?.slice(0, 160)}` };
  }
  if (chain.some((c) => /failed/.test(c))) return { failure: `200 with a failed upstream: ${chain.join(' > ')}` };
  const reviews = chain.find((c) => c.startsWith('reviews '));
  return reviews ? { reviews } : {};
}

/**
 * Sends requests to `url` from `client` without pause (batches of `batch`, `concurrency` at a
 * time, each bounded by `timeoutMs`) until stop().
 */
export function steadyTraffic(client: Driver, url: string, opts: { batch?: number; concurrency?: number; timeoutMs?: number } = {}): SteadyTraffic {
  const batch = opts.batch ?? 10;
  const concurrency = opts.concurrency ?? 2;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const failures: string[] = [];
  const reviews = new Map<string, number>();
  let total = 0;
  let stopped = false;
  const started = Date.now();
  const loop = (async () => {
    while (!stopped) {
      let results: RequestResult[];
      try {
        results = await client.requests({ url, count: batch, concurrency, timeoutMs, maxBodyBytes: 65536 });
      } catch (e) {
        failures.push(`driver call failed: ${(e as Error).message}`);
        total += batch;
        continue;
      }
      for (const r of results) {
        total++;
        const c = classify(r);
        if (c.failure) failures.push(`[${new Date().toISOString()}] ${c.failure}`);
        if (c.reviews) reviews.set(c.reviews, (reviews.get(c.reviews) ?? 0) + 1);
      }
    }
  })();
  return {
    get count() {
      return total;
    },
    async stop() {
      stopped = true;
      await loop;
      return { total, failures, reviews, durationMs: Date.now() - started };
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Serial numbers of the leaf certificates (first of each chain) Envoy's TLS contexts hold, from `/certs`. */
export async function leafSerials(admin: EnvoyAdmin): Promise<Set<string>> {
  const certs = (await admin.certs()).certificates as { cert_chain?: { serial_number?: string }[] }[];
  return new Set(certs.flatMap((c) => (c.cert_chain?.[0]?.serial_number ? [c.cert_chain[0].serial_number.toUpperCase()] : [])));
}

/** Serial numbers of the CA certificates (trust bundles) Envoy's TLS contexts hold, from `/certs`. */
export async function rootSerials(admin: EnvoyAdmin): Promise<Set<string>> {
  const certs = (await admin.certs()).certificates as { ca_cert?: { serial_number?: string }[] }[];
  return new Set(certs.flatMap((c) => (c.ca_cert ?? []).flatMap((x) => (x.serial_number ? [normSerial(x.serial_number)] : []))));
}

/** A serial comparable across Envoy (lower-case hex, no leading zeros) and crossmesh (upper-case hex of the bytes). */
export function normSerial(s: string): string {
  return s.toUpperCase().replace(/^0+/, '');
}

/** The `default` secret's version in Envoy's SDS config dump (`dynamic_active_secrets`), or undefined. */
export async function secretVersion(admin: EnvoyAdmin, name = 'default'): Promise<string | undefined> {
  const dump = await admin.configDump({ includeEds: false, resource: 'dynamic_active_secrets' });
  const s = (dump.configs as { name?: string; version_info?: string }[]).find((c) => c.name === name);
  return s?.version_info;
}

/**
 * Envoy's xDS update counters: every `*.update_success`, `*.update_rejected` and `*.update_failure`
 * (CDS `cluster_manager.cds.*`, LDS `listener_manager.lds.*`, RDS `http.*.rds.<name>.*`, EDS
 * `cluster.<name>.*`, SDS `sds.<name>.*`), and the `*.version` gauges (hash of the last accepted version_info).
 */
export async function xdsCounters(admin: EnvoyAdmin): Promise<Map<string, number>> {
  return admin.stats('(\\.(update_success|update_rejected|update_failure|version)|^control_plane\\.connected_state)$');
}

/**
 * What Envoy did with the clusters and listeners it was given: `cluster_manager.cluster_added`,
 * `_modified`, `_removed` and `listener_manager.listener_added`, `_modified`, `_removed`,
 * `_in_place_updated`. They do not move when an update holds what Envoy already has.
 */
export async function structureCounters(admin: EnvoyAdmin): Promise<Map<string, number>> {
  return admin.stats('^(cluster_manager\\.cluster_(added|modified|removed)|listener_manager\\.listener_(added|modified|removed|in_place_updated))$');
}

/** The xDS type a counter belongs to, by its name. */
export function typeOfStat(name: string): 'cds' | 'lds' | 'rds' | 'eds' | 'sds' | 'other' {
  if (name.startsWith('cluster_manager.cds.')) return 'cds';
  if (name.startsWith('listener_manager.lds.')) return 'lds';
  if (name.startsWith('sds.')) return 'sds';
  if (/\.rds\./.test(name)) return 'rds';
  if (name.startsWith('cluster.')) return 'eds';
  return 'other';
}

interface ProxiesAnswer {
  proxies: { nodeId: string; mode: string; connectedAt: string; streamId: number; types: Record<string, { lastNack: { error: string; version: string } | null; ackedVersion: string; lastSentVersion: string; lastSentNonce: string }> }[];
  refused: { nodeId: string; role: string; peer: string; code: string; reason: string; at: string }[];
}

/** crossmesh's `/debug/proxies`. */
export function proxies(mesh: MeshSim): Promise<ProxiesAnswer> {
  return mesh.controlPlane.adminJson<ProxiesAnswer>('/debug/proxies');
}

/** Every NACK crossmesh records on a connected stream, as `node type: error`. */
export async function nacks(mesh: MeshSim): Promise<string[]> {
  const p = await proxies(mesh);
  return p.proxies.flatMap((s) => Object.entries(s.types).flatMap(([t, st]) => (st.lastNack ? [`${s.nodeId} ${t}: ${st.lastNack.error.slice(0, 300)}`] : [])));
}

/** A mesh with every Envoy converged, the client namespace's driver and the ingress's productpage URL, answering 200. */
export interface IngressMesh {
  readonly mesh: MeshSim;
  readonly client: Driver;
  readonly url: string;
}

/** Starts the mesh, waits for every Envoy to hold what crossmesh serves it and for the ingress to answer. */
export async function startIngressMesh(options: MeshSimOptions): Promise<IngressMesh> {
  const mesh = await startMeshSim(options);
  try {
    await mesh.allConverged(30_000);
    const client = await mesh.client();
    const url = mesh.ingressUrl();
    await client.waitForHttp(url, { timeoutMs: 15_000 });
    return { mesh, client, url };
  } catch (e) {
    await mesh.close();
    throw e;
  }
}

/** Polls `check` until it returns true, or throws `what` with the last detail after `timeoutMs`. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<true | string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await check().catch((e: Error) => `error: ${e.message}`);
    if (r === true) return;
    last = r;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last: ${last}`);
    await sleep(200);
  }
}

/**
 * Starts an extra Envoy in `pod`'s network namespace (as the proxy uid, admin on its own unix
 * socket, its own work directory) from `bootstrap`, not registered with the mesh: the caller stops it.
 */
export function startStrayEnvoy(mesh: MeshSim, pod: string, name: string, bootstrap: Record<string, unknown>): EnvoyProcess {
  const workDir = join(mesh.sim.workDir, 'stray', name);
  mkdirSync(workDir, { recursive: true });
  const withAdmin = { ...bootstrap, admin: { address: { pipe: { path: join(workDir, 'admin.sock') } } } };
  return startEnvoy({ bootstrap: withAdmin, workDir, netns: mesh.sim.namespace(pod), uid: ENVOY_UID, gid: ENVOY_UID, logLevel: 'warning' });
}
