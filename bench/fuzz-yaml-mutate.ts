/**
 * Structure-aware mutations of configurations: a file's documents are parsed and edited as values
 * (types swapped, required fields deleted, keys renamed, hostile strings, edge numbers, bad ports,
 * durations and regexes, deep nesting, unknown kinds, names that reference nothing, documents
 * duplicated or borrowed from other seeds) and written back as YAML; then maybe edited as text
 * (truncation, lines spliced, duplicated keys, tabs, directives and tags, bounded alias bombs).
 */
import { parseAllDocuments, stringify } from 'yaml';
import type { LoaderCorpusEntry, LoaderInput } from './fuzz-corpus.js';
import type { Prng } from './fuzz-prng.js';
import { hostileNumber, hostileString } from './fuzz-values.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const KINDS = ['Cluster', 'Service', 'Workload', 'Gateway', 'VirtualMesh', 'TrafficPolicy', 'AccessPolicy', 'FailoverService', 'Secret', 'cluster', ''];
const DURATION_KEYS = ['requestTimeout', 'perTryTimeout', 'interval', 'baseEjectionTime', 'fixedDelay', 'maxAge', 'connectTimeout', 'leafTtl'];
const DURATIONS = ['-1s', '1.5.5s', '.s', '1e400s', '99999999999999999999999h', '1h30', 's', '10', '0', '0s', '1d', 'µs', '1µs', ' 10s ', '10S', '1h'.repeat(5000), 'NaNs', 'Infinitys'];
const REGEXES = ['(', ')', '[', '*', 'a**', '(?=a)', '(?!a)', '\\1', '(a)\\1', 'a{1001}', 'a{1000}{1000}', '(a*)*b', '(a|a)*', '\\p{Greek}', '\\C', '(?i)a', '[[:alpha:]]', '\u0000', '.{0,65535}', 'x'.repeat(5000), '(?P<n>a)', '\\'];
const PORTS: Json[] = [-1, 0, 1, 65535, 65536, 1.5, '80', 1e20, -0, null, [80], { port: 80 }];
const NAMES = ['cluster9', 'missing', 'default', 'reviews', 'cluster1', 'UPPER', 'a..b', '-a', 'a-', 'x'.repeat(254), ''];
const REQUIRED_KEYS = ['apiVersion', 'kind', 'metadata', 'spec', 'name', 'cluster', 'namespace', 'ports', 'port', 'address', 'meshes', 'destinations', 'type', 'workload', 'hostname', 'backingServices'];

/** Every path (keys and indexes) to a node of `v`, up to `limit` of them. */
function paths(v: Json, limit = 400): (string | number)[][] {
  const out: (string | number)[][] = [];
  const walk = (node: Json, at: (string | number)[]): void => {
    if (out.length >= limit) return;
    out.push(at);
    if (Array.isArray(node)) node.forEach((c, i) => walk(c, [...at, i]));
    else if (node && typeof node === 'object') for (const [k, c] of Object.entries(node)) walk(c, [...at, k]);
  };
  walk(v, []);
  return out;
}

function parentOf(root: Json, path: readonly (string | number)[]): { parent: Json[] | { [k: string]: Json }; key: string | number } | undefined {
  if (path.length === 0) return undefined;
  let node: Json = root;
  for (const seg of path.slice(0, -1)) node = (node as Record<string | number, Json>)[seg]!;
  return node && typeof node === 'object' ? { parent: node, key: path[path.length - 1]! } : undefined;
}

function set(root: Json, path: readonly (string | number)[], value: Json): void {
  const p = parentOf(root, path);
  if (!p) return;
  // defineProperty: a plain assignment to "__proto__" would set the prototype, not write the key.
  if (Array.isArray(p.parent)) p.parent[p.key as number] = value;
  else Object.defineProperty(p.parent, p.key, { value, enumerable: true, writable: true, configurable: true });
}

function remove(root: Json, path: readonly (string | number)[]): void {
  const p = parentOf(root, path);
  if (!p) return;
  if (Array.isArray(p.parent)) p.parent.splice(p.key as number, 1);
  else delete p.parent[p.key];
}

function get(root: Json, path: readonly (string | number)[]): Json {
  let node: Json = root;
  for (const seg of path) node = (node as Record<string | number, Json>)[seg] ?? null;
  return node;
}

/** A path whose last key is one of `keys`, if the document has one. */
function pathEndingIn(rng: Prng, doc: Json, keys: readonly string[]): (string | number)[] | undefined {
  const hits = paths(doc).filter((p) => keys.includes(String(p[p.length - 1])));
  return hits.length ? rng.pick(hits) : undefined;
}

function nested(rng: Prng, levels: number): Json {
  let v: Json = 'bottom';
  for (let i = 0; i < levels; i++) v = rng.chance(0.5) ? [v] : { a: v };
  return v;
}

function hostileValue(rng: Prng): Json {
  switch (rng.int(8)) {
    case 0:
    case 1:
      return hostileString(rng);
    case 2:
      return hostileNumber(rng);
    case 3:
      return rng.chance(0.5);
    case 4:
      return null;
    case 5:
      return [];
    case 6:
      return {};
    default:
      return nested(rng, rng.pick([5, 50, 500]));
  }
}

/** Value-level edits of one document. */
const DOC_MUTATIONS: readonly ((rng: Prng, doc: Json, others: readonly Json[]) => Json)[] = [
  (rng, doc) => {
    set(doc, rng.pick(paths(doc)), hostileValue(rng));
    return doc;
  },
  (rng, doc) => {
    // A scalar becomes a list or a mapping of itself, a collection becomes its string.
    const p = rng.pick(paths(doc));
    const v = get(doc, p);
    set(doc, p, v !== null && typeof v === 'object' ? JSON.stringify(v) : rng.chance(0.5) ? [v] : { value: v });
    return doc;
  },
  (rng, doc) => {
    const p = pathEndingIn(rng, doc, REQUIRED_KEYS) ?? rng.pick(paths(doc));
    remove(doc, p);
    return doc;
  },
  (rng, doc) => {
    const p = rng.pick(paths(doc).filter((x) => typeof x[x.length - 1] === 'string'));
    if (!p) return doc;
    const v = get(doc, p);
    remove(doc, p);
    const key = String(p[p.length - 1]);
    set(doc, [...p.slice(0, -1), rng.pick([`${key}s`, key.toUpperCase(), `${key} `, hostileString(rng), '__proto__', 'constructor', '<<'])], v);
    return doc;
  },
  (rng, doc) => {
    const p = pathEndingIn(rng, doc, ['port', 'targetPort', 'number', 'allowedPorts']);
    if (p) set(doc, p, rng.pick(PORTS));
    return doc;
  },
  (rng, doc) => {
    const p = pathEndingIn(rng, doc, DURATION_KEYS);
    if (p) set(doc, p, rng.pick(DURATIONS));
    else set(doc, ['spec', rng.pick(['requestTimeout', 'retries'])], rng.pick(DURATIONS));
    return doc;
  },
  (rng, doc) => {
    // Regexes reach Envoy: every one is checked with RE2 by the loader.
    const matcher: Json = rng.chance(0.5)
      ? { regex: rng.pick(REGEXES) }
      : { headers: [{ name: rng.pick(['x', ':path', 'host', '']), value: rng.pick(REGEXES), regex: true }] };
    const spec = (get(doc, ['spec']) ?? {}) as Json;
    if (spec && typeof spec === 'object' && !Array.isArray(spec)) {
      if (rng.chance(0.5)) spec.httpRequestMatchers = [matcher];
      else spec.corsPolicy = { allowOrigins: [{ regex: rng.pick(REGEXES) }] };
    }
    return doc;
  },
  (rng, doc) => {
    const p = pathEndingIn(rng, doc, ['labels', 'selector', 'locality', 'subset']);
    if (p) set(doc, p, { [rng.chance(0.5) ? hostileString(rng) : 'app']: rng.chance(0.5) ? hostileString(rng) : 'x\u0007y' });
    return doc;
  },
  (rng, doc) => {
    set(doc, ['kind'], rng.pick(KINDS));
    if (rng.chance(0.3)) set(doc, ['apiVersion'], rng.pick(['crossmesh.io/v1alpha1', 'networking.smh.solo.io/v1alpha2', 'v1', hostileString(rng)]));
    return doc;
  },
  (rng, doc) => {
    // References to objects that do not exist, or to names that are not names.
    const p = pathEndingIn(rng, doc, ['name', 'cluster', 'clusterName', 'namespace', 'workload', 'hostname']);
    if (p) set(doc, p, rng.pick(NAMES));
    return doc;
  },
  (rng, doc) => {
    const lists = paths(doc).filter((p) => Array.isArray(get(doc, p)) && (get(doc, p) as Json[]).length > 0);
    if (!lists.length) return doc;
    const list = get(doc, rng.pick(lists)) as Json[];
    const copies = rng.chance(0.05) ? 2000 : rng.pick([1, 2, 10]);
    const item = rng.pick(list);
    for (let i = 0; i < copies; i++) list.push(structuredClone(item));
    return doc;
  },
  (rng, doc) => {
    set(doc, rng.pick(paths(doc)), rng.pick([1e308, -1e308, 2 ** 53 + 1, -1, 0.1, 1e-320, 123456789012345678901234567890]));
    return doc;
  },
  (rng, _doc, others) => structuredClone(rng.pick(others)),
];

function lines(text: string): string[] {
  return text.split('\n');
}

/** Text-level edits of a whole file. */
const TEXT_MUTATIONS: readonly ((rng: Prng, text: string, others: readonly string[]) => string)[] = [
  (rng, t) => t.slice(0, rng.int(t.length + 1)),
  (rng, t) => {
    const ls = lines(t);
    ls.splice(rng.int(ls.length), rng.int(4) + 1);
    return ls.join('\n');
  },
  (rng, t) => {
    // A key written twice: the copy of a line right after it.
    const ls = lines(t);
    const i = rng.int(ls.length);
    ls.splice(i, 0, ls[i]!);
    return ls.join('\n');
  },
  (rng, t, others) => {
    const ls = lines(t);
    const from = lines(rng.pick(others));
    const at = rng.int(from.length);
    ls.splice(rng.int(ls.length + 1), 0, ...from.slice(at, at + rng.int(6) + 1));
    return ls.join('\n');
  },
  (rng, t) => {
    const ls = lines(t);
    const i = rng.int(ls.length);
    ls[i] = rng.pick(['\t', ' ', '   ', '- ', '? ', '']) + ls[i];
    return ls.join('\n');
  },
  (rng, t) => rng.pick(['%YAML 1.1\n---\n', '%YAML 1.2\n---\n', '%TAG ! tag:x,2024:\n---\n', '\ufeff', '...\n', '--- !!map\n', '%YAML 9.9\n---\n']) + t,
  (rng, t) => {
    // A tag on some value: YAML 1.1 types, unknown tags, and ones that must not be honoured.
    const ls = lines(t);
    const i = rng.int(ls.length);
    ls[i] = ls[i]!.replace(/: (?=\S)/, `: ${rng.pick(['!!binary ', '!!set ', '!!omap ', '!!timestamp ', '!!str ', '!!int ', '!!float ', '!!null ', '!custom ', '!!js/function ', '!<tag:yaml.org,2002:map> '])}`);
    return ls.join('\n');
  },
  (rng, t) => {
    // Aliases that would expand to millions of nodes; the loader bounds their count.
    const width = rng.pick([3, 9]);
    const depth = rng.pick([3, 6, 9]);
    let bomb = `bomb0: &b0 ["${hostileString(rng).slice(0, 20).replace(/[\\"]/g, '')}"]\n`;
    for (let i = 1; i < depth; i++) bomb += `bomb${i}: &b${i} [${Array.from({ length: width }, () => `*b${i - 1}`).join(', ')}]\n`;
    return t.replace(/\nspec:/, `\n${bomb}spec:`) + (rng.chance(0.3) ? `\n---\n${bomb}` : '');
  },
  (rng, t) => {
    // A merge key pulling one mapping into another.
    return t.replace(/\nmetadata:\n/, '\nbase: &base {name: merged, cluster: cluster1}\nmetadata:\n  <<: *base\n').replace(/\n {2}name: /, rng.chance(0.5) ? '\n  name: ' : '\n  nam: ');
  },
  (_rng, t) => t.replace(/\n/g, '\r\n'),
  (rng, t) => {
    const at = rng.int(t.length + 1);
    return t.slice(0, at) + rng.pick(['\u0000', '\u0085', '\u2028', '\ud800', '"', "'", '{', '[', '&', '*', '|', '>', '#', '`', '@']) + t.slice(at);
  },
  (rng, t) => `${t}\n${'x: '.repeat(1)}${'y'.repeat(rng.pick([10, 100_000]))}\n`,
];

function stringifyDocs(docs: readonly Json[]): string {
  return docs.map((d) => stringify(d, { aliasDuplicateObjects: false, lineWidth: 0 })).join('---\n');
}

/** Parses the documents of a file as plain values; undefined when it does not parse cleanly. */
function parseDocs(text: string): Json[] | undefined {
  try {
    const docs = parseAllDocuments(text, { logLevel: 'error' });
    if (!Array.isArray(docs) || docs.some((d) => d.errors.length)) return undefined;
    return docs.map((d) => d.toJS({ maxAliasCount: 100 }) as Json).filter((d) => d !== null && d !== undefined);
  } catch {
    return undefined;
  }
}

/** A new configuration from the corpus: a seed, value-level edits of one of its files, then maybe text-level ones. */
export function mutateLoaderInput(rng: Prng, corpus: readonly LoaderCorpusEntry[], seedDocs: readonly Json[]): { input: LoaderInput; from: string } {
  const base = rng.pick(corpus);
  const files = base.input.files.map((f) => ({ ...f }));
  if (files.length === 0) files.push({ name: 'empty.yaml', text: '' });
  const target = rng.int(files.length);
  let text = files[target]!.text;
  const docs = parseDocs(text);
  if (docs && docs.length && rng.chance(0.8)) {
    for (let i = rng.int(3) + 1; i > 0; i--) {
      const d = rng.int(docs.length);
      docs[d] = rng.pick(DOC_MUTATIONS)(rng, docs[d]!, seedDocs);
    }
    if (rng.chance(0.1)) docs.push(structuredClone(rng.pick(docs)));
    text = stringifyDocs(docs);
  }
  if (text === files[target]!.text || rng.chance(0.35)) {
    const others = corpus.flatMap((c) => c.input.files.map((f) => f.text));
    for (let i = rng.int(2) + 1; i > 0; i--) text = rng.pick(TEXT_MUTATIONS)(rng, text, others);
  }
  files[target] = { name: files[target]!.name, text };
  return { input: { files }, from: base.name };
}

/** Every document of the seeds, to borrow from. */
export function seedDocuments(corpus: readonly LoaderCorpusEntry[]): Json[] {
  return corpus.flatMap((c) => c.input.files.flatMap((f) => parseDocs(f.text) ?? []));
}
