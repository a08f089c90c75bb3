/**
 * "envoy-convergence": from a topology change (one endpoint's Workload removed from the topology
 * file) to the moment real Envoy sidecars stop sending to it. N client pods (default 20,
 * ENVOY_CONVERGENCE_CLIENTS) each send paced requests to `echo` (K = 3 endpoint pods,
 * ENVOY_CONVERGENCE_ENDPOINTS) through their own Envoy; each repetition (R = 10,
 * ENVOY_CONVERGENCE_REPS) rewrites the topology file without one endpoint (temp + rename) and
 * reads, from that endpoint app's own request log, when each client's last request arrived
 * there, relative to the rename. The endpoint pod keeps running (only the configuration can stop
 * the traffic); it is put back between repetitions and every client must reach it again.
 *
 * Changes start 10 s after every client reached every endpoint (steady state: the first seconds
 * of traffic, every client's mTLS handshakes to every endpoint, load the 2 cores and slowed the
 * first change by ~200 ms). Per-client "stopped sending" latencies are pooled over clients and repetitions (p50/p99/max),
 * beside the baseline measured in the same run: rename → crossmesh wrote the EDS update on every
 * client's stream (its file watcher's 150 ms quiet period, the reload, the translation and the
 * push debounce window) from crossmesh's /debug/proxies. The last arrival is a lower bound of the
 * moment the client switched (a client reaches one endpoint every ~K requests); the client's next
 * request after it, which went elsewhere, is the upper bound. Also: Envoy config size per sidecar,
 * crossmesh memory per connected Envoy (VmRSS of the serve process with the Envoys minus without;
 * V8 sizes its heap in large steps, so beside it the heap in use after a full GC, which
 * bench/gc-probe.ts, preloaded into that process only, runs on request), and the requests that
 * failed during the changes.
 */
import { clientIdentity, clientNodeId, EnvoyConvergenceMesh, waitFor, type ProxyStatus } from '../envoy-convergence-mesh.js';
import { intEnv, median, percentile } from '../measure.js';
import type { BenchRow, BenchScenario } from '../types.js';
import { envoyMissingMessage, findEnvoy } from '../../src/envoy/binary.js';

const CLIENTS = intEnv('ENVOY_CONVERGENCE_CLIENTS', 20);
const ENDPOINTS = intEnv('ENVOY_CONVERGENCE_ENDPOINTS', 3);
const REPETITIONS = intEnv('ENVOY_CONVERGENCE_REPS', 10);
const PACING_MS = intEnv('ENVOY_CONVERGENCE_PACING_MS', 50);
const DEBOUNCE_MS = 100;
/** Traffic kept up after every client ACKed the change, before the endpoint's log is read. */
const TAIL_MS = 1000;
/** Bounds of each step. */
const WARM_UP_MS = 60_000;
/** Traffic kept up after every client reached every endpoint, before the first measured change. */
const STEADY_MS = 10_000;
const PUSH_MS = 15_000;
const RESTORE_MS = 30_000;
/** Traffic never runs longer than this, whatever happens. */
const TRAFFIC_MAX_MS = 15 * 60_000;

/** Client streams of crossmesh, by client index; throws if one is missing. */
function clientStreams(proxies: readonly ProxyStatus[]): ProxyStatus[] {
  const byNode = new Map(proxies.map((p) => [p.nodeId, p]));
  return Array.from({ length: CLIENTS }, (_, c) => {
    const p = byNode.get(clientNodeId(c));
    if (!p) throw new Error(`no xDS stream of ${clientNodeId(c)} on crossmesh`);
    return p;
  });
}

const at = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : Number.NaN);

/** Every client's EDS update sent after `t0` and ACKed; the per-client send and ACK times. */
async function waitEdsAcked(m: EnvoyConvergenceMesh, t0: number): Promise<{ sent: number[]; acked: number[]; typesPushed: Set<string> }> {
  let result: { sent: number[]; acked: number[]; typesPushed: Set<string> } | undefined;
  await waitFor(
    async () => {
      const streams = clientStreams(await m.proxies());
      const eds = streams.map((s) => s.types.eds);
      if (!eds.every((e) => e && at(e.lastSentAt) >= t0 && e.ackedVersion === e.lastSentVersion && at(e.ackedAt) >= at(e.lastSentAt))) return false;
      const typesPushed = new Set<string>();
      for (const s of streams) for (const [t, st] of Object.entries(s.types)) if (at(st.lastSentAt) >= t0) typesPushed.add(t);
      result = { sent: eds.map((e) => at(e!.lastSentAt) - t0), acked: eds.map((e) => at(e!.ackedAt) - t0), typesPushed };
      return true;
    },
    PUSH_MS,
    'every client ACKing the EDS update',
  );
  return result!;
}

export const scenario: BenchScenario = {
  name: 'envoy-convergence',
  description: `${CLIENTS} Envoy sidecars, ${ENDPOINTS} endpoints: endpoint Workload removed from the topology file → clients stop sending to it`,
  async run(): Promise<BenchRow[]> {
    // Pods are network namespaces with real Envoy: without root or Envoy, say so and measure nothing.
    if (process.getuid?.() !== 0 || !findEnvoy()) {
      console.error(`  envoy-convergence skipped: ${process.getuid?.() !== 0 ? 'needs root (network namespaces, iptables)' : envoyMissingMessage()}`);
      return [];
    }
    const began = Date.now();
    const m = await EnvoyConvergenceMesh.start({ clients: CLIENTS, endpoints: ENDPOINTS, debounceMs: DEBOUNCE_MS, pacingMs: PACING_MS });
    console.error(`  ${m.mesh.pods.size} pods with Envoy started in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    try {
      // Config size per sidecar: each client's Envoy, once everything is connected.
      const sizes: number[] = [];
      const sizesEds: number[] = [];
      const counts: { clusters: number; listeners: number; routes: number }[] = [];
      for (let c = 0; c < CLIENTS; c++) {
        const pod = m.clientPod(c);
        const dump = await m.configDump(pod, false);
        sizes.push(Buffer.byteLength(dump));
        sizesEds.push(Buffer.byteLength(await m.configDump(pod, true)));
        counts.push(countResources(dump));
      }
      m.startTraffic(TRAFFIC_MAX_MS);
      await m.warmUp(WARM_UP_MS);
      console.error(`  every client answered by every endpoint after ${((Date.now() - began) / 1000).toFixed(1)} s`);
      const memWith = await m.controlPlaneMemory();
      const envoys = m.mesh.pods.size;
      // Steady state before the first change: the first seconds of traffic (every client's mTLS
      // handshakes to every endpoint, pools filling) load the 2 cores and slowed the first change.
      await new Promise((r) => setTimeout(r, STEADY_MS));

      const stopped: number[] = [];
      const slowest: number[] = [];
      const upper: number[] = [];
      const pushFirst: number[] = [];
      const pushAll: number[] = [];
      const ackAll: number[] = [];
      const loaded: number[] = [];
      const failedRemove: number[] = [];
      const failedRestore: number[] = [];
      const restoreMs: number[] = [];
      const intervals: number[] = [];
      let afterAck = 0;
      const typesPushed = new Set<string>();
      const failureKinds = new Map<string, number>();
      const failuresIn = (from: number, to: number): number => {
        let n = 0;
        for (const log of m.sent) {
          for (const s of log) {
            if (s.end < from || s.start > to || s.pod !== '') continue;
            n++;
            const kind = s.error ?? `HTTP ${s.status}`;
            failureKinds.set(kind, (failureKinds.get(kind) ?? 0) + 1);
          }
        }
        return n;
      };
      for (let rep = 0; rep < REPETITIONS; rep++) {
        const e = rep % ENDPOINTS;
        const who = `echo-${e}`;
        // A client's interval between arrivals at this endpoint before the change: the measure's resolution.
        const before = m.arrivals(e);
        for (let c = 0; c < CLIENTS; c++) {
          const mine = before.filter((a) => a.caller === clientIdentity(c)).slice(-5);
          for (let k = 1; k < mine.length; k++) intervals.push(mine[k]!.at - mine[k - 1]!.at);
        }
        const t0 = m.writeTopology(e);
        const push = await waitEdsAcked(m, t0);
        for (const t of push.typesPushed) typesPushed.add(t);
        pushFirst.push(Math.min(...push.sent));
        pushAll.push(Math.max(...push.sent));
        ackAll.push(Math.max(...push.acked));
        const loadedAt = await m.configLoadedAt();
        if (loadedAt !== undefined && loadedAt >= t0) loaded.push(loadedAt - t0);
        await new Promise((r) => setTimeout(r, TAIL_MS));
        const settled = Date.now();
        const arrivals = m.arrivals(e);
        const perClient: number[] = [];
        for (let c = 0; c < CLIENTS; c++) {
          const mine = arrivals.filter((a) => a.caller === clientIdentity(c));
          const last = mine.length ? mine[mine.length - 1]!.at : t0;
          perClient.push(Math.max(0, last - t0));
          afterAck += mine.filter((a) => a.at > t0 + push.acked[c]!).length;
          // Upper bound: the client's first request after its last one answered by the endpoint.
          const log = m.sent[c]!;
          let k = log.length - 1;
          while (k >= 0 && log[k]!.pod !== who) k--;
          const lastStart = k >= 0 ? log[k]!.start : t0;
          const next = log.slice(k + 1).find((s) => s.start >= Math.max(lastStart, t0));
          upper.push(Math.max(0, (next?.start ?? t0) - t0));
        }
        stopped.push(...perClient);
        slowest.push(Math.max(...perClient));
        failedRemove.push(failuresIn(t0, settled));
        // Put it back; every client must reach it again.
        const t1 = m.writeTopology();
        await waitFor(
          () => {
            const back = m.arrivals(e).filter((a) => a.at > t1);
            return Array.from({ length: CLIENTS }, (_, c) => back.some((a) => a.caller === clientIdentity(c))).every(Boolean);
          },
          RESTORE_MS,
          `every client sending to ${who} again`,
          50,
        );
        restoreMs.push(Date.now() - t1);
        await new Promise((r) => setTimeout(r, 300));
        failedRestore.push(failuresIn(t1, Date.now()));
        console.error(`  rep ${rep + 1}/${REPETITIONS} (${who}): slowest client ${slowest[rep]!.toFixed(0)} ms, EDS on all streams ${pushAll[rep]!.toFixed(0)} ms, failed ${failedRemove[rep]} (removal) ${failedRestore[rep]} (restore)`);
      }
      await m.stopTraffic();
      const sent = m.sent.reduce((a, l) => a + l.length, 0);
      if (failureKinds.size) console.error(`  failed requests by kind: ${JSON.stringify(Object.fromEntries(failureKinds))}`);

      const p99 = percentile(stopped, 99);
      const slowest99 = percentile(slowest, 99);
      const base50 = median(pushAll);
      const base99 = percentile(pushAll, 99);
      const totalFailed = failedRemove.reduce((a, b) => a + b, 0);
      const row = (metric: string, value: number, unit: string, extra: Partial<BenchRow> = {}): BenchRow => ({ scenario: 'envoy-convergence', metric, value, unit, ...extra });
      const c0 = counts[0]!;
      return [
        row(`client stopped sending (last arrival at endpoint), p50 of ${CLIENTS}x${REPETITIONS}`, median(stopped), 'ms', { baseline: base50 }),
        row(`client stopped sending (last arrival at endpoint), p99 of ${CLIENTS}x${REPETITIONS}`, p99, 'ms', { baseline: base99, target: '< 500 ms', pass: p99 < 500 }),
        row(`client stopped sending (last arrival at endpoint), max`, Math.max(...stopped), 'ms', { baseline: Math.max(...pushAll) }),
        row(`all ${CLIENTS} clients stopped (slowest per rep), p50 of ${REPETITIONS}`, median(slowest), 'ms', { baseline: base50 }),
        row(`all ${CLIENTS} clients stopped (slowest per rep), p99 of ${REPETITIONS}`, slowest99, 'ms', { baseline: base99, target: '< 500 ms', pass: slowest99 < 500 }),
        row('upper bound (client\'s next request, went elsewhere), p99', percentile(upper, 99), 'ms', { baseline: base99 }),
        row('baseline parts: rename → config reloaded (watch quiet 150 ms + load), p50', median(loaded), 'ms'),
        row('baseline parts: rename → EDS written on the first client stream, p50', median(pushFirst), 'ms'),
        row(`rename → EDS ACKed by all ${CLIENTS} clients, p99`, percentile(ackAll, 99), 'ms', { baseline: base99 }),
        row('requests reaching the endpoint after their client ACKed', afterAck, 'requests'),
        row('xDS types pushed to clients per change', typesPushed.size, `types (${[...typesPushed].sort().join(',')})`, { target: '1 (eds)', pass: typesPushed.size === 1 && typesPushed.has('eds') }),
        row(`requests failed during the removals (${REPETITIONS} changes)`, totalFailed, 'requests', { target: '0', pass: totalFailed === 0 }),
        row(`requests failed while putting the endpoint back`, failedRestore.reduce((a, b) => a + b, 0), 'requests'),
        row('requests sent in all', sent, 'requests'),
        row('client interval between arrivals at one endpoint (resolution), median', median(intervals), 'ms'),
        row('time until every client reached the endpoint again, p50', median(restoreMs), 'ms'),
        row('Envoy /config_dump per client sidecar, median', median(sizes), 'bytes'),
        row('Envoy /config_dump?include_eds per client sidecar, median', median(sizesEds), 'bytes'),
        row(`clusters / listeners / route configs per client sidecar`, c0.clusters, `clusters (${c0.listeners} listeners, ${c0.routes} route configs)`),
        row(`crossmesh RSS per client Envoy ((with ${CLIENTS} clients - with 0) / ${CLIENTS}; ${ENDPOINTS} endpoint Envoys in both)`, (memWith.rss - m.withEndpointsOnly.rss) / CLIENTS / 1024, 'KiB'),
        row(`crossmesh RSS per Envoy ((with ${envoys} - with 0 Envoys) / ${envoys})`, (memWith.rss - m.withoutEnvoys.rss) / envoys / 1024, 'KiB'),
        row(`crossmesh RSS with 0 Envoys / ${ENDPOINTS} / ${envoys}`, m.withoutEnvoys.rss / 2 ** 20, `MiB (${(m.withEndpointsOnly.rss / 2 ** 20).toFixed(1)} / ${(memWith.rss / 2 ** 20).toFixed(1)} MiB)`),
        row(`crossmesh V8 heap after full GC per client Envoy ((with ${CLIENTS} clients - with 0) / ${CLIENTS})`, (memWith.heapUsedAfterGc - m.withEndpointsOnly.heapUsedAfterGc) / CLIENTS / 1024, 'KiB'),
        row(`crossmesh V8 heap after full GC with 0 Envoys / ${ENDPOINTS} / ${envoys}`, m.withoutEnvoys.heapUsedAfterGc / 2 ** 20, `MiB (${(m.withEndpointsOnly.heapUsedAfterGc / 2 ** 20).toFixed(1)} / ${(memWith.heapUsedAfterGc / 2 ** 20).toFixed(1)} MiB)`),
      ];
    } finally {
      await m.close();
    }
  },
};

/** Clusters (static and dynamic), listeners and route configurations in an Envoy /config_dump. */
function countResources(dumpText: string): { clusters: number; listeners: number; routes: number } {
  const dump = JSON.parse(dumpText) as { configs: Record<string, unknown>[] };
  const len = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
  let clusters = 0;
  let listeners = 0;
  let routes = 0;
  for (const c of dump.configs) {
    const t = String(c['@type']);
    if (t.endsWith('ClustersConfigDump')) clusters += len(c.static_clusters) + len(c.dynamic_active_clusters);
    if (t.endsWith('ListenersConfigDump')) listeners += len(c.static_listeners) + len(c.dynamic_listeners);
    if (t.endsWith('RoutesConfigDump')) routes += len(c.static_route_configs) + len(c.dynamic_route_configs);
  }
  return { clusters, listeners, routes };
}
