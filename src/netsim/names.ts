/**
 * Names of everything one simulation run creates, all starting with the run's prefix so that a
 * later run can recognise and remove what a crashed one left (see leftovers.ts). A run prefix is
 * the project prefix `cmx` plus four random base-36 characters; interface names must fit Linux's
 * 15 characters, so bridges and veths are `<run>b<n>` / `<run>v<n>`, while namespaces (files
 * under /run/netns, no such limit) are `<run>-<node>`. A run claims its prefix with an owner file
 * (pid and process start time) before it creates anything.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The project's prefix: every run prefix starts with it. */
export const PROJECT_PREFIX = 'cmx';
/** Linux's limit on interface names (IFNAMSIZ - 1). */
export const MAX_IFNAME = 15;
/** Where runs record their owner (root-only tmpfs). */
export const OWNERS_DIR = '/run/crossmesh-netsim';
/** Parent of the runs' work directories (logs, driver sockets). */
export const WORK_ROOT = path.join(os.tmpdir(), 'crossmesh-netsim');

const RUN_ID_LENGTH = 4;

/** The names of one run. */
export class RunNames {
  private links = 0;

  constructor(readonly prefix: string) {}

  /** Network namespace of a node (pod, router, client). */
  namespace(node: string): string {
    return `${this.prefix}-${node}`;
  }

  /** A new bridge name. */
  bridge(): string {
    return this.ifname('b');
  }

  /** A new host-side veth name. */
  veth(): string {
    return this.ifname('v');
  }

  /** The run's work directory. */
  get workDir(): string {
    return path.join(WORK_ROOT, this.prefix);
  }

  private ifname(kind: string): string {
    const name = `${this.prefix}${kind}${this.links++}`;
    if (name.length > MAX_IFNAME) throw new Error(`interface name ${name} is longer than ${MAX_IFNAME} characters`);
    return name;
  }
}

/** The run prefix a name belongs to (`cmxab12` of `cmxab12-pod`, `cmxab12v3`), if it has the project's shape. */
export function runPrefixOf(name: string, projectPrefix = PROJECT_PREFIX): string | undefined {
  if (!name.startsWith(projectPrefix)) return undefined;
  const run = name.slice(0, projectPrefix.length + RUN_ID_LENGTH);
  const rest = name.slice(run.length);
  if (!/^[a-z0-9]+$/.test(run.slice(projectPrefix.length)) || run.length !== projectPrefix.length + RUN_ID_LENGTH) return undefined;
  return rest === '' || /^(-.+|[bv]\d+)$/.test(rest) ? run : undefined;
}

/** The start time of a process (field 22 of /proc/PID/stat), undefined if it is gone. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function ownerFile(prefix: string): string {
  return path.join(OWNERS_DIR, `${prefix}.owner`);
}

/** True if the run's owner file names a process that is still alive (the same process, not a reused pid). */
export function runIsAlive(prefix: string): boolean {
  let owner: string;
  try {
    owner = readFileSync(ownerFile(prefix), 'utf8');
  } catch {
    return false;
  }
  const [pid, start] = owner.trim().split(' ');
  return pid !== undefined && start !== undefined && startTimeOf(Number(pid)) === start;
}

/** Picks a fresh run prefix (not alive, not among `taken`) and writes its owner file for this process. */
export function claimRunPrefix(taken: ReadonlySet<string>, projectPrefix = PROJECT_PREFIX): RunNames {
  mkdirSync(OWNERS_DIR, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 100; attempt++) {
    const id = [...randomBytes(RUN_ID_LENGTH)].map((b) => (b % 36).toString(36)).join('');
    const prefix = `${projectPrefix}${id}`;
    if (taken.has(prefix) || runIsAlive(prefix)) continue;
    try {
      writeFileSync(ownerFile(prefix), `${process.pid} ${startTimeOf(process.pid) ?? ''}\n`, { flag: 'wx' });
    } catch {
      continue;
    }
    return new RunNames(prefix);
  }
  throw new Error('could not pick a free simulation run prefix in 100 attempts');
}

/** Removes a run's owner file. */
export function releaseRunPrefix(prefix: string): void {
  rmSync(ownerFile(prefix), { force: true });
}
