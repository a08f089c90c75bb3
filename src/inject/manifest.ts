/**
 * Injection of whole Kubernetes objects and YAML files: finds the pod spec in a Pod or in a
 * workload's pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, and the
 * items of a `List`) and hands it to `injectPodSpec`. Other kinds pass through untouched, so a
 * file that also holds Services and ConfigMaps can be piped through `crossmesh inject` whole.
 */
import { parseAllDocuments, stringify } from 'yaml';
import type { InjectOptions } from './options.js';
import { injectPodSpec, type JsonObject } from './sidecar.js';

/** What injection did to one object. */
export interface ObjectInjection {
  /** The object to write: a new one when injected, else the input itself. */
  readonly object: unknown;
  /** One line per pod spec seen: `<where>: injected` or `<where>: skipped (<reason>)`. */
  readonly notes: readonly string[];
}

/** Kinds whose pods come from `spec.template`. */
const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job']);

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `Kind name` of an object, for messages. */
function describe(o: JsonObject): string {
  const name = isObject(o.metadata) && typeof o.metadata.name === 'string' ? o.metadata.name : isObject(o.metadata) && typeof o.metadata.generateName === 'string' ? `${o.metadata.generateName}*` : '(unnamed)';
  return `${String(o.kind)} ${name}`;
}

/** Injects a pod template `{metadata, spec}`; `where` names it in errors and notes. */
function injectTemplate(template: unknown, o: InjectOptions, where: string): { template: JsonObject; note: string } {
  if (!isObject(template)) throw new Error(`${where}: the pod template must be an object`);
  const r = injectPodSpec(template.metadata, template.spec, o, { where });
  return { template: r.injected ? { ...template, metadata: r.metadata, spec: r.spec } : template, note: r.injected ? `${where}: injected` : `${where}: skipped (${r.reason})` };
}

/** Injects one Kubernetes object (see the file comment for the kinds); `where` prefixes errors. */
export function injectObject(obj: unknown, o: InjectOptions, where: string): ObjectInjection {
  if (!isObject(obj)) throw new Error(`${where}: expected a Kubernetes object (a mapping with kind), got ${Array.isArray(obj) ? 'a list' : obj === null ? 'nothing' : typeof obj}`);
  if (typeof obj.kind !== 'string') throw new Error(`${where}: the object has no kind`);
  const at = `${where} (${describe(obj)})`;
  if (obj.kind === 'List') {
    if (!Array.isArray(obj.items)) throw new Error(`${at}: items must be a list`);
    const results = obj.items.map((item, i) => injectObject(item, o, `${where} item ${i + 1}`));
    return { object: { ...obj, items: results.map((r) => r.object) }, notes: results.flatMap((r) => r.notes) };
  }
  if (obj.kind === 'Pod') {
    const r = injectPodSpec(obj.metadata, obj.spec, o, { where: at });
    return r.injected ? { object: { ...obj, metadata: r.metadata, spec: r.spec }, notes: [`${at}: injected`] } : { object: obj, notes: [`${at}: skipped (${r.reason})`] };
  }
  if (TEMPLATE_KINDS.has(obj.kind)) {
    if (!isObject(obj.spec)) throw new Error(`${at}: spec must be an object`);
    const t = injectTemplate(obj.spec.template, o, `${at} spec.template`);
    return { object: t.template === obj.spec.template ? obj : { ...obj, spec: { ...obj.spec, template: t.template } }, notes: [t.note] };
  }
  if (obj.kind === 'CronJob') {
    const jobTemplate = isObject(obj.spec) ? obj.spec.jobTemplate : undefined;
    if (!isObject(obj.spec) || !isObject(jobTemplate) || !isObject(jobTemplate.spec)) throw new Error(`${at}: spec.jobTemplate.spec must be an object`);
    const t = injectTemplate(jobTemplate.spec.template, o, `${at} spec.jobTemplate.spec.template`);
    if (t.template === jobTemplate.spec.template) return { object: obj, notes: [t.note] };
    return { object: { ...obj, spec: { ...obj.spec, jobTemplate: { ...jobTemplate, spec: { ...jobTemplate.spec, template: t.template } } } }, notes: [t.note] };
  }
  return { object: obj, notes: [] };
}

/**
 * Injects every object of a YAML (or JSON) text of one or more documents; returns the new text
 * and the notes. `source` names the input in errors (`pod.yaml: document 2 ...`).
 */
export function injectYaml(text: string, o: InjectOptions, source: string): { text: string; notes: string[] } {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error(`${source}: not YAML`);
  const out: string[] = [];
  const notes: string[] = [];
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `${source}: document ${i + 1}` : source;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw new Error(`${source}${line !== undefined ? `:${line}` : ''}: ${e.message.split('\n')[0]}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return; // an empty document (e.g. a trailing ---)
    const r = injectObject(value, o, where);
    notes.push(...r.notes);
    out.push(stringify(r.object, { lineWidth: 0 }));
  });
  if (out.length === 0) throw new Error(`${source}: no Kubernetes object in the input`);
  return { text: out.join('---\n'), notes };
}
