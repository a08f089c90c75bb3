/**
 * Hostile values the fuzz mutators put where a request or a configuration expects an ordinary one:
 * sizes at and around crossmesh's limits, control and format characters, unicode that changes
 * length when encoded, names that mean something to JavaScript objects or to paths.
 */
import type { Prng } from './fuzz-prng.js';

/** Lengths at and around the limits in src/xds/stream.ts (node fields, names) and the gRPC message size. */
const LENGTHS = [0, 1, 63, 64, 253, 254, 255, 256, 257, 1023, 1024, 1025, 2047, 2048, 2049, 4096, 4097, 65_536, 70_000];

const SPECIAL = [
  '',
  ' ',
  '\u0000',
  '\u0000\u0001\u0002\u001f\u007f',
  '\r\n',
  '\n---\n',
  '\u001b[31mred\u001b[0m',
  '\u202egnp.exe',
  '\ufeff',
  '\ud800',
  '\udfff\ud800',
  'e\u0301\u0301\u0301\u0301',
  '💥',
  '💥'.repeat(600),
  '/',
  'a/b/c',
  '//',
  '../../etc/passwd',
  '%s%n%x%d',
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '*',
  '-',
  '0',
  '-1',
  'NaN',
  '1e309',
  'null',
  'true',
  '{"a":1}',
  '<script>',
  "'; DROP TABLE x;--",
  '\\',
  '"',
  'type.googleapis.com/',
  'outbound|9080||reviews.default.svc.cluster.local',
  'cluster1/default/productpage-v1-0',
  'cluster1/crossmesh-system/east-west-gateway-0',
  'CLUSTER1/DEFAULT/PRODUCTPAGE-V1-0',
  'cluster1/default/productpage-v1-0/extra',
  'cluster9/default/nobody',
];

/** A string chosen to hurt: a special one, a long run of one character, or random code units. */
export function hostileString(rng: Prng): string {
  const r = rng.int(10);
  if (r < 5) return rng.pick(SPECIAL);
  if (r < 8) {
    // One MiB is rare: it is the size where quadratic work shows, and it slows every run.
    const n = rng.chance(0.005) ? 1 << 20 : rng.chance(0.9) ? rng.pick(LENGTHS.slice(0, -4)) : rng.pick(LENGTHS);
    return rng.pick(['x', 'é', '💥', '\u0000', '/', '*', '.']).repeat(n);
  }
  let s = '';
  const n = rng.int(40);
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.5) ? rng.int(0x80) : rng.int(0x10000));
  return s;
}

/** Numbers at the edges: zero, negatives, the int32/uint32/safe-integer bounds, fractions, infinities. */
export function hostileNumber(rng: Prng): number {
  return rng.pick([0, -0, -1, 1, 0.5, -0.5, 65535, 65536, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN]);
}
