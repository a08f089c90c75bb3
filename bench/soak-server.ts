/**
 * Soak benchmark server process: crossmesh as `serve` runs it (control plane, mesh loader, config
 * watch, discovery manager, model store, mesh publisher, snapshot cache, xDS server), its cluster
 * discovered by the simulated Kubernetes source of soak-discovery.ts. On `start` it samples itself
 * every `sampleMs` and, in 'load' mode, moves endpoint pods at `rate` per second; at the end it
 * waits until every stream has ACKed the current CDS and EDS content and reports.
 * Usage (forked by bench/scenarios/soak.ts): node soak-server.js '<SoakServerOptions JSON>'
 */
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { meshLoader } from '../src/cli/mesh-loader.js';
import { startControlPlane, type ControlPlane } from '../src/cli/serve.js';
import type { SnapshotCache } from '../src/xds/cache.js';
import type { XdsStream } from '../src/xds/stream.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../src/xds/types.js';
import { startSampler, type ProcessSample } from './process-sampler.js';
import { SoakDiscovery } from './soak-discovery.js';
import type { RunnerToSoakServer, SoakResult, SoakServerOptions, SoakServerToRunner } from './soak-protocol.js';

const options = JSON.parse(process.argv[2]!) as SoakServerOptions;
const topo = options.topology;
const WATCHED = [CLUSTER_TYPE, ENDPOINT_TYPE] as const;
const DRIVER_TICK_MS = 20;

function send(msg: SoakServerToRunner): void {
  process.send!(msg);
}

/** Whether a stream has ACKed exactly what its group of type `t` holds now. */
function typeUpToDate(s: XdsStream, t: (typeof WATCHED)[number], cache: SnapshotCache): boolean {
  const st = s.types.get(t);
  const group = s.groups?.get(t);
  if (!st?.requested || group === undefined) return false;
  if (!s.answeredLatest(t) || st.ackedVersion !== st.lastSentVersion) return false;
  const current = cache.get(group, t).resources;
  if (st.wildcard) {
    if (current.size !== st.sent.size) return false;
    for (const r of current.values()) if (st.sent.get(r.name) !== r.version) return false;
  } else {
    for (const n of st.subscribed) {
      const r = current.get(n);
      if (r && st.sent.get(n) !== r.version) return false;
    }
  }
  return true;
}

/** Whether a stream is open and has ACKed the current CDS and EDS content of its groups. */
function upToDate(s: XdsStream, cache: SnapshotCache): boolean {
  return s.active && WATCHED.every((t) => typeUpToDate(s, t, cache));
}

/** Why streams are not up to date, counted (for the log when the check gives up). */
function staleness(plane: ControlPlane): Record<string, number> {
  const out: Record<string, number> = {};
  const note = (k: string) => (out[k] = (out[k] ?? 0) + 1);
  for (const s of plane.xds.activeStreams()) {
    if (upToDate(s, plane.cache)) continue;
    if (s.status().blocked) note('writes held (client not reading)');
    for (const t of WATCHED) {
      if (typeUpToDate(s, t, plane.cache)) continue;
      const st = s.types.get(t);
      const short = t === CLUSTER_TYPE ? 'cds' : 'eds';
      if (!st?.requested) note(`${short}: never requested`);
      else if (!s.answeredLatest(t)) note(`${short}: latest response not answered`);
      else if (st.ackedVersion !== st.lastSentVersion) note(`${short}: latest response NACKed`);
      else note(`${short}: not sent the current content`);
    }
  }
  return out;
}

function responsesWritten(plane: ControlPlane): number {
  return plane.xds.activeStreams().reduce((n, s) => n + s.responsesWritten, 0);
}

/** Polls until every stream is up to date or `timeoutMs` passed; how long that took, and which it was. */
async function settle(plane: ControlPlane, since: number, timeoutMs: number): Promise<{ settleMs: number; settled: boolean }> {
  for (;;) {
    const streams = plane.xds.activeStreams();
    if (streams.length > 0 && streams.every((s) => upToDate(s, plane.cache))) return { settleMs: performance.now() - since, settled: true };
    if (performance.now() - since > timeoutMs) return { settleMs: performance.now() - since, settled: false };
    await new Promise((r) => setTimeout(r, 50));
  }
}

function run(plane: ControlPlane, source: SoakDiscovery): Promise<SoakResult> {
  const streamsAtStart = plane.xds.activeStreams().length;
  const responsesAtStart = responsesWritten(plane);
  const changesAtStart = source.changes;
  const batchesAtStart = source.batches;
  const started = performance.now();
  let lastChangeAt = started;
  let driver: NodeJS.Timeout | undefined;
  if (options.mode === 'load') {
    // Every tick reports the changes due by now (one batch), so a late tick (a busy loop) does not lower the rate asked for.
    driver = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * options.rate);
      const behind = due - (source.changes - changesAtStart);
      if (behind <= 0) return;
      source.churn(behind);
      lastChangeAt = performance.now();
    }, DRIVER_TICK_MS);
  }
  return new Promise((resolve, reject) => {
    const progress = (s: ProcessSample): void => {
      const mib = (b: number) => (b / 1048576).toFixed(1);
      console.error(
        `      ${options.mode} t=${s.atS.toFixed(0)}s rss ${mib(s.rssBytes)} MiB, heap ${mib(s.heapBytes)} MiB, loop p99 ${s.loopP99Ms.toFixed(1)} ms (max ${s.loopMaxMs.toFixed(0)}), cpu ${(s.cpu * 100).toFixed(0)}%, gc ${s.gcMs.toFixed(0)} ms (longest ${s.gcMaxMs.toFixed(0)}), streams ${plane.xds.activeStreams().length}, changes ${source.changes - changesAtStart}`,
      );
      // Ends by the clock: a busy loop makes windows late, and counting them would stretch the run.
      if (s.atS < options.seconds - options.sampleMs / 2000) return;
      sampler.stop();
      if (driver) clearInterval(driver);
      const updateSeconds = (lastChangeAt - started) / 1000;
      const updatesApplied = source.changes - changesAtStart;
      const settleFrom = options.mode === 'load' ? lastChangeAt : performance.now();
      settle(plane, settleFrom, options.settleTimeoutMs).then(({ settleMs, settled }) => {
        if (!settled) console.error(`      ${options.mode}: streams not up to date ${settleMs.toFixed(0)} ms after the last change: ${JSON.stringify(staleness(plane))}`);
        const streams = plane.xds.activeStreams();
        resolve({
          samples: sampler.samples,
          streamsAtStart,
          streamsAtEnd: streams.length,
          updatesApplied,
          updateBatches: source.batches - batchesAtStart,
          updateSeconds,
          upToDate: streams.filter((s) => upToDate(s, plane.cache)).length,
          settleMs,
          settled,
          responses: responsesWritten(plane) - responsesAtStart,
        });
      }, reject);
    };
    const sampler = startSampler(options.sampleMs, progress);
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'crossmesh-soak-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  process.on('exit', cleanup);
  // Only the cluster is declared; its services and pods come from the (simulated) Kubernetes source.
  await writeFile(
    join(dir, 'mesh.yaml'),
    `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: ${topo.cluster}}
spec: {network: net1, locality: {region: us-east, zone: ${topo.zones[0]}}, discovery: {kubernetes: {kubeconfig: ${join(dir, 'kubeconfig')}, context: soak}}}
`,
  );
  const source = new SoakDiscovery(topo);
  const plane = await startControlPlane({
    host: '127.0.0.1',
    xdsPort: 0,
    adminPort: 0,
    configPaths: [join(dir, 'mesh.yaml')],
    loadMesh: meshLoader({ discovery: { createKubernetesSource: () => source } }),
  });
  // What the simulated proxies subscribe to over EDS: the clusters their CDS carries (Envoy asks for exactly those).
  const probe = plane.cache.resolve({ id: `${topo.cluster}/${topo.namespace}/client-0`, cluster: 'bench', metadata: {}, locality: { region: 'us-east', zone: topo.zones[0]!, sub_zone: '' }, userAgentName: '', userAgentVersion: '' }, undefined);
  if (probe instanceof Error) throw probe;
  const clusters = plane.cache.get(probe.get(CLUSTER_TYPE)!, CLUSTER_TYPE).resources;
  const edsNames = [...clusters.values()].flatMap((r) => (r.edsServiceName !== undefined ? [r.edsServiceName] : [])).sort();
  if (edsNames.length === 0) throw new Error('the soak mesh gives its proxies no EDS clusters');
  send({ type: 'listening', port: Number(plane.xdsAddress.split(':').pop()), edsNames });
  process.on('message', (msg: RunnerToSoakServer) => {
    if (msg.type === 'start') {
      run(plane, source).then(
        (result) => send({ type: 'done', result }),
        (e: unknown) => send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
      );
    } else if (msg.type === 'exit') {
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

// However the scenario fares, this process does not outlive the run it was started for.
const watchdog = setTimeout(
  () => {
    console.error('soak server: watchdog expired, exiting');
    process.exit(3);
  },
  options.seconds * 1000 + options.settleTimeoutMs + 300_000,
);
watchdog.unref();

main().catch((e: unknown) => {
  send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exit(1);
});
