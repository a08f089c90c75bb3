/**
 * Samples the process it runs in at a fixed interval: RSS and V8 heap after a full garbage
 * collection, the event loop's delay over the window since the previous sample, and the CPU time
 * and garbage-collection pauses in that window.
 *
 * Loop delay is how late a 10 ms timer fires, recorded in a perf_hooks histogram. Not
 * monitorEventLoopDelay: after its reset() (or disable()/enable()) it drops the next interval, so
 * a 300 ms block right after a window boundary went unrecorded (Node 20.20), and the boundaries
 * are where this sampler's own GC pause has to be left out.
 */
import { PerformanceObserver, constants, createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { exposeGc } from './measure.js';

/** One window's figures. */
export interface ProcessSample {
  /** Seconds since the sampler started, at the end of the window. */
  readonly atS: number;
  readonly rssBytes: number;
  /** heapUsed after a full GC: what the process still holds. */
  readonly heapBytes: number;
  readonly externalBytes: number;
  /** Event-loop delay over the window, ms. */
  readonly loopP99Ms: number;
  readonly loopMaxMs: number;
  /** CPU time (user + system) over the window, as a share of one core (1 = one core busy). */
  readonly cpu: number;
  /** Garbage-collection pauses in the window (the sampler's own forced ones left out): total and longest, ms. */
  readonly gcMs: number;
  readonly gcMaxMs: number;
}

/** A running sampler; `stop` takes no final sample. */
export interface ProcessSampler {
  readonly samples: readonly ProcessSample[];
  stop(): void;
}


const PROBE_MS = 10;

/**
 * Records how late a PROBE_MS timer fires. `catchUp` records the lateness of a tick that is due but
 * has not run (the loop was busy up to now); `restart` starts a new interval, not counting the time before it.
 */
function loopProbe(): { readonly delay: RecordableHistogram; catchUp(): void; restart(): void; stop(): void } {
  const delay = createHistogram();
  let due = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    due = performance.now() + PROBE_MS;
    timer = setTimeout(tick, PROBE_MS);
  };
  const record = (): void => delay.record(Math.max(1, Math.round((performance.now() - due) * 1e6)));
  const tick = (): void => {
    record();
    arm();
  };
  arm();
  return {
    delay,
    catchUp() {
      if (performance.now() > due) record();
    },
    restart() {
      clearTimeout(timer);
      arm();
    },
    stop() {
      clearTimeout(timer);
    },
  };
}

/** Sums the process's GC pauses until `take` reads and clears them; forced collections (the sampler's) are not counted. */
function gcPauses(): { take(): { totalMs: number; maxMs: number }; stop(): void } {
  let totalMs = 0;
  let maxMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const flags = (e as { detail?: { flags?: number } }).detail?.flags ?? 0;
      if (flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) continue;
      totalMs += e.duration;
      maxMs = Math.max(maxMs, e.duration);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    take() {
      const r = { totalMs, maxMs };
      totalMs = 0;
      maxMs = 0;
      return r;
    },
    stop() {
      observer.disconnect();
    },
  };
}

/** Samples every `everyMs`, handing each sample to `onSample` as well. */
export function startSampler(everyMs: number, onSample: (s: ProcessSample) => void = () => {}): ProcessSampler {
  const gc = exposeGc();
  const pauses = gcPauses();
  const probe = loopProbe();
  const delay = probe.delay;
  const samples: ProcessSample[] = [];
  const started = performance.now();
  let cpuAt = process.cpuUsage();
  let windowAt = started;
  const timer = setInterval(() => {
    probe.catchUp();
    const loopP99Ms = delay.percentile(99) / 1e6;
    const loopMaxMs = delay.max / 1e6;
    const cpu = process.cpuUsage(cpuAt);
    const collected = pauses.take();
    const now = performance.now();
    gc();
    gc();
    const m = process.memoryUsage();
    // The collection forced here is the sampler's own pause: it is kept out of the next window.
    delay.reset();
    probe.restart();
    cpuAt = process.cpuUsage();
    const s: ProcessSample = {
      atS: (now - started) / 1000,
      rssBytes: m.rss,
      heapBytes: m.heapUsed,
      externalBytes: m.external,
      loopP99Ms,
      loopMaxMs,
      cpu: (cpu.user + cpu.system) / 1000 / (now - windowAt),
      gcMs: collected.totalMs,
      gcMaxMs: collected.maxMs,
    };
    windowAt = performance.now();
    samples.push(s);
    onSample(s);
  }, everyMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      probe.stop();
      pauses.stop();
    },
  };
}
