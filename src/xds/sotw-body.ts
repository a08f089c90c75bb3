/**
 * The part of a state-of-the-world DiscoveryResponse that the streams of one group share. For one
 * resource set and one subscription, the resources to send, their set version and the encoded
 * version_info + resources fields are computed once and reused by every stream asking the same:
 * a push to N streams costs one selection, one hash and one encoding, plus N nonces (issue 18).
 */
import { assembleMessage, setVersion, varintSize, writeVarint, type EncodedResource } from './codec.js';
import { VersionMap } from './version-map.js';

/**
 * name → version of what a stream holds once it was sent a body. Shared by every stream sent the
 * same body, so it refuses mutation: a stream that needs a different one makes a copy.
 */
export class HeldVersions extends VersionMap {
  private sealed = false;

  constructor(entries: Iterable<readonly [string, string]>) {
    super(entries);
    this.sealed = true;
  }

  override set(name: string, version: string): this {
    if (this.sealed) throw new Error('HeldVersions is shared between streams and cannot be changed');
    return super.set(name, version);
  }

  override delete(): boolean {
    throw new Error('HeldVersions is shared between streams and cannot be changed');
  }

  override clear(): void {
    throw new Error('HeldVersions is shared between streams and cannot be changed');
  }
}

/** What one (resource set, subscription) pair sends. */
export class SotwBody {
  readonly resources: readonly EncodedResource[];
  readonly version: string;
  readonly held: HeldVersions;
  private head: Buffer | undefined;
  /** One previous holding and what is fresh against it: the streams of a group move from the same one. */
  private freshFrom: ReadonlyMap<string, string> | undefined;
  private freshList: readonly EncodedResource[] = [];

  /** Sorts `resources` by name in place: the same set gives the same bytes on every replica. */
  constructor(resources: EncodedResource[]) {
    this.resources = resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.version = setVersion(resources);
    this.held = new HeldVersions(resources.map((r) => [r.name, r.version] as const));
  }

  /** The resources whose version differs from what `held` says the stream has. */
  freshAgainst(held: ReadonlyMap<string, string>): readonly EncodedResource[] {
    if (held === this.held) return [];
    if (held !== this.freshFrom) {
      this.freshList = this.resources.filter((r) => held.get(r.name) !== r.version);
      this.freshFrom = held;
    }
    return this.freshList;
  }

  /** The whole DiscoveryResponse: the shared version_info and resources, then type_url and `nonce` (none when empty). */
  response(typeUrl: string, nonce: string): Buffer {
    this.head ??= encodeHead(this.version, this.resources);
    const type = typeUrlField(typeUrl);
    const nonceLength = Buffer.byteLength(nonce);
    const out = Buffer.allocUnsafe(this.head.length + type.length + (nonceLength === 0 ? 0 : 1 + varintSize(nonceLength) + nonceLength));
    // TypedArray#set: Buffer#copy's argument handling costs more than these few bytes.
    out.set(this.head, 0);
    out.set(type, this.head.length);
    if (nonceLength === 0) return out;
    let off = this.head.length + type.length;
    out[off++] = (5 << 3) | 2;
    off = writeVarint(out, off, nonceLength);
    out.write(nonce, off, 'utf8');
    return out;
  }
}

/** At most this many distinct subscriptions per resource set are remembered (beyond, bodies are built per stream). */
const MAX_SUBSCRIPTIONS_PER_SET = 256;

interface SetMemo {
  wildcard: SotwBody | undefined;
  named: Map<string, SotwBody>;
}

/** Keyed by the (immutable) resource map of a cache type set: a change makes a new map, and the old memo goes with it. */
const memo = new WeakMap<ReadonlyMap<string, EncodedResource>, SetMemo>();

/**
 * The body for `set` seen through a subscription: every resource (`names` undefined: wildcard) or
 * the named ones that exist. `key` must be `subscriptionKey(names)`.
 */
export function sotwBody(set: ReadonlyMap<string, EncodedResource>, names: ReadonlySet<string> | undefined, key: string): SotwBody {
  let m = memo.get(set);
  if (!m) {
    m = { wildcard: undefined, named: new Map() };
    memo.set(set, m);
  }
  if (names === undefined) return (m.wildcard ??= new SotwBody([...set.values()]));
  let body = m.named.get(key);
  if (body) return body;
  const resources: EncodedResource[] = [];
  for (const n of names) {
    const r = set.get(n);
    if (r) resources.push(r);
  }
  body = new SotwBody(resources);
  if (m.named.size < MAX_SUBSCRIPTIONS_PER_SET) m.named.set(key, body);
  return body;
}

/** One string per set of names (order-free, unambiguous for any name), under which equal subscriptions share bodies. */
export function subscriptionKey(names: ReadonlySet<string>): string {
  return [...names]
    .sort()
    .map((n) => `${n.length}:${n}`)
    .join('');
}

// ---- wire helpers ----

const typeFields = new Map<string, Buffer>();

function typeUrlField(typeUrl: string): Buffer {
  let b = typeFields.get(typeUrl);
  if (!b) {
    b = assembleMessage([{ field: 4, bytes: Buffer.from(typeUrl, 'utf8') }]);
    typeFields.set(typeUrl, b);
  }
  return b;
}

function encodeHead(version: string, resources: readonly EncodedResource[]): Buffer {
  const fields = resources.map((r) => ({ field: 2, bytes: r.any }));
  if (version !== '') fields.unshift({ field: 1, bytes: Buffer.from(version, 'utf8') });
  return assembleMessage(fields);
}
