/**
 * Errors and warnings found in configuration, and their one-line form
 * `file:line: <Kind> <name>: <path>: <message>` (parts the problem has no value for are left out).
 */

export interface ConfigDiagnostic {
  readonly file: string;
  /** 1-based line of the offending node (the document or file start when nothing finer is known). */
  readonly line: number;
  /** Kind of the document, when known. */
  readonly kind?: string;
  /** metadata.name of the document, when known. */
  readonly name?: string;
  /** Dotted path inside the document, e.g. `spec.trafficShift.destinations[1].weight`. */
  readonly path?: string;
  readonly message: string;
}

/** Makes the configuration unusable: the last good configuration keeps serving. */
export type ConfigError = ConfigDiagnostic & { readonly severity: 'error' };

/** Worth fixing but harmless: dangling references and the like. */
export type ConfigWarning = ConfigDiagnostic & { readonly severity: 'warning' };

/** `file:line: Kind name: path: message`. */
export function formatDiagnostic(d: ConfigDiagnostic): string {
  return `${d.file}:${d.line}: ${formatProblem(d)}`;
}

/** `Kind name: path: message`: a diagnostic without its location (what a Kubernetes object's status carries). */
export function formatProblem(d: Omit<ConfigDiagnostic, 'file' | 'line'>): string {
  const subject = d.kind ? (d.name ? `${d.kind} ${d.name}: ` : `${d.kind}: `) : '';
  const path = d.path ? `${d.path}: ` : '';
  return `${subject}${path}${d.message}`;
}

/** Renders a path of keys and indexes as `a.b[1].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** Orders diagnostics by file, then line. */
export function byLocation(a: ConfigDiagnostic, b: ConfigDiagnostic): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line;
}
