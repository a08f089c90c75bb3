/**
 * The few DER encoders the per-leaf fast path needs (TLV framing, INTEGER, X.509 Time,
 * BIT STRING). Everything constant in a certificate is encoded by @peculiar/asn1-x509 once per
 * issuer; only the fields that change per leaf go through these, and a test checks that the
 * result is byte-identical to the library's own encoding of the same certificate.
 */

/** Universal tags used by X.509. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
} as const;

function lengthBytes(len: number): number[] {
  if (len < 0x80) return [len];
  const out: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) out.unshift(n & 0xff);
  return [0x80 | out.length, ...out];
}

/** One TLV: `tag`, definite length, then the concatenated `parts`. */
export function tlv(tag: number, ...parts: readonly Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const head = lengthBytes(len);
  const out = Buffer.allocUnsafe(1 + head.length + len);
  out[0] = tag;
  for (let i = 0; i < head.length; i++) out[1 + i] = head[i]!;
  let off = 1 + head.length;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A non-negative INTEGER from big-endian magnitude bytes (adds the sign octet DER requires). */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.subarray(start);
  return (body[0] ?? 0) & 0x80 ? tlv(TAG.INTEGER, Uint8Array.of(0), body) : tlv(TAG.INTEGER, body);
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** X.509 Time (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime from 2050; whole seconds. */
export function x509Time(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(TAG.UTC_TIME, Buffer.from(`${two(y % 100)}${rest}`, 'latin1'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(`${String(y).padStart(4, '0')}${rest}`, 'latin1'));
}

/** BIT STRING with no unused bits (signatures, public keys). */
export function bitString(bytes: Uint8Array): Buffer {
  return tlv(TAG.BIT_STRING, Uint8Array.of(0), bytes);
}

/** One parsed element: its tag, its content bytes and the whole encoding. */
export interface DerElement {
  readonly tag: number;
  readonly content: Buffer;
  readonly encoded: Buffer;
}

/** Reads the element starting at `offset`; throws on truncated input. */
export function readElement(der: Buffer, offset = 0): DerElement {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new Error('truncated DER');
  let header = 2;
  let len = first;
  if (first >= 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[offset + 2 + i] ?? 0);
    header += n;
  }
  const end = offset + header + len;
  if (end > der.length) throw new Error('truncated DER');
  return { tag, content: der.subarray(offset + header, end), encoded: der.subarray(offset, end) };
}

/** The elements inside a constructed element's encoding (e.g. the fields of a SEQUENCE). */
export function children(der: Buffer): DerElement[] {
  const content = readElement(der).content;
  const out: DerElement[] = [];
  for (let off = 0; off < content.length; ) {
    const el = readElement(content, off);
    out.push(el);
    off += el.encoded.length;
  }
  return out;
}
