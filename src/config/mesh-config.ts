/**
 * A loaded, validated configuration: the declared topology and policies in model form, with
 * where each object came from.
 */
import type { MeshDeclarations } from '../model/snapshot.js';
import type { Service, Workload } from '../model/types.js';
import type { ConfigError, ConfigWarning } from './diagnostics.js';

export interface SourceLocation {
  readonly file: string;
  readonly line: number;
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
