/**
 * soak: 5,000 SotW ADS streams (simulated proxies in a separate process, 100 streams per HTTP/2
 * connection, each subscribed to CDS and to EDS for every cluster it is sent, ACKing every
 * response) on crossmesh as `serve` runs it, in its own process, while its simulated Kubernetes
 * discovery moves 100 endpoint pods per second to new addresses (model → translate → cache →
 * push). Every 10 s the server samples RSS, heap after a full GC and event-loop delay (p99, max);
 * reported: least-squares slopes of RSS and heap in MiB/min (the first window, warm-up, left out),
 * event-loop p99 (mean of the first and last thirds of the windows, and its slope), streams open at the start and the end, the time
 * from the last update until every stream has ACKed the current CDS and EDS (target 10 s), and
 * the updates/s achieved.
 *
 * Baseline, same run: the same server with the same 5,000 streams, idle for the same window. A
 * process's memory moves without any work too (V8 growing and shrinking its heap, HTTP/2 buffers,
 * the 60 s sweep of departed proxies), so the load run's slopes and loop delay are read against
 * what the idle server shows; the bare grpc-js server of the fan-out would not run the
 * model/translate/push path whose growth the soak looks for.
 *
 * Duration: 60 s by default (routine `npm run bench`); the full 10 minutes with
 * `SOAK_SECONDS=600 npm run bench -- soak` (the baseline then idles for as long).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/xds/types.js';
import type { ClientProfile, ClientsReport, ClientsToRunner } from '../fanout-protocol.js';
import { nextMessage, stop } from '../forked.js';
import type { ProcessSample } from '../process-sampler.js';
import type { SoakTopology } from '../soak-discovery.js';
import type { SoakResult, SoakServerOptions, SoakServerToRunner } from '../soak-protocol.js';
import type { BenchRow, BenchScenario } from '../types.js';

const here = dirname(fileURLToPath(import.meta.url));
const SERVER = join(here, '..', 'soak-server.js');
const CLIENTS = join(here, '..', 'fanout-clients.js');
const STREAMS = 5000;
const PER_CONNECTION = 100;
const RATE = 100;
const SAMPLE_MS = 10_000;
/** Target: every stream has ACKed the current CDS and EDS this soon after the last update. */
const SETTLE_MS = 10_000;
/** How long the check goes on after that, so that a miss still says by how much. */
const SETTLE_GIVE_UP_MS = 60_000;
const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const TOPOLOGY: SoakTopology = { cluster: 'cluster1', namespace: 'bench', services: 20, endpointsPerService: 5, clients: STREAMS, zones: ['us-east-1a', 'us-east-1b'] };
/** Envoy's default HTTP/2 stream and connection windows (256 MiB): the simulated proxies read as fast as Envoy lets a server write. */
const ENVOY_WINDOW = 256 * 1024 * 1024;
/** Flatness targets, after the first window. */
const HEAP_SLOPE_MAX = 1;
const RSS_SLOPE_MAX = 4;

interface Run {
  readonly server: SoakResult;
  readonly clients: ClientsReport;
}

async function runOnce(mode: SoakServerOptions['mode']): Promise<Run> {
  let server: ChildProcess | undefined;
  let clients: ChildProcess | undefined;
  try {
    const options: SoakServerOptions = { mode, seconds: SECONDS, rate: RATE, sampleMs: SAMPLE_MS, topology: TOPOLOGY, settleTimeoutMs: SETTLE_GIVE_UP_MS };
    server = fork(SERVER, [JSON.stringify(options)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, CROSSMESH_LOG_LEVEL: 'warn' } });
    const listening = await nextMessage<Extract<SoakServerToRunner, { type: 'listening' }>>(server, 60_000, `soak ${mode} server start`);
    const profile: ClientProfile = {
      nodePrefix: `${TOPOLOGY.cluster}/${TOPOLOGY.namespace}/client-`,
      zones: TOPOLOGY.zones,
      subscriptions: [
        { typeUrl: CLUSTER_TYPE, names: [] },
        { typeUrl: ENDPOINT_TYPE, names: listening.edsNames },
      ],
      flowControlWindow: ENVOY_WINDOW,
    };
    clients = fork(CLIENTS, [String(listening.port), String(STREAMS), String(PER_CONNECTION), JSON.stringify(profile)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const ready = await nextMessage<Extract<ClientsToRunner, { type: 'ready' }>>(clients, 180_000, `${STREAMS} streams to connect`);
    console.error(`    ${mode}: ${ready.streams} streams (CDS + ${listening.edsNames.length} EDS names each) connected in ${ready.ms.toFixed(0)} ms`);
    server.send({ type: 'start' });
    const done = await nextMessage<Extract<SoakServerToRunner, { type: 'done' }>>(server, SECONDS * 1000 + SAMPLE_MS + SETTLE_GIVE_UP_MS + 60_000, `soak ${mode} run`);
    clients.send({ type: 'report' });
    const report = await nextMessage<ClientsReport>(clients, 30_000, 'client report');
    return { server: done.result, clients: report };
  } finally {
    await stop(clients);
    await stop(server);
  }
}

/** Least-squares slope of `y` over time, per minute. */
function slopePerMin(samples: readonly ProcessSample[], y: (s: ProcessSample) => number): number {
  const xs = samples.map((s) => s.atS / 60);
  const ys = samples.map(y);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return num / den;
}

/** Least-squares slope of `y` (bytes) over time, in MiB per minute. */
function slopeMiBPerMin(samples: readonly ProcessSample[], y: (s: ProcessSample) => number): number {
  return slopePerMin(samples, (s) => y(s) / 1048576);
}

/** Mean event-loop p99 of the first and of the last third of the windows: one window is too noisy to compare. */
function loopThirds(samples: readonly ProcessSample[]): { first: number; last: number } {
  const third = Math.max(1, Math.floor(samples.length / 3));
  const mean = (xs: readonly ProcessSample[]) => xs.reduce((n, x) => n + x.loopP99Ms, 0) / xs.length;
  return { first: mean(samples.slice(0, third)), last: mean(samples.slice(-third)) };
}

export const scenario: BenchScenario = {
  name: 'soak',
  description: `${STREAMS} ADS streams, ${RATE} endpoint updates/s for ${SECONDS} s (SOAK_SECONDS): RSS/heap slope, event-loop delay, streams kept, vs the same streams idle`,
  async run(): Promise<BenchRow[]> {
    if (!Number.isFinite(SECONDS) || SECONDS < 3 * (SAMPLE_MS / 1000)) throw new Error(`SOAK_SECONDS must be at least ${3 * (SAMPLE_MS / 1000)} (three samples), got ${process.env.SOAK_SECONDS}`);
    const idle = await runOnce('idle');
    const load = await runOnce('load');
    // The first window holds the warm-up (JIT, heap growing to its working size): slopes start after it.
    const steady = (r: Run) => r.server.samples.slice(1);
    const heapSlope = slopeMiBPerMin(steady(load), (s) => s.heapBytes);
    const rssSlope = slopeMiBPerMin(steady(load), (s) => s.rssBytes);
    const last = (r: Run) => r.server.samples[r.server.samples.length - 1]!;
    const worstMax = (r: Run) => Math.max(...r.server.samples.map((s) => s.loopMaxMs));
    const gcShare = (r: Run) => r.server.samples.reduce((n, x) => n + x.gcMs, 0) / (r.server.samples[r.server.samples.length - 1]!.atS * 1000);
    const meanCpu = (r: Run) => r.server.samples.reduce((n, s) => n + s.cpu, 0) / r.server.samples.length;
    const s = load.server;
    const kept = s.streamsAtStart === STREAMS && s.streamsAtEnd === STREAMS && load.clients.open === STREAMS && load.clients.ended === 0;
    if (load.clients.ended) console.error(`    streams ended: ${load.clients.endReasons.join('; ')}`);
    const rate = s.updatesApplied / s.updateSeconds;
    const loop = loopThirds(steady(load));
    const idleLoop = loopThirds(steady(idle));
    const loopSlope = slopePerMin(steady(load), (x) => x.loopP99Ms);
    const row = (metric: string, value: number, unit: string, extra: Partial<BenchRow> = {}): BenchRow => ({ scenario: 'soak', metric, value, unit, ...extra });
    return [
      row(`heap after GC slope (${SECONDS} s, from 2nd window)`, heapSlope, 'MiB/min', { baseline: slopeMiBPerMin(steady(idle), (x) => x.heapBytes), target: `< ${HEAP_SLOPE_MAX} MiB/min`, pass: heapSlope < HEAP_SLOPE_MAX }),
      row(`RSS slope (${SECONDS} s, from 2nd window)`, rssSlope, 'MiB/min', { baseline: slopeMiBPerMin(steady(idle), (x) => x.rssBytes), target: `< ${RSS_SLOPE_MAX} MiB/min`, pass: rssSlope < RSS_SLOPE_MAX }),
      row('heap after GC, last window', last(load).heapBytes / 1048576, 'MiB', { baseline: last(idle).heapBytes / 1048576 }),
      row('RSS, last window', last(load).rssBytes / 1048576, 'MiB', { baseline: last(idle).rssBytes / 1048576 }),
      row('event-loop delay p99, mean of the first third', loop.first, 'ms', { baseline: idleLoop.first }),
      row('event-loop delay p99, mean of the last third', loop.last, 'ms', { baseline: idleLoop.last, target: '< 1.5x first third + 5 ms', pass: loop.last < 1.5 * loop.first + 5 }),
      row('event-loop delay p99 slope (from 2nd window)', loopSlope, 'ms/min', { baseline: slopePerMin(steady(idle), (x) => x.loopP99Ms) }),
      row('event-loop delay max, worst window', worstMax(load), 'ms', { baseline: worstMax(idle) }),
      row('server CPU, mean of windows', meanCpu(load) * 100, '% core', { baseline: meanCpu(idle) * 100 }),
      row('GC pauses, share of wall time', gcShare(load) * 100, '%', { baseline: gcShare(idle) * 100 }),
      row('longest GC pause, worst window', Math.max(...load.server.samples.map((x) => x.gcMaxMs)), 'ms', { baseline: Math.max(...idle.server.samples.map((x) => x.gcMaxMs)) }),
      row(`streams open at end (server ${s.streamsAtStart} → ${s.streamsAtEnd}, clients ${load.clients.open})`, Math.min(s.streamsAtEnd, load.clients.open), 'streams', { baseline: STREAMS, target: `${STREAMS}, none lost`, pass: kept }),
      row(`streams that ACKed current CDS+EDS at the end`, s.upToDate, 'streams', { baseline: STREAMS, target: `${STREAMS}`, pass: s.upToDate === STREAMS }),
      row(`last update → every stream ACKed current${s.settled ? '' : ' (not reached: gave up after)'}`, s.settleMs, 'ms', { target: `< ${SETTLE_MS} ms`, pass: s.settled && s.settleMs < SETTLE_MS }),
      row(`endpoint updates applied (${s.updatesApplied} in ${s.updateSeconds.toFixed(0)} s, ${s.updateBatches} model updates)`, rate, 'updates/s', { target: `≥ ${RATE * 0.95}/s`, pass: rate >= RATE * 0.95 }),
      row('responses per stream per s (pushes coalesce)', s.responses / STREAMS / s.updateSeconds, 'responses/s', { baseline: idle.server.responses / STREAMS / SECONDS }),
    ];
  },
};
