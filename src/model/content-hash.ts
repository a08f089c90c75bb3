/**
 * Content hashing for model objects: a canonical JSON form (sorted keys) hashed to 64 bits.
 * Snapshot versions are an order-independent sum of per-object hashes, so one object's change
 * updates the version in constant time and equal content always yields the same version.
 */

/** JSON with object keys sorted at every level; `undefined` members are left out. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

const MASK64 = (1n << 64n) - 1n;

/** 64-bit hash of a string (two independent 32-bit multiply-xorshift lanes). */
export function hash64(text: string): bigint {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (BigInt(h2 >>> 0) << 32n) | BigInt(h1 >>> 0);
}

/** Hash of one model object, tagged with its kind and key so equal bodies of different objects differ. */
export function objectHash(kind: string, key: string, value: unknown): bigint {
  return hash64(`${kind}\u0000${key}\u0000${canonicalJson(value)}`);
}

/** Adds (sign 1) or removes (sign -1) one object hash from a running sum. */
export function combine(sum: bigint, h: bigint, sign: 1 | -1): bigint {
  return (sign === 1 ? sum + h : sum - h) & MASK64;
}

/** 16 hex digits. */
export function formatVersion(sum: bigint): string {
  return sum.toString(16).padStart(16, '0');
}
