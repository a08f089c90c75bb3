/**
 * Encoding and decoding at the xDS boundary: plain message objects → `google.protobuf.Any` bytes,
 * content-hash versions, DiscoveryRequest/DeltaDiscoveryRequest decoding, and Any → JSON for dumps.
 * Plain objects use the protos' field names (keepCase, e.g. `connect_timeout`), protobufjs
 * conventions (Duration as `{seconds, nanos}`, enums as names or numbers) and nested Any as
 * `{'@type': 'type.googleapis.com/...', ...fields}`. google.protobuf.Struct values are the one
 * exception to keepCase (protobufjs defines them): `{fields: {k: {stringValue: 'v'}}}`.
 */
import { createHash, hash } from 'node:crypto';
import type protobuf from 'protobufjs';
import { messageType } from './protos.js';
import { partMemo } from '../translate/shared-part.js';
import { encodeObject, WireEncodeError } from './wire-encoder.js';
import { WIRE_LEN, WIRE_VARINT, WireReadError, WireReader, fieldOf, wireOf } from './wire-reader.js';
import { messageNameOf, type NodeInfo, type TypeUrl } from './types.js';

/** One resource encoded once: its Any bytes are what every stream writes. */
export interface EncodedResource {
  readonly typeUrl: TypeUrl;
  readonly name: string;
  /** Content hash of the encoded message (hex, 16 chars): equal content ⇒ equal version, across restarts. */
  readonly version: string;
  /** `google.protobuf.Any{type_url, value}` wire bytes. */
  readonly any: Buffer;
  /** For clusters of discovery type EDS: the ClusterLoadAssignment name they load (service_name or cluster name). */
  readonly edsServiceName?: string;
}

function typeFor(typeUrl: TypeUrl): protobuf.Type {
  return messageType(messageNameOf(typeUrl));
}

// ---- protobuf wire helpers (only what the xDS envelopes need) ----

/** Bytes of `n` as a protobuf varint. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes `n` as a protobuf varint at `offset`; returns the offset after it. */
export function writeVarint(buf: Buffer, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[offset++] = n;
  return offset;
}

/** A length-delimited field (wire type 2) to assemble into a message. */
export type Field = { readonly field: number; readonly bytes: Buffer };

function fieldSize(f: Field): number {
  return varintSize((f.field << 3) | 2) + varintSize(f.bytes.length) + f.bytes.length;
}

/** Concatenates length-delimited fields into one message buffer without re-encoding their contents. */
export function assembleMessage(fields: readonly Field[]): Buffer {
  let total = 0;
  for (const f of fields) total += fieldSize(f);
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const f of fields) {
    off = writeVarint(out, off, (f.field << 3) | 2);
    off = writeVarint(out, off, f.bytes.length);
    off += f.bytes.copy(out, off);
  }
  return out;
}

function str(field: number, value: string): Field[] {
  return value === '' ? [] : [{ field, bytes: Buffer.from(value, 'utf8') }];
}

/**
 * Encodes a message object of `typeUrl` into an EncodedResource; throws with the type and name on
 * invalid input (an unknown field name is reported with its path, e.g. `unknown field
 * "transport_socket.typed_config.snii"`: protobufjs would drop it silently).
 *
 * Encoded once, shared everywhere: the result is remembered per message object (translators hand
 * the same object to every group that shares it), and equal content under the same name yields
 * the very same EncodedResource, so every group and stream holds one Buffer per distinct resource.
 */
export function encodeResource(typeUrl: TypeUrl, name: string, message: object): EncodedResource {
  // A shared part keeps its encoding in its own memo slot; other objects in a WeakMap.
  const slot = partMemo(message);
  const memo = slot ? (slot.resource as EncodedResource | undefined) : byObject.get(message);
  if (memo && memo.typeUrl === typeUrl && memo.name === name) return memo;
  const type = typeFor(typeUrl);
  let any: Buffer;
  encodings++;
  try {
    any = encodeObject(type, message, typeUrl);
  } catch (e) {
    const detail = e instanceof WireEncodeError ? (e.path && !e.message.startsWith('unknown field') ? `${e.path}: ${e.message}` : e.message.replace(/^unknown field "[^"]*"/, `unknown field "${e.path}"`)) : e instanceof Error ? e.message : String(e);
    throw new Error(`cannot encode ${messageNameOf(typeUrl)} "${name}": ${detail}`);
  }
  const version = hash('sha256', any, 'hex').slice(0, 16);
  let r = interned.get(version)?.deref();
  if (!r || r.typeUrl !== typeUrl || r.name !== name) {
    const edsServiceName = typeUrl.endsWith('.Cluster') ? edsNameOf(name, message as Record<string, unknown>) : undefined;
    const made: EncodedResource = edsServiceName === undefined ? { typeUrl, name, version, any } : { typeUrl, name, version, any, edsServiceName };
    if (!r) intern(version, made);
    r = made;
  }
  if (slot && slot.resource === undefined) slot.resource = r;
  else byObject.set(message, r);
  return r;
}

let encodings = 0;

/** How many resources were actually encoded so far (not taken from the per-object memo): what tests and benchmarks count. */
export function encodedCount(): number {
  return encodings;
}

/** EncodedResource per message object (objects are immutable once handed over). */
const byObject = new WeakMap<object, EncodedResource>();
/**
 * EncodedResource per version, held weakly: a resource no group holds any more is forgotten. The
 * version hashes the Any bytes, which carry the type URL and the resource's own name, so it alone
 * tells equal resources apart (a hit is still checked for type and name).
 */
const interned = new Map<string, WeakRef<EncodedResource>>();
let internSweepAt = 1024;

function intern(key: string, r: EncodedResource): void {
  interned.set(key, new WeakRef(r));
  if (interned.size < internSweepAt) return;
  for (const [k, ref] of interned) if (!ref.deref()) interned.delete(k);
  internSweepAt = Math.max(1024, interned.size * 2);
}

function edsNameOf(name: string, cluster: Record<string, unknown>): string | undefined {
  const t = cluster.type;
  if (t !== 'EDS' && t !== 3) return undefined;
  const cfg = cluster.eds_cluster_config as { service_name?: unknown } | undefined;
  return typeof cfg?.service_name === 'string' && cfg.service_name !== '' ? cfg.service_name : name;
}

/** Version of a set of resources (SotW `version_info`): hash of the sorted name/version pairs. */
export function setVersion(resources: Iterable<{ readonly name: string; readonly version: string }>): string {
  const parts: string[] = [];
  for (const r of resources) parts.push(`${r.name}\u0000${r.version}`);
  parts.sort();
  const key = parts.join('\u0001');
  // Streams of one group mostly ask for the same sets: hash each distinct set once.
  if (key.length > 4096) return createHash('sha256').update(key).digest('hex').slice(0, 16);
  let v = setVersionMemo.get(key);
  if (v === undefined) {
    v = createHash('sha256').update(key).digest('hex').slice(0, 16);
    if (setVersionMemoChars + key.length > SET_VERSION_MEMO_CHARS) {
      setVersionMemo.clear();
      setVersionMemoChars = 0;
    }
    setVersionMemo.set(key, v);
    setVersionMemoChars += key.length;
  }
  return v;
}

/**
 * The memo holds keys of up to this many characters in all. Bounded by count (4,096 keys) it held
 * up to ~10 MiB of keys of 40-resource sets, filled by a steady stream of endpoint changes over
 * minutes and then dropped: the soak benchmark read that as heap growth (issue 16). The streams
 * of one batch ask for a few sets, so a small memo still hashes each of them once.
 */
const SET_VERSION_MEMO_CHARS = 512 * 1024;
const setVersionMemo = new Map<string, string>();
let setVersionMemoChars = 0;

/** Wire bytes of a DiscoveryResponse assembled from cached Any bytes. */
export function buildDiscoveryResponse(versionInfo: string, typeUrl: string, nonce: string, resources: readonly EncodedResource[]): Buffer {
  const fields: Field[] = [...str(1, versionInfo)];
  for (const r of resources) fields.push({ field: 2, bytes: r.any });
  fields.push(...str(4, typeUrl), ...str(5, nonce));
  return assembleMessage(fields);
}

const deltaResourceCache = new WeakMap<EncodedResource, Buffer>();

/** `envoy.service.discovery.v3.Resource{name, version, resource}` bytes, built once per encoded resource. */
function deltaResourceBytes(r: EncodedResource): Buffer {
  let b = deltaResourceCache.get(r);
  if (!b) {
    b = assembleMessage([...str(1, r.version), { field: 2, bytes: r.any }, ...str(3, r.name)]);
    deltaResourceCache.set(r, b);
  }
  return b;
}

/** Wire bytes of a DeltaDiscoveryResponse assembled from cached Any bytes. */
export function buildDeltaResponse(
  systemVersion: string,
  typeUrl: string,
  nonce: string,
  resources: readonly EncodedResource[],
  removed: readonly string[],
): Buffer {
  const fields: Field[] = [...str(1, systemVersion)];
  for (const r of resources) fields.push({ field: 2, bytes: deltaResourceBytes(r) });
  fields.push(...str(4, typeUrl), ...str(5, nonce));
  for (const name of removed) fields.push({ field: 6, bytes: Buffer.from(name, 'utf8') });
  return assembleMessage(fields);
}

// ---- requests ----

/** `google.rpc.Status` carried by a NACK. */
export interface ErrorDetail {
  readonly code: number;
  readonly message: string;
}

/** A decoded state-of-the-world DiscoveryRequest. */
export interface SotwRequest {
  readonly versionInfo: string;
  readonly node?: NodeInfo;
  readonly resourceNames: readonly string[];
  readonly typeUrl: string;
  readonly responseNonce: string;
  readonly errorDetail?: ErrorDetail;
}

/** A decoded DeltaDiscoveryRequest. */
export interface DeltaRequest {
  readonly node?: NodeInfo;
  readonly typeUrl: string;
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly initialResourceVersions: ReadonlyMap<string, string>;
  readonly responseNonce: string;
  readonly errorDetail?: ErrorDetail;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: false, arrays: true, objects: true };

// protobufjs defines google.protobuf.Struct itself (common.js) with camelCase field names, even under keepCase.
type StructValue = { nullValue?: unknown; numberValue?: number; stringValue?: string; boolValue?: boolean; structValue?: StructObj; listValue?: { values?: StructValue[] } };
type StructObj = { fields?: Record<string, StructValue> };

function structValueToJson(v: StructValue): unknown {
  if (v.structValue !== undefined) return structToJson(v.structValue);
  if (v.listValue !== undefined) return (v.listValue.values ?? []).map(structValueToJson);
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.numberValue !== undefined) return v.numberValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return null;
}

/** Converts a decoded google.protobuf.Struct into plain JSON. */
function structToJson(s: StructObj | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = structValueToJson(v);
  return out;
}

function toNode(raw: Record<string, unknown> | undefined): NodeInfo | undefined {
  if (!raw) return undefined;
  const loc = (raw.locality ?? {}) as Record<string, string | undefined>;
  return {
    id: typeof raw.id === 'string' ? raw.id : '',
    cluster: typeof raw.cluster === 'string' ? raw.cluster : '',
    metadata: structToJson(raw.metadata as StructObj | undefined),
    locality: { region: loc.region ?? '', zone: loc.zone ?? '', sub_zone: loc.sub_zone ?? '' },
    userAgentName: typeof raw.user_agent_name === 'string' ? raw.user_agent_name : '',
    userAgentVersion: typeof raw.user_agent_version === 'string' ? raw.user_agent_version : '',
  };
}

let nodeType: protobuf.Type | undefined;

/** Decodes a config.core.v3.Node from its slices (a field sent twice merges, as protobuf says). */
function decodeNode(slices: readonly Uint8Array[]): NodeInfo | undefined {
  nodeType ??= messageType('envoy.config.core.v3.Node');
  const bytes = slices.length === 1 ? slices[0]! : Buffer.concat(slices);
  let raw: Record<string, unknown>;
  try {
    raw = nodeType.toObject(nodeType.decode(bytes), TO_OBJECT) as Record<string, unknown>;
  } catch (e) {
    throw new WireReadError(`node: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return toNode(raw);
}

/** Reads a google.rpc.Status (details are skipped: crossmesh keeps code and message). */
function decodeStatus(slices: readonly Uint8Array[]): ErrorDetail {
  let code = 0;
  let message = '';
  for (const slice of slices) {
    const r = new WireReader(slice);
    for (let tag = r.next(); tag !== 0; tag = r.next()) {
      const field = fieldOf(tag);
      const wire = wireOf(tag);
      if (field === 1) {
        r.expect(field, wire, WIRE_VARINT, 'error_detail.code');
        code = r.int32();
      } else if (field === 2) {
        r.expect(field, wire, WIRE_LEN, 'error_detail.message');
        message = r.string();
      } else r.skip(wire, field);
    }
  }
  return { code, message };
}

/** Decodes DiscoveryRequest bytes; throws a WireReadError on malformed protobuf. */
export function decodeDiscoveryRequest(bytes: Uint8Array): SotwRequest {
  let versionInfo = '';
  let typeUrl = '';
  let responseNonce = '';
  const resourceNames: string[] = [];
  let nodes: Uint8Array[] | undefined;
  let errors: Uint8Array[] | undefined;
  const r = new WireReader(bytes);
  for (let tag = r.next(); tag !== 0; tag = r.next()) {
    const field = fieldOf(tag);
    const wire = wireOf(tag);
    switch (field) {
      case 1:
        r.expect(field, wire, WIRE_LEN, 'version_info');
        versionInfo = r.string();
        break;
      case 2:
        r.expect(field, wire, WIRE_LEN, 'node');
        (nodes ??= []).push(r.bytes());
        break;
      case 3:
        r.expect(field, wire, WIRE_LEN, 'resource_names');
        resourceNames.push(r.string());
        break;
      case 4:
        r.expect(field, wire, WIRE_LEN, 'type_url');
        typeUrl = r.string();
        break;
      case 5:
        r.expect(field, wire, WIRE_LEN, 'response_nonce');
        responseNonce = r.string();
        break;
      case 6:
        r.expect(field, wire, WIRE_LEN, 'error_detail');
        (errors ??= []).push(r.bytes());
        break;
      default:
        r.skip(wire, field);
    }
  }
  const request: { -readonly [K in keyof SotwRequest]: SotwRequest[K] } = { versionInfo, resourceNames, typeUrl, responseNonce };
  if (nodes) request.node = decodeNode(nodes);
  if (errors) request.errorDetail = decodeStatus(errors);
  return request;
}

/** Reads one map<string, string> entry (key 1, value 2). */
function readMapEntry(r: WireReader): [string, string] {
  const entry = new WireReader(r.bytes());
  let key = '';
  let value = '';
  for (let tag = entry.next(); tag !== 0; tag = entry.next()) {
    const field = fieldOf(tag);
    const wire = wireOf(tag);
    if (field === 1 || field === 2) {
      entry.expect(field, wire, WIRE_LEN, field === 1 ? 'initial_resource_versions key' : 'initial_resource_versions value');
      if (field === 1) key = entry.string();
      else value = entry.string();
    } else entry.skip(wire, field);
  }
  return [key, value];
}

/** Decodes DeltaDiscoveryRequest bytes; throws a WireReadError on malformed protobuf. */
export function decodeDeltaDiscoveryRequest(bytes: Uint8Array): DeltaRequest {
  let typeUrl = '';
  let responseNonce = '';
  const subscribe: string[] = [];
  const unsubscribe: string[] = [];
  const initialResourceVersions = new Map<string, string>();
  let nodes: Uint8Array[] | undefined;
  let errors: Uint8Array[] | undefined;
  const r = new WireReader(bytes);
  for (let tag = r.next(); tag !== 0; tag = r.next()) {
    const field = fieldOf(tag);
    const wire = wireOf(tag);
    switch (field) {
      case 1:
        r.expect(field, wire, WIRE_LEN, 'node');
        (nodes ??= []).push(r.bytes());
        break;
      case 2:
        r.expect(field, wire, WIRE_LEN, 'type_url');
        typeUrl = r.string();
        break;
      case 3:
        r.expect(field, wire, WIRE_LEN, 'resource_names_subscribe');
        subscribe.push(r.string());
        break;
      case 4:
        r.expect(field, wire, WIRE_LEN, 'resource_names_unsubscribe');
        unsubscribe.push(r.string());
        break;
      case 5: {
        r.expect(field, wire, WIRE_LEN, 'initial_resource_versions');
        const [k, v] = readMapEntry(r);
        initialResourceVersions.set(k, v);
        break;
      }
      case 6:
        r.expect(field, wire, WIRE_LEN, 'response_nonce');
        responseNonce = r.string();
        break;
      case 7:
        r.expect(field, wire, WIRE_LEN, 'error_detail');
        (errors ??= []).push(r.bytes());
        break;
      default:
        r.skip(wire, field);
    }
  }
  const request: { -readonly [K in keyof DeltaRequest]: DeltaRequest[K] } = { typeUrl, subscribe, unsubscribe, initialResourceVersions, responseNonce };
  if (nodes) request.node = decodeNode(nodes);
  if (errors) request.errorDetail = decodeStatus(errors);
  return request;
}

/** Decodes an encoded resource back into JSON (nested Any as `@type` objects, enums as names) for dumps. */
export function resourceToJson(r: EncodedResource): Record<string, unknown> {
  const type = typeFor(r.typeUrl);
  const anyType = messageType('google.protobuf.Any');
  const any = anyType.decode(r.any) as unknown as { value: Uint8Array };
  const msg = type.decode(any.value);
  return type.toObject(msg, { longs: String, enums: String, bytes: String, defaults: false, json: true }) as Record<string, unknown>;
}
