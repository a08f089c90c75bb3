/**
 * Last-resort cleanup: namespaces, bridges and detached processes outlive a Node process that
 * exits without closing them (a test worker that is torn down, Ctrl-C on a script). Cleanups
 * registered here run synchronously on 'exit' and on SIGINT/SIGTERM/SIGHUP (which then exit
 * with 128+signal). They are a safety net only: callers close in afterAll/finally.
 */
import { constants } from 'node:os';

type Cleanup = () => void;

const cleanups = new Set<Cleanup>();
let installed = false;

function runAll(): void {
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {
      // Best effort: the next harness start removes what is left (cleanupLeftovers).
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runAll();
      process.exit(128 + (constants.signals[signal] ?? 0));
    });
  }
}

/** Registers a synchronous cleanup for process exit; returns its unregistration. */
export function onProcessExit(fn: Cleanup): () => void {
  install();
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}
