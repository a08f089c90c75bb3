/**
 * Preloaded into `crossmesh serve` by the envoy-convergence benchmark only (NODE_OPTIONS=--import):
 * on SIGUSR2 it runs a full garbage collection and appends the process's memoryUsage() after it
 * as one JSON line to $CROSSMESH_BENCH_GC_PROBE_OUT, so memory per connected Envoy can be read
 * without the garbage a start-up leaves behind. Nothing else of the process changes.
 */
import { appendFileSync } from 'node:fs';
import { exposeGc } from './measure.js';

const out = process.env.CROSSMESH_BENCH_GC_PROBE_OUT;
if (out) {
  const gc = exposeGc();
  process.on('SIGUSR2', () => {
    gc();
    appendFileSync(out, `${JSON.stringify({ at: Date.now(), ...process.memoryUsage() })}\n`);
  });
}
