/**
 * "scale": the policies benchmark's scoped mesh (3 clusters × 2,000 services × 10 endpoints, 500
 * TrafficPolicies, 500 AccessPolicies, `globalAccessPolicy: ENABLED`, so each sidecar holds its 10
 * dependencies) at 10,000 sidecars, through the real publisher path (ModelStore → MeshPublisher →
 * guard → SnapshotCache encoding). The baseline of every figure is the same measurement at 1,000
 * sidecars in the same run, so the ratio says how each cost grows with 10x the proxies:
 *
 * - full translation: every sidecar resolved into a fresh publisher and cache, after a discarded
 *   1,000-sidecar run that pays the one-time costs (proto plans, JIT);
 * - memory the publisher and cache hold afterwards: heap+external after GC, minus the same before
 *   (the model and policies are already loaded on both sides);
 * - one endpoint change (a workload's health flips) until every EDS group holds the updated
 *   assignment and the cache has handed its change batch to its listeners, which is where the xDS
 *   server starts writing to streams: recomputed and pushed to the serving layer, not yet through
 *   10,000 sockets (the fan-out scenario measures that part).
 * The machine has 2 cores and may be shared, so wall clock is printed with process CPU time.
 */
import { cpus, loadavg } from 'node:os';
import { SnapshotCache } from '../../src/xds/cache.js';
import type { MeshPublisher } from '../../src/xds/mesh-publisher.js';
import { envoyRoot } from '../../src/xds/protos.js';
import { ENDPOINT_TYPE } from '../../src/xds/types.js';
import { buildTranslateMesh, flipHealth, ISSUE_SIZE, nextSeed, publishSidecars, type TranslateMesh } from '../translate-mesh.js';
import { exposeGc, median, percentile, timed } from '../measure.js';
import type { BenchRow, BenchScenario } from '../types.js';
import { declareBenchPolicies } from './policies.js';

const NAME = 'scale';
const SIDECARS = 10_000;
const SMALL = 1000;
const CHANGES = 30;
const WARMUP = 5;

const gc = exposeGc();

async function liveBytes(): Promise<number> {
  // Let the current job end so WeakRefs made during a run may be cleared, then collect.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

interface Measured {
  readonly sidecars: number;
  readonly fullMs: number;
  readonly fullCpuMs: number;
  readonly bytes: number;
  readonly groups: number;
  readonly changeMedianMs: number;
  readonly changeP99Ms: number;
  /** Process CPU time of one change (GC threads included), median. */
  readonly changeCpuMedianMs: number;
  /** Updated assignments per change, summed over EDS groups. */
  readonly updatedPerChange: number;
}

/** Translates `sidecars` of the mesh into a fresh publisher and cache, then flips endpoints one at a time. */
async function measure(mesh: TranslateMesh, sidecars: readonly string[]): Promise<Measured> {
  const before = await liveBytes();
  const cache = new SnapshotCache({ debounceMs: 60_000 });
  let pub: MeshPublisher | undefined;
  try {
    const full = timed(() => publishSidecars({ ...mesh, sidecars }, cache, (p) => (pub = p)));
    const status = pub!.status();
    const rejected = status.groups.flatMap((g) => g.rejected);
    if (rejected.length) throw new Error(`the guard rejected ${rejected.length} resources, e.g. ${JSON.stringify(rejected[0])}`);
    const bytes = (await liveBytes()) - before;
    const edsGroups = new Set([...full.value.values()].map((g) => g.get(ENDPOINT_TYPE)!));

    // Scoped, a service nobody depends on changes no proxy: pick among the sidecars' dependencies
    // (services 1..409: sidecars run 0..399, each with the next 10).
    const depended = mesh.workloads.filter((w) => {
      const s = Number(/^svc-(\d+)$/.exec(w.labels.app ?? '')?.[1] ?? -1);
      return s >= 1 && s <= ISSUE_SIZE.sidecarServices + 9;
    });
    const times: number[] = [];
    const cpuTimes: number[] = [];
    let updated = 0;
    let seed = 4242;
    for (let i = 0; i < WARMUP + CHANGES; i++) {
      seed = nextSeed(seed);
      const flip = timed(() => flipHealth(mesh, cache, depended[seed % depended.length]!));
      const { key, ms, changes } = flip.value;
      const other = changes.filter((c) => c.typeUrl !== ENDPOINT_TYPE);
      if (other.length) throw new Error(`an endpoint change touched ${other.map((c) => c.typeUrl).join(', ')}`);
      // Scoped: only the groups of the service's dependents are updated, so the check is that some
      // were, and only groups that the sidecars use.
      const eds = changes.filter((c) => c.typeUrl === ENDPOINT_TYPE);
      if (!eds.length) throw new Error(`change ${i} (${key}) updated no EDS group`);
      for (const c of eds) if (!edsGroups.has(c.group)) throw new Error(`change ${i} (${key}) pushed to unknown EDS group ${c.group}`);
      if (i >= WARMUP) {
        times.push(ms);
        cpuTimes.push(flip.cpuMs);
        updated += eds.reduce((n, c) => n + c.names.size, 0);
      }
    }
    return {
      sidecars: sidecars.length,
      fullMs: full.ms,
      fullCpuMs: full.cpuMs,
      bytes,
      groups: status.groups.length,
      changeMedianMs: median(times),
      changeP99Ms: percentile(times, 99),
      changeCpuMedianMs: median(cpuTimes),
      updatedPerChange: updated / CHANGES,
    };
  } finally {
    pub?.close();
    cache.close();
  }
}

function describe(m: Measured): string {
  return `${m.sidecars} sidecars: full ${m.fullMs.toFixed(0)} ms (cpu ${m.fullCpuMs.toFixed(0)}), ${m.groups} groups, ${(m.bytes / 2 ** 20).toFixed(1)} MiB held; endpoint change median ${m.changeMedianMs.toFixed(1)} ms (cpu ${m.changeCpuMedianMs.toFixed(1)}), p99 ${m.changeP99Ms.toFixed(1)} ms, ${m.updatedPerChange.toFixed(1)} assignments updated`;
}

export const scenario: BenchScenario = {
  name: NAME,
  description: 'the scoped policies mesh at 10,000 sidecars vs 1,000: full translation, memory held, one endpoint change recomputed and handed to the xDS layer',
  async run(): Promise<BenchRow[]> {
    envoyRoot();
    const mesh = buildTranslateMesh({ ...ISSUE_SIZE, sidecars: SIDECARS });
    declareBenchPolicies(mesh, 'ENABLED');
    const load = loadavg()[0]!;
    // A first 1,000-sidecar run pays the one-time costs (proto plans, JIT) so the baseline does not.
    console.error(`  warm-up: ${describe(await measure(mesh, mesh.sidecars.slice(0, SMALL)))}`);
    const small = await measure(mesh, mesh.sidecars.slice(0, SMALL));
    console.error(`  ${describe(small)}`);
    const large = await measure(mesh, mesh.sidecars);
    console.error(`  ${describe(large)}`);
    console.error(`  machine: ${cpus().length} cores, load average ${load.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end`);
    const per = (m: Measured): number => m.bytes / m.sidecars / 1024;
    return [
      { scenario: NAME, metric: `full translation, ${SIDECARS} sidecars, scoped (baseline: ${SMALL})`, value: large.fullMs, baseline: small.fullMs, unit: 'ms' },
      { scenario: NAME, metric: 'same, process CPU time (user+sys, GC threads included)', value: large.fullCpuMs, baseline: small.fullCpuMs, unit: 'ms' },
      { scenario: NAME, metric: `memory held after translation (heap+external), ${SIDECARS} sidecars`, value: large.bytes / 2 ** 20, baseline: small.bytes / 2 ** 20, unit: 'MiB' },
      { scenario: NAME, metric: 'same, per sidecar', value: per(large), baseline: per(small), unit: 'KiB' },
      { scenario: NAME, metric: `cache groups, ${SIDECARS} sidecars`, value: large.groups, baseline: small.groups, unit: 'groups' },
      { scenario: NAME, metric: 'one endpoint change → recomputed and handed to xDS, median', value: large.changeMedianMs, baseline: small.changeMedianMs, unit: 'ms', target: "< 20 ms (translate's, at 1,000)", pass: large.changeMedianMs < 20 },
      { scenario: NAME, metric: 'same, p99', value: large.changeP99Ms, baseline: small.changeP99Ms, unit: 'ms' },
      { scenario: NAME, metric: 'same, process CPU time, median', value: large.changeCpuMedianMs, baseline: small.changeCpuMedianMs, unit: 'ms' },
    ];
  },
};
