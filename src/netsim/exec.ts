/**
 * Runs the system commands the simulation is built with (`ip`, `iptables`, `sysctl`) with a time
 * bound, so a stuck command fails the caller instead of hanging it, and an error that names the
 * command line and carries its stderr.
 */
import { execFile, execFileSync } from 'node:child_process';

/** Bound of one system command unless the caller gives another. */
export const COMMAND_TIMEOUT_MS = 10_000;

export interface CommandOptions {
  /** Written to the command's stdin (e.g. an `ip -batch -` script). */
  readonly input?: string;
  readonly timeoutMs?: number;
}

function describe(command: string, args: readonly string[]): string {
  return [command, ...args].join(' ');
}

/** Runs `command args`, resolves with its stdout; rejects naming the command, its exit and stderr. */
export function runCommand(command: string, args: readonly string[], opts: CommandOptions = {}): Promise<string> {
  const timeout = opts.timeoutMs ?? COMMAND_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = execFile(command, [...args], { encoding: 'utf8', timeout, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const why = err.killed ? `timed out after ${timeout} ms` : `exit ${String(err.code ?? err.signal)}`;
      reject(new Error(`${describe(command, args)}: ${why}: ${stderr.trim() || err.message}`));
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The synchronous form of runCommand, for process-exit handlers that cannot wait on promises. */
export function runCommandSync(command: string, args: readonly string[], opts: CommandOptions = {}): string {
  const timeout = opts.timeoutMs ?? COMMAND_TIMEOUT_MS;
  try {
    return execFileSync(command, [...args], {
      encoding: 'utf8', timeout, killSignal: 'SIGKILL', stdio: ['pipe', 'pipe', 'pipe'], ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${describe(command, args)}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}
