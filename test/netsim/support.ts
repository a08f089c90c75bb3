/** Shared pieces of the network-simulation tests: the root check, a tiny HTTP app, and what of a run prefix the kernel still has. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import type { Simulation } from '../../src/netsim/index.js';

/** Namespaces, veths and bridges need root. */
export const IS_ROOT = process.getuid?.() === 0;
export const NEEDS_ROOT = 'skipped: needs root (network namespaces, veths, bridges)';

/** An HTTP app answering `{pod, peer}` as JSON on 0.0.0.0:`port`, as a `node -e` program. */
export function echoAppArgs(pod: string, port: number): string[] {
  const program = `require('http').createServer((q, s) => s.end(JSON.stringify({ pod: ${JSON.stringify(pod)}, peer: q.socket.remoteAddress }))).listen(${port}, '0.0.0.0')`;
  return ['-e', program];
}

/** Starts the echo app in a pod. */
export function startEchoApp(sim: Simulation, pod: string, port = 8080): void {
  sim.run(pod, process.execPath, echoAppArgs(pod, port));
}

/** Everything the kernel and /etc/netns still hold whose name starts with `prefix`, read independently of the harness. */
export function remainsOf(prefix: string): string[] {
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '');
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '');
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns') : [];
  return [...netns.map((n) => `netns ${n}`), ...links.map((n) => `link ${n}`), ...etc.map((n) => `/etc/netns/${n}`)].filter((n) => n.split(/[ /]/).pop()!.startsWith(prefix));
}
