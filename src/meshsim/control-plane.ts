/**
 * crossmesh itself as a child process (`crossmesh serve`), as a user runs it: the simulation's
 * Envoys reach it over a unix socket (a file path crosses network namespaces), tests read its
 * admin port on loopback, and it can be killed and started again on the same CA and sockets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../envoy/binary.js';

export interface ControlPlaneSpec {
  /** `--config` paths (files or directories). */
  readonly config: readonly string[];
  readonly caDir: string;
  /** Where the xDS socket and the log go. */
  readonly workDir: string;
  readonly debounceMs?: number;
  /** Extra `serve` flags. */
  readonly extraArgs?: readonly string[];
}

/** Wall-clock times of one start. */
export interface StartTimes {
  readonly spawnedAt: number;
  readonly readyAt: number;
}

/** Bound of a start: the mesh loaded and `/readyz` answering 200 (2-5 s alone; far more on a loaded 2-core machine). */
const READY_MS = 45_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A running (or restartable) `crossmesh serve`. */
export class ControlPlaneProcess {
  private child: ChildProcess | undefined;
  private starts = 0;
  private lastStartTimes: StartTimes | undefined;
  readonly xdsSocket: string;
  readonly logFile: string;

  private constructor(
    private readonly spec: ControlPlaneSpec,
    readonly adminPort: number,
    readonly xdsPort: number,
  ) {
    this.xdsSocket = join(spec.workDir, 'xds.sock');
    this.logFile = join(spec.workDir, 'crossmesh.log');
  }

  /** Starts `crossmesh serve` and waits until it is ready. */
  static async start(spec: ControlPlaneSpec): Promise<ControlPlaneProcess> {
    const cp = new ControlPlaneProcess(spec, await freePort(), await freePort());
    await cp.restart();
    return cp;
  }

  /** `unix:<path>`, what bootstraps name as the xDS address. */
  get xdsAddress(): string {
    return `unix:${this.xdsSocket}`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  /** The last lines of its log, for failure messages. */
  logTail(lines = 30): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').split('\n').slice(-lines - 1).join('\n') : '(no log)';
  }

  /** Starts it (again) with the same ports, CA and socket; resolves when `/readyz` answers 200. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('crossmesh is still running: kill() it first');
    const main = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
    const args = [main, 'serve', ...this.spec.config.flatMap((c) => ['--config', c]), '--ca-dir', this.spec.caDir, '--xds-port', String(this.xdsPort), '--admin-port', String(this.adminPort), '--xds-socket', this.xdsSocket, '--debounce-ms', String(this.spec.debounceMs ?? 100), ...(this.spec.extraArgs ?? [])];
    const fd = openSync(this.logFile, 'a');
    this.starts++;
    const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, CROSSMESH_LOG_LEVEL: process.env.CROSSMESH_LOG_LEVEL ?? 'info' } });
    closeSync(fd);
    const spawnedAt = Date.now();
    this.child = child;
    let exited: string | undefined;
    child.once('exit', (code, signal) => {
      exited = `exited (${signal ?? code})`;
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + READY_MS;
    for (;;) {
      if (exited) throw new Error(`crossmesh serve ${exited} before it was ready:\n${this.logTail()}`);
      const ok = await fetch(`${this.adminUrl}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ok && existsSync(this.xdsSocket)) break;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`crossmesh serve not ready within ${READY_MS} ms:\n${this.logTail()}`);
      }
      await sleep(100);
    }
    // Envoys run as their own uid; the socket is as reachable as the port it stands beside.
    chmodSync(this.xdsSocket, 0o666);
    this.lastStartTimes = { spawnedAt, readyAt: Date.now() };
  }

  /** When the last start spawned the process, and when it was seen ready with its socket open to the Envoys (ms since the epoch; polled every 100 ms). */
  get lastStart(): StartTimes | undefined {
    return this.lastStartTimes;
  }

  /** The process id of the running `crossmesh serve` (undefined while it is not running). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** How many times it was started. */
  get startCount(): number {
    return this.starts;
  }

  /** Ends it with `signal` (SIGKILL: a crash) and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
    this.child = undefined;
  }

  /** GET an admin path as JSON. */
  async adminJson<T>(path: string): Promise<T> {
    const r = await fetch(`${this.adminUrl}${path}`, { signal: AbortSignal.timeout(5000) });
    if (!r.ok) throw new Error(`crossmesh admin ${path}: HTTP ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  }
}
