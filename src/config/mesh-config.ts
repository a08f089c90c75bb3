/**
 * A loaded, validated configuration: the declared topology and policies in model form, with
 * where each object came from.
 */
import type { MeshDeclarations } from '../model/snapshot.js';
import type { Service, Workload } from '../model/types.js';
import type { ConfigDiagnostic, ConfigError, ConfigWarning } from './diagnostics.js';

export interface SourceLocation {
  readonly file: string;
  readonly line: number;
}

/**
 * A policy document left out of the configuration because Envoy would refuse what it translates
 * to (envoy-rules.ts): the rest of the configuration serves without it. One entry per problem.
 */
export interface RefusedPolicy extends ConfigDiagnostic {
  readonly severity: 'error';
  readonly kind: string;
  /** `<namespace>/<name>` of the refused policy. */
  readonly policy: string;
}

export interface MeshConfig extends MeshDeclarations {
  /** Hash of the files' contents (16 hex digits): equal files, equal version. */
  readonly version: string;
  /** The files read, in load order. */
  readonly files: readonly string[];
  /** Services and Workloads declared in files (all clusters; static discovery picks its own). */
  readonly services: readonly Service[];
  readonly workloads: readonly Workload[];
  /** `<Kind> <key>` → the document that declared it. */
  readonly origins: ReadonlyMap<string, SourceLocation>;
  /** Policies left out (not in `policies`) because Envoy would refuse them, with file:line. */
  readonly refused: readonly RefusedPolicy[];
}

export interface LoadResult {
  /** Present only when there are no errors. */
  readonly config?: MeshConfig;
  readonly errors: readonly ConfigError[];
  readonly warnings: readonly ConfigWarning[];
}

/** Key of `origins`: `<Kind> <key>` where key is the cluster name, `cluster/ns/name` or `ns/name`. */
export function originKey(kind: string, key: string): string {
  return `${kind} ${key}`;
}
