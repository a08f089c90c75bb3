/**
 * Diagnostic run of the convergence mesh (`node dist/bench/convergence-trace.js [reps]`): per
 * repetition, every client whose traffic to the removed endpoint outlived its own EDS ACK, with
 * the ACK time and its last RPC there, to tell a late push (server side) from a late client.
 */
import { createRequire } from 'node:module';
import { startConvergenceMesh } from './convergence-mesh.js';

// Count subchannels grpc-js creates (rather than reuses from its pool): a new one means a new connection.
const require = createRequire(import.meta.url);
const poolModule = require('@grpc/grpc-js/build/src/subchannel-pool.js') as { SubchannelPool: { prototype: Record<string, (...a: unknown[]) => unknown> } };
const created: { at: number; key: string; ready?: number }[] = [];
const seen = new WeakSet<object>();
const original = poolModule.SubchannelPool.prototype.getOrCreateSubchannel!;
poolModule.SubchannelPool.prototype.getOrCreateSubchannel = function (this: unknown, ...args: unknown[]) {
  const sub = original.apply(this, args) as object;
  if (!seen.has(sub)) {
    seen.add(sub);
    const options = args[2] as Record<string, unknown>;
    const entry: { at: number; key: string; ready?: number } = { at: performance.now(), key: Object.keys(options).sort().join(',') };
    created.push(entry);
    (sub as { addConnectivityStateListener(l: (...a: unknown[]) => void): void }).addConnectivityStateListener((_s: unknown, _prev: unknown, next: unknown) => {
      if (next === 2 /* READY */ && entry.ready === undefined) entry.ready = performance.now();
    });
  }
  return sub;
};

const reps = Number(process.argv[2] ?? 4);
const mesh = await startConvergenceMesh({ clients: Number(process.env.CONVERGENCE_CLIENTS ?? 50), endpoints: 4, debounceMs: 100 });
try {
  await mesh.warmUp(20_000);
  // Event-loop stalls: gaps between 5 ms ticks (everything, crossmesh and 50 clients, shares this loop).
  const stalls: { at: number; gap: number }[] = [];
  let last = performance.now();
  const tick = setInterval(() => {
    const now = performance.now();
    if (now - last > 30) stalls.push({ at: last, gap: now - last });
    last = now;
  }, 5);
  for (let rep = 0; rep < reps; rep++) {
    stalls.length = 0;
    const before = created.length;
    const r = await mesh.takeOutAndMeasure(rep % 4, 5000);
    const fresh = created.slice(before).filter((c) => c.at > r.changedAt);
    const readyAt = fresh.map((c) => (c.ready === undefined ? Number.NaN : c.ready - r.changedAt)).sort((a, b) => a - b);
    console.log(`  new subchannels after the change: ${fresh.length} (created ${fresh[0] ? (fresh[0].at - r.changedAt).toFixed(0) : '-'}..${fresh.length ? (fresh[fresh.length - 1]!.at - r.changedAt).toFixed(0) : '-'} ms; READY ${readyAt[0]?.toFixed(0)}..${readyAt[readyAt.length - 1]?.toFixed(0)} ms, median ${readyAt[readyAt.length >> 1]?.toFixed(0)})`);
    const s = stalls.filter((x) => x.at + x.gap > r.changedAt).map((x) => `${(x.at - r.changedAt).toFixed(0)}+${x.gap.toFixed(0)}`);
    console.log(`  loop stalls (start+length ms): ${s.join(' ')}`);
    if (r.failures.length) console.log(`  failures: ${r.failures.map((f) => `c${f.client}@${f.start.toFixed(0)}..${f.end.toFixed(0)}:${f.code}`).join(' ')}`);
    const acks = r.clients.map((c) => c.ackMs).filter((x) => !Number.isNaN(x)).sort((x, y) => x - y);
    const pushes = r.clients.map((c) => c.pushMs).filter((x) => !Number.isNaN(x)).sort((x, y) => x - y);
    const max = (f: (c: (typeof r.clients)[number]) => number) => Math.max(...r.clients.map(f)).toFixed(0);
    console.log(`rep ${rep}: debounce ${r.debounceMs.toFixed(0)} ms; EDS written on ${pushes.length} streams at ${pushes[0]?.toFixed(0)}..${pushes[pushes.length - 1]?.toFixed(0)} ms; ACKed ${acks.length} at ${acks[0]?.toFixed(0)}..${acks[acks.length - 1]?.toFixed(0)} ms; ACKs by type ${JSON.stringify(r.acksByType)}`);
    console.log(`  last RPC sent to the endpoint: max ${max((c) => c.lastSentMs)} ms; next RPC after it: max ${max((c) => c.nextSentMs)} ms; clients whose last RPC there started after their push: ${r.clients.filter((c) => c.lastSentMs > c.pushMs).length}`);
    r.clients.forEach((c, k) => {
      if (c.nextSentMs > 300) console.log(`  client-${k}: push ${c.pushMs} ack ${c.ackMs.toFixed(0)} last sent ${c.lastSentMs.toFixed(0)} next ${c.nextSentMs.toFixed(0)} ms`);
    });
    await mesh.restore(rep % 4, 10_000);
  }
  clearInterval(tick);
} finally {
  await mesh.close();
}
