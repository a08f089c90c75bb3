/**
 * The configuration path the fuzz scenario drives: a configuration written as files into a
 * temporary directory, loaded with loadConfig (YAML → schema → normalize → references), and, when
 * it loads, applied to a fresh model as `serve` would.
 *
 * What counts as a crash (each one fails the run): loadConfig throws or rejects; an error or
 * warning lacks a file of the input or a line inside that file (every problem must come back as
 * `file:line: message`); a result that has both errors and a configuration, or neither; the load
 * writes a process warning (process.emitWarning goes to stderr beside serve's JSON log lines,
 * and a problem with the input belongs in the result); an accepted configuration that the model
 * refuses with an exception. (The scenario bounds each input's time.)
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { formatDiagnostic, type ConfigDiagnostic } from '../src/config/diagnostics.js';
import { loadConfig } from '../src/config/loader.js';
import { applyConfig, StaticDiscovery } from '../src/discovery/static/static-discovery.js';
import { ModelStore } from '../src/model/store.js';
import type { LoaderInput } from './fuzz-corpus.js';

/** What happened to one input. */
export interface LoaderOutcome {
  readonly crash?: string;
  readonly accepted: boolean;
  readonly errors: number;
  /** The first error's message, if any. */
  readonly firstError?: string;
  /** loadConfig's own time (files already written). */
  readonly ms: number;
}

function lineCount(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** What is wrong with one diagnostic's location, if anything. */
function locationProblem(d: ConfigDiagnostic, lines: ReadonlyMap<string, number>): string | undefined {
  if (typeof d.message !== 'string' || d.message === '') return `a diagnostic without a message: ${JSON.stringify(d).slice(0, 300)}`;
  const max = lines.get(d.file);
  if (max === undefined) return `"${formatDiagnostic(d).slice(0, 300)}" names a file that is not part of the input`;
  if (!Number.isInteger(d.line) || d.line < 1 || d.line > max) return `"${formatDiagnostic(d).slice(0, 300)}" has line ${d.line}, outside 1..${max}`;
  return undefined;
}

/** Loads configurations from files under `dir`, one subdirectory per input. */
export class LoaderPath {
  private n = 0;

  constructor(private readonly dir: string) {}

  /** Writes `input` into a fresh directory, loads it, checks the result, removes the directory. */
  async run(input: LoaderInput): Promise<LoaderOutcome> {
    const dir = join(this.dir, String(this.n++));
    mkdirSync(dir);
    const lines = new Map<string, number>();
    for (const f of input.files) {
      writeFileSync(join(dir, f.name), f.text);
      lines.set(join(dir, f.name), lineCount(f.text));
    }
    const crashes: string[] = [];
    let accepted = false;
    let errors = 0;
    let firstError: string | undefined;
    const emitWarning = process.emitWarning;
    const warned: string[] = [];
    process.emitWarning = ((w: string | Error) => void warned.push(String(w instanceof Error ? w.message : w))) as typeof process.emitWarning;
    const t = performance.now();
    let ms = 0;
    try {
      const r = await loadConfig([dir]).finally(() => {
        process.emitWarning = emitWarning;
      });
      ms = performance.now() - t;
      if (warned.length) crashes.push(`the load wrote a process warning: ${warned[0]!.slice(0, 300)}`);
      errors = r.errors.length;
      firstError = r.errors[0]?.message;
      accepted = r.config !== undefined;
      if (accepted === errors > 0) crashes.push(`result has ${errors} errors and ${accepted ? 'a' : 'no'} configuration`);
      for (const d of [...r.errors, ...r.warnings, ...(r.config?.refused ?? [])]) {
        const problem = locationProblem(d, lines);
        if (problem) crashes.push(problem);
      }
      if (r.config) {
        try {
          applyConfig(new ModelStore(), new StaticDiscovery(), r.config);
        } catch (e) {
          crashes.push(`the model threw on a configuration the loader accepted: ${e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack}` : String(e)}`);
        }
      }
    } catch (e) {
      ms = performance.now() - t;
      crashes.push(`loadConfig threw: ${e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack}` : String(e)}`);
    }
    rmSync(dir, { recursive: true, force: true });
    return { ...(crashes.length ? { crash: crashes.slice(0, 5).join('\n') } : {}), ...(firstError !== undefined ? { firstError } : {}), accepted, errors, ms };
  }
}

/** The `yaml` library alone on the same texts: the baseline the scenario compares loadConfig with. */
export function bareParse(input: LoaderInput): number {
  let docs = 0;
  for (const f of input.files) {
    for (const d of parseAllDocuments(f.text, { logLevel: 'error' })) {
      try {
        d.toJS({ maxAliasCount: 1000 });
      } catch {
        // What the bare parse refuses still cost its time.
      }
      docs++;
    }
  }
  return docs;
}
