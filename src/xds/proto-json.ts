/**
 * Reads Envoy configuration written in proto3's JSON/YAML mapping (durations as "1s", wrapper
 * types as bare values, Struct as plain JSON, Any with "@type") into a protobufjs message, with an
 * error naming the field path. Used for bootstrap files and anything users hand-write for Envoy.
 */
import protobuf from 'protobufjs';
import { envoyRoot } from './protos.js';

const WRAPPERS = new Set([
  'google.protobuf.DoubleValue', 'google.protobuf.FloatValue', 'google.protobuf.Int64Value', 'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value', 'google.protobuf.UInt32Value', 'google.protobuf.BoolValue', 'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);

/** A value that does not fit the message type; `path` names the offending field. */
export class ProtoJsonError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path || '(root)'}: ${message}`);
  }
}

/** Parses a proto3 JSON duration such as "1.5s" into {seconds, nanos}. */
export function parseDuration(s: string, path = ''): { seconds: number; nanos: number } {
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(s);
  if (!m) throw new ProtoJsonError(path, `"${s}" is not a duration (expected e.g. "1s" or "0.25s")`);
  const sign = m[1] ? -1 : 1;
  return { seconds: sign * Number(m[2]), nanos: sign * Number((m[3] ?? '').padEnd(9, '0')) };
}

function name(t: protobuf.Type): string {
  return t.fullName.replace(/^\./, '');
}

function structValue(v: unknown): Record<string, unknown> {
  if (v === null) return { null_value: 'NULL_VALUE' };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(structValue) } };
  return { struct_value: struct(v as Record<string, unknown>) };
}

function struct(o: Record<string, unknown>): Record<string, unknown> {
  return { fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, structValue(v)])) };
}

function convertMessage(type: protobuf.Type, value: unknown, path: string): Record<string, unknown> {
  const full = name(type);
  if (full === 'google.protobuf.Duration') {
    if (typeof value === 'string') return parseDuration(value, path);
    return value as Record<string, unknown>;
  }
  if (WRAPPERS.has(full)) return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : { value };
  if (full === 'google.protobuf.Struct') return struct(value as Record<string, unknown>);
  if (full === 'google.protobuf.Value') return structValue(value);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtoJsonError(path, `expected an object for ${full}`);
  }
  const obj = value as Record<string, unknown>;
  if (full === 'google.protobuf.Any') {
    const url = obj['@type'];
    if (typeof url !== 'string') throw new ProtoJsonError(path, 'an Any needs "@type"');
    const inner = lookup(url.replace(/^type\.googleapis\.com\//, ''), path);
    const { '@type': _t, ...rest } = obj;
    return { '@type': url, ...convertMessage(inner, rest, `${path}<${name(inner)}>`) };
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(obj)) {
    const field = type.fields[key] ?? type.fieldsArray.find((f) => f.options?.json_name === key || camel(f.name) === key);
    const fpath = path ? `${path}.${key}` : key;
    if (!field) throw new ProtoJsonError(fpath, `unknown field of ${full}`);
    field.resolve();
    out[field.name] = convertField(field, v, fpath);
  }
  return out;
}

function camel(s: string): string {
  return s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function convertField(field: protobuf.Field, v: unknown, path: string): unknown {
  const rt = field.resolvedType;
  const one = (x: unknown, p: string): unknown => {
    if (rt instanceof protobuf.Type) return convertMessage(rt, x, p);
    if (rt instanceof protobuf.Enum && typeof x === 'string' && !(x in rt.values)) {
      throw new ProtoJsonError(p, `"${x}" is not a ${rt.name} value (one of ${Object.keys(rt.values).join(', ')})`);
    }
    return x;
  };
  if (field.map) {
    if (v === null || typeof v !== 'object') throw new ProtoJsonError(path, 'expected a map');
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, one(x, `${path}[${JSON.stringify(k)}]`)]));
  }
  if (field.repeated) {
    if (!Array.isArray(v)) throw new ProtoJsonError(path, 'expected a list');
    return v.map((x, i) => one(x, `${path}[${i}]`));
  }
  return one(v, path);
}

function lookup(typeName: string, path: string): protobuf.Type {
  try {
    return envoyRoot().lookupType(typeName);
  } catch {
    throw new ProtoJsonError(path, `unknown message type ${typeName}`);
  }
}

/** Converts proto3 JSON of `typeName` into a protobufjs message; throws ProtoJsonError naming the field. */
export function fromProtoJson(typeName: string, json: unknown): protobuf.Message {
  const type = lookup(typeName, '');
  const converted = convertMessage(type, json, '');
  try {
    return type.fromObject(converted);
  } catch (err) {
    throw new ProtoJsonError('', (err as Error).message);
  }
}
