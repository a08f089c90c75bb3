/**
 * The host-namespace side of an in-namespace driver (driver-main.ts): starts it inside a
 * namespace, waits until its socket answers, and offers typed calls for requests, TCP connects
 * and name look-ups made from inside that namespace.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../envoy/binary.js';
import type { ConnectResult, RequestResult, RequestsSpec, ResolveResult } from './driver-protocol.js';
import { localRequest } from './local-http.js';
import { spawnInNamespace, type NsProcess } from './process.js';

/** How long startDriver waits for the driver's socket to answer by default. */
export const DRIVER_READY_MS = 5000;

/** The compiled driver program (tests run from source, but the driver runs under plain node). */
export function driverMainPath(): string {
  const file = path.join(repoRoot(), 'dist', 'src', 'netsim', 'driver-main.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
  return file;
}

export interface StartDriverOptions {
  readonly netns: string;
  readonly socketPath: string;
  readonly logFile: string;
  readonly uid?: number;
  readonly readyTimeoutMs?: number;
}

/** A driver running in a namespace; every call is bounded by the requests' own timeouts plus a margin. */
export class Driver {
  constructor(
    readonly socketPath: string,
    readonly process: NsProcess,
  ) {}

  private async call<T>(method: string, urlPath: string, body: unknown, timeoutMs: number): Promise<T> {
    const res = await localRequest({ socketPath: this.socketPath }, method, urlPath, {
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      timeoutMs,
    });
    const answer = JSON.parse(res.body) as T & { error?: string };
    if (res.status !== 200) throw new Error(`driver ${urlPath}: ${answer.error ?? res.body}`);
    return answer;
  }

  /** Performs `spec.count` requests from inside the namespace; one result per request, in order. */
  async requests(spec: RequestsSpec): Promise<RequestResult[]> {
    const count = spec.count ?? 1;
    const rounds = Math.ceil(count / Math.max(1, Math.min(spec.concurrency ?? 1, count)));
    const bound = rounds * (spec.timeoutMs ?? 2000) + 5000;
    return (await this.call<{ results: RequestResult[] }>('POST', '/requests', spec, bound)).results;
  }

  /** One request from inside the namespace. */
  async request(url: string, opts: Omit<RequestsSpec, 'url' | 'count' | 'concurrency'> = {}): Promise<RequestResult> {
    const [result] = await this.requests({ ...opts, url, count: 1 });
    return result!;
  }

  /** One TCP connection attempt from inside the namespace. */
  connect(host: string, port: number, timeoutMs = 2000): Promise<ConnectResult> {
    return this.call('POST', '/connect', { host, port, timeoutMs }, timeoutMs + 5000);
  }

  /** The addresses a name resolves to inside the namespace (hosts file first). */
  resolve(name: string): Promise<ResolveResult> {
    return this.call('GET', `/resolve?name=${encodeURIComponent(name)}`, undefined, 5000);
  }

  /** Repeats a request until it answers `status` (default 200), for servers still starting; throws with the last result after `timeoutMs`. */
  async waitForHttp(url: string, opts: { timeoutMs?: number; status?: number; headers?: Readonly<Record<string, string>> } = {}): Promise<RequestResult> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    let last: RequestResult | undefined;
    while (Date.now() < deadline) {
      last = await this.request(url, { timeoutMs: 1000, ...(opts.headers ? { headers: opts.headers } : {}) });
      if (last.status === (opts.status ?? 200)) return last;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${url} did not answer ${opts.status ?? 200} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
  }

  /** Stops the driver process. */
  async close(): Promise<void> {
    await this.process.stop(2000);
  }
}

/** Starts a driver in `opts.netns` listening on `opts.socketPath`; rejects with its log tail if it does not answer in time. */
export async function startDriver(opts: StartDriverOptions): Promise<Driver> {
  const proc = spawnInNamespace(process.execPath, [driverMainPath(), '--socket', opts.socketPath], {
    netns: opts.netns,
    logFile: opts.logFile,
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
  });
  const driver = new Driver(opts.socketPath, proc);
  const timeoutMs = opts.readyTimeoutMs ?? DRIVER_READY_MS;
  const deadline = Date.now() + timeoutMs;
  let last = 'socket not created';
  while (Date.now() < deadline) {
    if (proc.exitStatus()) {
      throw new Error(`driver in ${opts.netns} ended (${proc.describeExit()}) before answering; log:\n${proc.logTail(30)}`);
    }
    if (existsSync(opts.socketPath)) {
      try {
        await localRequest({ socketPath: opts.socketPath }, 'GET', '/health', { timeoutMs: 1000 });
        return driver;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  await proc.stop(1000);
  throw new Error(`driver in ${opts.netns} did not answer on ${opts.socketPath} within ${timeoutMs} ms (${last}); log:\n${proc.logTail(30)}`);
}
