/**
 * An immutable string-keyed map that shares structure between versions: entries live in 256
 * shards, and an edit copies only the shards it touches. Snapshots of a 60,000-workload mesh
 * can then differ by one entry without copying 60,000 entries.
 * Iteration order is by shard, then insertion; callers that need a stable order sort.
 */

const SHARD_BITS = 8;
const SHARD_COUNT = 1 << SHARD_BITS;

/** FNV-1a over UTF-16 code units, reduced to a shard index. */
function shardOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h ^ (h >>> 16)) & (SHARD_COUNT - 1);
}

type Shard<K, V> = ReadonlyMap<K, V> | undefined;

export class PersistentMap<K extends string, V> implements ReadonlyMap<K, V> {
  private constructor(
    private readonly shards: readonly Shard<K, V>[],
    readonly size: number,
  ) {}

  /** An empty map. */
  static empty<K extends string, V>(): PersistentMap<K, V> {
    return new PersistentMap<K, V>(new Array<Shard<K, V>>(SHARD_COUNT).fill(undefined), 0);
  }

  /** A map holding these entries (later duplicates win). */
  static from<K extends string, V>(entries: Iterable<readonly [K, V]>): PersistentMap<K, V> {
    const d = PersistentMap.empty<K, V>().edit();
    for (const [k, v] of entries) d.set(k, v);
    return d.done();
  }

  get(key: K): V | undefined {
    return this.shards[shardOf(key)]?.get(key);
  }

  has(key: K): boolean {
    return this.shards[shardOf(key)]?.has(key) ?? false;
  }

  /** Starts a batch of edits; `done()` returns the new map and leaves this one untouched. */
  edit(): MapEditor<K, V> {
    return new MapEditor<K, V>(this, this.shards, this.size, (shards, size) => new PersistentMap<K, V>(shards, size));
  }

  /** A new map with one entry set. */
  with(key: K, value: V): PersistentMap<K, V> {
    const d = this.edit();
    d.set(key, value);
    return d.done();
  }

  /** A new map without one entry. */
  without(key: K): PersistentMap<K, V> {
    const d = this.edit();
    d.delete(key);
    return d.done();
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const s of this.shards) s?.forEach((v, k) => callback.call(thisArg, v, k, this));
  }

  *entries(): MapIterator<[K, V]> {
    for (const s of this.shards) if (s) yield* s.entries();
  }

  *keys(): MapIterator<K> {
    for (const s of this.shards) if (s) yield* s.keys();
  }

  *values(): MapIterator<V> {
    for (const s of this.shards) if (s) yield* s.values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  /** Plain object form, for JSON dumps. */
  toJSON(): Record<string, V> {
    const out: Record<string, V> = {};
    for (const [k, v] of this.entries()) out[k] = v;
    return out;
  }
}

/** Accumulates edits against a PersistentMap, copying each touched shard once. */
export class MapEditor<K extends string, V> {
  private readonly shards: Shard<K, V>[];
  private readonly copied = new Set<number>();
  private finished = false;

  constructor(
    private readonly origin: PersistentMap<K, V>,
    base: readonly Shard<K, V>[],
    private size: number,
    private readonly make: (shards: readonly Shard<K, V>[], size: number) => PersistentMap<K, V>,
  ) {
    this.shards = base.slice();
  }

  private writable(i: number): Map<K, V> {
    if (this.finished) throw new Error('MapEditor used after done()');
    if (!this.copied.has(i)) {
      this.copied.add(i);
      this.shards[i] = new Map(this.shards[i] ?? []);
    }
    return this.shards[i] as Map<K, V>;
  }

  get(key: K): V | undefined {
    return this.shards[shardOf(key)]?.get(key);
  }

  set(key: K, value: V): void {
    const m = this.writable(shardOf(key));
    if (!m.has(key)) this.size++;
    m.set(key, value);
  }

  delete(key: K): void {
    const i = shardOf(key);
    if (!this.shards[i]?.has(key)) return;
    this.writable(i).delete(key);
    this.size--;
  }

  /** The edited map (the original itself when nothing was written); the editor cannot be used afterwards. */
  done(): PersistentMap<K, V> {
    this.finished = true;
    return this.copied.size === 0 ? this.origin : this.make(this.shards, this.size);
  }
}
