/**
 * Encoding and decoding at the xDS boundary: plain message objects → `google.protobuf.Any` bytes,
 * content-hash versions, DiscoveryRequest/DeltaDiscoveryRequest decoding, and Any → JSON for dumps.
 * Plain objects use the protos' field names (keepCase, e.g. `connect_timeout`), protobufjs
 * conventions (Duration as `{seconds, nanos}`, enums as names or numbers) and nested Any as
 * `{'@type': 'type.googleapis.com/...', ...fields}`. google.protobuf.Struct values are the one
 * exception to keepCase (protobufjs defines them): `{fields: {k: {stringValue: 'v'}}}`.
 */
import { hash } from 'node:crypto';
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
  // Hashed once per set: a shared SotW body (sotw-body.ts) is built once per set and subscription.
  return hash('sha256', parts.join('\u0001'), 'hex').slice(0, 16);
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

/** How one field of a request message is read: its name (for errors), its wire type, and where it goes. */
type FieldReader<D> = readonly [name: string, wire: number, read: (r: WireReader, draft: D) => void];

/** Reads a message's fields into `draft` by `table` (field number → reader); other fields are skipped. */
function readMessage<D>(bytes: Uint8Array, table: Readonly<Record<number, FieldReader<D>>>, draft: D): D {
  const r = new WireReader(bytes);
  for (let tag = r.next(); tag !== 0; tag = r.next()) {
    const field = fieldOf(tag);
    const reader = table[field];
    if (reader === undefined) {
      r.skip(wireOf(tag), field);
      continue;
    }
    r.expect(field, wireOf(tag), reader[1], reader[0]);
    reader[2](r, draft);
  }
  return draft;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** google.rpc.Status: code and message (details are skipped: crossmesh keeps code and message). */
const STATUS_FIELDS: Readonly<Record<number, FieldReader<Mutable<ErrorDetail>>>> = {
  1: ['error_detail.code', WIRE_VARINT, (r, d) => void (d.code = r.int32())],
  2: ['error_detail.message', WIRE_LEN, (r, d) => void (d.message = r.string())],
};

/** Reads a google.rpc.Status from its slices (a field sent twice merges, as protobuf says). */
function decodeStatus(slices: readonly Uint8Array[]): ErrorDetail {
  const status: Mutable<ErrorDetail> = { code: 0, message: '' };
  for (const slice of slices) readMessage(slice, STATUS_FIELDS, status);
  return status;
}

/** A request being read: the decoded fields, plus node and error_detail as raw slices. */
type Draft<T> = Mutable<Omit<T, 'node' | 'errorDetail'>> & { nodes?: Uint8Array[]; errors?: Uint8Array[] };

const SOTW_FIELDS: Readonly<Record<number, FieldReader<Draft<SotwRequest>>>> = {
  1: ['version_info', WIRE_LEN, (r, d) => void (d.versionInfo = r.string())],
  2: ['node', WIRE_LEN, (r, d) => void (d.nodes ??= []).push(r.bytes())],
  3: ['resource_names', WIRE_LEN, (r, d) => void (d.resourceNames as string[]).push(r.string())],
  4: ['type_url', WIRE_LEN, (r, d) => void (d.typeUrl = r.string())],
  5: ['response_nonce', WIRE_LEN, (r, d) => void (d.responseNonce = r.string())],
  6: ['error_detail', WIRE_LEN, (r, d) => void (d.errors ??= []).push(r.bytes())],
};

const MAP_ENTRY_FIELDS: Readonly<Record<number, FieldReader<[string, string]>>> = {
  1: ['initial_resource_versions key', WIRE_LEN, (r, e) => void (e[0] = r.string())],
  2: ['initial_resource_versions value', WIRE_LEN, (r, e) => void (e[1] = r.string())],
};

const DELTA_FIELDS: Readonly<Record<number, FieldReader<Draft<DeltaRequest>>>> = {
  1: ['node', WIRE_LEN, (r, d) => void (d.nodes ??= []).push(r.bytes())],
  2: ['type_url', WIRE_LEN, (r, d) => void (d.typeUrl = r.string())],
  3: ['resource_names_subscribe', WIRE_LEN, (r, d) => void (d.subscribe as string[]).push(r.string())],
  4: ['resource_names_unsubscribe', WIRE_LEN, (r, d) => void (d.unsubscribe as string[]).push(r.string())],
  5: [
    'initial_resource_versions',
    WIRE_LEN,
    (r, d) => {
      const [name, version] = readMessage(r.bytes(), MAP_ENTRY_FIELDS, ['', '']);
      (d.initialResourceVersions as Map<string, string>).set(name, version);
    },
  ],
  6: ['response_nonce', WIRE_LEN, (r, d) => void (d.responseNonce = r.string())],
  7: ['error_detail', WIRE_LEN, (r, d) => void (d.errors ??= []).push(r.bytes())],
};

/** The request of `draft`, with node and error_detail decoded from their slices. */
function finish<T extends { node?: NodeInfo; errorDetail?: ErrorDetail }>(draft: Draft<T>): T {
  // An ACK (the common request) has neither: the draft is the request.
  if (draft.nodes === undefined && draft.errors === undefined) return draft as unknown as T;
  const { nodes, errors, ...fields } = draft;
  const request = fields as unknown as Mutable<T>;
  if (nodes) request.node = decodeNode(nodes);
  if (errors) request.errorDetail = decodeStatus(errors);
  return request;
}

/** Decodes DiscoveryRequest bytes; throws a WireReadError on malformed protobuf. */
export function decodeDiscoveryRequest(bytes: Uint8Array): SotwRequest {
  return finish<SotwRequest>(readMessage(bytes, SOTW_FIELDS, { versionInfo: '', resourceNames: [], typeUrl: '', responseNonce: '' }));
}

/** Decodes DeltaDiscoveryRequest bytes; throws a WireReadError on malformed protobuf. */
export function decodeDeltaDiscoveryRequest(bytes: Uint8Array): DeltaRequest {
  return finish<DeltaRequest>(readMessage(bytes, DELTA_FIELDS, { typeUrl: '', subscribe: [], unsubscribe: [], initialResourceVersions: new Map(), responseNonce: '' }));
}

/** Decodes an encoded resource back into JSON (nested Any as `@type` objects, enums as names) for dumps. */
export function resourceToJson(r: EncodedResource): Record<string, unknown> {
  const type = typeFor(r.typeUrl);
  const anyType = messageType('google.protobuf.Any');
  const any = anyType.decode(r.any) as unknown as { value: Uint8Array };
  const msg = type.decode(any.value);
  return type.toObject(msg, { longs: String, enums: String, bytes: String, defaults: false, json: true }) as Record<string, unknown>;
}
