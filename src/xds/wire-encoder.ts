/**
 * Writes plain keepCase message objects straight to protobuf wire bytes, with a plan compiled once
 * per message type from the loaded protos. The output is byte-identical to protobufjs
 * `type.encode(type.fromObject(obj))` for every input protobufjs accepts (fields in id order, the
 * same value coercions, nested `{'@type': ...}` Any packed the same way), but it builds no
 * intermediate message instances and no writer op lists: one pass computes sizes, a second writes
 * into one exactly-sized buffer. It refuses what protobufjs would silently drop or mangle: an
 * unknown field name, an unknown enum name, an Any naming a type that is not loaded, a non-object
 * where a message belongs.
 */
import protobuf from 'protobufjs';
import { partMemo, type PartMemo } from '../translate/shared-part.js';

type Obj = Record<string, unknown>;

const RECURSION_LIMIT = 100;
const hasOwn = Object.prototype.hasOwnProperty;

/** An encoding error with the field path inside the resource (built only when something fails). */
export class WireEncodeError extends Error {
  readonly segments: string[] = [];

  /** `a.b[0].c` of the offending field ('' at the root). */
  get path(): string {
    let out = '';
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i]!;
      out += s.startsWith('[') || out === '' ? s : `.${s}`;
    }
    return out;
  }
}

/** Adds an outer path segment to an encoding error on its way up. */
function rethrowAt(e: unknown, segment: string): never {
  if (e instanceof WireEncodeError) e.segments.push(segment);
  throw e;
}

const enum S {
  DOUBLE,
  FLOAT,
  INT32,
  UINT32,
  SINT32,
  FIXED32,
  SFIXED32,
  INT64,
  UINT64,
  SINT64,
  FIXED64,
  SFIXED64,
  BOOL,
  STRING,
  BYTES,
  ENUM,
  MESSAGE,
}

const SCALAR_CODES: Record<string, S> = {
  double: S.DOUBLE,
  float: S.FLOAT,
  int32: S.INT32,
  uint32: S.UINT32,
  sint32: S.SINT32,
  fixed32: S.FIXED32,
  sfixed32: S.SFIXED32,
  int64: S.INT64,
  uint64: S.UINT64,
  sint64: S.SINT64,
  fixed64: S.FIXED64,
  sfixed64: S.SFIXED64,
  bool: S.BOOL,
  string: S.STRING,
  bytes: S.BYTES,
};

const enum K {
  SINGLE,
  REPEATED,
  PACKED,
  MAP,
}

interface FieldPlan {
  readonly name: string;
  /** Field number: fields are written in this order, as protobufjs does. */
  readonly id: number;
  readonly kind: K;
  /** Value type (for maps: the value's). */
  readonly code: S;
  readonly tag: number;
  readonly tagSize: number;
  readonly en?: protobuf.Enum;
  readonly sub?: protobuf.Type;
  /** Maps only. */
  readonly keyCode?: S;
  readonly valueTag?: number;
}

interface TypePlan {
  readonly name: string;
  readonly isAny: boolean;
  readonly root: protobuf.Root;
  /** In id order (the order protobufjs writes them in). */
  readonly fields: readonly FieldPlan[];
  readonly byName: ReadonlyMap<string, FieldPlan>;
}

const plans = new Map<protobuf.Type, TypePlan>();

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function wireTypeOf(code: S): number {
  switch (code) {
    case S.DOUBLE:
    case S.FIXED64:
    case S.SFIXED64:
      return 1;
    case S.FLOAT:
    case S.FIXED32:
    case S.SFIXED32:
      return 5;
    case S.STRING:
    case S.BYTES:
    case S.MESSAGE:
      return 2;
    default:
      return 0;
  }
}

function codeOf(field: protobuf.Field): S {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return S.MESSAGE;
  if (rt instanceof protobuf.Enum) return S.ENUM;
  const c = SCALAR_CODES[field.type];
  if (c === undefined) throw new Error(`unsupported field type ${field.type} of ${field.fullName}`);
  return c;
}

function planField(field: protobuf.Field): FieldPlan {
  field.resolve();
  if (field.delimited) throw new Error(`group field ${field.fullName} is not supported`);
  const code = codeOf(field);
  const rt = field.resolvedType;
  const extra = { ...(rt instanceof protobuf.Enum ? { en: rt } : {}), ...(rt instanceof protobuf.Type ? { sub: rt } : {}) };
  if (field.map) {
    const keyCode = SCALAR_CODES[(field as unknown as protobuf.MapField).keyType]!;
    const tag = ((field.id << 3) | 2) >>> 0;
    return { name: field.name, id: field.id, kind: K.MAP, code, tag, tagSize: varintSize(tag), keyCode, valueTag: (16 | wireTypeOf(code)) >>> 0, ...extra };
  }
  const packed = field.repeated && field.packed && code !== S.STRING && code !== S.BYTES && code !== S.MESSAGE;
  const kind = !field.repeated ? K.SINGLE : packed ? K.PACKED : K.REPEATED;
  const tag = ((field.id << 3) | (packed ? 2 : wireTypeOf(code))) >>> 0;
  return { name: field.name, id: field.id, kind, code, tag, tagSize: varintSize(tag), ...extra };
}

function planOf(type: protobuf.Type): TypePlan {
  let p = plans.get(type);
  if (p) return p;
  const fields = type.fieldsArray.map(planField).sort((a, b) => a.id - b.id);
  const name = type.fullName.slice(1);
  p = { name, isAny: name === 'google.protobuf.Any', root: type.root as protobuf.Root, fields, byName: new Map(fields.map((f) => [f.name, f])) };
  plans.set(type, p);
  return p;
}

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null;
}

function enumValue(en: protobuf.Enum, v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const n = en.values[v];
    if (n !== undefined) return n;
  }
  throw new WireEncodeError(`${JSON.stringify(v)} is not a value of enum ${en.name}`);
}

const Long = protobuf.util.Long as unknown as { fromValue(v: unknown, unsigned: boolean): protobuf.Long } | undefined;
type Bits = { lo: number; hi: number; length(): number; zzEncode(): Bits };
const LongBits = (protobuf.util as unknown as { LongBits: { new (lo: number, hi: number): Bits; from(v: unknown): Bits; fromNumber(n: number): Bits } }).LongBits;

/** 64-bit value as protobufjs's fromObject + writer would see it (copied: zzEncode mutates). */
function bits64(code: S, v: unknown): Bits {
  const unsigned = code === S.UINT64 || code === S.FIXED64;
  let b: Bits;
  if (typeof v === 'number' && Number.isSafeInteger(v) && (v >= 0 || !unsigned)) b = LongBits.fromNumber(v);
  else if (Long) b = LongBits.from(Long.fromValue(v, unsigned));
  else b = LongBits.from(typeof v === 'string' ? parseInt(v, 10) : v);
  const copy = new LongBits(b.lo, b.hi);
  return code === S.SINT64 ? copy.zzEncode() : copy;
}

function utf8Length(s: string): number {
  if (s.length > 64) return Buffer.byteLength(s, 'utf8');
  let len = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) len += 1;
    else if (c < 0x800) len += 2;
    else if ((c & 0xfc00) === 0xd800 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      i++;
      len += 4;
    } else len += 3;
  }
  return len;
}

function base64Bytes(s: string): Uint8Array {
  const buf = protobuf.util.newBuffer(protobuf.util.base64.length(s)) as Uint8Array;
  protobuf.util.base64.decode(s, buf, 0);
  return buf;
}

// ---- output memory ----

/**
 * Encodings of up to 2 KiB are cut from 16 KiB slabs. Node's own pool does the same at 8 KiB, but
 * through a path that costs more per new pool than cutting costs here (1–2% of a large mesh's
 * translation, in profiles). A slab lives as long as any encoding cut from it: 16 KiB keeps what
 * one long-lived encoding can pin (when the ones around it are replaced) close to Node's 8 KiB,
 * rather than letting a control plane that updates resources for days fragment into large slabs.
 */
const SLAB_SIZE = 16 * 1024;
let slab = Buffer.allocUnsafeSlow(0);
let slabUsed = 0;

function allocate(n: number): Buffer {
  if (n > SLAB_SIZE / 8) return Buffer.allocUnsafeSlow(n);
  if (slabUsed + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  const b = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return b;
}

// ---- the two passes share these cursors (encoding is synchronous and not re-entrant) ----

/** Sizes computed by the first pass, consumed in the same order by the second. */
let sizes = new Int32Array(1 << 14);
let sizeCount = 0;
let sizeRead = 0;
/**
 * Byte payloads of the first pass (base64 `bytes`, frozen parts' cached encodings), consumed in
 * order by the second; `blobCount` is the fill (the array keeps its storage between encodings).
 */
const blobs: Uint8Array[] = [];
let blobCount = 0;
let blobRead = 0;
/**
 * The fields present in each object, in id order: the size pass lays one object's out together
 * (its children's after them) with their values, and the write pass reads them back in the same
 * order, so neither pass probes an object for the many fields of its type it does not set.
 */
const present: FieldPlan[] = [];
const presentValues: unknown[] = [];
let presentCount = 0;
let presentRead = 0;
const NO_OUTPUT = Buffer.alloc(0);
let out: Buffer = NO_OUTPUT;
let pos = 0;

function reserve(): number {
  if (sizeCount === sizes.length) {
    const bigger = new Int32Array(sizes.length * 2);
    bigger.set(sizes);
    sizes = bigger;
  }
  return sizeCount++;
}

/** Records a size for the second pass (reserve first: growing replaces the `sizes` array). */
function pushSize(n: number): void {
  const slot = reserve();
  sizes[slot] = n;
}

// ---- pass 1: sizes ----

function scalarSize(code: S, v: unknown, f: FieldPlan): number {
  switch (code) {
    case S.DOUBLE:
    case S.FIXED64:
    case S.SFIXED64:
      return 8;
    case S.FLOAT:
    case S.FIXED32:
    case S.SFIXED32:
      return 4;
    case S.BOOL:
      return 1;
    case S.UINT32:
      return varintSize((v as number) >>> 0);
    case S.INT32: {
      const n = (v as number) | 0;
      return n < 0 ? 10 : varintSize(n);
    }
    case S.ENUM: {
      const n = enumValue(f.en!, v) | 0;
      return n < 0 ? 10 : varintSize(n);
    }
    case S.SINT32: {
      const n = (v as number) | 0;
      return varintSize(((n << 1) ^ (n >> 31)) >>> 0);
    }
    case S.INT64:
    case S.UINT64:
    case S.SINT64:
      return bits64(code, v).length();
    case S.STRING: {
      const len = utf8Length(String(v));
      pushSize(len);
      return varintSize(len) + len;
    }
    case S.BYTES: {
      let b: Uint8Array;
      if (typeof v === 'string') b = base64Bytes(v);
      else if (isObject(v) && typeof v.length === 'number') b = v as unknown as Uint8Array;
      else throw new WireEncodeError('bytes expected (Uint8Array or base64 string)');
      blobs[blobCount++] = b;
      return varintSize(b.length) + b.length;
    }
    default:
      throw new Error(`not a scalar: ${code}`);
  }
}

/**
 * Bytes of frozen sub-messages, per type: a frozen object cannot change, so translators freeze
 * the parts many resources share (e.g. one LbEndpoint in every placement's assignment) and each
 * is encoded once. Frozen parts nested in frozen parts are spliced too (an endpoint shared by
 * many locality groups, each shared by many assignments).
 */
const frozenBytes = new Map<protobuf.Type, WeakMap<object, Uint8Array>>();

/** `memo` is the part's memo slot (its caller looked it up), when it has one. */
function frozenMessage(sub: protobuf.Type, v: Obj, depth: number, memo: PartMemo | undefined): Uint8Array {
  // A shared part keeps its bytes in its memo slot (the first type it is encoded as); its hit is taken by the caller.
  let m: WeakMap<object, Uint8Array> | undefined;
  if (memo === undefined || memo.encodedAs !== undefined) {
    m = frozenBytes.get(sub);
    if (!m) frozenBytes.set(sub, (m = new WeakMap()));
    const b = m.get(v);
    if (b) return b;
  }
  let b: Buffer;
  // Only reached from a size pass, so the nested encoding continues on the same cursors and
  // gives back what it used (re-entrant: a frozen part inside this one does the same).
  const baseSize = sizeCount;
  const baseBlobs = blobCount;
  const basePresent = presentCount;
  const savedPresentRead = presentRead;
  const savedOut = out;
  const savedPos = pos;
  const savedSizeRead = sizeRead;
  const savedBlobRead = blobRead;
  try {
    const p = planOf(sub);
    const len = fieldsSize(p, v, depth + 1, false);
    b = allocate(len);
    out = b;
    pos = 0;
    sizeRead = baseSize;
    blobRead = baseBlobs;
    presentRead = basePresent;
    writeFields(p, v);
  } finally {
    sizeCount = baseSize;
    blobCount = baseBlobs;
    presentCount = basePresent;
    presentRead = savedPresentRead;
    out = savedOut;
    pos = savedPos;
    sizeRead = savedSizeRead;
    blobRead = savedBlobRead;
  }
  if (m) m.set(v, b);
  else {
    memo!.encodedAs = sub;
    memo!.bytes = b;
  }
  return b;
}

function messageSize(sub: protobuf.Type, v: unknown, depth: number): number {
  if (!isObject(v)) throw new WireEncodeError(`object expected for ${sub.fullName.slice(1)}`);
  // Most frozen parts met are shared parts encoded before: their bytes are one property read away.
  const memo = partMemo(v);
  if (memo !== undefined && memo.encodedAs === sub) {
    const b = memo.bytes!;
    blobs[blobCount++] = b;
    return varintSize(b.length) + b.length;
  }
  if (Object.isFrozen(v)) {
    // Handed to the write pass in order, like bytes fields: one cache lookup per frozen part, not two.
    const b = frozenMessage(sub, v, depth, memo);
    blobs[blobCount++] = b;
    return varintSize(b.length) + b.length;
  }
  const slot = reserve();
  const len = fieldsSize(planOf(sub), v, depth + 1, false);
  sizes[slot] = len;
  return varintSize(len) + len;
}

function valueSize(f: FieldPlan, v: unknown, depth: number): number {
  return f.code === S.MESSAGE ? messageSize(f.sub!, v, depth) : scalarSize(f.code, v, f);
}

function fieldSize(f: FieldPlan, v: unknown, depth: number): number {
  switch (f.kind) {
    case K.SINGLE:
      return f.tagSize + valueSize(f, v, depth);
    case K.REPEATED: {
      if (!Array.isArray(v)) throw new WireEncodeError('array expected');
      let total = 0;
      for (let i = 0; i < v.length; i++) {
        try {
          total += f.tagSize + valueSize(f, v[i], depth);
        } catch (e) {
          rethrowAt(e, `[${i}]`);
        }
      }
      return total;
    }
    case K.PACKED: {
      if (!Array.isArray(v)) throw new WireEncodeError('array expected');
      if (v.length === 0) return 0;
      const slot = reserve();
      let len = 0;
      for (let i = 0; i < v.length; i++) len += scalarSize(f.code, v[i], f);
      sizes[slot] = len;
      return f.tagSize + varintSize(len) + len;
    }
    case K.MAP: {
      if (!isObject(v)) throw new WireEncodeError('object expected for a map');
      let total = 0;
      for (const k of Object.keys(v)) {
        const slot = reserve();
        let len: number;
        try {
          len = 1 + scalarSize(f.keyCode!, mapKey(f.keyCode!, k), f) + 1 + valueSize(f, v[k], depth);
        } catch (e) {
          rethrowAt(e, `[${k}]`);
        }
        sizes[slot] = len;
        total += f.tagSize + varintSize(len) + len;
      }
      return total;
    }
  }
}

/** Map keys arrive as property names; protobufjs hands them to the writer as such. */
function mapKey(code: S, k: string): unknown {
  return code === S.STRING ? k : code === S.BOOL ? k === 'true' : code === S.INT64 || code === S.UINT64 || code === S.SINT64 || code === S.FIXED64 || code === S.SFIXED64 ? k : Number(k);
}

function typeUrlOf(url: string): string {
  const t = url.charAt(0) === '.' ? url.slice(1) : url;
  return t.indexOf('/') === -1 ? `/${t}` : t;
}

const anyTypes = new Map<string, protobuf.Type | null>();

function packedAnyType(p: TypePlan, url: string): protobuf.Type {
  let inner = anyTypes.get(url);
  if (inner === undefined) {
    const found = p.root.lookup(url.substring(url.lastIndexOf('/') + 1));
    anyTypes.set(url, (inner = found instanceof protobuf.Type ? found : null));
  }
  if (!inner) throw new WireEncodeError(`unknown Any type ${url}`);
  return inner;
}

function fieldsSize(p: TypePlan, obj: Obj, depth: number, anyPayload: boolean): number {
  if (depth > RECURSION_LIMIT) throw new WireEncodeError('max depth exceeded');
  if (p.isAny && typeof obj['@type'] === 'string' && obj['@type'] !== '') {
    const url = obj['@type'];
    const inner = packedAnyType(p, url);
    const urlLen = utf8Length(typeUrlOf(url));
    pushSize(urlLen);
    const slot = reserve();
    const len = fieldsSize(planOf(inner), obj, depth + 1, true);
    sizes[slot] = len;
    return 1 + varintSize(urlLen) + urlLen + 1 + varintSize(len) + len;
  }
  // The object's own keys, matched to fields and kept in id order (an insertion: a handful each).
  const start = presentCount;
  for (const key in obj) {
    const f = p.byName.get(key);
    if (f === undefined) {
      if (!hasOwn.call(obj, key) || (anyPayload && key === '@type')) continue;
      const e = new WireEncodeError(`unknown field "${key}" in ${p.name}`);
      e.segments.push(key);
      throw e;
    }
    const v = obj[key];
    if (v === undefined || v === null) continue;
    let i = presentCount++;
    while (i > start && present[i - 1]!.id > f.id) {
      present[i] = present[i - 1]!;
      presentValues[i] = presentValues[i - 1];
      i--;
    }
    present[i] = f;
    presentValues[i] = v;
  }
  const end = presentCount;
  pushSize(end - start);
  let total = 0;
  for (let i = start; i < end; i++) {
    const f = present[i]!;
    try {
      total += fieldSize(f, presentValues[i], depth);
    } catch (e) {
      rethrowAt(e, f.name);
    }
  }
  return total;
}

// ---- pass 2: bytes ----

function writeVarint(n: number): void {
  while (n > 127) {
    out[pos++] = (n & 127) | 128;
    n >>>= 7;
  }
  out[pos++] = n;
}

function writeVarint64(lo: number, hi: number): void {
  while (hi) {
    out[pos++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 127) {
    out[pos++] = (lo & 127) | 128;
    lo = lo >>> 7;
  }
  out[pos++] = lo;
}

function writeFixed32(n: number): void {
  out[pos] = n & 255;
  out[pos + 1] = (n >>> 8) & 255;
  out[pos + 2] = (n >>> 16) & 255;
  out[pos + 3] = n >>> 24;
  pos += 4;
}

function writeSigned32(n: number): void {
  if (n < 0) writeVarint64(n >>> 0, 0xffffffff);
  else writeVarint(n);
}

function writeString(s: string): void {
  const len = sizes[sizeRead++]!;
  writeVarint(len);
  if (len === s.length && len < 64) {
    for (let i = 0; i < len; i++) out[pos++] = s.charCodeAt(i);
  } else {
    out.write(s, pos, len, 'utf8');
    pos += len;
  }
}

function writeScalar(code: S, v: unknown, f: FieldPlan): void {
  switch (code) {
    case S.DOUBLE:
      out.writeDoubleLE(Number(v), pos);
      pos += 8;
      return;
    case S.FLOAT:
      out.writeFloatLE(Number(v), pos);
      pos += 4;
      return;
    case S.FIXED32:
      writeFixed32((v as number) >>> 0);
      return;
    case S.SFIXED32:
      writeFixed32(((v as number) | 0) >>> 0);
      return;
    case S.FIXED64:
    case S.SFIXED64: {
      const b = bits64(code, v);
      writeFixed32(b.lo);
      writeFixed32(b.hi);
      return;
    }
    case S.BOOL:
      out[pos++] = v ? 1 : 0;
      return;
    case S.UINT32:
      writeVarint((v as number) >>> 0);
      return;
    case S.INT32:
      writeSigned32((v as number) | 0);
      return;
    case S.ENUM:
      writeSigned32(enumValue(f.en!, v) | 0);
      return;
    case S.SINT32: {
      const n = (v as number) | 0;
      writeVarint(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    case S.INT64:
    case S.UINT64:
    case S.SINT64: {
      const b = bits64(code, v);
      writeVarint64(b.lo, b.hi);
      return;
    }
    case S.STRING:
      writeString(String(v));
      return;
    case S.BYTES: {
      const b = blobs[blobRead++]!;
      writeVarint(b.length);
      out.set(b, pos);
      pos += b.length;
      return;
    }
    default:
      throw new Error(`not a scalar: ${code}`);
  }
}

function writeMessage(sub: protobuf.Type, v: Obj): void {
  if (Object.isFrozen(v)) {
    const b = blobs[blobRead++]!;
    const n = b.length;
    writeVarint(n);
    // Most frozen parts are small (an endpoint, a locality, a weight): a loop beats Buffer#copy's call overhead.
    if (n < 64) for (let i = 0; i < n; i++) out[pos + i] = b[i]!;
    else out.set(b, pos);
    pos += n;
    return;
  }
  writeVarint(sizes[sizeRead++]!);
  writeFields(planOf(sub), v);
}

function writeValue(f: FieldPlan, v: unknown): void {
  if (f.code === S.MESSAGE) writeMessage(f.sub!, v as Obj);
  else writeScalar(f.code, v, f);
}

function writeField(f: FieldPlan, v: unknown): void {
  switch (f.kind) {
    case K.SINGLE:
      writeVarint(f.tag);
      writeValue(f, v);
      return;
    case K.REPEATED: {
      const a = v as unknown[];
      for (let i = 0; i < a.length; i++) {
        writeVarint(f.tag);
        writeValue(f, a[i]);
      }
      return;
    }
    case K.PACKED: {
      const a = v as unknown[];
      if (a.length === 0) return;
      writeVarint(f.tag);
      writeVarint(sizes[sizeRead++]!);
      for (let i = 0; i < a.length; i++) writeScalar(f.code, a[i], f);
      return;
    }
    case K.MAP: {
      const m = v as Obj;
      for (const k of Object.keys(m)) {
        writeVarint(f.tag);
        writeVarint(sizes[sizeRead++]!);
        out[pos++] = (1 << 3) | wireTypeOf(f.keyCode!);
        writeScalar(f.keyCode!, mapKey(f.keyCode!, k), f);
        out[pos++] = f.valueTag!;
        writeValue(f, m[k]);
      }
      return;
    }
  }
}

function writeFields(p: TypePlan, obj: Obj): void {
  if (p.isAny && typeof obj['@type'] === 'string' && obj['@type'] !== '') {
    const url = obj['@type'];
    out[pos++] = (1 << 3) | 2;
    writeString(typeUrlOf(url));
    out[pos++] = (2 << 3) | 2;
    writeVarint(sizes[sizeRead++]!);
    writeFields(planOf(packedAnyType(p, url)), obj);
    return;
  }
  const n = sizes[sizeRead++]!;
  const base = presentRead;
  presentRead += n;
  for (let i = base; i < base + n; i++) writeField(present[i]!, presentValues[i]);
}

/**
 * Encodes `obj` as a `type` message, optionally inside `google.protobuf.Any{type_url: anyTypeUrl}`
 * (one buffer, no re-copy). Throws WireEncodeError (with `path`) on input protobufjs would drop or mangle.
 */
export function encodeObject(type: protobuf.Type, obj: object, anyTypeUrl?: string): Buffer {
  const p = planOf(type);
  if (!isObject(obj)) throw new WireEncodeError(`object expected for ${p.name}`);
  sizeCount = 0;
  sizeRead = 0;
  blobCount = 0;
  blobRead = 0;
  presentCount = 0;
  presentRead = 0;
  try {
    let total: number;
    let prefix = 0;
    let urlLen = 0;
    let len = 0;
    if (anyTypeUrl !== undefined) {
      urlLen = utf8Length(anyTypeUrl);
      pushSize(urlLen);
      len = fieldsSize(p, obj as Obj, 0, false);
      prefix = 1 + varintSize(urlLen) + urlLen + 1 + varintSize(len);
      total = prefix + len;
    } else {
      total = fieldsSize(p, obj as Obj, 0, false);
    }
    out = allocate(total);
    pos = 0;
    if (anyTypeUrl !== undefined) {
      out[pos++] = (1 << 3) | 2;
      writeString(anyTypeUrl);
      out[pos++] = (2 << 3) | 2;
      writeVarint(len);
    }
    writeFields(p, obj as Obj);
    if (pos !== total) throw new Error(`internal error: wrote ${pos} bytes of ${total} for ${p.name}`);
    const result = out;
    out = NO_OUTPUT;
    return result;
  } finally {
    // Stale entries are overwritten by the next encoding; a large one's are let go.
    if (blobCount > 4096) blobs.length = 0;
    if (presentCount > 4096) presentValues.length = 0;
    blobCount = 0;
    presentCount = 0;
  }
}
