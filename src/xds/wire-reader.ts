/**
 * A protobuf wire-format reader for the request envelopes: it walks fields and hands out strings
 * and sub-message slices, so an ACK (a version, a nonce, a few names) is read without building the
 * intermediate objects a generic decoder makes (issue 18: one ACK per stream per push). Anything
 * malformed throws a WireReadError naming the field and offset.
 */

/** Strings up to this many bytes are decoded in JavaScript when they are ASCII. */
const SHORT_STRING = 24;

/** Malformed protobuf input. */
export class WireReadError extends Error {}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** The field number of a tag. */
export function fieldOf(tag: number): number {
  return Math.floor(tag / 8);
}

/** The wire type of a tag. */
export function wireOf(tag: number): number {
  return tag % 8;
}

/** Reads one message's fields in order. */
export class WireReader {
  private pos: number;

  private readonly buf: Buffer;
  private readonly end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
  }

  /** The next field's tag (field number * 8 + wire type; see fieldOf, wireOf), or 0 at the end of the message. */
  next(): number {
    if (this.pos >= this.end) return 0;
    const at = this.pos;
    const tag = this.varint();
    if (tag < 8) throw new WireReadError(`field number 0 at offset ${at}`);
    return tag;
  }

  /** An unsigned varint (up to 2^53; longer values throw). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireReadError(`truncated varint at offset ${this.pos}`);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw new WireReadError(`varint beyond 2^53 before offset ${this.pos}`);
        return result;
      }
      scale *= 128;
    }
    throw new WireReadError(`varint longer than 10 bytes before offset ${this.pos}`);
  }

  /** An int32 field's value: varints are 64-bit on the wire, negative int32s are sign-extended. */
  int32(): number {
    const start = this.pos;
    let low = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireReadError(`truncated varint at offset ${this.pos}`);
      const b = this.buf[this.pos++]!;
      if (shift < 32) low |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) return low | 0;
    }
    throw new WireReadError(`varint longer than 10 bytes at offset ${start}`);
  }

  /** A length-delimited field's [start, end) in the buffer. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) throw new WireReadError(`length ${len} at offset ${start} runs past the end of the message`);
    this.pos = start + len;
    return [start, this.pos];
  }

  /** A length-delimited field as UTF-8 text. */
  string(): string {
    const [start, end] = this.span();
    // Nonces, versions and names are short ASCII: building them here beats a call into the runtime.
    if (end - start <= SHORT_STRING) {
      let out = '';
      for (let i = start; i < end; i++) {
        const c = this.buf[i]!;
        if (c >= 0x80) return this.buf.toString('utf8', start, end);
        out += String.fromCharCode(c);
      }
      return out;
    }
    return this.buf.toString('utf8', start, end);
  }

  /** A length-delimited field as a sub-slice (no copy). */
  bytes(): Uint8Array {
    const [start, end] = this.span();
    return this.buf.subarray(start, end);
  }

  /** Skips a field of `wire` type (groups are not part of proto3 and are refused). */
  skip(wire: number, field: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_LEN) this.span();
    else if (wire === WIRE_FIXED64 || wire === WIRE_FIXED32) {
      const size = wire === WIRE_FIXED64 ? 8 : 4;
      if (this.end - this.pos < size) throw new WireReadError(`truncated fixed${size * 8} field ${field} at offset ${this.pos}`);
      this.pos += size;
    } else throw new WireReadError(`field ${field} has wire type ${wire}, which proto3 messages do not use`);
  }

  /** Throws unless `wire` is `expected` (a known field sent with another encoding). */
  expect(field: number, wire: number, expected: number, name: string): void {
    if (wire !== expected) throw new WireReadError(`${name} (field ${field}) has wire type ${wire}, expected ${expected}`);
  }
}
