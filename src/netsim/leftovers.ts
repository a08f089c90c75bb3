/**
 * Removal of what simulation runs created: namespaces (and the processes in them), bridges,
 * veths, /etc/netns/<ns> directories, work directories and owner files. A run's close() uses
 * removeRun for its own prefix; every harness start first calls cleanupLeftovers, which removes
 * every run of the project prefix whose owner process is dead (a crashed or killed earlier run)
 * and leaves alone runs that are still alive (another test process on the same machine).
 * Synchronous on purpose: the same code runs from a process-exit handler.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { runCommandSync } from './exec.js';
import { OWNERS_DIR, PROJECT_PREFIX, WORK_ROOT, releaseRunPrefix, runIsAlive, runPrefixOf } from './names.js';
import { NETNS_ETC } from './netns.js';

/** Everything on the machine that carries a run prefix. */
export interface Inventory {
  readonly namespaces: readonly string[];
  readonly links: readonly string[];
  readonly etcDirs: readonly string[];
  readonly workDirs: readonly string[];
  readonly owners: readonly string[];
}

/** How long removeRun waits for killed processes to leave a namespace. */
const PIDS_GONE_MS = 3000;
/** How long removeRun waits for the kernel to destroy the veths of deleted namespaces before deleting them itself. */
const VETHS_GONE_MS = 3000;

function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** Names of the network namespaces (`ip netns list`). */
export function listNamespaces(): string[] {
  return runCommandSync('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}

/** Names of the host namespace's links (`ip -o link show`, without the `@peer` part). */
export function listLinks(): string[] {
  return runCommandSync('ip', ['-o', 'link', 'show'])
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** What currently exists whose name has the shape of a run of `projectPrefix` (or of `onlyRun` exactly). */
export function inventory(projectPrefix = PROJECT_PREFIX, onlyRun?: string): Inventory {
  const mine = (name: string): boolean => {
    const run = runPrefixOf(name, projectPrefix);
    return run !== undefined && (onlyRun === undefined || run === onlyRun);
  };
  return {
    namespaces: listNamespaces().filter((n) => mine(n)),
    links: listLinks().filter((n) => mine(n)),
    etcDirs: listDir(NETNS_ETC).filter((n) => mine(n)),
    workDirs: listDir(WORK_ROOT).filter((n) => mine(n)),
    owners: listDir(OWNERS_DIR).filter((n) => n.endsWith('.owner') && mine(n.slice(0, -'.owner'.length))),
  };
}

/** Pids of the processes in a namespace. */
function pidsIn(ns: string): number[] {
  try {
    return runCommandSync('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Kills (SIGKILL) every process in the namespaces and waits, bounded, until they are gone. */
export function killNamespaceProcesses(namespaces: readonly string[]): void {
  const deadline = Date.now() + PIDS_GONE_MS;
  for (;;) {
    const pids = namespaces.flatMap(pidsIn);
    if (pids.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(', ')} still in ${namespaces.join(', ')} ${PIDS_GONE_MS} ms after SIGKILL`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    sleepSync(20);
  }
}

/** Runs `ip -force -batch -` (every line is tried, errors are reported together). */
function ipBatch(lines: readonly string[]): void {
  if (lines.length) runCommandSync('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n` });
}

/** Removes everything of one run (`prefix` exactly), collecting errors; throws one error listing them, if any. */
export function removeRun(prefix: string, projectPrefix = PROJECT_PREFIX): void {
  const inv = inventory(projectPrefix, prefix);
  const errors: string[] = [];
  const attempt = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  };
  attempt(() => killNamespaceProcesses(inv.namespaces));
  // Deleting the namespaces lets the kernel destroy their veths (and so the host-side peers) in
  // one batch, far faster than deleting veths one by one (~20 ms each); wait for that, bounded,
  // and delete whatever veth is still there afterwards.
  attempt(() => ipBatch(inv.namespaces.map((ns) => `netns del ${ns}`)));
  const isVeth = (link: string): boolean => link[prefix.length] === 'v';
  const deadline = Date.now() + VETHS_GONE_MS;
  let veths = inv.links.filter(isVeth);
  while (veths.length && Date.now() < deadline) {
    sleepSync(5);
    const links = new Set(listLinks());
    veths = veths.filter((v) => links.has(v));
  }
  attempt(() => ipBatch(veths.map((v) => `link del ${v}`)));
  attempt(() => ipBatch(inv.links.filter((l) => !isVeth(l)).map((b) => `link del ${b}`)));
  for (const dir of inv.etcDirs) attempt(() => rmSync(path.join(NETNS_ETC, dir), { recursive: true, force: true }));
  for (const dir of inv.workDirs) attempt(() => rmSync(path.join(WORK_ROOT, dir), { recursive: true, force: true }));
  attempt(() => releaseRunPrefix(prefix));
  if (errors.length) throw new Error(`removing simulation run ${prefix}: ${errors.join('; ')}`);
}

/** Removes every run of `projectPrefix` whose owner is no longer alive; returns the run prefixes removed. */
export function cleanupLeftovers(projectPrefix = PROJECT_PREFIX): string[] {
  const inv = inventory(projectPrefix);
  const runs = new Set<string>();
  for (const name of [...inv.namespaces, ...inv.links, ...inv.etcDirs, ...inv.workDirs, ...inv.owners.map((o) => o.replace(/\.owner$/, ''))]) {
    const run = runPrefixOf(name, projectPrefix);
    if (run) runs.add(run);
  }
  const dead = [...runs].filter((run) => !runIsAlive(run));
  for (const run of dead) removeRun(run, projectPrefix);
  return dead;
}
