/**
 * "fuzz": a bounded, reproducible fuzz run of the two places crossmesh parses what others wrote:
 * the xDS request path (DiscoveryRequest/DeltaDiscoveryRequest bytes through the decoder and real
 * streams, bench/fuzz-xds-target.ts) and the configuration loader (YAML files through loadConfig,
 * bench/fuzz-loader-target.ts). The committed corpus (bench/fuzz-corpus/) is replayed first, then
 * mutated inputs run until the time budget is spent. Each figure stands beside the bare library
 * on the same inputs (protobufjs decode; `yaml` parse).
 *
 * CROSSMESH_FUZZ_SECONDS (default 24) is the whole budget, split between the two targets;
 * CROSSMESH_FUZZ_SEED (default 16) picks the inputs: input N of a seed is always the same bytes.
 * CROSSMESH_FUZZ_KEEP=1 also saves inputs with an outcome not seen before into the corpus's
 * found/ folders. A crash, a too slow input or a hang is written to the corpus's crashes/ folder
 * and fails the run.
 */
import { Worker } from 'node:worker_threads';
import { saveLoaderInput, saveXdsInput } from '../fuzz-corpus.js';
import { INPUT_BOUND, regenerate, type FuzzTarget, type Tally } from '../fuzz-run.js';
import type { BenchRow, BenchScenario } from '../types.js';

const SECONDS = Number(process.env.CROSSMESH_FUZZ_SECONDS ?? 24);
const SEED = process.env.CROSSMESH_FUZZ_SEED ?? '16';
const KEEP = process.env.CROSSMESH_FUZZ_KEEP === '1';
/** No new input started for this long: the one in flight hangs (the per-input bounds are seconds). */
const HANG_MS = 30_000;

/**
 * Runs one target in a worker; a worker stuck in one input (a loop in synchronous code cannot be
 * interrupted from inside) is terminated and that input saved as a crash.
 */
function runInWorker(target: FuzzTarget, deadline: number): Promise<Tally> {
  const progress = new SharedArrayBuffer(8);
  const view = new Int32Array(progress);
  const worker = new Worker(new URL('../fuzz-worker.js', import.meta.url), { workerData: { target, seed: SEED, deadline, keep: KEEP, progress } });
  return new Promise<Tally>((resolve, reject) => {
    let seen = -1;
    let since = Date.now();
    // The first outcome wins: terminating the worker also makes it exit.
    const settle = (outcome: () => void): void => {
      clearInterval(watch);
      outcome();
      void worker.terminate();
    };
    const watch = setInterval(() => {
      const n = Atomics.load(view, 0);
      if (n !== seen) {
        seen = n;
        since = Date.now();
        return;
      }
      if (Date.now() - since < HANG_MS) return;
      const index = Atomics.load(view, 1);
      settle(() => reject(new Error(`${target} input hung (no progress for ${HANG_MS / 1000} s): ${saveHung(target, index)}`)));
    }, 1000);
    worker.once('message', (t: Tally) => settle(() => resolve(t)));
    worker.once('error', (e) => settle(() => reject(e)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the ${target} fuzz worker exited (code ${code}) before reporting`))));
  });
}

/** Saves the input a hung worker was running (a corpus entry is already on disk); returns where it is. */
function saveHung(target: FuzzTarget, index: number): string {
  const { name, xds, loader } = regenerate(target, SEED, index);
  if (index < 0) return `corpus entry ${name}`;
  const why = `hung: no progress for ${HANG_MS / 1000} s`;
  return xds ? saveXdsInput('crashes', name, xds, why) : saveLoaderInput('crashes', name, loader!, why);
}

function rows(target: string, t: Tally, unit: string, bare: string, bound: (typeof INPUT_BOUND)[FuzzTarget]): BenchRow[] {
  return [
    { scenario: 'fuzz', metric: `${target}: ${unit}/s (baseline: ${bare} of the same inputs)`, value: (t.inputs / t.pathMs) * 1000, unit: `${unit}/s`, baseline: (t.inputs / t.bareMs) * 1000 },
    { scenario: 'fuzz', metric: `${target}: inputs run (corpus ${t.replayed}), ${t.accepted} ${target === 'xDS' ? 'decoded' : 'accepted'}`, value: t.inputs, unit: 'inputs' },
    { scenario: 'fuzz', metric: `${target}: crashes`, value: t.crashes.length, unit: 'inputs', target: '0', pass: t.crashes.length === 0 },
    { scenario: 'fuzz', metric: `${target}: slowest input (${t.slowest})`, value: t.slowestMs, unit: 'ms', target: `each < ${bound.ms} ms + ${bound.bareFactor}x bare`, pass: t.overBound === 0 },
  ];
}

export const scenario: BenchScenario = {
  name: 'fuzz',
  description: `bounded fuzz of the xDS request decoder path and the config loader (${SECONDS} s, seed ${SEED}; CROSSMESH_FUZZ_SECONDS, CROSSMESH_FUZZ_SEED)`,
  async run(): Promise<BenchRow[]> {
    console.error(`  seed ${SEED}, ${SECONDS} s; input N of a seed is always the same bytes (crashes are saved as <target>-seed<seed>-<N>)`);
    const start = performance.timeOrigin + performance.now();
    const xds = await runInWorker('xds', start + (SECONDS * 1000) / 2);
    const loader = await runInWorker('loader', start + SECONDS * 1000);
    if (KEEP) console.error(`  kept ${xds.found} xDS and ${loader.found} loader inputs with new outcomes in bench/fuzz-corpus/*/found`);
    const crashes = [...xds.crashes, ...loader.crashes];
    if (crashes.length) throw new Error(`${crashes.length} crashing input(s), saved under bench/fuzz-corpus/*/crashes:\n${crashes.slice(0, 10).join('\n\n')}`);
    return [...rows('xDS', xds, 'requests', 'bare protobufjs decode', INPUT_BOUND.xds), ...rows('loader', loader, 'configs', 'bare yaml parse', INPUT_BOUND.loader)];
  },
};
