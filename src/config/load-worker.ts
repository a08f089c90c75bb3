/**
 * Configuration loading on a worker thread, so that parsing and validating a large or
 * pathological file never stalls the event loop that serves xDS (issue 16: a 40,000-key mapping
 * once held every ADS stream for 87 s). The main-thread side is `ConfigLoadWorker`; this same
 * module, started as a worker, answers its requests with `loadConfig`. The result (plain data:
 * arrays, Maps, objects) is structured-cloned back, errors with their file:line as ever.
 */
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { log } from '../log.js';
import type { ConfigError } from './diagnostics.js';
import type { InlineDocument } from './loader.js';
import type { LoadResult } from './mesh-config.js';

const WORKER_MARK = 'crossmesh-config-loader';

interface LoadRequest {
  readonly id: number;
  readonly paths: readonly string[];
  readonly documents: readonly InlineDocument[];
}

type LoadReply = { readonly id: number; readonly result: LoadResult } | { readonly id: number; readonly error: string };

export interface ConfigLoadWorkerOptions {
  /** A load taking longer is abandoned (the worker is stopped and replaced) and reported as an error (default 60 s). */
  readonly timeoutMs?: number;
  /** Old-generation heap of the worker; a file needing more ends that load with an error, not the process (default 2048 MiB). */
  readonly maxHeapMb?: number;
}

/**
 * The compiled worker script. Run from `dist/` it is this file; under the test runner (TypeScript
 * sources) the build's copy, which `npm test` builds first.
 */
function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return here;
  const marker = `${sep}src${sep}config${sep}`;
  const root = here.slice(0, here.lastIndexOf(marker));
  return join(root, 'dist', 'src', 'config', 'load-worker.js');
}

/** Loads configuration on a long-lived worker thread (started on first use, replaced if it dies or hangs). */
export class ConfigLoadWorker {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: LoadResult) => void; paths: readonly string[]; timer: NodeJS.Timeout }>();
  private readonly timeoutMs: number;
  private readonly maxHeapMb: number;
  private closed = false;

  constructor(options: ConfigLoadWorkerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxHeapMb = options.maxHeapMb ?? 2048;
  }

  /** Loads `paths` (and inline `documents`) off the main thread; never rejects: a worker failure is a LoadResult with an error. */
  load(paths: readonly string[], documents: readonly InlineDocument[] = []): Promise<LoadResult> {
    if (this.closed) return Promise.resolve(failure(paths, 'the configuration loader is closed'));
    const worker = this.ensureWorker();
    const id = ++this.nextId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        log.error({ paths, timeoutMs: this.timeoutMs }, 'configuration load timed out; restarting the loader worker');
        this.stopWorker(`loading the configuration took longer than ${this.timeoutMs / 1000} s and was abandoned`);
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, paths, timer });
      worker.postMessage({ id, paths: [...paths], documents: [...documents] } satisfies LoadRequest);
    });
  }

  /** Stops the worker; loads still pending resolve with an error. */
  close(): void {
    this.closed = true;
    this.stopWorker('the configuration loader was closed');
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(workerScript(), {
      workerData: { mark: WORKER_MARK },
      resourceLimits: { maxOldGenerationSizeMb: this.maxHeapMb },
    });
    // An idle loader must not keep a process alive that has nothing else to do.
    worker.unref();
    worker.on('message', (reply: LoadReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      p.resolve('result' in reply ? reply.result : failure(p.paths, `loading the configuration failed: ${reply.error}`));
    });
    worker.on('error', (err) => {
      if (this.worker !== worker) return;
      log.error({ err }, 'configuration loader worker failed');
      this.worker = undefined;
      this.failPending(`the configuration loader failed: ${err.message}`);
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failPending(`the configuration loader exited (code ${code})`);
    });
    this.worker = worker;
    return worker;
  }

  private stopWorker(reason: string): void {
    const worker = this.worker;
    this.worker = undefined;
    this.failPending(reason);
    if (worker) void worker.terminate();
  }

  private failPending(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve(failure(p.paths, reason));
    }
  }
}

/** A LoadResult with one error about the load itself, at the first path. */
function failure(paths: readonly string[], message: string): LoadResult {
  const error: ConfigError = { severity: 'error', file: paths[0] ?? '<config>', line: 1, message };
  return { errors: [error], warnings: [] };
}

/** Worker side: answers each request with loadConfig's result, one at a time. */
async function serveRequests(): Promise<void> {
  const { loadConfig } = await import('./loader.js');
  const port = parentPort!;
  port.on('message', (req: LoadRequest) => {
    loadConfig(req.paths, req.documents ?? []).then(
      (result) => port.postMessage({ id: req.id, result } satisfies LoadReply),
      (err: unknown) => port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies LoadReply),
    );
  });
}

if (!isMainThread && (workerData as { mark?: unknown } | null)?.mark === WORKER_MARK) void serveRequests();
