/**
 * Loads configuration files and directories: multi-document YAML with source positions, every
 * document checked against its kind's schema, duplicates rejected, defaults applied, and
 * cross-references checked. Reports every problem as `file:line: Kind name: path: message`.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LineCounter, isCollection, isMap, isScalar, parseAllDocuments, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { policyKey, type AccessPolicy, type FailoverService, type TrafficPolicy, type VirtualMesh } from '../model/policies.js';
import { objectKey, type Cluster, type Gateway, type Service, type Workload } from '../model/types.js';
import { formatPath, type ConfigError, type ConfigWarning } from './diagnostics.js';
import { originKey, type LoadResult, type MeshConfig, type RefusedPolicy, type SourceLocation } from './mesh-config.js';
import {
  toAccessPolicy,
  toCluster,
  toFailoverService,
  toGateway,
  toService,
  toTrafficPolicy,
  toVirtualMesh,
  toWorkload,
} from './normalize.js';
import { trafficPolicyEnvoyProblems } from './envoy-rules.js';
import { checkReferences } from './references.js';
import { API_VERSIONS, SCHEMAS, errorMap, isKind, type Kind, type ParsedDoc } from './schema.js';
import { lineOf, type DocSource } from './source-map.js';

const YAML_FILE = /\.ya?ml$/i;

/** Lists the files a set of `--config` paths stands for: files as given, directories' *.yaml/*.yml sorted. */
export async function expandConfigPaths(paths: readonly string[]): Promise<{ files: string[]; errors: ConfigError[]; warnings: ConfigWarning[] }> {
  const files: string[] = [];
  const errors: ConfigError[] = [];
  const warnings: ConfigWarning[] = [];
  for (const p of paths) {
    try {
      const st = await stat(p);
      if (st.isDirectory()) {
        const names = (await readdir(p)).filter((n) => YAML_FILE.test(n)).sort();
        if (names.length === 0) warnings.push({ severity: 'warning', file: p, line: 1, message: 'directory holds no .yaml or .yml files' });
        for (const n of names) files.push(join(p, n));
      } else files.push(p);
    } catch (err) {
      errors.push({ severity: 'error', file: p, line: 1, message: `cannot read: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}` });
    }
  }
  return { files: [...new Set(files)], errors, warnings };
}

interface Loaded<K extends Kind> {
  readonly kind: K;
  readonly parsed: ParsedDoc<K>;
  readonly src: DocSource;
  readonly file: string;
}

type AnyLoaded = { [K in Kind]: Loaded<K> }[Kind];

/**
 * A configuration document that is not a file (a policy object read from a Kubernetes API
 * server): `source` stands where a file name would (in errors, origins and the version hash).
 */
export interface InlineDocument {
  readonly source: string;
  readonly text: string;
}

/**
 * Loads, validates and normalizes configuration from files and directories, plus `documents`
 * given as text (checked exactly as file contents are, after the files).
 */
export async function loadConfig(paths: readonly string[], documents: readonly InlineDocument[] = []): Promise<LoadResult> {
  const expanded = await expandConfigPaths(paths);
  const errors: ConfigError[] = [...expanded.errors];
  const warnings: ConfigWarning[] = [...expanded.warnings];
  const hash = createHash('sha256');
  const loaded: AnyLoaded[] = [];
  for (const file of expanded.files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      errors.push({ severity: 'error', file, line: 1, message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    hash.update(basename(file)).update('\u0000').update(text).update('\u0000');
    parseFile(file, text, loaded, errors);
  }
  for (const d of documents) {
    hash.update(d.source).update('\u0000').update(d.text).update('\u0000');
    parseFile(d.source, d.text, loaded, errors);
  }
  if (expanded.files.length > 0 && documents.length === 0 && loaded.length === 0 && errors.length === 0) {
    warnings.push({ severity: 'warning', file: expanded.files[0]!, line: 1, message: 'no configuration documents found' });
  }
  const version = hash.digest('hex').slice(0, 16);
  return assemble(loaded, errors, warnings, version, expanded.files);
}

/** Parses one file's documents, appending each valid one to `out` and each problem to `errors`. */
function parseFile(file: string, text: string, out: AnyLoaded[], errors: ConfigError[]): void {
  const lines = new LineCounter();
  // yaml's own duplicate-key check (uniqueKeys) compares every key of a mapping with every other:
  // 40,000 keys took 44 s. keyErrors does the same check in one pass.
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  if (!Array.isArray(docs)) return; // an empty stream: comments only
  for (const doc of docs) {
    const startLine = lines.linePos(doc.contents?.range?.[0] ?? doc.range[0]).line;
    if (doc.errors.length) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
        errors.push({ severity: 'error', file, line, message: `YAML syntax error: ${e.message.split('\n')[0]}` });
      }
      continue;
    }
    if (doc.contents === null) continue; // `---` with nothing after it
    const badKeys = keyErrors(file, doc, lines);
    if (badKeys.length) {
      errors.push(...badKeys);
      continue;
    }
    const src: DocSource = { doc, lines, line: startLine };
    checkDocument(file, src, doc, out, errors);
  }
}

/**
 * Every key written twice in one mapping of `doc`, at the line of its second occurrence (YAML
 * forbids them; the second would silently win), and every mapping or sequence used as a key.
 */
function keyErrors(file: string, doc: Document.Parsed, lines: LineCounter): ConfigError[] {
  const errors: ConfigError[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Map<string, number>();
      for (const pair of map.items) {
        if (isCollection(pair.key)) {
          // No document shape has such a key: it is a slip (a stray "? ", a broken flow mapping).
          // Reported here, at its own line: converting the document would name it by its
          // stringified contents at the mapping's line, and make the yaml library print a
          // process warning (a non-JSON line in serve's log).
          const line = lines.linePos(pair.key.range?.[0] ?? 0).line;
          errors.push({ severity: 'error', file, line, message: `YAML syntax error: a ${isMap(pair.key) ? 'mapping' : 'sequence'} cannot be a key here (a stray "? " or misplaced indentation?)` });
          continue;
        }
        if (!isScalar(pair.key)) continue;
        const k = String(pair.key.value);
        const line = lines.linePos(pair.key.range?.[0] ?? 0).line;
        const first = seen.get(k);
        if (first === undefined) seen.set(k, line);
        else errors.push({ severity: 'error', file, line, message: `YAML syntax error: Map keys must be unique: ${JSON.stringify(k.slice(0, 100))} is also at line ${first}` });
      }
    },
  });
  return errors;
}

function checkDocument(file: string, src: DocSource, doc: Document.Parsed, out: AnyLoaded[], errors: ConfigError[]): void {
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    errors.push({ severity: 'error', file, line: src.line, message: `cannot read document: ${(err as Error).message}` });
    return;
  }
  if (!js || typeof js !== 'object' || Array.isArray(js)) {
    errors.push({ severity: 'error', file, line: src.line, message: 'expected a mapping with apiVersion, kind, metadata and spec' });
    return;
  }
  const raw = js as Record<string, unknown>;
  const meta = raw.metadata as Record<string, unknown> | undefined;
  const name = meta && typeof meta.name === 'string' ? meta.name : undefined;
  const kindValue = raw.kind;
  if (typeof kindValue !== 'string') {
    errors.push({ severity: 'error', file, line: lineOf(src, ['kind']), ...(name ? { name } : {}), path: 'kind', message: kindValue === undefined ? 'required field missing' : 'expected a string' });
    return;
  }
  const at = (path: readonly PropertyKey[], keyOf?: string) => lineOf(src, path, keyOf);
  const base = { severity: 'error' as const, file, kind: kindValue, ...(name ? { name } : {}) };
  if (!isKind(kindValue)) {
    errors.push({ ...base, line: at(['kind']), path: 'kind', message: `unknown kind "${kindValue}" (expected one of ${Object.keys(SCHEMAS).join(', ')})` });
    return;
  }
  const versions = API_VERSIONS[kindValue]!;
  const apiVersion = raw.apiVersion;
  if (apiVersion !== undefined && typeof apiVersion !== 'string') {
    // String() of a list holding a supported version reads as that version: "unsupported" would contradict itself.
    const got = apiVersion === null ? 'null' : Array.isArray(apiVersion) ? 'array' : typeof apiVersion;
    errors.push({ ...base, line: at(['apiVersion']), path: 'apiVersion', message: `expected a string, got ${got}` });
    return;
  }
  if (apiVersion === undefined || !versions.includes(apiVersion)) {
    const got = apiVersion === undefined ? 'missing' : JSON.stringify(apiVersion);
    errors.push({ ...base, line: at(['apiVersion']), path: 'apiVersion', message: `unsupported apiVersion ${got} for ${kindValue} (expected ${versions.join(' or ')})` });
    return;
  }
  const schema = SCHEMAS[kindValue] as z.ZodType;
  const result = schema.safeParse(js, { error: errorMap });
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          errors.push({ ...base, line: at(issue.path, key), path: formatPath([...issue.path, key]), message: `unknown field "${key}"` });
        }
      } else {
        errors.push({ ...base, line: at(issue.path), ...(issue.path.length ? { path: formatPath(issue.path) } : {}), message: issue.message });
      }
    }
    return;
  }
  out.push({ kind: kindValue, parsed: result.data, src, file } as AnyLoaded);
}

/** Turns valid documents into a MeshConfig: duplicates, defaults, then cross-reference warnings. */
function assemble(loaded: AnyLoaded[], errors: ConfigError[], warnings: ConfigWarning[], version: string, files: string[]): LoadResult {
  const origins = new Map<string, SourceLocation>();
  const sources = new Map<string, AnyLoaded>();
  const clusters: Cluster[] = [];
  const services: Service[] = [];
  const gateways: Gateway[] = [];
  const virtualMeshes: VirtualMesh[] = [];
  const trafficPolicies: TrafficPolicy[] = [];
  const accessPolicies: AccessPolicy[] = [];
  const failoverServices: FailoverService[] = [];
  const workloadDocs: Loaded<'Workload'>[] = [];
  const refused: RefusedPolicy[] = [];

  const register = (l: AnyLoaded, key: string): boolean => {
    const ok = originKey(l.kind, key);
    const first = origins.get(ok);
    if (first) {
      errors.push({
        severity: 'error',
        file: l.file,
        line: l.src.line,
        kind: l.kind,
        name: l.parsed.metadata.name,
        message: `duplicate ${l.kind} ${key}: also defined at ${first.file}:${first.line}`,
      });
      return false;
    }
    origins.set(ok, { file: l.file, line: l.src.line });
    sources.set(ok, l);
    return true;
  };

  for (const l of loaded) {
    const dir = dirname(l.file);
    switch (l.kind) {
      case 'Cluster': {
        const c = toCluster(l.parsed);
        if (register(l, c.name)) clusters.push(c);
        break;
      }
      case 'Service': {
        const s = toService(l.parsed);
        if (register(l, objectKey(s))) services.push(s);
        break;
      }
      case 'Workload':
        workloadDocs.push(l);
        break;
      case 'Gateway': {
        const g = toGateway(l.parsed, dir);
        if (register(l, objectKey(g))) gateways.push(g);
        break;
      }
      case 'VirtualMesh': {
        const v = toVirtualMesh(l.parsed, dir);
        if (register(l, policyKey(v))) virtualMeshes.push(v);
        break;
      }
      case 'TrafficPolicy': {
        const t = toTrafficPolicy(l.parsed);
        if (!register(l, policyKey(t))) break;
        // What Envoy would refuse would take every route of its route configuration down with it
        // (a NACK): the policy is left out and the rest of the mesh serves without it.
        const problems = trafficPolicyEnvoyProblems(l.parsed);
        if (problems.length === 0) trafficPolicies.push(t);
        for (const p of problems) {
          refused.push({ severity: 'error', file: l.file, line: lineOf(l.src, p.path), kind: l.kind, name: t.name, policy: policyKey(t), path: formatPath(p.path), message: p.message });
        }
        break;
      }
      case 'AccessPolicy': {
        const a = toAccessPolicy(l.parsed);
        if (register(l, policyKey(a))) accessPolicies.push(a);
        break;
      }
      case 'FailoverService': {
        const f = toFailoverService(l.parsed);
        if (register(l, policyKey(f))) failoverServices.push(f);
        break;
      }
    }
  }
  const clusterMap = new Map(clusters.map((c) => [c.name, c]));
  const workloads: Workload[] = [];
  for (const l of workloadDocs) {
    const w = toWorkload(l.parsed, clusterMap.get(l.parsed.metadata.cluster)?.locality);
    if (register(l, objectKey(w))) workloads.push(w);
  }

  const byKey = <T extends { namespace: string; name: string }>(a: T, b: T) => (policyKey(a) < policyKey(b) ? -1 : 1);
  const config: MeshConfig = {
    version,
    files,
    clusters,
    services,
    workloads,
    gateways,
    policies: {
      virtualMeshes: virtualMeshes.sort(byKey),
      trafficPolicies: trafficPolicies.sort(byKey),
      accessPolicies: accessPolicies.sort(byKey),
      failoverServices: failoverServices.sort(byKey),
    },
    origins,
    refused,
  };

  const refs = checkReferences({
    clusters: clusterMap,
    services,
    workloads,
    gateways,
    policies: config.policies,
    complete: (c) => clusterMap.has(c) && !clusterMap.get(c)!.discovery?.kubernetes,
  });
  for (const r of refs) {
    const l = sources.get(originKey(r.kind, r.key));
    warnings.push({
      severity: 'warning',
      file: l?.file ?? '<unknown>',
      line: l ? lineOf(l.src, r.path) : 1,
      kind: r.kind,
      name: r.name,
      path: formatPath(r.path),
      message: r.message,
    });
  }
  if (errors.length) return { errors, warnings };
  return { config, errors, warnings };
}
