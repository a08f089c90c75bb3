/**
 * Policies read from a management cluster: VirtualMesh, TrafficPolicy, AccessPolicy and
 * FailoverService custom resources, listed and watched (discovery's Reflector: bookmarks, 410
 * relists, backoff), handed to the configuration watcher as inline documents beside the files.
 *
 * Each object is judged on its own: one whose current version fails validation (or that Envoy
 * would refuse, or that collides with a file) is left out and its previous good version keeps
 * serving, while every other object's changes still apply. The judgement of every object (its
 * `verdict`) is what status-writer.ts writes back as `status.conditions[Accepted]`.
 */
import type * as k8s from '@kubernetes/client-node';
import type { BackoffOptions } from '../../discovery/kubernetes/backoff.js';
import { Reflector, type ReflectorHandlers } from '../../discovery/kubernetes/reflector.js';
import { log } from '../../log.js';
import { formatProblem, type ConfigDiagnostic } from '../diagnostics.js';
import type { InlineDocument } from '../loader.js';
import type { LoadResult, MeshConfig } from '../mesh-config.js';
import type { DocumentSource } from '../watch.js';
import { POLICY_KINDS, type PolicyKind } from './crds.js';
import { policyDocument, policyObjectKey, policyResourceApi, policySourceName, type PolicyObject } from './policy-objects.js';

/** crossmesh's judgement of one generation of one object. */
export interface PolicyVerdict {
  readonly accepted: boolean;
  /** metadata.generation of the spec judged. */
  readonly generation: number;
  /** Errors (rejected) or warnings (accepted), each as `validate` prints it without `file:line: `. */
  readonly messages: readonly string[];
}

/** One object as the source holds it. */
export interface PolicyEntry {
  readonly kind: PolicyKind;
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** The object as last listed or watched (its status included). */
  readonly object: PolicyObject;
  readonly generation: number;
  readonly verdict: PolicyVerdict | undefined;
  /** Generation of the version that serves (the current one, or the last good one), if any. */
  readonly servingGeneration: number | undefined;
}

/** A problem found beyond the loader (e.g. a FailoverService the translator would refuse), naming its object. */
export interface ObjectProblem {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly message: string;
}

export interface PolicySourceOptions {
  /** Called (debounced) when the set of documents changed: reload the configuration. */
  readonly onChange: () => void;
  /** Called after every resolve, when verdicts may have changed. */
  readonly onVerdicts?: () => void;
  /** Checks `validate` makes beyond the loader, on a loaded configuration. */
  readonly extraProblems?: (config: MeshConfig) => readonly ObjectProblem[];
  /** Quiet period after an event before `onChange` (default 20 ms: bursts of events, one reload). */
  readonly debounceMs?: number;
  readonly backoff?: Partial<BackoffOptions>;
  readonly requestTimeoutMs?: number;
  readonly watchTimeoutSeconds?: number;
  readonly pageSize?: number;
}

interface Entry {
  kind: PolicyKind;
  key: string;
  namespace: string;
  name: string;
  object: PolicyObject;
  document: InlineDocument;
  generation: number;
  lastGood: { document: InlineDocument; generation: number } | undefined;
  verdict: PolicyVerdict | undefined;
  servingGeneration: number | undefined;
}

/** What one load round put in for an object. */
interface Used {
  readonly entry: Entry;
  readonly document: InlineDocument;
  readonly generation: number;
  readonly current: boolean;
}

/** An object's documents as one resolve round found them. */
interface Snapshot {
  readonly entry: Entry;
  readonly document: InlineDocument;
  readonly generation: number;
  readonly lastGood: Entry['lastGood'];
}

/** Why an object's current version was left out. */
interface Rejection {
  readonly generation: number;
  readonly messages: string[];
}

/** Problems kept per object (its condition message is bounded at 32 KiB besides). */
const MAX_MESSAGES = 50;

/** Lists and watches the four policy kinds of one API server and supplies them to the config watcher. */
export class KubernetesPolicySource implements DocumentSource {
  private readonly entries = new Map<string, Entry>();
  private readonly reflectors: Reflector<PolicyObject, PolicyKind>[];
  private readonly listedKinds = new Set<PolicyKind>();
  private readonly errors = new Map<PolicyKind, string>();
  private readonly syncWaiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    kc: k8s.KubeConfig,
    private readonly options: PolicySourceOptions,
  ) {
    const timings = {
      backoff: { initialMs: options.backoff?.initialMs ?? 500, maxMs: options.backoff?.maxMs ?? 30_000 },
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
      pageSize: options.pageSize ?? 500,
    };
    const handlers: ReflectorHandlers<PolicyObject, PolicyKind> = {
      listStarted: () => undefined,
      listed: (kind, items) => this.listed(kind, items),
      event: (kind, type, object) => this.event(kind, type, object),
      failed: (kind, error) => {
        this.errors.set(kind, error.message);
      },
    };
    this.reflectors = POLICY_KINDS.map((kind) => new Reflector(kc, policyResourceApi(kc, kind), handlers, timings));
  }

  /** Starts listing and watching. */
  start(): void {
    for (const r of this.reflectors) r.start();
  }

  /** Stops every watch. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.reflectors.map((r) => r.stop()));
    for (const w of this.syncWaiters.splice(0)) w();
  }

  /** Whether every kind has been listed once (the configuration holds the cluster's policies). */
  get synced(): boolean {
    return this.listedKinds.size === POLICY_KINDS.length;
  }

  /** Resolves true once synced, false after `timeoutMs` (or on stop). */
  whenSynced(timeoutMs: number): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      this.syncWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.synced);
      });
    });
  }

  /** Every object held, in key order. */
  list(): PolicyEntry[] {
    return [...this.entries.values()]
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .map((e) => ({ kind: e.kind, key: e.key, namespace: e.namespace, name: e.name, object: e.object, generation: e.generation, verdict: e.verdict, servingGeneration: e.servingGeneration }));
  }

  /** For `/debug/policies`: per kind, listed or not and the last list/watch error. */
  status(): { synced: boolean; kinds: Record<string, { listed: boolean; lastError: string }>; objects: { key: string; generation: number; accepted: boolean | null; servingGeneration: number | null; messages: readonly string[] }[] } {
    return {
      synced: this.synced,
      kinds: Object.fromEntries(POLICY_KINDS.map((k) => [k, { listed: this.listedKinds.has(k), lastError: this.errors.get(k) ?? '' }])),
      objects: this.list().map((e) => ({ key: e.key, generation: e.generation, accepted: e.verdict?.accepted ?? null, servingGeneration: e.servingGeneration ?? null, messages: e.verdict?.messages ?? [] })),
    };
  }

  /** A complete list of one kind (what its reflector delivers; public so tests can feed the source). */
  listed(kind: PolicyKind, items: readonly PolicyObject[]): void {
    this.errors.delete(kind);
    let changed = false;
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(policyObjectKey(kind, item));
      changed = this.upsert(kind, item) || changed;
    }
    for (const [key, e] of this.entries) {
      if (e.kind === kind && !seen.has(key)) {
        this.entries.delete(key);
        changed = true;
      }
    }
    const wasSynced = this.synced;
    this.listedKinds.add(kind);
    if (!wasSynced && this.synced) for (const w of this.syncWaiters.splice(0)) w();
    if (changed) this.schedule();
  }

  /** One watch event of one kind (what its reflector delivers; public so tests can feed the source). */
  event(kind: PolicyKind, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: PolicyObject): void {
    this.errors.delete(kind);
    log.debug({ kind, type, name: object.metadata?.name, generation: object.metadata?.generation }, 'policy object event');
    if (type === 'DELETED') {
      if (this.entries.delete(policyObjectKey(kind, object))) this.schedule();
      return;
    }
    if (this.upsert(kind, object)) this.schedule();
  }

  /** Records an object; true when its document changed (a status-only write changes nothing to load). */
  private upsert(kind: PolicyKind, object: PolicyObject): boolean {
    const key = policyObjectKey(kind, object);
    const document = policyDocument(kind, object);
    const generation = object.metadata?.generation ?? 0;
    const e = this.entries.get(key);
    if (e && e.object.metadata?.uid === object.metadata?.uid) {
      e.object = object;
      if (e.document.text === document.text) return false;
      e.document = document;
      e.generation = generation;
      return true;
    }
    // New, or deleted and created again under the same name: nothing of the old object carries over.
    this.entries.set(key, {
      kind,
      key,
      namespace: object.metadata?.namespace ?? '',
      name: object.metadata?.name ?? '',
      object,
      document,
      generation,
      lastGood: undefined,
      verdict: undefined,
      servingGeneration: undefined,
    });
    return true;
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      try {
        this.options.onChange();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'policy change handler failed');
      }
    }, this.options.debounceMs ?? 20);
  }

  /**
   * Loads the files with every object's current version; an object whose current version has
   * errors is put back at its last good version (or left out) and the load is done again, until
   * only file errors (if any) remain. Then records each object's verdict.
   */
  async resolve(load: (documents: readonly InlineDocument[]) => Promise<LoadResult>): Promise<LoadResult> {
    // Documents are taken once: events during the load change entries, not this round's judgement.
    const snapshot: Snapshot[] = [...this.entries.values()]
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .map((e) => ({ entry: e, document: e.document, generation: e.generation, lastGood: e.lastGood }));
    const rejected = new Map<Entry, Rejection>();
    const dropped = new Set<Entry>();
    let result: LoadResult;
    for (let round = 0; ; round++) {
      const used = choose(snapshot, rejected, dropped);
      const bySource = new Map(used.map((u) => [u.document.source, u]));
      result = await load(used.map((u) => u.document));
      const problems = new Map<Used, string[]>();
      const add = (u: Used | undefined, message: string) => {
        if (!u) return false;
        problems.set(u, [...(problems.get(u) ?? []), message]);
        return true;
      };
      let fileErrors = 0;
      for (const e of result.errors) if (!add(bySource.get(e.file), formatProblem(e))) fileErrors++;
      if (result.config) {
        for (const r of result.config.refused) add(bySource.get(r.file), formatProblem(r));
        for (const p of this.options.extraProblems?.(result.config) ?? []) {
          const source = policySourceName(`${p.kind}/${p.namespace}/${p.name}`);
          add(bySource.get(source), formatProblem({ kind: p.kind, name: p.name, message: p.message }));
        }
      }
      // Each round rejects or drops at least one object, so this ends; the bound is a backstop.
      log.debug({ round, documents: used.length, problems: problems.size, fileErrors }, 'policy documents loaded');
      if (problems.size === 0 || round > 2 * snapshot.length) {
        this.judge(used, rejected, result, fileErrors === 0 && problems.size === 0);
        break;
      }
      for (const [u, messages] of problems) {
        if (u.current) rejected.set(u.entry, { generation: u.generation, messages });
        else dropped.add(u.entry); // its last good version does not fit any more (e.g. a file now defines the same policy)
      }
    }
    try {
      this.options.onVerdicts?.();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'policy verdict handler failed');
    }
    return result;
  }

  /** Records verdicts: rejected objects always; accepted ones only when the whole load is good (so they really serve). */
  private judge(used: readonly Used[], rejected: ReadonlyMap<Entry, Rejection>, result: LoadResult, clean: boolean): void {
    const warnings = new Map<string, string[]>();
    for (const w of result.warnings) warnings.set(w.file, [...(warnings.get(w.file) ?? []), formatProblem(w as ConfigDiagnostic)]);
    for (const [e, r] of rejected) {
      const messages = r.messages.slice(0, MAX_MESSAGES);
      const before = e.verdict;
      e.verdict = { accepted: false, generation: r.generation, messages };
      if (clean) e.servingGeneration = used.find((u) => u.entry === e)?.generation;
      // Every reload judges every object again: say it once per new judgement, not once per reload.
      if (!before || before.accepted || before.generation !== r.generation || before.messages.join('\n') !== messages.join('\n')) {
        log.warn({ policy: e.key, generation: r.generation, servingGeneration: e.servingGeneration ?? null, errors: messages }, 'policy object rejected; its previous good version (if any) keeps serving');
      }
    }
    if (!clean || !result.config) return;
    for (const u of used) {
      if (!u.current) continue;
      u.entry.verdict = { accepted: true, generation: u.generation, messages: (warnings.get(u.document.source) ?? []).slice(0, MAX_MESSAGES) };
      u.entry.lastGood = { document: u.document, generation: u.generation };
      u.entry.servingGeneration = u.generation;
    }
  }
}

/** The document each object contributes this round: current, else last good, else none. */
function choose(snapshot: readonly Snapshot[], rejected: ReadonlyMap<Entry, Rejection>, dropped: ReadonlySet<Entry>): Used[] {
  const used: Used[] = [];
  for (const s of snapshot) {
    if (!rejected.has(s.entry)) used.push({ entry: s.entry, document: s.document, generation: s.generation, current: true });
    else if (s.lastGood && !dropped.has(s.entry) && s.lastGood.document.text !== s.document.text) {
      // Same source name as the current version: errors in it are still this object's.
      used.push({ entry: s.entry, document: { source: s.document.source, text: s.lastGood.document.text }, generation: s.lastGood.generation, current: false });
    }
  }
  return used;
}
