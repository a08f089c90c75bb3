/**
 * "convergence-clients": the convergence benchmark's change (one endpoint marked UNHEALTHY in the
 * model, then restored) with three proxyless client libraries side by side under the very same
 * EDS pushes: 10 grpc-js-xds clients in this process, as many Python grpcio (gRPC C-core) and as
 * many grpc-go clients in processes of their own (CONVERGENCE_CLIENTS_PER_LIBRARY changes the 10),
 * 4 XdsServer endpoints, 10 repetitions. Per library: RPCs failed per change (summed over its
 * clients), new connections its clients opened to the endpoints per change (from `ss`: a library
 * that rebuilds its subchannels on an update reconnects to the endpoints that did not change),
 * when its slowest client stopped sending to the endpoint, when all its clients had ACKed the EDS
 * update, and RPCs that reached the endpoint afterwards. Whether failed RPCs follow from what
 * crossmesh sends or from one client library is what the side-by-side answers
 * (docs/proxyless.md). Baseline: the cache's debounce window.
 */
import { execFileSync } from 'node:child_process';
import { implMissing, implVersion, type ExternalImpl } from '../proxyless-clients.js';
import { startConvergenceMesh } from '../convergence-mesh.js';
import type { BenchRow, BenchScenario } from '../types.js';

// CONVERGENCE_CLIENTS_PER_LIBRARY scales the run up (e.g. to load the grpc-js process as the 50-client scenario does).
const PER_LIBRARY = Number(process.env.CONVERGENCE_CLIENTS_PER_LIBRARY ?? 10);
const ENDPOINTS = 4;
const REPETITIONS = 10;
const DEBOUNCE_MS = 100;
const EXTERNAL: readonly ExternalImpl[] = ['grpcio', 'grpc-go'];

/**
 * The client side of every established TCP connection to an endpoint, by library (from `ss`'s
 * owning process): new entries between two samples are connections a client opened meanwhile.
 * Undefined when `ss` cannot be run.
 */
function endpointConnections(ports: readonly number[], libraryByPid: ReadonlyMap<number, string>): Map<string, string> | undefined {
  let out: string;
  try {
    out = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8', timeout: 5000 });
  } catch {
    return undefined;
  }
  const conns = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [, , local, peer, users] = line.trim().split(/\s+/);
    const peerPort = Number(peer?.split(':').pop());
    const pid = Number(users?.match(/pid=(\d+)/)?.[1]);
    const lib = libraryByPid.get(pid);
    if (lib && ports.includes(peerPort) && peer?.startsWith('127.0.1.')) conns.set(`${local}>${peer}`, lib);
  }
  return conns;
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((s.length * p) / 100) - 1))]!;
}

export const scenario: BenchScenario = {
  name: 'convergence-clients',
  description: `${PER_LIBRARY} clients each of grpc-js-xds, grpcio and grpc-go, ${ENDPOINTS} endpoints: RPCs failed per endpoint change, per library`,
  async run(): Promise<BenchRow[]> {
    const missing = EXTERNAL.map(implMissing).filter(Boolean);
    if (missing.length) throw new Error(missing.join('; '));
    const mesh = await startConvergenceMesh({ clients: PER_LIBRARY, endpoints: ENDPOINTS, debounceMs: DEBOUNCE_MS, external: EXTERNAL.map((impl) => ({ impl, count: PER_LIBRARY })) });
    const libs = ['grpc-js', ...EXTERNAL];
    const per = new Map(libs.map((l) => [l, { failed: [] as number[], stopped: [] as number[], acked: [] as number[], opened: [] as number[] }]));
    const debounce: number[] = [];
    try {
      await mesh.warmUp(30_000);
      for (let rep = 0; rep < REPETITIONS; rep++) {
        const before = endpointConnections(mesh.endpointPorts, mesh.libraryByPid);
        const r = await mesh.takeOutAndMeasure(rep % ENDPOINTS, 15_000);
        const after = endpointConnections(mesh.endpointPorts, mesh.libraryByPid);
        debounce.push(r.debounceMs);
        for (const lib of libs) {
          const mine = (c: number) => mesh.impls[c] === lib;
          const m = per.get(lib)!;
          m.failed.push(r.failures.filter((f) => mine(f.client)).length);
          const clients = r.clients.filter((_, c) => mine(c));
          m.stopped.push(Math.max(...clients.map((c) => c.lastSentMs)));
          m.acked.push(Math.max(...clients.map((c) => c.ackMs)));
          if (before && after) m.opened.push([...after].filter(([k, l]) => l === lib && !before.has(k)).length);
        }
        await mesh.restore(rep % ENDPOINTS, 15_000);
      }
    } finally {
      await mesh.close();
    }
    const base50 = percentile(debounce, 50);
    const base99 = percentile(debounce, 99);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const row = (metric: string, value: number, unit: string, extra: Partial<BenchRow> = {}): BenchRow => ({ scenario: 'convergence-clients', metric, value, unit, ...extra });
    const rows: BenchRow[] = [];
    for (const lib of libs) {
      const m = per.get(lib)!;
      const name = lib === 'grpc-js' ? 'grpc-js-xds 1.14.1' : `${lib} ${implVersion(lib as ExternalImpl)}`;
      const stray = mesh.strayByImpl[lib] ?? 0;
      rows.push(
        row(`${name}: RPCs failed per change (${PER_LIBRARY} clients)`, mean(m.failed), 'RPCs'),
        row(`${name}: RPCs failed per change, worst of ${REPETITIONS}`, Math.max(...m.failed), 'RPCs'),
        row(`${name}: all ${PER_LIBRARY} stopped (last RPC sent there), p50`, percentile(m.stopped, 50), 'ms', { baseline: base50 }),
        row(`${name}: all ${PER_LIBRARY} stopped (last RPC sent there), p99`, percentile(m.stopped, 99), 'ms', { baseline: base99 }),
        row(`${name}: EDS ACKed by all ${PER_LIBRARY}, p99`, percentile(m.acked, 99), 'ms', { baseline: base99 }),
        row(`${name}: connections opened to endpoints per change (${PER_LIBRARY} clients)`, m.opened.length ? mean(m.opened) : Number.NaN, 'conns'),
        row(`${name}: RPCs to the endpoint after all stopped`, stray, 'RPCs', { target: '0', pass: stray === 0 }),
      );
    }
    return rows;
  },
};
