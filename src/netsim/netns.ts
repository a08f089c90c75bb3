/**
 * The Linux pieces a simulated pod is made of: a network namespace with `lo` up, a bridge in the
 * host namespace that carries no host address (and, with addrgenmode none set before the link
 * goes up, no IPv6 link-local either), a veth pair with one end on a bridge and the other inside a namespace with an address,
 * routes and sysctls set inside the namespace only, and /etc/netns/<ns>/{hosts,resolv.conf},
 * which `ip netns exec` bind-mounts over /etc so processes there resolve names from them.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runCommand } from './exec.js';

/** Where `ip netns exec` takes per-namespace /etc files from. */
export const NETNS_ETC = '/etc/netns';

/** Creates a network namespace and brings its `lo` up. */
export async function createNamespace(ns: string): Promise<void> {
  await runCommand('ip', ['netns', 'add', ns]);
  await runCommand('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** Deletes a network namespace and its /etc/netns directory (its processes must be gone first). */
export async function deleteNamespace(ns: string): Promise<void> {
  await runCommand('ip', ['netns', 'del', ns]);
  rmSync(path.join(NETNS_ETC, ns), { recursive: true, force: true });
}

/** Creates a bridge in the host namespace, up, with no address of any kind. */
export async function createBridge(name: string): Promise<void> {
  await runCommand('ip', ['-batch', '-'], { input: `link add ${name} type bridge\nlink set ${name} addrgenmode none\nlink set ${name} up\n` });
}

/** Deletes a link of the host namespace (a bridge, or a veth together with its peer). */
export async function deleteLink(name: string): Promise<void> {
  await runCommand('ip', ['link', 'del', name]);
}

export interface Leg {
  /** Host-side veth name (≤ 15 characters). */
  readonly hostIf: string;
  /** Bridge the host side joins. */
  readonly bridge: string;
  /** Interface name inside the namespace (e.g. eth0). */
  readonly ifname: string;
  /** Address with prefix length, e.g. 10.1.0.5/24. */
  readonly cidr: string;
}

/** Connects a namespace to a bridge with a veth pair: the inner end named `leg.ifname`, addressed and up. */
export async function addLeg(ns: string, leg: Leg): Promise<void> {
  await runCommand('ip', ['-batch', '-'], {
    input: `link add ${leg.hostIf} type veth peer name ${leg.ifname} netns ${ns}\nlink set ${leg.hostIf} addrgenmode none\nlink set ${leg.hostIf} master ${leg.bridge} up\n`,
  });
  await runCommand('ip', ['-n', ns, '-batch', '-'], { input: `addr add ${leg.cidr} dev ${leg.ifname}\nlink set ${leg.ifname} up\n` });
}

/** Adds a route inside a namespace (`destination` is a CIDR or `default`). */
export async function addRoute(ns: string, destination: string, via: string): Promise<void> {
  await runCommand('ip', ['-n', ns, 'route', 'add', destination, 'via', via]);
}

/** Sets sysctls inside a namespace only (e.g. `net.ipv4.ip_forward: '1'`). */
export async function setSysctls(ns: string, sysctls: Readonly<Record<string, string>>): Promise<void> {
  const pairs = Object.entries(sysctls).map(([k, v]) => `${k}=${v}`);
  if (pairs.length) await runCommand('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...pairs]);
}

/** Runs a command inside a namespace to completion and returns its stdout. */
export function execInNamespace(ns: string, command: string, args: readonly string[]): Promise<string> {
  return runCommand('ip', ['netns', 'exec', ns, command, ...args]);
}

/** Writes /etc/netns/<ns>/hosts (localhost, then `entries` as address → names) and a resolv.conf that asks nothing outside the namespace. */
export function writeNamespaceEtc(ns: string, entries: ReadonlyMap<string, readonly string[]>): void {
  const dir = path.join(NETNS_ETC, ns);
  mkdirSync(dir, { recursive: true });
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const [address, names] of entries) lines.push(`${address}\t${names.join(' ')}`);
  writeFileSync(path.join(dir, 'hosts'), `${lines.join('\n')}\n`, { mode: 0o644 });
  // Names not in hosts fail fast: the only nameserver is the namespace's own loopback.
  writeFileSync(path.join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n', { mode: 0o644 });
}
