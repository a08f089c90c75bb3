/**
 * Checks an Envoy resource against the protoc-gen-validate rules carried in Envoy's own protos,
 * the same rules Envoy enforces when it receives a resource. Rules are read from the loaded proto
 * options, so they follow the proto version shipped with the dependency, not a hand-kept copy.
 * Beyond PGV, every `RegexMatcher` (`safe_regex`) is compiled with RE2 as Envoy compiles it: a
 * pattern that is not RE2 or whose program is over Envoy's size limit is a violation (config/re2.ts);
 * and the header mutations of route configurations, virtual hosts, routes and weighted clusters
 * must not add or remove `host` or a `:`-prefixed header (config/envoy-rules.ts).
 * Pure: it reads only the (static) loaded protos and asks RE2.
 */
import protobuf from 'protobufjs';
import { headerMutationProblem } from '../config/envoy-rules.js';
import { ENVOY_MAX_PROGRAM_SIZE, envoyRegexProblem } from '../config/re2.js';
import { envoyRoot } from '../xds/protos.js';
import { partMemo } from './shared-part.js';

/** One broken rule, with the field path inside the resource (e.g. `filter_chains[0].filters[1].name`). */
export interface Violation {
  readonly path: string;
  readonly message: string;
}

type Rules = Record<string, unknown>;
/** A violation while the walk is in progress: its path is relative to the value being checked and grows on the way up. */
type Found = { path: string; message: string };
type Decoded = Record<string, unknown>;

const TYPE_PREFIX = 'type.googleapis.com/';

/** Validates an encoded resource of the given fully-qualified message type. */
export function validateEncoded(typeName: string, bytes: Uint8Array): Violation[] {
  const type = typeNamed(typeName);
  let msg: protobuf.Message;
  try {
    msg = type.decode(bytes);
  } catch (err) {
    return [{ path: '', message: `does not decode as ${typeName}: ${(err as Error).message}` }];
  }
  const out: Found[] = [];
  checkMessage(type, msg as unknown as Decoded, out, 0);
  return out;
}

/**
 * Validates a resource given as a keepCase plain object, as protobufjs `fromObject` would read it
 * (enum names or numbers, nested Any as `{'@type': ...}` or as `{type_url, value}` bytes), without
 * building message instances.
 */
export function validateObject(typeName: string, obj: Record<string, unknown>): Violation[] {
  return validateAndCollect(typeName, obj).violations;
}

/** PGV violations and SDS secret names of one resource. */
export interface ObjectCheck {
  readonly violations: Violation[];
  /** Names referenced by `*_sds_secret_config(s)` fields, in walk order (repeats possible). */
  readonly secrets: string[];
}

/**
 * `validateObject` that also collects the secret names the resource references through
 * `*_sds_secret_config(s)` fields, in the same walk (the guard needs both; one walk per resource).
 */
export function validateAndCollect(typeName: string, obj: Record<string, unknown>): ObjectCheck {
  const type = typeNamed(typeName);
  const out: Found[] = [];
  const secrets: string[] = [];
  if (typeof obj !== 'object' || obj === null) return { violations: [{ path: '', message: `cannot be encoded as ${typeName}: object expected` }], secrets };
  const outer = collected;
  collected = secrets;
  try {
    checkMessage(type, obj, out, 0);
  } finally {
    collected = outer;
  }
  return { violations: out, secrets };
}

/** Where the walk in progress puts the secret names it meets (set by validateAndCollect, swapped by the frozen memo). */
let collected: string[] = [];

/** Whether a field name is one of the `*_sds_secret_config` / `*_sds_secret_configs` fields. */
export function isSdsField(k: string): boolean {
  return k.length >= 17 && (k.endsWith('sds_secret_config') || k.endsWith('sds_secret_configs'));
}

function isPlainObj(v: unknown): v is Decoded {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function collectSdsValue(v: unknown): void {
  if (Array.isArray(v)) {
    for (const c of v) if (isPlainObj(c)) collected.push(String(c.name ?? ''));
  } else if (isPlainObj(v)) collected.push(String(v.name ?? ''));
}

/** Untyped secret walk, for the parts the typed walk does not enter (skipped types, unknown Any payloads, too deep). */
function collectUntyped(r: unknown): void {
  if (Array.isArray(r)) {
    for (let i = 0; i < r.length; i++) {
      const x: unknown = r[i];
      if (typeof x === 'object' && x !== null) collectUntyped(x);
    }
  } else if (isPlainObj(r)) {
    for (const k in r) {
      const v = r[k];
      if (typeof v !== 'object' || v === null) continue;
      if (isSdsField(k)) collectSdsValue(v);
      collectUntyped(v);
    }
  }
}

const typesByName = new Map<string, protobuf.Type>();

/** protobufjs resolves a name by walking namespaces on every lookup; resources are validated by the thousand. */
function typeNamed(name: string): protobuf.Type {
  let t = typesByName.get(name);
  if (!t) typesByName.set(name, (t = envoyRoot().lookupType(name)));
  return t;
}

/** Renders violations as one line each, for logs and status pages. */
export function formatViolations(resourceName: string, violations: readonly Violation[]): string[] {
  return violations.map((v) => `${resourceName}: ${v.path || '(root)'}: ${v.message}`);
}

const MAX_DEPTH = 64;

function rulesOf(obj: protobuf.ReflectionObject): Rules | undefined {
  const parsed = obj.parsedOptions as Array<Record<string, unknown>> | undefined;
  if (!parsed) return undefined;
  for (const o of parsed) {
    if (o && '(validate.rules)' in o) return o['(validate.rules)'] as Rules;
  }
  return undefined;
}

function optionTrue(obj: protobuf.ReflectionObject, name: string): boolean {
  return obj.options?.[name] === true;
}

/**
 * Puts `segment` (a field name, `[i]`, `["key"]` or `<type>`) in front of the paths of the
 * violations found since `mark`: paths are assembled on the way up, and only when something failed,
 * so a clean walk builds no path strings.
 */
function under(out: Found[], mark: number, segment: string): void {
  for (let i = mark; i < out.length; i++) {
    const v = out[i]!;
    const p = v.path;
    v.path = p === '' ? segment : p.charCodeAt(0) === 91 /* [ */ || p.charCodeAt(0) === 60 /* < */ ? segment + p : `${segment}.${p}`;
  }
}

function isSet(msg: Decoded, field: protobuf.Field): boolean {
  if (!Object.prototype.hasOwnProperty.call(msg, field.name)) return false;
  const v = msg[field.name];
  return v !== null && v !== undefined;
}

function anySet(msg: Decoded, fields: readonly protobuf.Field[]): boolean {
  for (let i = 0; i < fields.length; i++) if (isSet(msg, fields[i]!)) return true;
  return false;
}

/** What checking a field involves, computed once per field (the walk reads these, not protobufjs's getters). */
interface FieldPlan {
  readonly field: protobuf.Field;
  readonly name: string;
  /** Position among the plan's fields: fields are checked (and violations reported) in this order. */
  readonly index: number;
  readonly rules: Rules | undefined;
  /** A `*_sds_secret_config(s)` field: its secret names are collected. */
  readonly sds: boolean;
  readonly map: boolean;
  readonly repeated: boolean;
  /** A member of a oneof (or a proto3 `optional`): checked only when set. */
  readonly partOf: boolean;
  readonly messageType: protobuf.Type | undefined;
  /** Repeated messages without item rules (not Any): a frozen item's check is memoized. */
  readonly plainMessages: boolean;
  readonly repeatedRules: Rules | undefined;
  readonly itemRules: Rules | undefined;
}

/** What checking a message type involves: only the oneofs and fields that carry rules somewhere below. */
interface TypePlan {
  readonly skip: boolean;
  readonly requiredOneofs: readonly protobuf.OneOf[];
  readonly fields: readonly FieldPlan[];
  readonly byName: ReadonlyMap<string, FieldPlan>;
  /** Fields whose rules can fail when the field is not set (required, min_items, a default that breaks a rule). */
  readonly checkedWhenAbsent: readonly FieldPlan[];
  /** An `envoy.type.matcher.v3.RegexMatcher`: its pattern is compiled with RE2 (Envoy's own check). */
  readonly regex: boolean;
  /** A type whose `*_headers_to_add/remove` Envoy's HeaderParser reads (route configuration, virtual host, route, weighted cluster). */
  readonly headerMutations: boolean;
}

const plans = new Map<protobuf.Type, TypePlan>();
const needsMemo = new Map<protobuf.Type, boolean>();

/**
 * Whether any rule can apply inside a message of this type (Any always: its payload may carry rules).
 * A type met again while it is being computed counts as "no rules" on that path; results that
 * depended on such a provisional answer are not memoized.
 */
function needsCheck(type: protobuf.Type, inProgress: Set<protobuf.Type> = new Set()): { needs: boolean; provisional: boolean } {
  const memo = needsMemo.get(type);
  if (memo !== undefined) return { needs: memo, provisional: false };
  if (inProgress.has(type)) return { needs: false, provisional: true };
  if (fullName(type) === 'google.protobuf.Any') return { needs: true, provisional: false };
  if (optionTrue(type, '(validate.disabled)') || optionTrue(type, '(validate.ignored)')) {
    needsMemo.set(type, false);
    return { needs: false, provisional: false };
  }
  inProgress.add(type);
  let needs = type.oneofsArray.some((o) => o.options?.['(validate.required)'] === true) || type.fieldsArray.some((f) => isSdsField(f.name));
  let provisional = false;
  for (const field of type.fieldsArray) {
    if (needs) break;
    field.resolve();
    if (rulesOf(field)) needs = true;
    else if (field.resolvedType instanceof protobuf.Type) {
      const r = needsCheck(field.resolvedType, inProgress);
      needs ||= r.needs;
      provisional ||= r.provisional;
    }
  }
  inProgress.delete(type);
  if (needs || !provisional) needsMemo.set(type, needs);
  return { needs, provisional: !needs && provisional };
}

function planOf(type: protobuf.Type): TypePlan {
  let p = plans.get(type);
  if (p) return p;
  const skip = optionTrue(type, '(validate.disabled)') || optionTrue(type, '(validate.ignored)');
  const fields: FieldPlan[] = [];
  for (const field of type.fieldsArray) {
    field.resolve();
    const rules = rulesOf(field);
    const rt = field.resolvedType;
    const sds = isSdsField(field.name);
    if (!(rules || sds || (rt instanceof protobuf.Type && needsCheck(rt).needs))) continue;
    const messageType = rt instanceof protobuf.Type ? rt : undefined;
    const repeatedRules = rules?.repeated as Rules | undefined;
    const itemRules = repeatedRules?.items as Rules | undefined;
    fields.push({
      field,
      name: field.name,
      index: fields.length,
      rules,
      sds,
      map: field.map,
      repeated: field.repeated,
      partOf: field.partOf !== null && field.partOf !== undefined,
      messageType,
      plainMessages: itemRules === undefined && messageType !== undefined && fullName(messageType) !== 'google.protobuf.Any',
      repeatedRules,
      itemRules,
    });
  }
  // An unset field reads the same in every message: what checking it finds is found once, here.
  const checkedWhenAbsent = fields.filter((fp) => {
    const found: Found[] = [];
    checkField(fp, EMPTY_MESSAGE, found, 0);
    return found.length > 0;
  });
  p = {
    skip,
    requiredOneofs: type.oneofsArray.filter((o) => o.options?.['(validate.required)'] === true),
    fields,
    byName: new Map(fields.map((f) => [f.name, f])),
    checkedWhenAbsent,
    regex: fullName(type) === REGEX_MATCHER,
    headerMutations: HEADER_MUTATION_TYPES.has(fullName(type)),
  };
  plans.set(type, p);
  return p;
}

const EMPTY_MESSAGE: Decoded = Object.freeze({});

/**
 * The fields to check in each message being walked, in plan order: its own keys that are plan
 * fields, plus the plan's fields that fail when unset and are not set. One stack for the whole
 * walk (a message's entries sit above its parent's while it is checked).
 */
const pending: FieldPlan[] = [];
let pendingCount = 0;

function pushPending(start: number, fp: FieldPlan): void {
  let i = pendingCount++;
  while (i > start && pending[i - 1]!.index > fp.index) {
    pending[i] = pending[i - 1]!;
    i--;
  }
  pending[i] = fp;
}

function checkMessage(type: protobuf.Type, msg: Decoded, out: Found[], depth: number): void {
  if (depth > MAX_DEPTH) {
    out.push({ path: '', message: 'message nesting too deep' });
    collectUntyped(msg);
    return;
  }
  const plan = planOf(type);
  if (plan.skip) {
    collectUntyped(msg);
    return;
  }

  for (const oneof of plan.requiredOneofs) {
    if (!anySet(msg, oneof.fieldsArray)) {
      out.push({ path: oneof.name, message: `exactly one of ${oneof.fieldsArray.map((f) => f.name).join(', ')} is required` });
    }
  }

  // Only the message's own plan fields and the plan's fields that fail when unset: a message sets
  // a few of its type's many fields, and probing the others one by one is most of a walk's cost.
  const start = pendingCount;
  for (const key in msg) {
    const fp = plan.byName.get(key);
    if (fp === undefined || !isSet(msg, fp.field)) continue;
    pushPending(start, fp);
  }
  const absent = plan.checkedWhenAbsent;
  for (let i = 0; i < absent.length; i++) if (!isSet(msg, absent[i]!.field)) pushPending(start, absent[i]!);
  const end = pendingCount;
  try {
    for (let i = start; i < end; i++) checkField(pending[i]!, msg, out, depth);
  } finally {
    pendingCount = start;
  }
  if (plan.regex) checkRegex(msg, out);
  if (plan.headerMutations) checkHeaderMutations(msg, out);
}

const REGEX_MATCHER = 'envoy.type.matcher.v3.RegexMatcher';

/** The route messages whose header mutations Envoy builds with HeaderParser::configure (router/config_impl.cc). */
const HEADER_MUTATION_TYPES: ReadonlySet<string> = new Set([
  'envoy.config.route.v3.RouteConfiguration',
  'envoy.config.route.v3.VirtualHost',
  'envoy.config.route.v3.Route',
  'envoy.config.route.v3.WeightedCluster.ClusterWeight',
]);

/** Envoy refuses a route configuration that adds or removes `host` or a `:`-prefixed header at any of these levels. */
function checkHeaderMutations(msg: Decoded, out: Found[]): void {
  for (const field of ['request_headers_to_add', 'response_headers_to_add'] as const) {
    const options = msg[field];
    if (!Array.isArray(options)) continue;
    options.forEach((o: unknown, i) => {
      const key = isPlainObj(o) && isPlainObj(o.header) ? o.header.key : undefined;
      const problem = typeof key === 'string' ? headerMutationProblem(key, 'add') : undefined;
      if (problem) out.push({ path: `${field}[${i}].header.key`, message: problem });
    });
  }
  for (const field of ['request_headers_to_remove', 'response_headers_to_remove'] as const) {
    const names = msg[field];
    if (!Array.isArray(names)) continue;
    names.forEach((n: unknown, i) => {
      const problem = typeof n === 'string' ? headerMutationProblem(n, 'remove') : undefined;
      if (problem) out.push({ path: `${field}[${i}]`, message: problem });
    });
  }
}

/**
 * Envoy compiles a RegexMatcher's pattern with RE2 when it loads the resource and refuses the
 * resource if RE2 does, or if the program is larger than the limit: the deprecated
 * `google_re2.max_program_size` when set, else the runtime's `re2.max_program_size.error_level`
 * (100 unless overridden; crossmesh's bootstraps do not override it).
 */
function checkRegex(msg: Decoded, out: Found[]): void {
  const pattern = msg.regex;
  // An empty or missing pattern is PGV's min_len violation, already reported.
  if (typeof pattern !== 'string' || pattern === '') return;
  const engine = msg.google_re2;
  const max = isPlainObj(engine) && isPlainObj(engine.max_program_size) ? toNumber(engine.max_program_size.value) : ENVOY_MAX_PROGRAM_SIZE;
  const problem = envoyRegexProblem(pattern, max);
  if (problem) out.push({ path: 'regex', message: problem });
}

/** Checks one field of a message (set or not) against its rules, and what it holds. */
function checkField(fp: FieldPlan, msg: Decoded, out: Found[], depth: number): void {
  const field = fp.field;
  const mark = out.length;
  const value = msg[fp.name];
  const present = value !== undefined && value !== null && hasOwn.call(msg, fp.name);
  if (fp.sds && present) collectSdsValue(value);

  if (fp.map) {
    const entries = present ? Object.entries(value as Record<string, unknown>) : (NONE as readonly [string, unknown][]);
    if (fp.rules?.map) checkMap(fp.rules.map as Rules, field, entries, out);
    for (const [k, v] of entries) {
      const at = out.length;
      checkValue(field, v, undefined, out, depth);
      if (out.length > at) under(out, at, `[${JSON.stringify(k)}]`);
    }
  } else if (fp.repeated) {
    const items = present ? (value as unknown[]) : NONE;
    if (fp.repeatedRules) checkRepeated(fp.repeatedRules, items, out);
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      const at = out.length;
      // A shared frozen item that was checked before costs a lookup.
      if (fp.plainMessages && typeof item === 'object' && item !== null && Object.isFrozen(item)) {
        const vs = frozenViolations(fp.messageType!, item as Decoded, depth);
        for (let j = 0; j < vs.length; j++) out.push({ path: vs[j]!.path, message: vs[j]!.message });
      } else checkValue(field, item, fp.itemRules, out, depth);
      if (out.length > at) under(out, at, `[${i}]`);
    }
  } else {
    // PGV checks a oneof member (and a proto3 `optional` field) only when it is set.
    if (!present && fp.partOf) return;
    // A plain proto3 scalar that is not set reads as its default; rules still apply to it, as in PGV.
    const effective = present ? value : fp.messageType ? undefined : field.defaultValue;
    checkValue(field, effective, fp.rules, out, depth);
  }
  if (out.length > mark) under(out, mark, fp.name);
}

const hasOwn = Object.prototype.hasOwnProperty;

function checkValue(field: protobuf.Field, value: unknown, rules: Rules | undefined, out: Found[], depth: number): void {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) {
    checkMessageField(rt, value as Decoded | undefined, rules, out, depth);
    return;
  }
  if (rt instanceof protobuf.Enum) {
    if (typeof value === 'string') {
      const n = rt.values[value];
      if (n === undefined) {
        out.push({ path: '', message: `"${value}" is not a ${rt.name} value` });
        return;
      }
      if (rules?.enum) checkEnum(rules.enum as Rules, rt, n, out);
    } else if (rules?.enum) checkEnum(rules.enum as Rules, rt, Number(value ?? 0), out);
    return;
  }
  if (!rules) return;
  checkScalar(field.type, rules, value, out);
}

const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

const fullNames = new Map<protobuf.Type, string>();

/** protobufjs recomputes `fullName` by walking parents on every read; this is on the hot path. */
function fullName(t: protobuf.Type): string {
  let n = fullNames.get(t);
  if (n === undefined) fullNames.set(t, (n = t.fullName.replace(/^\./, '')));
  return n;
}

function checkMessageField(type: protobuf.Type, value: Decoded | undefined, rules: Rules | undefined, out: Found[], depth: number): void {
  const name = fullName(type);
  const msgRules = rules?.message as Rules | undefined;
  const required = msgRules?.required === true || (rules?.duration as Rules | undefined)?.required === true || (rules?.any as Rules | undefined)?.required === true || (rules?.timestamp as Rules | undefined)?.required === true;
  if (value === undefined || value === null) {
    if (required) out.push({ path: '', message: 'is required' });
    return;
  }
  if (msgRules?.skip === true) {
    collectUntyped(value);
    return;
  }

  const wrapped = WRAPPERS[name];
  if (wrapped && rules) {
    checkScalar(wrapped, rules, value.value ?? (wrapped === 'string' ? '' : wrapped === 'bool' ? false : 0), out);
    return;
  }
  if (name === 'google.protobuf.Duration') {
    if (rules?.duration) checkDuration(rules.duration as Rules, value, out);
    return;
  }
  if (name === 'google.protobuf.Any') {
    checkAny(rules?.any as Rules | undefined, value, out, depth);
    return;
  }
  if (Object.isFrozen(value)) {
    const vs = frozenViolations(type, value, depth);
    for (let j = 0; j < vs.length; j++) out.push({ path: vs[j]!.path, message: vs[j]!.message });
    return;
  }
  checkMessage(type, value, out, depth + 1);
}

/**
 * Violations inside frozen sub-messages, per type, relative to the sub-message: a frozen object
 * cannot change, so translators freeze what many resources share and it is checked once (frozen
 * parts nested in it too: an endpoint shared by many locality groups, each shared by many assignments).
 */
interface FrozenCheck {
  readonly violations: readonly Violation[];
  readonly secrets: readonly string[];
}

const frozenMemo = new Map<protobuf.Type, WeakMap<object, FrozenCheck>>();
const NONE: readonly never[] = Object.freeze([]);
/** The check of a part with no violations and no secrets (most of them): one object for all. */
const CLEAN: FrozenCheck = Object.freeze({ violations: NONE, secrets: NONE });

function frozenViolations(type: protobuf.Type, value: Decoded, depth: number): readonly Violation[] {
  // A shared part keeps its check in its own memo slot (the first type it is checked as).
  const memo = partMemo(value);
  let m: WeakMap<object, FrozenCheck> | undefined;
  let c: FrozenCheck | undefined;
  if (memo !== undefined && memo.checkedAs === type) c = memo.check as FrozenCheck;
  else if (memo === undefined || memo.checkedAs !== undefined) {
    m = frozenMemo.get(type);
    if (!m) frozenMemo.set(type, (m = new WeakMap()));
    c = m.get(value);
  }
  if (!c) {
    const out: Found[] = [];
    const outer = collected;
    const secrets: string[] = [];
    collected = secrets;
    try {
      checkMessage(type, value, out, depth + 1);
    } finally {
      collected = outer;
    }
    c = out.length || secrets.length ? { violations: out.length ? out : NONE, secrets: secrets.length ? secrets : NONE } : CLEAN;
    if (m) m.set(value, c);
    else {
      memo!.checkedAs = type;
      memo!.check = c;
    }
  }
  for (let i = 0; i < c.secrets.length; i++) collected.push(c.secrets[i]!);
  return c.violations;
}

function checkAny(rules: Rules | undefined, value: Decoded, out: Found[], depth: number): void {
  // Object form `{'@type': url, ...fields}` (what translators emit), or decoded `{type_url, value}`.
  const packed = typeof value['@type'] === 'string' && value['@type'] !== '';
  const url = packed ? String(value['@type']) : String(value.type_url ?? '');
  if (rules?.in && !list(rules.in).includes(url)) out.push({ path: '', message: `type ${url} is not one of ${list(rules.in).join(', ')}` });
  if (rules?.not_in && list(rules.not_in).includes(url)) out.push({ path: '', message: `type ${url} is not allowed` });
  if (!url.startsWith(TYPE_PREFIX)) {
    out.push({ path: '', message: `type_url "${url}" must start with ${TYPE_PREFIX}` });
    if (packed) collectUntyped(value);
    return;
  }
  const inner = anyType(url);
  if (!inner) {
    out.push({ path: '', message: `unknown type ${url}` });
    if (packed) collectUntyped(value);
    return;
  }
  let decoded: Decoded;
  if (packed) decoded = value;
  else {
    try {
      decoded = inner.decode((value.value as Uint8Array) ?? new Uint8Array()) as unknown as Decoded;
    } catch (err) {
      out.push({ path: '', message: `payload does not decode as ${url}: ${(err as Error).message}` });
      return;
    }
  }
  const mark = out.length;
  if (packed) checkMessage(inner, decoded, out, depth + 1);
  else {
    // Secrets are references in the object form; an already-encoded payload is not searched for them.
    const outer = collected;
    collected = [];
    try {
      checkMessage(inner, decoded, out, depth + 1);
    } finally {
      collected = outer;
    }
  }
  if (out.length > mark) under(out, mark, `<${url.slice(TYPE_PREFIX.length)}>`);
}

const anyTypes = new Map<string, protobuf.Type | null>();

function anyType(url: string): protobuf.Type | undefined {
  let t = anyTypes.get(url);
  if (t === undefined) {
    try {
      t = envoyRoot().lookupType(url.slice(TYPE_PREFIX.length));
    } catch {
      t = null;
    }
    anyTypes.set(url, t);
  }
  return t ?? undefined;
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number; unsigned?: boolean };
    return (l.unsigned ? l.high >>> 0 : l.high) * 2 ** 32 + (l.low >>> 0);
  }
  return Number(v ?? 0);
}

function durationNanos(v: Decoded | Rules | undefined): number {
  if (!v) return 0;
  return toNumber(v.seconds) * 1e9 + toNumber(v.nanos);
}

/** A repeated rule option written once in the proto (`not_in: 0`) is parsed as a scalar. */
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

function checkRange(n: number, r: Rules, out: Found[], fmt: (x: number) => string = String, conv: (x: unknown) => number = toNumber): void {
  if (r.const !== undefined && n !== conv(r.const)) out.push({ path: '', message: `must equal ${fmt(conv(r.const))}` });
  if (r.in !== undefined && !list(r.in).map(conv).includes(n)) out.push({ path: '', message: `must be one of ${list(r.in).map((x) => fmt(conv(x))).join(', ')}` });
  if (r.not_in !== undefined && list(r.not_in).map(conv).includes(n)) out.push({ path: '', message: `must not be ${fmt(n)}` });
  const hasLo = r.gt !== undefined || r.gte !== undefined;
  const hasHi = r.lt !== undefined || r.lte !== undefined;
  if (!hasLo && !hasHi) return;
  const loIncl = r.gt === undefined;
  const lo = hasLo ? conv(r.gt !== undefined ? r.gt : r.gte) : 0;
  const hiIncl = r.lt === undefined;
  const hi = hasHi ? conv(r.lt !== undefined ? r.lt : r.lte) : 0;
  const aboveLo = hasLo ? (loIncl ? n >= lo : n > lo) : true;
  const belowHi = hasHi ? (hiIncl ? n <= hi : n < hi) : true;
  if (aboveLo && belowHi) return;
  const bounds = [hasLo && `${loIncl ? '>=' : '>'} ${fmt(lo)}`, hasHi && `${hiIncl ? '<=' : '<'} ${fmt(hi)}`].filter(Boolean);
  if (hasLo && hasHi && hi < lo) {
    // PGV: an upper bound below the lower bound means "outside the range".
    if (!(aboveLo || belowHi)) out.push({ path: '', message: `must be ${bounds.join(' or ')}, got ${fmt(n)}` });
  } else {
    out.push({ path: '', message: `must be ${bounds.join(' and ')}, got ${fmt(n)}` });
  }
}

function checkDuration(r: Rules, value: Decoded, out: Found[]): void {
  const n = durationNanos(value);
  const nanos = toNumber(value.nanos);
  if (Math.abs(nanos) > 999_999_999) out.push({ path: '', message: 'nanos out of range' });
  checkRange(n, r, out, formatSeconds, durationOfRule);
}

function formatSeconds(nanos: number): string {
  return `${nanos / 1e9}s`;
}

function durationOfRule(x: unknown): number {
  return durationNanos(x as Rules);
}

const definedValues = new Map<protobuf.Enum, ReadonlySet<number>>();

function checkEnum(r: Rules, en: protobuf.Enum, n: number, out: Found[]): void {
  if (r.defined_only === true) {
    let defined = definedValues.get(en);
    if (!defined) definedValues.set(en, (defined = new Set(Object.values(en.values))));
    if (!defined.has(n)) out.push({ path: '', message: `${n} is not a defined ${en.name} value` });
  }
  // Only const/in/not_in apply to enums (not the numeric bounds).
  if (r.const !== undefined || r.in !== undefined || r.not_in !== undefined) checkRange(n, { const: r.const, in: r.in, not_in: r.not_in }, out);
}

function checkRepeated(r: Rules, items: readonly unknown[], out: Found[]): void {
  if (r.min_items !== undefined && items.length < toNumber(r.min_items)) out.push({ path: '', message: `needs at least ${toNumber(r.min_items)} item(s), has ${items.length}` });
  if (r.max_items !== undefined && items.length > toNumber(r.max_items)) out.push({ path: '', message: `allows at most ${toNumber(r.max_items)} item(s), has ${items.length}` });
  if (r.unique === true) {
    const seen = new Set<string>();
    for (const it of items) {
      const key = JSON.stringify(it);
      if (seen.has(key)) out.push({ path: '', message: `items must be unique, ${key} repeats` });
      seen.add(key);
    }
  }
}

function checkMap(r: Rules, field: protobuf.MapField | protobuf.Field, entries: readonly [string, unknown][], out: Found[]): void {
  if (r.min_pairs !== undefined && entries.length < toNumber(r.min_pairs)) out.push({ path: '', message: `needs at least ${toNumber(r.min_pairs)} entr(ies)` });
  if (r.max_pairs !== undefined && entries.length > toNumber(r.max_pairs)) out.push({ path: '', message: `allows at most ${toNumber(r.max_pairs)} entr(ies)` });
  const keyRules = r.keys as Rules | undefined;
  if (keyRules) {
    const keyType = (field as protobuf.MapField).keyType;
    for (const [k] of entries) {
      const at = out.length;
      checkScalar(keyType, keyRules, keyType === 'string' ? k : Number(k), out);
      if (out.length > at) under(out, at, `[${JSON.stringify(k)}]`);
    }
  }
}

const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;

function checkScalar(type: string, rules: Rules, value: unknown, out: Found[]): void {
  const r = rules[type === 'float' ? 'float' : type] as Rules | undefined;
  if (!r) return;
  switch (type) {
    case 'string':
      checkString(r, String(value ?? ''), out);
      return;
    case 'bytes': {
      const b = typeof value === 'string' ? Buffer.from(value, 'base64') : ((value as Uint8Array | undefined) ?? new Uint8Array());
      if (r.min_len !== undefined && b.length < toNumber(r.min_len)) out.push({ path: '', message: `needs at least ${toNumber(r.min_len)} byte(s)` });
      if (r.max_len !== undefined && b.length > toNumber(r.max_len)) out.push({ path: '', message: `allows at most ${toNumber(r.max_len)} byte(s)` });
      return;
    }
    case 'bool':
      if (r.const !== undefined && Boolean(value) !== r.const) out.push({ path: '', message: `must be ${String(r.const)}` });
      return;
    default:
      if (r.ignore_empty === true && toNumber(value) === 0) return;
      checkRange(toNumber(value), r, out);
  }
}

function fail(out: Found[], message: string): void {
  out.push({ path: '', message });
}

function checkString(r: Rules, s: string, out: Found[]): void {
  if (r.ignore_empty === true && s === '') return;
  const chars = r.len !== undefined || r.min_len !== undefined || r.max_len !== undefined ? codePoints(s) : 0;
  const bytes = r.min_bytes !== undefined || r.max_bytes !== undefined ? Buffer.byteLength(s, 'utf8') : 0;
  if (r.const !== undefined && s !== r.const) fail(out, `must equal "${String(r.const)}"`);
  if (r.len !== undefined && chars !== toNumber(r.len)) fail(out, `must be exactly ${toNumber(r.len)} characters`);
  if (r.min_len !== undefined && chars < toNumber(r.min_len)) fail(out, s === '' ? 'must not be empty' : `must be at least ${toNumber(r.min_len)} characters`);
  if (r.max_len !== undefined && chars > toNumber(r.max_len)) fail(out, `must be at most ${toNumber(r.max_len)} characters`);
  if (r.min_bytes !== undefined && bytes < toNumber(r.min_bytes)) fail(out, `must be at least ${toNumber(r.min_bytes)} bytes`);
  if (r.max_bytes !== undefined && bytes > toNumber(r.max_bytes)) fail(out, `must be at most ${toNumber(r.max_bytes)} bytes`);
  if (typeof r.prefix === 'string' && !s.startsWith(r.prefix)) fail(out, `must start with "${r.prefix}"`);
  if (typeof r.suffix === 'string' && !s.endsWith(r.suffix)) fail(out, `must end with "${r.suffix}"`);
  if (typeof r.contains === 'string' && !s.includes(r.contains)) fail(out, `must contain "${r.contains}"`);
  if (typeof r.not_contains === 'string' && s.includes(r.not_contains)) fail(out, `must not contain "${r.not_contains}"`);
  if (r.in !== undefined && !list(r.in).includes(s)) fail(out, `must be one of ${list(r.in).join(', ')}`);
  if (r.not_in !== undefined && list(r.not_in).includes(s)) fail(out, `must not be "${s}"`);
  if (typeof r.pattern === 'string') {
    const re = patternOf(r.pattern);
    if (re && !re.test(s)) fail(out, `must match ${r.pattern}`);
  }
  if (r.well_known_regex === 'HTTP_HEADER_NAME') {
    if (!(r.strict === false ? HEADER_LOOSE : HEADER_NAME_STRICT).test(s)) fail(out, 'is not a valid HTTP header name');
  } else if (r.well_known_regex === 'HTTP_HEADER_VALUE') {
    if (!(r.strict === false ? HEADER_LOOSE : HEADER_VALUE_STRICT).test(s)) fail(out, 'is not a valid HTTP header value');
  }
  if (r.hostname === true && s !== '' && !/^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/.test(s)) fail(out, 'is not a valid hostname');
  if ((r.ip === true || r.address === true) && s !== '' && !isIp(s) && !(r.address === true && /^[a-zA-Z0-9.-]+$/.test(s))) fail(out, 'is not a valid IP address');
  if (r.ipv4 === true && !/^(\d{1,3})(\.\d{1,3}){3}$/.test(s)) fail(out, 'is not a valid IPv4 address');
  if (r.uri === true && !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(s)) fail(out, 'is not a valid absolute URI');
}

/** Length in Unicode code points (what PGV's string lengths count), without allocating. */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

const patterns = new Map<string, RegExp | null>();

/** PGV patterns are RE2; the ones in Envoy's protos are within what JS regexes accept (compiled once). */
function patternOf(pattern: string): RegExp | undefined {
  let re = patterns.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern, 'u');
    } catch {
      re = null;
    }
    patterns.set(pattern, re);
  }
  return re ?? undefined;
}

function isIp(s: string): boolean {
  return /^(\d{1,3})(\.\d{1,3}){3}$/.test(s) || (s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s));
}
