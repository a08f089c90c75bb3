/**
 * `crossmesh demo [--duration 20s]`: crossmesh with the embedded default mesh and proxyless gRPC
 * traffic on loopback, printed live (see src/demo/run-demo.ts and docs/demo.md). Ends after the
 * duration or on Ctrl-C, having stopped everything it started.
 */
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { runDemo } from '../demo/run-demo.js';
import { log } from '../log.js';

interface DemoFlags {
  duration: string;
  rate: string;
  xdsPort: string;
  adminPort: string;
}

function intFlag(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** Runs the demo with the flags; returns the exit code. */
export async function runDemoCommand(flags: DemoFlags): Promise<number> {
  const d = parseDuration(flags.duration);
  if ('error' in d) throw new Error(`--duration: ${d.error}`);
  if (d.ms < 3000 || d.ms > 3_600_000) throw new Error(`--duration must be between 3s and 1h, got ${JSON.stringify(flags.duration)}`);
  // The live view is the output; crossmesh's own logs only when asked for (CROSSMESH_LOG_LEVEL).
  log.level = process.env.CROSSMESH_LOG_LEVEL ?? 'error';
  const abort = new AbortController();
  const onSignal = (): void => {
    if (abort.signal.aborted) process.exit(130);
    process.stdout.write('\nstopping (Ctrl-C again to exit at once)\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runDemo({
      durationMs: d.ms,
      rate: intFlag(flags.rate, '--rate', 1, 2000),
      xdsPort: intFlag(flags.xdsPort, '--xds-port', 0, 65535),
      adminPort: intFlag(flags.adminPort, '--admin-port', 0, 65535),
      out: (line) => process.stdout.write(`${line}\n`),
      signal: abort.signal,
    });
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Adds `crossmesh demo`. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('run the default mesh with proxyless gRPC workloads on loopback and show live where traffic goes (traffic split, locality failover, recovery)')
    .option('--duration <duration>', 'how long to run (e.g. 20s, 2m)', '20s')
    .option('--rate <rps>', 'RPCs per second the demo client sends', '50')
    .option('--xds-port <port>', 'xDS port (0 = any free port)', '0')
    .option('--admin-port <port>', 'admin HTTP port (0 = any free port)', '0')
    .action(async (flags: DemoFlags) => {
      let code = 1;
      try {
        code = await runDemoCommand(flags);
      } catch (e) {
        process.stderr.write(`crossmesh demo: ${e instanceof Error ? e.message : String(e)}\n`);
      }
      // grpc-js keeps idle xDS channels referenced for a while; everything the demo started is closed.
      process.exit(code);
    });
}
