/**
 * fan-out: N ADS streams (simulated proxies in a separate process, ~100 streams per HTTP/2
 * connection) each subscribed to one EDS resource. Measures the time from one endpoint change to
 * the last ACK, and the server's heap+external memory per idle stream, against a minimal grpc-js
 * server writing the same pre-encoded bytes to the same N streams.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nextMessage, stop } from '../forked.js';
import type { BenchRow, BenchScenario } from '../types.js';
import type { ClientsToRunner, FanoutServerMode, RunnerToServer, ServerToRunner } from '../fanout-protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const SERVER = join(here, '..', 'fanout-server.js');
const CLIENTS = join(here, '..', 'fanout-clients.js');
const PER_CONNECTION = 100;
const CHANGES = 3;

interface RunResult {
  /** Median of CHANGES measurements, ms. */
  convergeMs: number;
  /** heap+external per idle stream, bytes. */
  bytesPerStream: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function runOnce(mode: FanoutServerMode, n: number, debounceMs: number): Promise<RunResult> {
  let server: ChildProcess | undefined;
  let clients: ChildProcess | undefined;
  try {
    server = fork(SERVER, [mode, String(debounceMs)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, CROSSMESH_LOG_LEVEL: 'error' } });
    const listening = await nextMessage<Extract<ServerToRunner, { type: 'listening' }>>(server, 30_000, `${mode} server start`);
    clients = fork(CLIENTS, [String(listening.port), String(n), String(PER_CONNECTION)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const ready = await nextMessage<Extract<ClientsToRunner, { type: 'ready' }>>(clients, 120_000, `${n} streams to connect`);
    console.error(`    ${mode}${mode === 'crossmesh' ? ` (debounce ${debounceMs} ms)` : ''}: ${ready.streams} streams connected in ${ready.ms.toFixed(0)} ms`);
    await new Promise((r) => setTimeout(r, 500));
    server.send({ type: 'measure-idle' } satisfies RunnerToServer);
    const mem = await nextMessage<Extract<ServerToRunner, { type: 'memory' }>>(server, 30_000, 'idle memory');
    if (mem.streams !== n) throw new Error(`${mode} server holds ${mem.streams} streams, expected ${n}`);
    const times: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      server.send({ type: 'change', expectedAcks: n, timeoutMs: 20_000 } satisfies RunnerToServer);
      const done = await nextMessage<Extract<ServerToRunner, { type: 'converged' }>>(server, 25_000, `change ${i + 1} to reach ${n} streams`);
      times.push(done.ms);
      await new Promise((r) => setTimeout(r, 300));
    }
    console.error(`      change → last ACK: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    return { convergeMs: median(times), bytesPerStream: (mem.memoryBytes - listening.memoryBytes) / n };
  } finally {
    await stop(clients);
    await stop(server);
  }
}

export const scenario: BenchScenario = {
  name: 'fan-out',
  description: 'one EDS change to N ADS streams (N = 1,000 and 5,000): change → last ACK, and memory per idle stream, vs a minimal grpc-js server',
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    for (const n of [1000, 5000]) {
      const base = await runOnce('baseline', n, 0);
      const cm = await runOnce('crossmesh', n, 0);
      const cmDebounced = await runOnce('crossmesh', n, 100);
      const ratio = cm.convergeMs / base.convergeMs;
      rows.push({
        scenario: 'fan-out',
        metric: `N=${n} change→last ACK (debounce 0)`,
        value: cm.convergeMs,
        baseline: base.convergeMs,
        unit: 'ms',
        target: n === 5000 ? '< 2x baseline, < 1000 ms' : '< 2x baseline',
        pass: ratio < 2 && (n !== 5000 || cm.convergeMs < 1000),
      });
      rows.push({
        scenario: 'fan-out',
        metric: `N=${n} change→last ACK (default 100 ms debounce)`,
        value: cmDebounced.convergeMs,
        baseline: base.convergeMs,
        unit: 'ms',
        target: '< 1000 ms (includes the 100 ms window)',
        pass: cmDebounced.convergeMs < 1000,
      });
      rows.push({
        scenario: 'fan-out',
        metric: `N=${n} memory per idle stream (heap+external)`,
        value: cm.bytesPerStream / 1024,
        baseline: base.bytesPerStream / 1024,
        unit: 'KiB',
        target: '< 20 KiB',
        pass: cm.bytesPerStream < 20 * 1024,
      });
    }
    return rows;
  },
};
