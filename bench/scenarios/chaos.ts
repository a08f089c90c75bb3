/**
 * "chaos": crossmesh killed with SIGKILL under load and started again, R times (default 3,
 * CHAOS_REPS). The mesh is envoy-convergence's (bench/envoy-convergence-mesh.ts): N client pods
 * (default 20, CHAOS_CLIENTS) sending paced requests through their real Envoy sidecars to K = 3
 * endpoint pods, every pod a network namespace; the odd-numbered pods speak delta ADS, the others
 * state-of-the-world. Each repetition kills `crossmesh serve`, starts it again at once (as a
 * supervisor would) on the same configuration and CA directory (the root and intermediates
 * persist, as in test/envoy/restart.test.ts), and measures, from crossmesh's own /debug/proxies
 * (bench/chaos-streams.ts), when every Envoy's xDS stream is back and has ACKed what the new
 * process serves it, on crossmesh's clock; verify.ts then checks every Envoy's /config_dump against
 * what crossmesh serves it. Across every restart, Envoy's own counters must show that no new
 * CDS/LDS/RDS/EDS content was applied (bench/chaos-applied.ts: versions are content hashes), and
 * no request may fail: the data plane runs on what it holds while the control plane is away.
 *
 * Baseline: the restart's own start, spawn → /readyz 200 with the xDS socket open, measured on
 * the same restart. No Envoy can be served before that moment, so "spawn → every stream back and
 * ACKed" over it is what reconnecting adds to the control plane's start (Envoy's reconnect backoff,
 * the re-authentication and re-serving of every stream); the cold start of the first process
 * (no Envoy connected) is printed beside it. Readiness is polled every 100 ms, /debug/proxies
 * every 50 ms; the ACK moments themselves are crossmesh's timestamps.
 *
 * The bootstraps cap Envoy's reconnect backoff at 5 s (XDS_RECONNECT_BACKOFF in
 * src/translate/bootstrap.ts), so the last Envoy must be back within about 5 s of the restarted
 * process being ready; with Envoy's default 30 s cap this run measured 23-26 s.
 *
 * Figures from a shared 2-core machine are noisy (other work runs beside the benchmark).
 */
import { EnvoyConvergenceMesh } from '../envoy-convergence-mesh.js';
import { appliedChanges, readApplied } from '../chaos-applied.js';
import { heldBy, streams, waitAllCurrent } from '../chaos-streams.js';
import { intEnv, median, percentile } from '../measure.js';
import type { BenchRow, BenchScenario } from '../types.js';
import { envoyMissingMessage, findEnvoy } from '../../src/envoy/binary.js';
import type { MeshPod } from '../../src/meshsim/index.js';

const CLIENTS = intEnv('CHAOS_CLIENTS', 20);
const ENDPOINTS = 3;
const REPETITIONS = Math.min(intEnv('CHAOS_REPS', 3), 10);
/** Time crossmesh stays dead before it is started again (0: at once, as a supervisor restarts it). */
const DOWN_MS = intEnv('CHAOS_DOWN_MS', 0, 0);
const PACING_MS = 50;
const DEBOUNCE_MS = 100;
/** Bounds of each step. */
const CONVERGED_MS = 60_000;
const WARM_UP_MS = 60_000;
const RECOVERY_MS = 60_000;
const VERIFY_MS = 30_000;
/** Traffic before the first kill and between kills: every client's connections pooled and busy. */
const STEADY_MS = 3000;
/** Traffic never runs longer than this, whatever happens. */
const TRAFFIC_MAX_MS = 10 * 60_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Odd-numbered pods (client-1, echo-1, ...) on delta ADS, the others on state-of-the-world. */
function adsApi(pod: MeshPod): 'sotw' | 'delta' {
  return Number(/-(\d+)$/.exec(pod.workload)?.[1] ?? 0) % 2 === 1 ? 'delta' : 'sotw';
}

export const scenario: BenchScenario = {
  name: 'chaos',
  description: `${CLIENTS} Envoy sidecars sending to ${ENDPOINTS} endpoints: crossmesh SIGKILLed and restarted ${REPETITIONS} times → every xDS stream back and ACKed, requests failed`,
  async run(): Promise<BenchRow[]> {
    // Pods are network namespaces with real Envoy: without root or Envoy, say so and measure nothing.
    if (process.getuid?.() !== 0 || !findEnvoy()) {
      console.error(`  chaos skipped: ${process.getuid?.() !== 0 ? 'needs root (network namespaces, iptables)' : envoyMissingMessage()}`);
      return [];
    }
    const began = Date.now();
    const m = await EnvoyConvergenceMesh.start({ clients: CLIENTS, endpoints: ENDPOINTS, debounceMs: DEBOUNCE_MS, pacingMs: PACING_MS, adsApi });
    const cp = m.mesh.controlPlane;
    try {
      const cold = cp.lastStart!;
      const pods = [...m.mesh.pods.values()];
      const nodeIds = pods.map((p) => p.pod.nodeId);
      const deltaCount = pods.filter((p) => adsApi(p.pod) === 'delta').length;
      console.error(`  ${pods.length} pods with Envoy (${deltaCount} delta, ${pods.length - deltaCount} SotW) started in ${((Date.now() - began) / 1000).toFixed(1)} s`);
      await m.mesh.allConverged(CONVERGED_MS);
      m.startTraffic(TRAFFIC_MAX_MS);
      await m.warmUp(WARM_UP_MS);
      const steadyFrom = Date.now();
      await sleep(STEADY_MS);

      const ready: number[] = [];
      const recovered: number[] = [];
      const fromKill: number[] = [];
      const reconnect: number[] = [];
      const lastAckAfterConnect: number[] = [];
      const applied: string[] = [];
      const failedPerRep: number[] = [];
      let streamsBack = 0;
      let converged = 0;
      const failedIn = (from: number, to: number): number => m.sent.reduce((n, log) => n + log.filter((s) => s.pod === '' && s.end >= from && s.start <= to).length, 0);
      for (let rep = 0; rep < REPETITIONS; rep++) {
        const held = heldBy(await streams(cp), nodeIds);
        const before = await readApplied(pods);
        const killedAt = Date.now();
        await cp.kill('SIGKILL');
        if (DOWN_MS) await sleep(DOWN_MS);
        await cp.restart();
        const start = cp.lastStart!;
        const back = await waitAllCurrent(cp, held, start.spawnedAt, RECOVERY_MS);
        streamsBack += held.size;
        // The real path: every Envoy's own /config_dump holds what the new process serves it.
        await m.mesh.allConverged(VERIFY_MS);
        converged += pods.length;
        const moved = appliedChanges(before, await readApplied(pods));
        applied.push(...moved);
        ready.push(start.readyAt - start.spawnedAt);
        recovered.push(back.lastAckAt - start.spawnedAt);
        fromKill.push(back.lastAckAt - killedAt);
        reconnect.push(back.lastConnectAt - start.readyAt);
        lastAckAfterConnect.push(back.lastAckAt - back.lastConnectAt);
        await sleep(STEADY_MS);
        failedPerRep.push(failedIn(killedAt, Date.now()));
        console.error(
          `  rep ${rep + 1}/${REPETITIONS}: spawn → ready ${ready[rep]} ms, → all ${held.size} streams back and ACKed ${recovered[rep]} ms (last reconnect ${reconnect[rep]} ms after ready; seen by the poll ${back.seenAt - start.spawnedAt} ms); kill → all ACKed ${fromKill[rep]} ms; failed requests ${failedPerRep[rep]}; Envoys applying new content: ${moved.length ? moved.slice(0, 5).join('; ') : 'none'}`,
        );
      }
      await m.stopTraffic();
      const nacked = (await streams(cp)).flatMap((s) => Object.entries(s.types).flatMap(([t, st]) => (st.lastNack ? [`${s.nodeId} ${t}`] : [])));
      const all = m.sent.flat();
      const failed = all.filter((s) => s.pod === '');
      const inRun = failed.filter((s) => s.end >= steadyFrom).length;
      const kinds = new Map<string, number>();
      for (const s of failed) kinds.set(s.error ?? `HTTP ${s.status}`, (kinds.get(s.error ?? `HTTP ${s.status}`) ?? 0) + 1);
      if (kinds.size) console.error(`  failed requests by kind: ${JSON.stringify(Object.fromEntries(kinds))}`);

      const row = (metric: string, value: number, unit: string, extra: Partial<BenchRow> = {}): BenchRow => ({ scenario: 'chaos', metric, value, unit, ...extra });
      const envoys = pods.length;
      return [
        row(`restart → every xDS stream back and ACKed (${envoys} Envoys), p50 of ${REPETITIONS}`, median(recovered), 'ms', { baseline: median(ready) }),
        row(`restart → every xDS stream back and ACKed, max`, Math.max(...recovered), 'ms', { baseline: Math.max(...ready) }),
        row(`kill → every xDS stream back and ACKed, p50`, median(fromKill), 'ms'),
        row('baseline: cold start of the first process (spawn → ready, no Envoy)', cold.readyAt - cold.spawnedAt, 'ms'),
        row('part: ready → last Envoy reconnected (Envoy backoff), p50', median(reconnect), 'ms'),
        row('part: ready → last Envoy reconnected, max', Math.max(...reconnect), 'ms', { target: '< 6000 ms (5 s backoff cap)', pass: Math.max(...reconnect) < 6000 }),
        row('part: last reconnect → last ACK, p50', median(lastAckAfterConnect), 'ms'),
        row(`xDS streams back and ACKed after the restarts`, streamsBack, `of ${envoys * REPETITIONS}`, { target: `${envoys * REPETITIONS}`, pass: streamsBack === envoys * REPETITIONS }),
        row(`Envoys whose config_dump matches crossmesh after the restarts (verify.ts)`, converged, `of ${envoys * REPETITIONS}`, { target: `${envoys * REPETITIONS}`, pass: converged === envoys * REPETITIONS }),
        row('new CDS/LDS/RDS/EDS content applied by Envoys across the restarts', applied.length, 'counter moves', { target: '0', pass: applied.length === 0 }),
        row('NACKs on the restarted streams', nacked.length, 'types', { target: '0', pass: nacked.length === 0 }),
        row(`requests failed through the sidecars (from steady state to the end, ${REPETITIONS} kills)`, inRun, 'requests', { target: '0', pass: inRun === 0 }),
        row('requests failed in the kill → recovery windows', failedPerRep.reduce((a, b) => a + b, 0), 'requests'),
        row('requests sent in all', all.length, `requests (${failed.length} failed, warm-up included)`),
      ];
    } finally {
      await m.close();
    }
  },
};
