/**
 * Processes of the simulation: any command started inside a network namespace (`ip netns exec`)
 * and, when asked, as another uid (`setpriv`; Envoy in a captured pod runs as 1337 so capture
 * rules can exclude it). Both tools exec their command, so the pid is the command's own. Each
 * process leads its own process group with stdout and stderr in a log file, and is killed with
 * its group on stop(), on its simulation's close() and, as a last resort, on process exit.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { onProcessExit } from './last-resort.js';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the command could not be started at all (e.g. ENOENT). */
  readonly error?: string;
}

export interface SpawnOptions {
  /** Network namespace to run in (`ip netns exec`); omitted: the caller's. */
  readonly netns?: string;
  /** Run as this uid (gid defaults to the same number); omitted: as the caller. */
  readonly uid?: number;
  readonly gid?: number;
  /** Environment of the command (default: the caller's). */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** File that receives stdout and stderr (appended). */
  readonly logFile: string;
}

/** How long stop() waits after SIGTERM before SIGKILL, unless told otherwise. */
export const STOP_GRACE_MS = 3000;

/** The last `lines` lines of a text file ('' if it does not exist). */
export function tailFile(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  const all = text.split('\n');
  if (all[all.length - 1] === '') all.pop();
  return all.slice(-lines).join('\n');
}

/** The argv that runs `command args` in `netns` as `uid`: `ip netns exec NS setpriv ... -- command args`. */
export function namespacedArgv(command: string, args: readonly string[], opts: Pick<SpawnOptions, 'netns' | 'uid' | 'gid'>): string[] {
  const argv: string[] = [];
  if (opts.netns) argv.push('ip', 'netns', 'exec', opts.netns);
  if (opts.uid !== undefined) argv.push('setpriv', `--reuid=${opts.uid}`, `--regid=${opts.gid ?? opts.uid}`, '--clear-groups', '--');
  argv.push(command, ...args);
  return argv;
}

/** A running (or finished) command; see spawnInNamespace. */
export class NsProcess {
  readonly pid: number;
  /** Resolves once the process is gone, never rejects. */
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  private readonly unregister: () => void;

  constructor(
    readonly argv: readonly string[],
    readonly logFile: string,
    opts: SpawnOptions,
  ) {
    const log = openSync(logFile, 'a');
    const [cmd, ...rest] = argv as [string, ...string[]];
    const child = spawn(cmd, rest, { detached: true, stdio: ['ignore', log, log], env: opts.env ?? process.env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    closeSync(log);
    this.pid = child.pid ?? -1;
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.status ??= { code: null, signal: null, error: err.message };
        resolve(this.status);
      });
      child.once('exit', (code, signal) => {
        this.status ??= { code, signal };
        resolve(this.status);
      });
    });
    this.unregister = onProcessExit(() => this.kill('SIGKILL'));
    void this.exited.then(() => this.unregister());
  }

  /** The exit status if the process has ended, else undefined. */
  exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /** Sends `signal` to the process group (ignored if it is already gone). */
  kill(signal: NodeJS.Signals): void {
    if (this.pid <= 0 || this.status) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves with the exit status. */
  async stop(graceMs = STOP_GRACE_MS): Promise<ExitStatus> {
    if (this.status) return this.status;
    this.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, forced]);
    clearTimeout(timer);
    return this.exited;
  }

  /** The last `lines` lines of the process's log file. */
  logTail(lines = 30): string {
    return tailFile(this.logFile, lines);
  }

  /** One line describing the exit, e.g. `exit code 1` or `killed by SIGKILL`. */
  describeExit(): string {
    const s = this.status;
    if (!s) return 'still running';
    if (s.error) return `could not start: ${s.error}`;
    return s.signal ? `killed by ${s.signal}` : `exit code ${String(s.code)}`;
  }
}

/** Starts `command args` in `opts.netns` as `opts.uid`, its output appended to `opts.logFile`. */
export function spawnInNamespace(command: string, args: readonly string[], opts: SpawnOptions): NsProcess {
  return new NsProcess(namespacedArgv(command, args, opts), opts.logFile, opts);
}
