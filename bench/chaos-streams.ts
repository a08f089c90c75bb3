/**
 * The chaos benchmark's view of crossmesh's xDS streams, from its own /debug/proxies: what each
 * Envoy's stream held before a kill, and whether the restarted process has every stream back and
 * ACKed, with the moments (on crossmesh's clock, the machine's) of the last reconnect and last ACK.
 */
import type { ControlPlaneProcess } from '../src/meshsim/index.js';

/** Per-type status of a stream on /debug/proxies (the fields this benchmark reads). */
export interface StreamTypeStatus {
  readonly wildcard: boolean;
  readonly resources: number;
  readonly lastSentVersion: string;
  readonly lastSentNonce: string;
  readonly ackedVersion: string;
  readonly ackedAt: string | null;
  readonly lastNack: unknown;
}

/** One stream on /debug/proxies. */
export interface StreamStatus {
  readonly nodeId: string;
  readonly mode: 'sotw' | 'delta';
  readonly connectedAt: string;
  readonly types: Readonly<Record<string, StreamTypeStatus>>;
}

/** What a node's stream held: its ADS flavour and, per requested type, how many resources. */
export interface Held {
  readonly mode: 'sotw' | 'delta';
  readonly resources: ReadonlyMap<string, number>;
}

/** crossmesh's /debug/proxies. */
export async function streams(cp: ControlPlaneProcess): Promise<StreamStatus[]> {
  return (await cp.adminJson<{ proxies: StreamStatus[] }>('/debug/proxies')).proxies;
}

/** What every stream holds now, by node id; throws if a node has no stream or several. */
export function heldBy(all: readonly StreamStatus[], nodeIds: readonly string[]): Map<string, Held> {
  const held = new Map<string, Held>();
  for (const id of nodeIds) {
    const mine = all.filter((s) => s.nodeId === id);
    if (mine.length !== 1) throw new Error(`chaos: ${mine.length} xDS streams of ${id} on crossmesh, expected 1`);
    const s = mine[0]!;
    const problem = notCurrent(s, { mode: s.mode, resources: new Map(Object.entries(s.types).map(([t, st]) => [t, st.resources])) }, 0);
    if (problem) throw new Error(`chaos: ${id} is not converged before the kill: ${problem}`);
    held.set(id, { mode: s.mode, resources: new Map(Object.entries(s.types).map(([t, st]) => [t, st.resources])) });
  }
  return held;
}

/**
 * Why stream `s` is not back and current relative to what its node held; undefined when it is:
 * connected after `since`, in the same ADS flavour, every type held requested again with the same
 * number of resources, no NACK, and the last version crossmesh sent ACKed.
 */
export function notCurrent(s: StreamStatus | undefined, held: Held, since: number): string | undefined {
  if (!s) return 'no stream';
  if (Date.parse(s.connectedAt) < since) return `stream connected at ${s.connectedAt}, before the restart`;
  if (s.mode !== held.mode) return `${s.mode} stream, was ${held.mode}`;
  for (const [t, n] of held.resources) {
    const st = s.types[t];
    if (!st) return `${t} not requested yet`;
    if (st.lastNack) return `${t} NACKed: ${JSON.stringify(st.lastNack).slice(0, 200)}`;
    if (st.resources !== n) return `${t}: ${st.resources} resources, held ${n}`;
    if (st.ackedVersion !== st.lastSentVersion) return `${t}: sent ${st.lastSentVersion}, ACKed ${st.ackedVersion || '(nothing)'}`;
    // A SotW type is current once a version is ACKed (sent and ACKed, or declared by the
    // reconnecting Envoy and matching); a delta wildcard type always gets a first answer to ACK.
    // A delta EDS/RDS/SDS type whose declared versions all match is current with nothing sent.
    if (s.mode === 'sotw' ? st.ackedVersion === '' : st.wildcard && st.lastSentNonce === '') return `${t}: nothing ACKed yet`;
  }
  return undefined;
}

/** When every stream came back and ACKed, on crossmesh's clock and by polling. */
export interface Recovery {
  /** The last stream's connectedAt (ms since the epoch). */
  readonly lastConnectAt: number;
  /** The last ACK on any stream, or the last connect if later (a stream whose declared versions were all current needs no ACK). */
  readonly lastAckAt: number;
  /** When the poll first saw every stream current. */
  readonly seenAt: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls /debug/proxies every `everyMs` until every node in `held` is current again (see notCurrent), or throws naming the stragglers. */
export async function waitAllCurrent(cp: ControlPlaneProcess, held: ReadonlyMap<string, Held>, since: number, timeoutMs: number, everyMs = 50): Promise<Recovery> {
  const deadline = Date.now() + timeoutMs;
  let missing: string[] = [];
  for (;;) {
    let all: StreamStatus[] | undefined;
    try {
      all = await streams(cp);
    } catch (e) {
      missing = [`/debug/proxies: ${(e as Error).message}`];
    }
    if (all) {
      const byNode = new Map<string, StreamStatus[]>();
      for (const s of all) byNode.set(s.nodeId, [...(byNode.get(s.nodeId) ?? []), s]);
      missing = [];
      for (const [id, h] of held) {
        const mine = byNode.get(id) ?? [];
        const problem = mine.length > 1 ? `${mine.length} streams` : notCurrent(mine[0], h, since);
        if (problem) missing.push(`${id}: ${problem}`);
      }
      if (missing.length === 0) {
        const seenAt = Date.now();
        const mine = all.filter((s) => held.has(s.nodeId));
        const connects = mine.map((s) => Date.parse(s.connectedAt));
        const acks = mine.flatMap((s) => Object.values(s.types).flatMap((st) => (st.ackedAt ? [Date.parse(st.ackedAt)] : [])));
        const lastConnectAt = Math.max(...connects);
        return { lastConnectAt, lastAckAt: Math.max(lastConnectAt, ...acks), seenAt };
      }
    }
    if (Date.now() > deadline) throw new Error(`chaos: not every Envoy's xDS stream back and ACKed within ${timeoutMs} ms; ${missing.length} not:\n  ${missing.slice(0, 20).join('\n  ')}`);
    await sleep(everyMs);
  }
}
