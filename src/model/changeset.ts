/**
 * The difference between two consecutive snapshots, so later stages recompute only what changed
 * (an endpoint change rebuilds EDS for that service, not the world).
 */
import type { ObjectKey } from './types.js';

/** Keys added, changed and removed (each sorted). */
export interface KeyChanges {
  readonly added: readonly string[];
  readonly changed: readonly string[];
  readonly removed: readonly string[];
}

export interface ChangeSet {
  readonly fromVersion: string;
  readonly toVersion: string;
  /** Cluster declarations; a cluster turning stale or fresh counts as changed. */
  readonly clusters: KeyChanges;
  readonly services: KeyChanges;
  readonly workloads: KeyChanges;
  readonly gateways: KeyChanges;
  /** Services whose endpoint list differs (including services added or removed). */
  readonly endpoints: readonly ObjectKey[];
  /** `<namespace>/<name>` of global services whose set of member clusters changed. */
  readonly globalServices: readonly string[];
  readonly policies: {
    readonly virtualMeshes: KeyChanges;
    readonly trafficPolicies: KeyChanges;
    readonly accessPolicies: KeyChanges;
    readonly failoverServices: KeyChanges;
  };
  /** True when nothing at all changed. */
  readonly empty: boolean;
}

const NONE: KeyChanges = Object.freeze({ added: [], changed: [], removed: [] });

/** Whether a KeyChanges has no entries. */
export function noKeyChanges(k: KeyChanges): boolean {
  return k.added.length === 0 && k.changed.length === 0 && k.removed.length === 0;
}

/**
 * Records, per key, the state before the first touch in a batch, and classifies each key once the
 * batch is done; touching a key twice (add then change) reports it once (added).
 */
export class KeyTracker {
  private readonly before = new Map<string, bigint | undefined>();

  /** Call before modifying `key`; `hash` is its current content hash (undefined: absent). */
  touch(key: string, hash: bigint | undefined): void {
    if (!this.before.has(key)) this.before.set(key, hash);
  }

  /** Classifies every touched key given a lookup of its hash after the batch. */
  result(after: (key: string) => bigint | undefined): KeyChanges {
    if (this.before.size === 0) return NONE;
    const added: string[] = [];
    const changed: string[] = [];
    const removed: string[] = [];
    for (const [key, was] of this.before) {
      const now = after(key);
      if (was === undefined && now !== undefined) added.push(key);
      else if (was !== undefined && now === undefined) removed.push(key);
      else if (was !== now) changed.push(key);
    }
    return { added: added.sort(), changed: changed.sort(), removed: removed.sort() };
  }
}

/** Key changes between two hash tables (for small declaration sets replaced as a whole). */
export function diffHashes(before: ReadonlyMap<string, bigint>, after: ReadonlyMap<string, bigint>): KeyChanges {
  const t = new KeyTracker();
  for (const [k, h] of before) t.touch(k, h);
  for (const k of after.keys()) if (!before.has(k)) t.touch(k, undefined);
  return t.result((k) => after.get(k));
}
