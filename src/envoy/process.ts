/**
 * One Envoy process of the test data plane, started from a bootstrap file, optionally inside a
 * network namespace and as another uid (a captured pod's Envoy runs as 1337 so capture rules can
 * exclude its own traffic). Envoy gets `--disable-hot-restart` (many Envoys share the machine),
 * `--concurrency 1` and a `--log-path` in its work directory, which is owned by its uid.
 * waitReady() polls the admin `/ready` until LIVE; if Envoy exits first or is not ready in time,
 * the error carries the last lines of its log, so a bad bootstrap is a readable failure, not a hang.
 */
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { spawnInNamespace, tailFile, type ExitStatus, type NsProcess } from '../netsim/process.js';
import { EnvoyAdmin, type AdminTarget } from './admin.js';
import { envoyMissingMessage, findEnvoy } from './binary.js';

export interface EnvoyStartOptions {
  /** The bootstrap as an object (written as JSON) or YAML/JSON text, written to `<workDir>/bootstrap.yaml`. */
  readonly bootstrap?: object | string;
  /** Or an existing bootstrap file (it must be readable by `uid`). */
  readonly bootstrapPath?: string;
  /** Directory for the log, the written bootstrap and whatever the bootstrap puts there (e.g. the admin socket); created and owned by `uid`. Default: a fresh temporary one. */
  readonly workDir?: string;
  /** Network namespace to run in; the admin must then be a unix socket (`admin.address.pipe.path`). */
  readonly netns?: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Default `info`. */
  readonly logLevel?: string;
  /** `--component-log-level`, e.g. `upstream:debug,connection:trace`. */
  readonly componentLogLevel?: string;
  /** Default: findEnvoy(). */
  readonly envoyPath?: string;
  readonly extraArgs?: readonly string[];
  /** Where the admin listens; default: read from the bootstrap's `admin.address`. */
  readonly admin?: AdminTarget;
  readonly env?: NodeJS.ProcessEnv;
}

/** How long waitReady waits by default. */
export const ENVOY_READY_MS = 15_000;
/** How long stop() waits after SIGTERM before SIGKILL by default. */
export const ENVOY_STOP_GRACE_MS = 5000;
/** Log lines an error message carries. */
const TAIL_LINES = 30;

interface BootstrapAdmin {
  admin?: { address?: { pipe?: { path?: string }; socket_address?: { address?: string; port_value?: number } } };
}

/** The admin endpoint a bootstrap declares, or undefined if it has none usable (no admin, or port 0). */
export function adminTargetOf(bootstrapText: string): AdminTarget | undefined {
  const address = (parseYaml(bootstrapText) as BootstrapAdmin | null)?.admin?.address;
  if (address?.pipe?.path) return { socketPath: address.pipe.path };
  const sa = address?.socket_address;
  if (sa?.address && sa.port_value) return { host: sa.address, port: sa.port_value };
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A started Envoy; see startEnvoy. */
export class EnvoyProcess {
  /** The admin client (from the bootstrap's admin address, or `opts.admin`). */
  readonly admin: EnvoyAdmin;

  constructor(
    readonly process: NsProcess,
    readonly workDir: string,
    /** Envoy's own log (`--log-path`). */
    readonly logFile: string,
    /** Envoy's stdout/stderr (what it prints before the log is open). */
    readonly outputFile: string,
    admin: AdminTarget,
  ) {
    this.admin = new EnvoyAdmin(admin, 2000);
  }

  get pid(): number {
    return this.process.pid;
  }

  /** The last `lines` lines of Envoy's log, then of its stdout/stderr if it wrote any. */
  logTail(lines = TAIL_LINES): string {
    const log = tailFile(this.logFile, lines);
    const out = tailFile(this.outputFile, lines);
    return out ? `${log}\n--- stdout/stderr ---\n${out}` : log;
  }

  /** Resolves once `/ready` answers LIVE; rejects, with the log tail, if Envoy exits or `timeoutMs` passes. */
  async waitReady(timeoutMs = ENVOY_READY_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'admin not answering';
    while (Date.now() < deadline) {
      if (this.process.exitStatus()) {
        throw new Error(`envoy (pid ${this.pid}) ended before ready: ${this.process.describeExit()}; last log lines:\n${this.logTail()}`);
      }
      try {
        const { ready, state } = await this.admin.ready();
        if (ready) return;
        last = `state ${state}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await Promise.race([sleep(50), this.process.exited]);
    }
    throw new Error(`envoy (pid ${this.pid}) not ready within ${timeoutMs} ms (${last}); last log lines:\n${this.logTail()}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
  stop(graceMs = ENVOY_STOP_GRACE_MS): Promise<ExitStatus> {
    return this.process.stop(graceMs);
  }
}

/** Starts Envoy (it is not ready yet: call waitReady); throws if no Envoy binary is found or the bootstrap names no reachable admin. */
export function startEnvoy(opts: EnvoyStartOptions): EnvoyProcess {
  const envoy = opts.envoyPath ?? findEnvoy()?.path;
  if (!envoy) throw new Error(envoyMissingMessage());
  if ((opts.bootstrap === undefined) === (opts.bootstrapPath === undefined)) throw new Error('startEnvoy: give exactly one of bootstrap, bootstrapPath');
  const workDir = opts.workDir ?? mkdtempSync(path.join(os.tmpdir(), 'crossmesh-envoy-'));
  mkdirSync(workDir, { recursive: true, mode: 0o755 });
  const uid = opts.uid;
  const gid = opts.gid ?? uid;
  const own = (file: string): void => {
    if (uid !== undefined) chownSync(file, uid, gid!);
  };
  own(workDir);
  let bootstrapPath = opts.bootstrapPath;
  if (!bootstrapPath) {
    bootstrapPath = path.join(workDir, 'bootstrap.yaml');
    writeFileSync(bootstrapPath, typeof opts.bootstrap === 'string' ? opts.bootstrap : JSON.stringify(opts.bootstrap, null, 2), { mode: 0o644 });
  }
  const admin = opts.admin ?? adminTargetOf(readFileSync(bootstrapPath, 'utf8'));
  if (!admin) throw new Error(`startEnvoy: ${bootstrapPath} has no admin address with a fixed port or pipe path, and no admin option was given`);
  if (opts.netns && !('socketPath' in admin) && !opts.admin) {
    throw new Error(`startEnvoy: Envoy in namespace ${opts.netns} needs its admin on a unix socket (admin.address.pipe.path) to be reachable from here`);
  }
  const logFile = path.join(workDir, 'envoy.log');
  const outputFile = path.join(workDir, 'envoy.out');
  for (const file of [logFile, outputFile]) {
    if (!existsSync(file)) writeFileSync(file, '', { mode: 0o644 });
    own(file);
  }
  const args = [
    '-c', bootstrapPath,
    '--disable-hot-restart',
    '--concurrency', '1',
    '-l', opts.logLevel ?? 'info',
    '--log-path', logFile,
    // The log is flushed every 10 s by default: too late for a log tail in an error message.
    '--file-flush-interval-msec', '100',
    ...(opts.componentLogLevel ? ['--component-log-level', opts.componentLogLevel] : []),
    ...(opts.extraArgs ?? []),
  ];
  const proc = spawnInNamespace(envoy, args, {
    logFile: outputFile,
    ...(opts.netns ? { netns: opts.netns } : {}),
    ...(uid !== undefined ? { uid, gid: gid! } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    cwd: workDir,
  });
  return new EnvoyProcess(proc, workDir, logFile, outputFile, admin);
}
