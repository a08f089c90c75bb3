/**
 * Structure-aware mutations of xDS requests: field-level edits of the decoded request (hostile
 * strings in node, names, type URL, nonce and error detail; repeated fields blown up; metadata of
 * every Struct kind and nesting; fields dropped), then wire-level edits of its bytes (top-level
 * fields dropped, duplicated, given the wrong wire type or a lying length; truncation, bit flips,
 * splices with other inputs, unknown fields, random bytes).
 */
import protobuf from 'protobufjs';
import { messageType } from '../src/xds/protos.js';
import type { XdsCorpusEntry } from './fuzz-corpus.js';
import type { Prng } from './fuzz-prng.js';
import { hostileNumber, hostileString } from './fuzz-values.js';
import { SERVICE_TYPES, type XdsInput, type XdsService } from './fuzz-xds-target.js';

type Obj = Record<string, unknown>;

/** The server's default maxReceiveMessageBytes: nothing larger reaches the decoder. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

const TYPE_URLS = [...Object.values(SERVICE_TYPES).filter((t) => t !== undefined), 'type.googleapis.com/envoy.config.nonsense.v3.Thing', 'type.googleapis.com/envoy.api.v2.Cluster', ''];
const SERVICES: readonly XdsService[] = ['ads', 'cds', 'eds', 'lds', 'rds', 'sds'];
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, bytes: Buffer, defaults: false, arrays: false, objects: false };

function requestType(mode: XdsInput['mode']): protobuf.Type {
  return messageType(mode === 'sotw' ? 'envoy.service.discovery.v3.DiscoveryRequest' : 'envoy.service.discovery.v3.DeltaDiscoveryRequest');
}

/** A google.protobuf.Value of a random kind; `depth` bounds nesting (protobufjs refuses beyond 100 levels). */
function structValue(rng: Prng, depth: number): Obj {
  switch (depth <= 0 ? rng.int(4) : rng.int(6)) {
    case 0:
      return { stringValue: hostileString(rng) };
    case 1:
      return { numberValue: hostileNumber(rng) };
    case 2:
      return { boolValue: rng.chance(0.5) };
    case 3:
      return { nullValue: 0 };
    case 4:
      return { listValue: { values: Array.from({ length: rng.int(4) }, () => structValue(rng, depth - 1)) } };
    default:
      return { structValue: structOf(rng, depth - 1, 1 + rng.int(3)) };
  }
}

function structOf(rng: Prng, depth: number, keys: number): Obj {
  const fields: Obj = {};
  for (let i = 0; i < keys; i++) fields[rng.chance(0.3) ? hostileString(rng) : `k${i}`] = structValue(rng, depth);
  return { fields };
}

/** A Value nested `levels` deep through lists or structs: around protobufjs's nesting limit. */
function deepValue(rng: Prng, levels: number): Obj {
  let v: Obj = { stringValue: 'bottom' };
  for (let i = 0; i < levels; i++) v = rng.chance(0.5) ? { listValue: { values: [v] } } : { structValue: { fields: { d: v } } };
  return v;
}

function node(req: Obj): Obj {
  return (req.node ??= { id: 'cluster1/default/productpage-v1-0' }) as Obj;
}

function metadata(req: Obj): Obj {
  const n = node(req);
  const m = (n.metadata ??= { fields: {} }) as Obj;
  return (m.fields ??= {}) as Obj;
}

/** Field-level mutations of a decoded request object (protobufjs keepCase names). */
const FIELD_MUTATIONS: readonly ((rng: Prng, req: Obj, mode: XdsInput['mode']) => void)[] = [
  (rng, req) => {
    const field = rng.pick(['id', 'cluster', 'user_agent_name', 'user_agent_version']);
    node(req)[field] = hostileString(rng);
  },
  (rng, req) => {
    const loc = (node(req).locality ??= {}) as Obj;
    loc[rng.pick(['region', 'zone', 'sub_zone'])] = hostileString(rng);
  },
  (rng, req) => {
    metadata(req).role = rng.chance(0.5) ? { stringValue: rng.pick(['sidecar', 'gateway', 'ingress', 'proxyless', '', 'Sidecar', hostileString(rng)]) } : structValue(rng, 3);
  },
  (rng, req) => {
    const fields = metadata(req);
    const n = rng.chance(0.03) ? rng.pick([1000, 5000]) : rng.pick([1, 10]);
    for (let i = 0; i < n; i++) fields[`${rng.chance(0.1) ? hostileString(rng) : 'key'}${i}`] = structValue(rng, 2);
  },
  (rng, req) => {
    metadata(req)[rng.chance(0.5) ? 'role' : 'deep'] = deepValue(rng, rng.pick([10, 48, 49, 50, 51, 99, 100, 101, 300]));
  },
  (rng, req) => {
    req.type_url = rng.chance(0.7) ? rng.pick(TYPE_URLS) : hostileString(rng);
  },
  (rng, req) => {
    req[rng.pick(['version_info', 'response_nonce'])] = hostileString(rng);
  },
  (rng, req, mode) => {
    const field = mode === 'sotw' ? 'resource_names' : rng.pick(['resource_names_subscribe', 'resource_names_unsubscribe']);
    const names = ((req[field] as string[] | undefined) ?? []).slice();
    const grow = rng.chance(0.03) ? rng.pick([19_999, 20_001, 25_000]) : rng.pick([1, 2, 100]);
    const pattern = rng.pick(['*', 'name-', '', 'outbound|9080||reviews.default.svc.cluster.local', hostileString(rng)]);
    // Bounded: 25,000 names of up to 70 k characters would be gigabytes; long names go in few.
    const each = pattern.length > 100 ? Math.min(grow, 20) : grow;
    for (let i = 0; i < each; i++) names.push(rng.chance(0.5) ? pattern : `${pattern}${i}`);
    req[field] = names;
  },
  (rng, req, mode) => {
    const field = mode === 'sotw' ? 'resource_names' : rng.pick(['resource_names_subscribe', 'resource_names_unsubscribe']);
    const names = ((req[field] as string[] | undefined) ?? []).slice();
    names.splice(rng.int(names.length + 1), 0, hostileString(rng));
    req[field] = names;
  },
  (rng, req, mode) => {
    if (mode !== 'delta') return;
    const versions = ((req.initial_resource_versions as Obj | undefined) ?? {}) as Obj;
    const n = rng.chance(0.03) ? rng.pick([10_000, 60_000]) : rng.pick([1, 100]);
    for (let i = 0; i < n; i++) versions[rng.chance(0.01) ? hostileString(rng) : `r${i}`] = rng.chance(0.01) ? hostileString(rng) : 'v';
    req.initial_resource_versions = versions;
  },
  (rng, req) => {
    req.error_detail = { code: hostileNumber(rng) | 0, message: hostileString(rng), ...(rng.chance(0.2) ? { details: [{ type_url: hostileString(rng), value: rng.bytes(rng.int(64)) }] } : {}) };
  },
  (rng, req) => {
    const keys = Object.keys(req);
    if (keys.length) delete req[rng.pick(keys)];
  },
  (rng, req) => {
    const n = node(req);
    const keys = Object.keys(n);
    if (keys.length) delete n[rng.pick(keys)];
  },
  (rng, req) => {
    const n = node(req);
    const pick = rng.int(4);
    if (pick === 0) n.client_features = Array.from({ length: rng.chance(0.03) ? 1000 : 1 }, () => hostileString(rng));
    else if (pick === 1) n.user_agent_build_version = { version: { major_number: hostileNumber(rng) >>> 0, minor_number: 1, patch: 2 }, metadata: structOf(rng, 2, 3) };
    else if (pick === 2) n.listening_addresses = [{ socket_address: { address: hostileString(rng), port_value: hostileNumber(rng) >>> 0 } }];
    else n.extensions = [{ name: hostileString(rng), category: hostileString(rng), disabled: true }];
  },
];

/** One top-level field of a message: where its tag starts, where its payload starts and ends. */
interface WireField {
  readonly start: number;
  readonly payload: number;
  readonly end: number;
  readonly field: number;
  readonly wireType: number;
}

function readVarint(b: Buffer, at: number): [number, number] | undefined {
  let v = 0;
  for (let i = 0, mul = 1; i < 10 && at < b.length; i++, mul *= 128) {
    const byte = b[at++]!;
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) return [v, at];
  }
  return undefined;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** The top-level fields of `b`, as far as they parse. */
function topLevelFields(b: Buffer): WireField[] {
  const out: WireField[] = [];
  let at = 0;
  while (at < b.length) {
    const tag = readVarint(b, at);
    if (!tag) break;
    const [key, payload] = tag;
    const wireType = key % 8;
    let end: number;
    if (wireType === 0) {
      const v = readVarint(b, payload);
      if (!v) break;
      end = v[1];
    } else if (wireType === 1) end = payload + 8;
    else if (wireType === 5) end = payload + 4;
    else if (wireType === 2) {
      const len = readVarint(b, payload);
      if (!len) break;
      end = len[1] + len[0];
    } else break;
    if (end > b.length) break;
    out.push({ start: at, payload, end, field: Math.floor(key / 8), wireType });
    at = end;
  }
  return out;
}

/** Byte-level mutations; `others` are other inputs to splice with. */
const WIRE_MUTATIONS: readonly ((rng: Prng, b: Buffer, others: readonly Buffer[]) => Buffer)[] = [
  (rng, b) => b.subarray(0, rng.int(b.length + 1)),
  (rng, b) => {
    const c = Buffer.from(b);
    for (let i = rng.int(8) + 1; i > 0 && c.length; i--) {
      const at = rng.int(c.length);
      c[at] = c[at]! ^ (1 << rng.int(8));
    }
    return c;
  },
  (rng, b) => {
    const c = Buffer.from(b);
    if (c.length) c[rng.int(c.length)] = rng.pick([0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x1a, 0x22]);
    return c;
  },
  (rng, b) => {
    const at = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), rng.bytes(rng.int(16) + 1), b.subarray(at)]);
  },
  (rng, b) => {
    const at = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.int(32) + 1))]);
  },
  (rng, b, others) => {
    const o = others.length ? rng.pick(others) : b;
    return Buffer.concat([b.subarray(0, rng.int(b.length + 1)), o.subarray(rng.int(o.length + 1))]);
  },
  // Two messages back to back parse as one merged message: repeated fields add up, node merges.
  (rng, b, others) => Buffer.concat([b, others.length ? rng.pick(others) : b]),
  (rng, b) => Buffer.concat([b, varint(rng.pick([16, 99, 536_870_911]) * 8 + rng.pick([0, 1, 2, 5])), rng.bytes(rng.int(12))]),
  (rng) => rng.bytes(rng.int(64)),
  () => Buffer.alloc(0),
  (rng, b) => {
    const fields = topLevelFields(b);
    if (!fields.length) return b;
    const f = rng.pick(fields);
    return Buffer.concat([b.subarray(0, f.start), b.subarray(f.end)]);
  },
  (rng, b) => {
    const fields = topLevelFields(b);
    if (!fields.length) return b;
    const f = rng.pick(fields);
    const copies = rng.chance(0.03) ? 1000 : rng.pick([2, 10]);
    return Buffer.concat([b, ...Array.from({ length: copies }, () => b.subarray(f.start, f.end))]);
  },
  (rng, b) => {
    // The right field number with the wrong wire type.
    const fields = topLevelFields(b);
    if (!fields.length) return b;
    const f = rng.pick(fields);
    const wireType = rng.pick([0, 1, 2, 3, 4, 5, 6, 7].filter((w) => w !== f.wireType));
    return Buffer.concat([b.subarray(0, f.start), varint(f.field * 8 + wireType), b.subarray(f.payload)]);
  },
  (rng, b) => {
    // A length that lies: longer or shorter than what follows, or absurd.
    const fields = topLevelFields(b).filter((f) => f.wireType === 2);
    if (!fields.length) return b;
    const f = rng.pick(fields);
    const len = readVarint(b, f.payload)!;
    const lie = rng.pick([0, len[0] - 1, len[0] + 1, 2 ** 31, 2 ** 32 + 5, 2 ** 53]);
    return Buffer.concat([b.subarray(0, f.payload), varint(Math.max(0, lie)), b.subarray(len[1])]);
  },
  (rng, b) => {
    const fields = topLevelFields(b);
    for (let i = fields.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [fields[i], fields[j]] = [fields[j]!, fields[i]!];
    }
    return Buffer.concat(fields.map((f) => b.subarray(f.start, f.end)));
  },
];

/** A new input from the corpus: a seed, some field-level edits (when it decodes), then maybe wire-level ones. */
export function mutateXds(rng: Prng, corpus: readonly XdsCorpusEntry[]): { input: XdsInput; from: string } {
  const base = rng.pick(corpus);
  let { mode, service, stage } = base.input;
  // Seeds run both ways: authenticated as `serve` does by default, and in development mode.
  const auth = base.input.auth ?? (rng.chance(0.5) ? 'token' : 'none');
  if (rng.chance(0.05)) service = rng.pick(SERVICES);
  if (rng.chance(0.05)) stage = stage === 'first' ? 'admitted' : 'first';
  let bytes = base.input.bytes;
  const type = requestType(mode);
  if (rng.chance(0.75)) {
    let req: Obj | undefined;
    try {
      req = type.toObject(type.decode(bytes), TO_OBJECT) as Obj;
    } catch {
      req = undefined;
    }
    if (req) {
      for (let i = rng.int(3) + 1; i > 0; i--) rng.pick(FIELD_MUTATIONS)(rng, req, mode);
      try {
        bytes = Buffer.from(type.encode(type.fromObject(req)).finish());
      } catch {
        // An edit protobufjs cannot encode (e.g. a number out of an enum's range) is just skipped.
      }
    }
  }
  if (bytes === base.input.bytes || rng.chance(0.4)) {
    const others = corpus.map((c) => c.input.bytes);
    for (let i = rng.int(3) + 1; i > 0; i--) bytes = rng.pick(WIRE_MUTATIONS)(rng, bytes, others);
  }
  // grpc-js refuses larger messages (XdsServer's maxReceiveMessageBytes) before any crossmesh code sees them.
  if (bytes.length > MAX_REQUEST_BYTES) bytes = bytes.subarray(0, MAX_REQUEST_BYTES);
  return { input: { mode, service, stage, auth, bytes }, from: base.name };
}
