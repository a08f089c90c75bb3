/**
 * The proxyless clients tested besides grpc-js-xds, run as child processes the way they are
 * deployed (one process, one bootstrap in GRPC_XDS_BOOTSTRAP): Python grpcio (gRPC C-core) and
 * grpc-go, both calling `crossmesh.demo.Echo/Who` over `xds:///<target>` with xDS credentials,
 * and both libraries' xDS servers answering it. scripts/install-proxyless-clients.sh installs them
 * under .tools/; the programs are in test/proxyless/python/ and test/proxyless/go/.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { WhoAnswer } from '../src/demo/echo.js';

/** The repository root, from this file's place in src (bench/) or build output (dist/bench/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('proxyless-clients: repository root not found');
    dir = up;
  }
  return dir;
}

/** A client implementation run as a child process. */
export type ExternalImpl = 'grpcio' | 'grpc-go';

const ROOT = repoRoot();
const PYTHON = join(ROOT, '.tools', 'grpcio', 'bin', 'python');
const PY_CLIENT = join(ROOT, 'test', 'proxyless', 'python', 'who_client.py');
const PY_SERVER = join(ROOT, 'test', 'proxyless', 'python', 'who_server.py');
const GO_WHO = join(ROOT, '.tools', 'proxyless-go', 'who');

/** The pinned version of an implementation (from its pin file), for reports. */
export function implVersion(impl: ExternalImpl): string {
  if (impl === 'grpcio') return readFileSync(join(ROOT, 'test', 'proxyless', 'python', 'requirements.txt'), 'utf8').match(/grpcio==(\S+)/)?.[1] ?? '?';
  return readFileSync(join(ROOT, 'test', 'proxyless', 'go', 'go.mod'), 'utf8').match(/google\.golang\.org\/grpc (v\S+)/)?.[1] ?? '?';
}

/** Why an implementation cannot run here (its installed program is missing), or undefined. */
export function implMissing(impl: ExternalImpl): string | undefined {
  const need = impl === 'grpcio' ? PYTHON : GO_WHO;
  if (existsSync(need)) return undefined;
  return `${impl} is not installed (${need} missing; run scripts/install-proxyless-clients.sh)`;
}

/** One RPC as an external client reports it; times are wall-clock ms (Date.now()). */
export type ExternalResult =
  | { readonly ok: true; readonly answer: WhoAnswer; readonly start: number; readonly end: number }
  | { readonly ok: false; readonly code: number; readonly details: string; readonly start: number; readonly end: number };

/** Writes a bootstrap object to `path` (what GRPC_XDS_BOOTSTRAP points at). */
export async function writeBootstrap(path: string, bootstrap: unknown): Promise<string> {
  await writeFile(path, JSON.stringify(bootstrap, null, 2));
  return path;
}

function childEnv(bootstrapPath: string): NodeJS.ProcessEnv {
  // Only the bootstrap varies; a grpc verbosity inherited from a developer's shell would flood stderr.
  const env: NodeJS.ProcessEnv = { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrapPath };
  delete env.GRPC_TRACE;
  delete env.GRPC_VERBOSITY;
  delete env.GRPC_GO_LOG_SEVERITY_LEVEL;
  return env;
}

/** Keeps the last few KB of a child's stderr, for error messages. */
function stderrTail(child: ChildProcessWithoutNullStreams): () => string {
  let tail = '';
  child.stderr.on('data', (d: Buffer) => {
    tail = (tail + d.toString('utf8')).slice(-4000);
  });
  return () => tail.trim();
}

/**
 * An xDS client of one implementation in its own process. `calls` and `call` run RPCs there and
 * return what it reported; `loop` makes it call continuously, feeding `onResult`, until `stopLoop`.
 */
export class ExternalClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: ((line: Record<string, unknown>) => void)[] = [];
  private readonly stderr: () => string;
  private exited: string | undefined;
  private busy: Promise<unknown> = Promise.resolve();
  private onResult: ((r: ExternalResult) => void) | undefined;

  private constructor(
    readonly impl: ExternalImpl,
    target: string,
    bootstrapPath: string,
  ) {
    const [cmd, args] = impl === 'grpcio' ? [PYTHON, ['-u', PY_CLIENT, target]] : [GO_WHO, ['-target', target]];
    this.child = spawn(cmd, args, { env: childEnv(bootstrapPath), stdio: ['pipe', 'pipe', 'pipe'] });
    this.stderr = stderrTail(this.child);
    this.child.on('exit', (code, signal) => {
      this.exited = `${impl} client exited (${code ?? signal})${this.stderr() ? `: ${this.stderr()}` : ''}`;
      for (const w of this.waiting.splice(0)) w({ exited: this.exited });
    });
    this.child.on('error', (e) => {
      this.exited = `${impl} client failed to start: ${e.message}`;
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if ('start' in msg && this.onResult) this.onResult(msg as unknown as ExternalResult);
      else this.waiting.shift()?.(msg);
    });
  }

  /** Its process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Starts a client of `xds:///<target>` with the bootstrap file at `bootstrapPath`. */
  static start(impl: ExternalImpl, target: string, bootstrapPath: string): ExternalClient {
    const missing = implMissing(impl);
    if (missing) throw new Error(missing);
    return new ExternalClient(impl, target, bootstrapPath);
  }

  private next(): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) =>
      this.waiting.push((m) => (m.exited ? reject(new Error(String(m.exited))) : resolve(m))),
    );
  }

  /** `n` RPCs, `concurrency` at a time, each with `timeoutMs`; their results in completion order. */
  calls(n: number, concurrency = 16, timeoutMs = 2000): Promise<ExternalResult[]> {
    const run = async (): Promise<ExternalResult[]> => {
      const results: ExternalResult[] = [];
      this.onResult = (r) => results.push(r);
      try {
        const done = this.next();
        this.child.stdin.write(`call ${n} ${concurrency} ${timeoutMs}\n`);
        await done;
      } finally {
        this.onResult = undefined;
      }
      return results;
    };
    const p = this.busy.then(run, run);
    this.busy = p.catch(() => undefined);
    return p;
  }

  /** One RPC. */
  async call(timeoutMs = 2000): Promise<ExternalResult> {
    const [r] = await this.calls(1, 1, timeoutMs);
    if (!r) throw new Error(`${this.impl} client reported no result`);
    return r;
  }

  /** Calls one at a time, `intervalMs` apart, reporting each result to `onResult`, until `stopLoop`. */
  loop(intervalMs: number, timeoutMs: number, onResult: (r: ExternalResult) => void): void {
    this.onResult = onResult;
    this.child.stdin.write(`loop ${intervalMs} ${timeoutMs}\n`);
  }

  /** Ends the loop; resolves once the client has reported its last RPC. */
  async stopLoop(): Promise<void> {
    if (this.exited) return;
    const done = this.next();
    this.child.stdin.write('stop\n');
    await done;
    this.onResult = undefined;
  }

  /** Stops the process (closing stdin ends it; SIGKILL after 2 s if it does not). */
  close(): Promise<void> {
    return stopChild(this.child);
  }
}

function stopChild(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.stdin.end();
    child.kill('SIGTERM');
  });
}

/** An xDS server of one library answering Who, in its own process. */
export class ExternalXdsServer {
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {}

  /**
   * Starts it on `address:port`. grpc-go: resolves once it reports SERVING (its listener from the
   * control plane arrived and was accepted). grpcio: once its port is bound (it has no
   * serving-status callback; it serves when its listener arrives, which callers wait for with RPCs).
   */
  static async start(impl: ExternalImpl, o: { bootstrapPath: string; address: string; port: number; answer: WhoAnswer; timeoutMs?: number }): Promise<ExternalXdsServer> {
    const missing = implMissing(impl);
    if (missing) throw new Error(missing);
    const answer = JSON.stringify(o.answer);
    const [cmd, args] = impl === 'grpcio' ? [PYTHON, ['-u', PY_SERVER, o.address, String(o.port), answer]] : [GO_WHO, ['-server', '-address', o.address, '-port', String(o.port), '-answer', answer]];
    const child = spawn(cmd, args, { env: childEnv(o.bootstrapPath), stdio: ['pipe', 'pipe', 'pipe'] });
    const stderr = stderrTail(child);
    const server = new ExternalXdsServer(child);
    const timeoutMs = o.timeoutMs ?? 10_000;
    try {
      await new Promise<void>((resolve, reject) => {
        let lastError = '';
        const timer = setTimeout(() => reject(new Error(`${impl} server ${o.answer.workload}: not serving after ${timeoutMs} ms${lastError ? ` (${lastError})` : ''}: ${stderr()}`)), timeoutMs);
        child.on('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`${impl} server ${o.answer.workload} exited (${code}): ${stderr()}`));
        });
        createInterface({ input: child.stdout }).on('line', (line) => {
          try {
            const m = JSON.parse(line) as { serving?: boolean; started?: boolean; error?: string };
            if (m.serving || m.started) {
              clearTimeout(timer);
              resolve();
            } else if (m.error) lastError = m.error;
          } catch {
            // not a status line
          }
        });
      });
    } catch (e) {
      await server.close();
      throw e;
    }
    return server;
  }

  /** Stops the process. */
  close(): Promise<void> {
    return stopChild(this.child);
  }
}
