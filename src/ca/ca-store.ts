/**
 * The CA directory on disk (default `.crossmesh/ca/`):
 *
 *   state.json                               which root is active, which are retiring and until when
 *   roots/<id>/cert.pem            0644      every root crossmesh has trusted (copies, for supplied roots)
 *   roots/<id>/key.pem             0600      generated roots only; supplied keys stay where the user keeps them
 *   intermediates/<rootId>/<cluster>/cert.pem, key.pem   one intermediate per member cluster and root
 *
 * state.json is written last and atomically: it is the commit point, so a crash while creating
 * a root leaves the previous state intact and only an unreferenced directory behind.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

/** Default CA directory, relative to the working directory. */
export const DEFAULT_CA_DIRECTORY = '.crossmesh/ca';

/** A root kept in the trust bundle after a rotation, and until when at the latest. */
export interface RetiringRoot {
  readonly id: string;
  /** Epoch ms after which no leaf issued under it can still be valid. */
  readonly keepUntil: number;
}

/** Contents of state.json. */
export interface CaState {
  readonly version: 1;
  readonly activeRoot: string;
  /** How the active root came to be: switching from supplied to generated makes a new root. */
  readonly activeRootKind: 'generated' | 'files' | 'secret';
  readonly retiring: readonly RetiringRoot[];
}

const ID = /^[0-9a-f]{16}$/;

/** Reads and checks state.json; undefined when the directory has none yet. */
export async function readState(dir: string): Promise<CaState | undefined> {
  const path = join(dir, 'state.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path}: cannot read CA state (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const s = raw as Partial<CaState>;
  if (s.version !== 1 || typeof s.activeRoot !== 'string' || !ID.test(s.activeRoot) || !Array.isArray(s.retiring) || (s.activeRootKind !== 'generated' && s.activeRootKind !== 'files' && s.activeRootKind !== 'secret')) {
    throw new Error(`${path}: expected {"version":1,"activeRoot":"<16 hex>","activeRootKind":"generated"|"files"|"secret","retiring":[...]}`);
  }
  for (const r of s.retiring) {
    if (typeof r?.id !== 'string' || !ID.test(r.id) || typeof r.keepUntil !== 'number') throw new Error(`${path}: malformed retiring root entry`);
  }
  return { version: 1, activeRoot: s.activeRoot, activeRootKind: s.activeRootKind, retiring: s.retiring.map((r) => ({ id: r.id, keepUntil: r.keepUntil })) };
}

/** Atomically replaces state.json. */
export async function writeState(dir: string, state: CaState): Promise<void> {
  await writeFileAtomic(join(dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`, 0o644);
}

/** Paths of a root's files. */
export function rootPaths(dir: string, id: string): { readonly cert: string; readonly key: string } {
  return { cert: join(dir, 'roots', id, 'cert.pem'), key: join(dir, 'roots', id, 'key.pem') };
}

/** Paths of one cluster's intermediate under one root. */
export function intermediatePaths(dir: string, rootId: string, cluster: string): { readonly cert: string; readonly key: string } {
  const base = join(dir, 'intermediates', rootId, cluster);
  return { cert: join(base, 'cert.pem'), key: join(base, 'key.pem') };
}

/** Writes a CA's key (if given, 0600) and then its certificate (0644), each atomically. */
export async function writeCaFiles(paths: { cert: string; key: string }, certPem: string, keyPem?: string): Promise<void> {
  if (keyPem !== undefined) await writeFileAtomic(paths.key, keyPem, 0o600);
  await writeFileAtomic(paths.cert, certPem, 0o644);
}

/** Reads a file as text, or undefined if it does not exist. */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
}
