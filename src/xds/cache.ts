/**
 * The snapshot cache: resources per proxy group and type, encoded once and versioned by content.
 * It knows nothing about streams; the server subscribes to its debounced change batches.
 *
 * Proxies are grouped by a caller-supplied resolver: every proxy in a group is served the same
 * resource set, computed and encoded once. A type is "not ready" in a group until its first full
 * set (`setResources`/`setSnapshot`), so a wildcard LDS/CDS request is never answered with an
 * empty set just because nothing has been loaded yet.
 */
import { PersistentMap } from '../model/persistent-map.js';
import { encodeResource, type EncodedResource } from './codec.js';
import { ADS_ORDER, messageNameOf, type NodeInfo, type TypeUrl } from './types.js';
import { log } from '../log.js';

/** Who the stream authenticated as (filled by the server's `authenticate` hook; absent on insecure streams). */
export interface StreamIdentity {
  /** Stable identifier, e.g. a SPIFFE ID or node id bound to a token. */
  readonly id: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

/** Group of a proxy: one key for every type, or a default plus per-type overrides (e.g. secrets per identity). */
export type GroupAssignment = string | { readonly group: string; readonly byType?: Partial<Record<TypeUrl, string>> };

/** Maps a connecting node to its group; an Error means "serve nothing" and is shown on /debug/proxies. */
export type GroupResolver = (node: NodeInfo, identity: StreamIdentity | undefined) => GroupAssignment | Error;

/**
 * The resources of one type in one group. A TypeSet is an immutable snapshot: later changes make
 * a new one (sharing structure with it), so a holder never sees a half-applied change.
 */
export interface TypeSet {
  /** False until the first full set for this group and type. */
  readonly ready: boolean;
  /** Iteration order is unspecified (sort by name where order matters). */
  readonly resources: ReadonlyMap<string, EncodedResource>;
}

/** One debounced change: which names of a type changed in a group (added, changed or removed). */
export interface GroupChange {
  readonly group: string;
  readonly typeUrl: TypeUrl;
  readonly names: ReadonlySet<string>;
  /** The type became ready in this batch (every subscriber must recompute it). */
  readonly becameReady: boolean;
  /** `performance.now()` of the earliest change in the batch, for push-latency metrics. */
  readonly since: number;
}

/** Resources given by the caller: name → plain message object (keepCase field names). */
export type ResourceInput = Readonly<Record<string, object>> | ReadonlyMap<string, object>;

export interface SnapshotCacheOptions {
  /** Window in which changes are batched before subscribers hear of them (default 100 ms). */
  readonly debounceMs?: number;
  /** Default: every node is in group "default". */
  readonly resolver?: GroupResolver;
}

interface MutableTypeSet {
  ready: boolean;
  resources: PersistentMap<string, EncodedResource>;
}

const EMPTY: PersistentMap<string, EncodedResource> = PersistentMap.empty();

type ChangeListener = (changes: readonly GroupChange[]) => void;

function entriesOf(input: ResourceInput): Iterable<[string, object]> {
  return input instanceof Map ? input.entries() : Object.entries(input as Record<string, object>);
}

/** Resolves a group assignment into one group key per type. */
export function groupsByType(a: GroupAssignment): ReadonlyMap<TypeUrl, string> {
  const base = typeof a === 'string' ? a : a.group;
  const by = typeof a === 'string' ? {} : (a.byType ?? {});
  return new Map(ADS_ORDER.map((t) => [t, by[t] ?? base]));
}

/** Resource sets per group and type, with content versions and debounced change notification. */
export class SnapshotCache {
  readonly debounceMs: number;
  private resolver: GroupResolver;
  private readonly groups = new Map<string, Map<TypeUrl, MutableTypeSet>>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly resolverListeners = new Set<() => void>();
  private pending = new Map<string, { group: string; typeUrl: TypeUrl; names: Set<string>; becameReady: boolean; since: number }>();
  private timer: NodeJS.Timeout | undefined;
  private everSet = false;

  constructor(options: SnapshotCacheOptions = {}) {
    this.debounceMs = options.debounceMs ?? 100;
    this.resolver = options.resolver ?? (() => 'default');
  }

  /** Replaces the group resolver; every connected stream is re-resolved. */
  setResolver(resolver: GroupResolver): void {
    this.resolver = resolver;
    this.reresolve();
  }

  /** Asks the server to re-run the resolver for every stream (call after the model behind the resolver changed). */
  reresolve(): void {
    for (const l of this.resolverListeners) l();
  }

  /** Runs the resolver for a node, turning a thrown exception into an Error result. */
  resolve(node: NodeInfo, identity: StreamIdentity | undefined): ReadonlyMap<TypeUrl, string> | Error {
    try {
      const r = this.resolver(node, identity);
      return r instanceof Error ? r : groupsByType(r);
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  /** True once any group has had a full set of any type (the first mesh snapshot). */
  isReady(): boolean {
    return this.everSet;
  }

  /** Full replacement of one type's set in a group; marks the type ready. Throws (and changes nothing) if a resource does not encode. */
  setResources(group: string, typeUrl: TypeUrl, resources: ResourceInput): void {
    const encoded = this.encodeAll(typeUrl, resources);
    this.replace(group, typeUrl, encoded);
  }

  /** Replaces several types of a group at once (one batch); each given type becomes ready. */
  setSnapshot(group: string, byType: Partial<Record<TypeUrl, ResourceInput>>): void {
    const encoded = new Map<TypeUrl, Map<string, EncodedResource>>();
    for (const t of ADS_ORDER) {
      const input = byType[t];
      if (input) encoded.set(t, this.encodeAll(t, input));
    }
    for (const [t, e] of encoded) this.replace(group, t, e);
  }

  /** Adds or replaces individual resources; does not make the type ready. Costs O(changed), not O(set). */
  upsertResources(group: string, typeUrl: TypeUrl, resources: ResourceInput): void {
    const encoded = this.encodeAll(typeUrl, resources);
    const set = this.typeSet(group, typeUrl);
    const edit = set.resources.edit();
    const changed = new Set<string>();
    for (const [name, r] of encoded) {
      const old = edit.get(name);
      // Same content keeps the old object (and its bytes): not a change.
      if (old && old.version === r.version) continue;
      edit.set(name, r);
      changed.add(name);
    }
    set.resources = edit.done();
    if (changed.size) this.record(group, typeUrl, changed, false);
  }

  /** Deletes individual resources by name (unknown names are ignored). */
  deleteResources(group: string, typeUrl: TypeUrl, names: Iterable<string>): void {
    const set = this.typeSet(group, typeUrl);
    const edit = set.resources.edit();
    const changed = new Set<string>();
    for (const n of names) {
      if (edit.get(n) === undefined) continue;
      edit.delete(n);
      changed.add(n);
    }
    set.resources = edit.done();
    if (changed.size) this.record(group, typeUrl, changed, false);
  }

  /** Removes a group: every type becomes empty and not ready. */
  deleteGroup(group: string): void {
    const g = this.groups.get(group);
    if (!g) return;
    for (const [t, set] of g) {
      const names = new Set(set.resources.keys());
      set.resources = EMPTY;
      set.ready = false;
      if (names.size) this.record(group, t, names, false);
    }
    this.groups.delete(group);
  }

  /** The current set of a type in a group (empty and not ready if never set). */
  get(group: string, typeUrl: TypeUrl): TypeSet {
    const set = this.groups.get(group)?.get(typeUrl);
    return set ? { ready: set.ready, resources: set.resources } : { ready: false, resources: EMPTY };
  }

  /** Group keys that hold any resources. */
  groupKeys(): string[] {
    return [...this.groups.keys()].sort();
  }

  /** Subscribes to debounced change batches; returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Subscribes to resolver changes; returns the unsubscribe function. */
  onResolverChange(listener: () => void): () => void {
    this.resolverListeners.add(listener);
    return () => this.resolverListeners.delete(listener);
  }

  /** Delivers pending changes now (used on shutdown and by tests that do not want to wait). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    for (const l of this.listeners) {
      try {
        l(batch);
      } catch (e) {
        log.error({ err: e }, 'xds cache change listener failed');
      }
    }
  }

  /** Stops the debounce timer; pending changes are dropped. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private encodeAll(typeUrl: TypeUrl, input: ResourceInput): Map<string, EncodedResource> {
    const out = new Map<string, EncodedResource>();
    for (const [name, msg] of entriesOf(input)) {
      if (typeof name !== 'string' || name === '') throw new Error(`${messageNameOf(typeUrl)}: resource name must be a non-empty string`);
      out.set(name, encodeResource(typeUrl, name, msg));
    }
    return out;
  }

  private typeSet(group: string, typeUrl: TypeUrl): MutableTypeSet {
    let g = this.groups.get(group);
    if (!g) {
      g = new Map();
      this.groups.set(group, g);
    }
    let set = g.get(typeUrl);
    if (!set) {
      set = { ready: false, resources: EMPTY };
      g.set(typeUrl, set);
    }
    return set;
  }

  /** Full replacement: names absent from `next` are deleted; unchanged content keeps its object. */
  private replace(group: string, typeUrl: TypeUrl, next: Map<string, EncodedResource>): void {
    const set = this.typeSet(group, typeUrl);
    const before = set.resources;
    const changed = new Set<string>();
    const edit = before.edit();
    for (const [name, r] of next) {
      const old = before.get(name);
      if (old === r || (old && old.version === r.version)) continue;
      edit.set(name, r);
      changed.add(name);
    }
    if (before.size + changed.size > next.size) {
      for (const name of before.keys()) {
        if (next.has(name)) continue;
        edit.delete(name);
        changed.add(name);
      }
    }
    const becameReady = !set.ready;
    set.resources = edit.done();
    set.ready = true;
    this.everSet = true;
    if (changed.size || becameReady) this.record(group, typeUrl, changed, becameReady);
  }

  private record(group: string, typeUrl: TypeUrl, names: Set<string>, becameReady: boolean): void {
    const key = `${typeUrl}\u0000${group}`;
    const p = this.pending.get(key);
    if (p) {
      for (const n of names) p.names.add(n);
      p.becameReady ||= becameReady;
    } else {
      this.pending.set(key, { group, typeUrl, names, becameReady, since: performance.now() });
    }
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.debounceMs);
      this.timer.unref();
    }
  }
}
